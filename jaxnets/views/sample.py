"""`python -m jaxnets sample <run>`: text from a trained language-model run.

Reads the run's config.json (the model section) and vocabulary.json (what the ids mean) and
restores only the parameters from its newest valid checkpoint — no optimizer, no trainer —
then draws with `jaxnets.models.rnn_lm.generate`.
"""

from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxnets.config import ConfigError

LANGUAGE_MODELS = ("language_model",)


def runs_of(saved: dict) -> int:
    """How many runs a run folder's config.json trained: its seeds, at each rate of a grid."""
    return len(saved["seeds"]) * len(saved.get("learning_rates") or [None])


def restore_params(workdir: pathlib.Path, seed_index: int, n_runs: int, warn=print) -> dict:
    """The parameters of run number `seed_index` (a seed; in a grid, rate-major) from the run's
    newest valid checkpoint."""
    from jaxnets.train.checkpoint import read_run_state

    if not 0 <= seed_index < n_runs:
        raise ConfigError(f"seed index {seed_index} out of range: the run has {n_runs} run(s)")
    _, state = read_run_state(workdir, warn)
    return jax.tree.map(lambda a: jnp.asarray(np.asarray(a)[seed_index]), state["params"])


def read_run(workdir: pathlib.Path) -> tuple[dict, ml_collections.ConfigDict]:
    """(config.json, its config) of a language-model run folder; one line where it is not one."""
    try:
        saved = json.loads((workdir / "config.json").read_text())
    except FileNotFoundError:
        raise ConfigError(f"{workdir} holds no jaxnets run (no config.json)") from None
    config = ml_collections.ConfigDict(saved["config"])
    if config.experiment not in LANGUAGE_MODELS:
        raise ConfigError(f"{workdir} is a {config.experiment!r} run; it needs a language-model run "
                          f"({', '.join(LANGUAGE_MODELS)})")
    return saved, config


def samples_from_run(workdir, prompt: str | None = None, length: int | None = None, temperatures=(1.0,),
                     top_k: int | None = None, seed: int = 0, seed_index: int = 0) -> list[str]:
    """One text per temperature, from one read of the run (its checkpoint restored once)."""
    from jaxnets.models import rnn_lm

    workdir = pathlib.Path(workdir)
    saved, config = read_run(workdir)
    length = config.sample.length if length is None else length
    top_k = config.sample.top_k if top_k is None else top_k
    bad = [t for t in temperatures if not 0 <= t < float("inf")]
    if length < 1 or bad or top_k < 0:
        raise ConfigError(f"--length must be ≥ 1 (got {length}), --temperature a finite number ≥ 0 (got "
                          f"{bad[0] if bad else temperatures[0]}) and --top-k ≥ 0 (got {top_k})")
    if not 0 <= seed < 2**32:
        raise ConfigError(f"--seed must be in [0, 2**32) (got {seed})")
    vocabulary = run_vocabulary(workdir, config)
    if top_k > len(vocabulary.tokens):
        raise ConfigError(f"--top-k {top_k}: the vocabulary has {len(vocabulary.tokens)} tokens (0 = all of them)")
    prompt = config.sample.prompt if prompt is None else prompt
    tokens = vocabulary.split(prompt)
    unknown = sorted(set(tokens) - set(vocabulary.tokens))
    if not tokens or unknown:
        kind = "words" if vocabulary.words else "characters"
        raise ConfigError(f"the prompt must be non-empty text over the corpus' {kind}; not in it: {unknown[:20]}")
    prompt_ids = vocabulary.encode(prompt)
    params = restore_params(workdir, seed_index, runs_of(saved))
    texts = []
    for temperature in temperatures:
        ids = jax.jit(lambda p, x, k: rnn_lm.generate(p, config.model, x, length, k, temperature, top_k))(
            params, jnp.asarray(prompt_ids), jax.random.PRNGKey(seed))
        texts.append(vocabulary.continuation(prompt, np.asarray(ids)))
    return texts


def run_vocabulary(workdir: pathlib.Path, config: ml_collections.ConfigDict):
    """The run's vocabulary.json: what its ids mean (no corpus needed to sample)."""
    from jaxnets.data.text import Vocabulary
    from jaxnets.experiments.language_model import VOCABULARY_FILE

    path = workdir / VOCABULARY_FILE
    try:
        return Vocabulary.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{workdir} has no {VOCABULARY_FILE}: not a finished language-model run") from None
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"{path} is damaged ({type(err).__name__}: {err})") from None


def find_loop(tokens, min_repeats: int = 3) -> tuple[int, int] | None:
    """(start, period) of the repetition a text falls into — the earliest start from which it
    repeats one cycle to its end at least `min_repeats` times, the shortest such cycle — or None.
    Near temperature 0 a language model loops ("...is that they were all the same thing that was
    a startup is that they were all the same thing..."): this says where and how long the loop is."""
    n, best = len(tokens), None
    for period in range(1, n // min_repeats + 1):
        start = n - period  # extend the periodic tail backwards while it holds
        while start > 0 and tokens[start - 1] == tokens[start - 1 + period]:
            start -= 1
        if n - start >= min_repeats * period and (best is None or start < best[0]):
            best = (start, period)
    return best


def most_repeated_phrase(text: str, words: int = 4) -> tuple[str, int] | None:
    """(the `words`-word phrase a text repeats most, how often), where one comes 3 times or more:
    what a loop that has not closed yet looks like ("of the state of the ...")."""
    from collections import Counter

    tokens = text.split()
    counts = Counter(" ".join(tokens[i:i + words]) for i in range(len(tokens) - words + 1))
    phrase, count = max(counts.items(), key=lambda item: item[1], default=("", 0))
    return (phrase, count) if count >= 3 else None


def describe_loop(tokens, separator: str = "") -> str:
    """'loops from token 41 with period 12: "the same thing"', or, with no exact loop, the phrase
    it repeats most, or 'no loop'."""
    loop = find_loop(tokens)
    if loop is None:
        repeated = most_repeated_phrase(separator.join(tokens))
        if repeated:
            return f"no exact loop; the phrase {repeated[0]!r} comes {repeated[1]} times"
        return "no loop (no cycle repeats 3 times to the end)"
    start, period = loop
    cycle = separator.join(tokens[start:start + period]).replace("\n", "\\n")
    return f"loops from token {start} with period {period}: {cycle!r}"


def run_vocabulary_of(workdir) -> "Vocabulary":  # noqa: F821  (jaxnets.data.text.Vocabulary)
    """The vocabulary of a language-model run folder (to split its samples into tokens)."""
    workdir = pathlib.Path(workdir)
    return run_vocabulary(workdir, read_run(workdir)[1])
