"""Recurrent language models on characters or words: R2RT's "Recurrent Neural Networks in
Tensorflow II" (characters, Tiny Shakespeare) and "Styles of Truncated Backpropagation" (words,
Penn Treebank) — embedding -> a stack of recurrent layers -> softmax (`jaxnets.models.rnn_lm`).

What is special here: the text is laid out as `batch_size` rows and read in consecutive windows
(`Windows`: step k trains window k mod W, and the first window of each epoch says `reset`); the
recurrent state crosses windows in `model_state` — never differentiated, so gradients stop at
window boundaries (TF-style), or flow back exactly `bptt` steps (`model.truncation = true`) — and
the model zeroes it where the batch says `reset`. Rows are independent, so the trainer may give
each device its own rows (`row_parallel`). Validation and test splits are read through the same
way, the state carried from window to window; their loss is the per-token cross-entropy in nats
over the whole split. Reported besides: perplexities, the minimum validation loss over the
evaluations (the truncation post's metric) and the test loss at that evaluation. Characters get
samples after training (`sample.*`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxnets import plots
from jaxnets.config import ConfigError
from jaxnets.data.text import Vocabulary, language_corpus, text_rows
from jaxnets.experiments import Context, Outcome
from jaxnets.models import rnn_lm
from jaxnets.nn import rnn
from jaxnets.nn.truncation import gradient_by_distance
from jaxnets.train import Task
from jaxnets.train.batches import Windows
from jaxnets.train.curves import Curves
from jaxnets.train.loop import named_key
from jaxnets.train.step import mean_of

VOCABULARY_FILE = "vocabulary.json"  # in the run directory: what the model's ids mean


def lm_task(model: ml_collections.ConfigDict, vocab: int, rows: int, by_position: bool = False) -> Task:
    """Per-token cross-entropy of the next id, windows of model.num_steps, the state carried
    (or not: model.carry_state); by_position adds the loss at each position of a window."""

    def init(key):
        return rnn_lm.init(key, model, vocab), rnn_lm.zero_carries(model, rows)

    carried = model.get("carry_state", True)  # false: every window starts from the initial state
    scale = model.num_steps if model.get("loss", "mean") == "sum_over_steps" else 1.0

    def restart(params, carries, batch, key):
        """The carried state, or the initial state where a sequence starts (the rows here are
        this device's when the trainer splits them)."""
        reset = batch["reset"] if carried else True
        noise_key = None if key is None else jax.random.fold_in(key, 1 << 20)
        begin = rnn_lm.start_carries(params, model, jax.tree.leaves(carries)[0].shape[0], noise_key)
        return rnn_lm.reset_where(carries, reset, begin)

    def loss(params, carries, batch, key, step):
        carries = restart(params, carries, batch, key)
        final, hs = rnn_lm.features(params, carries, batch["x"], model, key)
        losses = rnn_lm.token_losses(params, hs, batch["y"].T)  # [T, B] nats
        metrics = {"loss_by_position": jnp.mean(losses, axis=1)} if by_position else {}
        if scale != 1.0:  # the loss minimized is a sum over the window: report nats per token beside it
            metrics["token_loss"] = jnp.mean(losses)
        return scale * jnp.mean(losses), (final, metrics)

    def evaluate(params, carries, batch, key, step):
        carries = restart(params, carries, batch, None)  # evaluation: the initial state without noise
        final, hs = rnn_lm.features(params, carries, batch["x"], model)
        losses = rnn_lm.token_losses(params, hs, batch["y"].T)
        metrics = {"loss": mean_of(losses)}
        if by_position:  # (sum, count) per position in the window
            metrics["loss_by_position"] = (jnp.sum(losses, axis=1), jnp.full(losses.shape[:1], losses.shape[1], float))
        return metrics, final

    windows = Windows(model.num_steps)
    return Task(init, loss, evaluate, batches=windows, eval_batches=windows, row_parallel=True)


def best_validation(curves: Curves, patience: int = 0) -> dict[str, np.ndarray]:
    """Per seed: the minimum validation loss over the evaluations, and the test loss at it. With
    early stopping, each seed's minimum is over the evaluations up to its own stop, as the
    post's trials stopped one by one (a sweep goes on until the last seed stops)."""
    validation = curves.get("validation_loss")
    if validation is None:
        return {}
    seeds = np.arange(validation.values.shape[1])
    stops = validation.own_stops(patience)
    stops = np.where(stops < 0, len(validation.steps) - 1, stops)
    upto = np.where(np.arange(len(validation.steps))[:, None] <= stops[None, :], validation.values, np.inf)
    best = np.argmin(upto, axis=0)
    out = {"min_validation_loss": validation.values[best, seeds],
           "best_validation_step": validation.steps[best].astype(np.float64)}
    if "test_loss" in curves:  # evaluated at the same steps
        out["test_loss_at_min_validation"] = curves["test_loss"].values[best, seeds]
    return out


def by_position_at_best(curves: Curves) -> dict[str, list]:
    """Training and validation perplexity at each position of the window, at each seed's epoch of
    minimum validation loss (the initial-state post's figure), averaged over seeds."""
    validation = curves.get("validation_loss")
    if validation is None or "validation_loss_by_position" not in curves:
        return {}
    best_steps = validation.steps[validation.best()]  # (NaN, where a seed logged nothing, is never a minimum)
    out = {}
    for split in ("train", "validation"):
        key = f"{split}_loss_by_position"
        if key in curves:
            at_best = np.stack([curves[key].at(step)[seed] for seed, step in enumerate(best_steps)])  # [seeds, positions]
            out[f"{split}_perplexity"] = np.exp(at_best).mean(axis=0).round(4).tolist()
    out["best_steps"] = [int(step) for step in best_steps]
    return out


def extras_from_curves(curves: Curves) -> dict:
    """The summary's extras that are a function of the curves alone: recomputed over all seeds
    where a record and the seeds added to it later are read together (`tables.records`)."""
    at_best = by_position_at_best(curves)
    return {"perplexity_by_position_at_best_epoch": at_best} if at_best else {}


def run(ctx: Context) -> Outcome:
    config = ctx.config
    model, data = config.model, config.data
    corpus, splits = language_corpus(data.name, data.validation_fraction)
    if data.get("validation", "valid") == "valid+test":  # the initial-state post validated on both files
        splits = {"train": splits["train"], "validation": np.concatenate([splits["validation"], splits["test"]])}
    check_sampling(config, corpus.vocabulary)  # before training, not after it
    ctx.keep(VOCABULARY_FILE, corpus.vocabulary.to_json())  # `sample` reads it: no corpus needed
    rows = config.train.batch_size
    # validation_fraction 0 trains on the whole text, as the RNN posts did: nothing is evaluated
    splits = {name: ids for name, ids in splits.items() if name == "train" or len(ids)}
    try:
        laid_out = {name: text_rows(ids, rows, model.num_steps) for name, ids in splits.items()}
    except ValueError as err:
        raise ConfigError(f"{data.name}: {err}") from None
    ctx.log(f"{data.name}: " + ", ".join(f"{len(ids):,} {name}" for name, ids in splits.items())
            + f" tokens, vocabulary {corpus.vocab_size:,}; {laid_out['train']['x'].shape[1] // model.num_steps} "
            f"windows of {rows} × {model.num_steps} per epoch; truncation {model.truncation}"
            + (f" (bptt {model.bptt})" if model.truncation == "true" else ""))
    evals = {name: split for name, split in laid_out.items() if name != "train"}
    by_position = config.get("analysis", {}).get("by_position", False)
    at_steps = tuple(config.sample.get("at_steps", ()))
    result = ctx.fit(lm_task(model, corpus.vocab_size, rows, by_position), laid_out["train"], evals,
                     at_steps=(at_steps, samples_through_training(ctx, corpus.vocabulary)) if at_steps else None)
    train_loss = result.final_train.get("train_token_loss", result.final_train["train_loss"])  # nats per token
    per_seed = {**{k: v for k, v in result.final_eval.items() if np.ndim(v) == 1},  # not the vectors by position
                "train_loss": train_loss,
                **best_validation(result.curves, config.train.get("early_stop_patience", 0))}
    for name in [k for k in per_seed if k.endswith("_loss")]:  # train: the last epoch's running mean
        per_seed[name.replace("_loss", "_perplexity")] = np.exp(np.asarray(per_seed[name], np.float64))
    extra, figures = {}, {}
    distances = config.get("analysis", {}).get("gradient_distances", 0)
    if distances:
        extra, figures = vanishing_gradients(ctx, corpus.vocab_size, laid_out["validation"], result.state.params,
                                             distances)
    if by_position:
        extra.update(extras_from_curves(result.curves))
        curves = extra.get("perplexity_by_position_at_best_epoch", {})
        windows = laid_out["train"]["x"].shape[1] // model.num_steps  # steps per epoch
        epochs = ", ".join(f"{step / windows:g}" for step in curves.get("best_steps", []))
        title = f"{ctx.workdir.name}: perplexity by position in the window at the best epoch ({epochs})"
        figures["perplexity_by_position.png"] = lambda path: plots.by_position(curves, path, title)
    return Outcome(per_seed, fit=result, extra=extra, figures=figures,
                   texts=samples(ctx, corpus.vocabulary, result.state.params))


def check(config: ml_collections.ConfigDict) -> None:
    """Config errors the model would otherwise meet deep inside tracing, and the data section's."""
    model = config.model
    if config.data.get("validation", "valid") not in ("valid", "valid+test"):
        raise ConfigError(f"data.validation = {config.data.validation!r} is not 'valid' or 'valid+test'")
    if model.cell not in rnn.CELLS:
        raise ConfigError(f"model.cell = {model.cell!r} is not one of {sorted(rnn.CELLS)}")
    truncation = model.get("truncation", "tf_style")
    if truncation not in rnn_lm.TRUNCATIONS:
        raise ConfigError(f"model.truncation = {truncation!r} is not one of {list(rnn_lm.TRUNCATIONS)}")
    if truncation == "true" and (model.num_layers != 1 or model.bptt < 1):
        raise ConfigError(f"model.truncation = 'true' needs one layer (model.num_layers = {model.num_layers}) and "
                          f"model.bptt ≥ 1 (got {model.bptt}): across layers, per-layer truncation would let an "
                          f"error travel further than bptt steps")
    if model.get("tf0_sparse_adam", False) and (config.optimizer.name != "adam" or model.get("embedding_size", 0) == -1):
        raise ConfigError(f"model.tf0_sparse_adam changes Adam's second moment of an embedding: it needs "
                          f"optimizer.name = 'adam' (got {config.optimizer.name!r}) and an embedding "
                          f"(model.embedding_size = {model.get('embedding_size', 0)})")


def vanishing_gradients(ctx: Context, vocab: int, split: dict, params, distances: int) -> tuple[dict, dict]:
    """R2RT's measurement: the L1 norm of the last step's loss gradient with respect to the
    recurrent weights as used 1, 2, ..., `distances` steps back, on the first `distances` tokens
    of every validation row from a zero state — for a fresh net and the trained one (seed 0)."""
    model = ctx.config.model
    cell = rnn.get_cell(model.cell)
    fresh = rnn_lm.init(named_key(jax.random.PRNGKey(ctx.seeds[0]), "gradient_distances"), model, vocab)
    x, y = jnp.asarray(split["x"][:, :distances]), jnp.asarray(split["y"][:, distances - 1])

    def norms(p):
        xs = rnn_lm.inputs(p, x.T)
        carry = rnn_lm.zero_carries(model, x.shape[0])[0]
        last = lambda h: jnp.mean(rnn_lm.token_losses(p, h, y))  # noqa: E731
        return gradient_by_distance(cell.step, p["layers"][0], carry, xs, last)

    measured = {"initialization": np.asarray(jax.jit(norms)(fresh)),
                "trained": np.asarray(jax.jit(norms)(jax.tree.map(lambda a: a[0], params)))}
    with np.errstate(divide="ignore", invalid="ignore"):  # a gradient may underflow to 0 far back
        ratios = {k: np.where(v[1:] > 0, v[:-1] / v[1:], np.nan) for k, v in measured.items()}
    extra = {"gradient_l1_by_distance": {k: v.tolist() for k, v in measured.items()},
             "gradient_ratio_per_step": {k: v.tolist() for k, v in ratios.items()}}
    for name, v in measured.items():
        r = ratios[name]
        shown = (f"ratio per step {np.nanmin(r):.2f}–{np.nanmax(r):.2f} (median {np.nanmedian(r):.2f})"
                 if np.isfinite(r).any() else "no ratio: the gradient vanishes to 0")
        ctx.log(f"gradient L1 by distance ({name}): {v[0]:.3g} at 1 step, {v[-1]:.3g} at {distances}; {shown}")
    return extra, {"gradient_by_distance.png": lambda path: plots.gradient_by_distance(measured, path)}


def check_sampling(config, vocabulary: Vocabulary) -> None:
    """The sample section against the vocabulary: a prompt it can read, top_k within it."""
    top_k, size = config.sample.top_k, len(vocabulary.tokens)
    if top_k > size:
        raise ConfigError(f"sample.top_k = {top_k}: the vocabulary has {size} tokens (0 = all of them)")
    try:
        vocabulary.encode(config.sample.prompt)
    except ValueError as err:
        raise ConfigError(f"sample.prompt: {err}") from None


SAMPLES_FILE = "samples.md"  # samples through training (sample.at_steps)


def samples_through_training(ctx: Context, vocabulary: Vocabulary):
    """The hook `fit` calls at each of sample.at_steps: a sample from the first seed's current
    parameters (the first of sample.temperatures, the same key every time, so texts differ only
    by what the net learned) appended to samples.md with its step and training loss, as the char-
    rnn post shows its samples at iterations 100, 300, 500, ... A resumed run keeps the entries
    before its checkpoint."""
    config = ctx.config
    path = ctx.workdir / SAMPLES_FILE
    temperature = (config.sample.temperatures or (1.0,))[0]
    prompt = jnp.asarray(vocabulary.encode(config.sample.prompt))
    key = named_key(jax.random.PRNGKey(config.seed), "samples_through_training")
    carried = config.sample.get("carried_state", False)
    generate = jax.jit(lambda p, ids, k, start: rnn_lm.generate(p, config.model, ids, config.sample.length, k,
                                                                 temperature, config.sample.top_k, start))
    unit = "words" if vocabulary.words else "characters"
    header = (f"# Samples through training\n\n{config.sample.length} {unit} after the prompt "
              f"{config.sample.prompt!r}, temperature {temperature:g}, top-k {config.sample.top_k or 'all'}, "
              f"seed {ctx.seeds[0]}'s parameters at each step"
              + (", from the state its training carried (row 0)" if carried else "") + ".\n")

    def hook(step: int, state, record: dict) -> None:
        text = path.read_text() if path.exists() else header
        if f"\n## step {step}\n" in text:
            return
        params0 = jax.tree.map(lambda a: a[0], state.params)
        start = jax.tree.map(lambda a: a[0, :1], state.model_state) if carried else None
        ids = jax.device_get(generate(params0, prompt, key, start))
        sample = vocabulary.continuation(config.sample.prompt, ids)
        loss = record.get("train_token_loss", record.get("train_loss"))
        text += f"\n## step {step}\n\ntraining loss {loss:.4f} nats per token (the last logged interval)\n\n" \
                f"```\n{sample}\n```\n"
        ctx.keep(SAMPLES_FILE, text)
        ctx.log(f"sample at step {step} -> {path}")

    return hook


def samples(ctx: Context, vocabulary: Vocabulary, params) -> dict[str, str]:
    """samples/temperature<T>_top<k>.txt from the first seed's parameters."""
    config = ctx.config
    if not config.sample.temperatures:
        return {}
    params0 = jax.tree.map(lambda a: a[0], params)
    try:
        prompt = jnp.asarray(vocabulary.encode(config.sample.prompt))
    except ValueError as err:
        raise ConfigError(f"sample.prompt: {err}") from None
    key = named_key(jax.random.PRNGKey(config.seed), "samples")
    texts = {}
    for temperature in config.sample.temperatures:
        generate = jax.jit(lambda p, ids, k: rnn_lm.generate(p, config.model, ids, config.sample.length, k,
                                                              temperature, config.sample.top_k))
        ids = generate(params0, prompt, jax.random.fold_in(key, int(temperature * 1000)))
        text = vocabulary.continuation(config.sample.prompt, jax.device_get(ids))
        name = f"samples/temperature{temperature}_top{config.sample.top_k}.txt"
        texts[name] = text
        ctx.log(f"--- sample, temperature {temperature}, top-{config.sample.top_k} ({ctx.workdir / name}) ---\n"
                f"{text[:300]}...")
    return texts
