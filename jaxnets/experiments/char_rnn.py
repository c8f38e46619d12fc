"""R2RT, "Recurrent Neural Networks in Tensorflow II": a character-level language model —
embedding -> a stack of recurrent layers -> softmax (`jaxnets.models.rnn_lm`) — trained with
TF-style truncated windows, then sampled one character at a time.

What is special here: the text is laid out as `batch_size` rows and read in consecutive windows
(`Windows`: step k trains window k mod W, and the first window of each epoch says `reset`);
the recurrent state crosses windows in `model_state` — never differentiated, so gradients stop
at window boundaries — and the model zeroes it where the batch says `reset`. Rows are
independent, so the trainer may give each device its own rows (`row_parallel`). The validation
tail is read through the same way, the state carried from window to window, and its loss is a
per-token mean over the whole tail.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxnets.config import ConfigError
from jaxnets.data.text import char_corpus, text_rows
from jaxnets.experiments import Context, Outcome
from jaxnets.models import rnn_lm
from jaxnets.nn import rnn
from jaxnets.train import Task
from jaxnets.train.batches import Windows
from jaxnets.train.loop import named_key
from jaxnets.train.step import mean_of


def lm_task(model: ml_collections.ConfigDict, vocab: int, rows: int) -> Task:
    """Per-token cross-entropy of the next id, windows of model.num_steps, state carried."""

    def init(key):
        return rnn_lm.init(key, model, vocab), rnn_lm.zero_carries(model, rows)

    def loss(params, carries, batch, key, step):
        carries = rnn_lm.reset_where(carries, batch["reset"])
        final, logits = rnn_lm.apply(params, carries, batch["x"], model, key)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"].T)), (final, {})

    def evaluate(params, carries, batch, key, step):
        carries = rnn_lm.reset_where(carries, batch["reset"])
        final, logits = rnn_lm.apply(params, carries, batch["x"], model)
        return {"loss": mean_of(optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"].T))}, final

    windows = Windows(model.num_steps)
    return Task(init, loss, evaluate, batches=windows, eval_batches=windows, row_parallel=True)


def run(ctx: Context) -> Outcome:
    config = ctx.config
    model, data = config.model, config.data
    if model.cell not in rnn.CELLS:
        raise ConfigError(f"model.cell = {model.cell!r} is not one of {sorted(rnn.CELLS)}")
    corpus = char_corpus(data.name, data.validation_fraction)
    rows = config.train.batch_size
    try:
        train_rows = text_rows(corpus.train, rows, model.num_steps)
        validation_rows = text_rows(corpus.validation, rows, model.num_steps)
    except ValueError as err:
        raise ConfigError(f"{data.name}: {err}") from None
    ctx.log(f"{data.name}: {len(corpus.train):,} training / {len(corpus.validation):,} validation characters, "
            f"vocabulary {corpus.vocab_size}; {train_rows['x'].shape[1] // model.num_steps} windows of "
            f"{rows} × {model.num_steps} per epoch")
    result = ctx.fit(lm_task(model, corpus.vocab_size, rows), train_rows, {"validation": validation_rows})
    per_seed = {**result.final_eval, "train_loss": result.final_train["train_loss"]}

    params0 = jax.tree.map(lambda a: a[0], result.state.params)
    prompt = jnp.asarray(corpus.encode(config.sample.prompt))
    key = named_key(jax.random.PRNGKey(config.seed), "samples")
    texts = {}
    for temperature in config.sample.temperatures:
        generate = jax.jit(lambda p, ids, k: rnn_lm.generate(p, model, ids, config.sample.length, k, temperature,
                                                              config.sample.top_k))
        ids = generate(params0, prompt, jax.random.fold_in(key, int(temperature * 1000)))
        text = config.sample.prompt + corpus.decode(jax.device_get(ids))
        name = f"samples/temperature{temperature}_top{config.sample.top_k}.txt"
        texts[name] = text
        ctx.log(f"--- sample, temperature {temperature}, top-{config.sample.top_k} ({ctx.workdir / name}) ---\n"
                f"{text[:300]}...")
    return Outcome(per_seed, fit=result, texts=texts)
