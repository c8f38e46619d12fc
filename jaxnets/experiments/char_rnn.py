"""R2RT, "Recurrent Neural Networks in Tensorflow II": a character-level language model —
embedding -> a stack of recurrent layers -> softmax — trained with TF-style truncated windows,
then sampled one character at a time.

What is special here: an "example" of the common trainer is one row of one window
[num_steps] and a batch is all `batch_size` rows of one window (examples stored window-major,
taken in order, so step k trains window k mod windows-per-epoch); the recurrent state crosses
windows in `model_state` — never differentiated, so gradients stop at window boundaries —
reset at each epoch's first window. Because a batch is the window's rows, the trainer can split
those rows over devices (`train.shard_batch`) like any batch. The validation tail is one
evaluation "example" holding all of its windows, read in order with the state carried, so its
loss is the loss of reading it through.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import PartitionSpec as P

from jaxnets.config import ConfigError
from jaxnets.data.text import Corpus, char_corpus, tf_style_windows
from jaxnets.experiments import RunContext, register
from jaxnets.experiments.common import finish
from jaxnets.nn import dropout, initializer, rnn
from jaxnets.train import Task, fit, init_state, make_optimizer, sharding


def init_model(key: jax.Array, model: ml_collections.ConfigDict, vocab: int) -> dict:
    cell = rnn.get_cell(model.cell)
    keys = jax.random.split(key, model.num_layers + 2)
    extra = {"num_weights": model.num_weights} if model.cell == "custom_gru" else {}
    layers = [cell.init(keys[i], model.state_size, model.state_size, model.w_init, 1.0, **extra)
              for i in range(model.num_layers)]
    return {"embedding": initializer(model.w_init, 1.0)(keys[-2], (vocab, model.state_size), jnp.float32),
            "layers": layers,
            "out": {"w": initializer(model.w_init, 1.0)(keys[-1], (model.state_size, vocab), jnp.float32),
                    "b": jnp.zeros((vocab,), jnp.float32)}}


def zero_carries(model: ml_collections.ConfigDict, batch: int) -> tuple:
    cell = rnn.get_cell(model.cell)
    return tuple(tuple(jnp.zeros((batch, model.state_size)) for _ in cell.components) for _ in range(model.num_layers))


def run_window(params: dict, carries: tuple, x: jax.Array, model: ml_collections.ConfigDict,
               key: jax.Array | None) -> tuple[tuple, jax.Array]:
    """(final carries, logits [T, B, V]) of a window x [B, T] of ids. LSTMs take the fused
    layer-at-a-time path (`rnn.lstm_recurrence`) unless model.fused_lstm is false; the other
    cells advance all layers one time step at a time. Both compute the same function (dropout
    masks aside, which come from different keys)."""
    emb = params["embedding"][x.T]  # [T, B, H]
    if model.cell == "lstm" and model.fused_lstm:
        hs, final = emb, []
        for layer, (p, carry) in enumerate(zip(params["layers"], carries)):
            n_in = hs.shape[-1]
            if layer == 0 and (key is None or model.keep_prob >= 1.0):
                # embedding then projection = a lookup in the projected embedding [vocab, 4H]:
                # one small matmul instead of one per token, and a scatter-add in the backward
                zx = (params["embedding"] @ p["w"][:n_in] + p["b"])[x.T]
            else:
                zx = rnn.lstm_input_projection(p["w"][:n_in], p["b"], _dropout(key, hs, 2 * layer, model.keep_prob))
            carry, hs = rnn.lstm_recurrence(p["w"][n_in:], carry, zx)
            hs = _dropout(key, hs, 2 * layer + 1, model.keep_prob)
            final.append(carry)
        return tuple(final), hs @ params["out"]["w"] + params["out"]["b"]
    step = rnn.stacked_step(rnn.get_cell(model.cell), model.keep_prob)
    keys = None if key is None else jax.random.split(key, x.shape[1])
    final, hs = jax.lax.scan(lambda c, inp: step(params["layers"], c, inp), carries, (emb, keys))
    return final, hs @ params["out"]["w"] + params["out"]["b"]


def _dropout(key: jax.Array | None, v: jax.Array, i: int, keep_prob: float) -> jax.Array:
    return v if key is None or keep_prob >= 1.0 else dropout(jax.random.fold_in(key, i), v, keep_prob)


def char_rnn_task(model: ml_collections.ConfigDict, vocab: int, batch: int, windows_per_epoch: int) -> Task:
    def init(key):
        return init_model(key, model, vocab), zero_carries(model, batch)

    def window_loss(params, carries, x, y, key):
        """([1] mean cross-entropy, final carries) of these rows; on each device's rows when the
        trainer splits the batch (then each device draws its own dropout masks)."""
        if key is not None and model.keep_prob < 1 and sharding.splits_rows():
            key = jax.random.fold_in(key, jax.lax.axis_index("data"))
        final, logits = run_window(params, carries, x, model, key if model.keep_prob < 1 else None)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y.T))[None], final

    def loss(params, carries, window, key, step):
        carries = jax.tree.map(lambda c: jnp.where(step % windows_per_epoch == 0, 0.0, c), carries)
        rows = P("data")
        per_device, final = sharding.rows_per_device(window_loss, (P(), rows, rows, rows, P()), (rows, rows))(
            params, carries, window["x"], window["y"], key)
        return jnp.mean(per_device), (final, {})

    def evaluate(params, carries, windows, key, step):
        """windows: one example [1, W, B, T]: the held-out text read through, state carried."""
        def body(c, xy):
            c, logits = run_window(params, c, xy[0], model, None)
            return c, jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, xy[1].T))

        _, losses = jax.lax.scan(body, zero_carries(model, windows["x"].shape[2]), (windows["x"][0], windows["y"][0]))
        return {"loss": jnp.mean(losses)[None]}

    return Task(init, loss, evaluate)


def sample_text(params: dict, model: ml_collections.ConfigDict, corpus: Corpus, prompt: str, length: int,
                key: jax.Array, temperature: float, top_k: int) -> str:
    """`length` characters after `prompt`, one step at a time (batch 1) inside a jitted scan."""
    ids = jnp.asarray(corpus.encode(prompt))
    step = rnn.stacked_step(rnn.get_cell(model.cell))

    def one(p, c, token):
        return step(p["layers"], c, (p["embedding"][token], None))

    def readout(p, h):
        return h @ p["out"]["w"] + p["out"]["b"]

    def generate(p, prompt_ids, k):  # read the prompt (all but its last character), then sample
        carries, _ = jax.lax.scan(lambda c, token: one(p, c, token[None]), zero_carries(model, 1), prompt_ids[:-1])
        return rnn.sample_sequence(one, readout, p, carries, prompt_ids[-1:], k, length, temperature, top_k)

    out = jax.jit(generate)(params, ids, key)
    return prompt + corpus.decode(np.asarray(out))


def sample_from_run(workdir, prompt: str | None = None, length: int | None = None, temperature: float = 1.0,
                    top_k: int | None = None, seed: int = 0, seed_index: int = 0) -> str:
    """Text sampled from a finished (or checkpointed) char_rnn run directory: its config.json
    rebuilds the model and the corpus, its latest checkpoint supplies the parameters of seed
    number `seed_index` of the run. Unset options fall back to the run's `sample` config."""
    import json
    import pathlib

    from jaxnets.train.checkpoint import Checkpointer

    workdir = pathlib.Path(workdir)
    try:
        saved = json.loads((workdir / "config.json").read_text())
    except FileNotFoundError:
        raise ConfigError(f"{workdir} holds no jaxnets run (no config.json)") from None
    config = ml_collections.ConfigDict(saved["config"])
    if config.experiment != "char_rnn":
        raise ConfigError(f"{workdir} is a {config.experiment!r} run; sampling needs a char_rnn run")
    checkpoints = Checkpointer(workdir / "checkpoints")
    step = checkpoints.latest_step()
    if step is None:
        raise ConfigError(f"{workdir} has no checkpoint to sample from")
    if not 0 <= seed_index < len(saved["seeds"]):
        raise ConfigError(f"seed index {seed_index} out of range: the run has {len(saved['seeds'])} seed(s)")
    corpus = char_corpus(config.data.name, config.data.validation_fraction)
    prompt = config.sample.prompt if prompt is None else prompt
    unknown = sorted(set(prompt) - set(corpus.chars))
    if not prompt or unknown:
        raise ConfigError(f"the prompt must be non-empty text over the corpus' characters; not in it: {unknown}")
    windows = len(tf_style_windows(corpus.train, config.train.batch_size, config.model.num_steps)[0])
    task = char_rnn_task(config.model, corpus.vocab_size, config.train.batch_size, windows)
    optimizer = make_optimizer(config.optimizer)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in saved["seeds"]])
    like = jax.vmap(lambda k: init_state(task, optimizer, k))(keys)
    params = jax.tree.map(lambda a: a[seed_index], checkpoints.restore(like).params)
    checkpoints.close()
    return sample_text(params, config.model, corpus, prompt, config.sample.length if length is None else length,
                       jax.random.PRNGKey(seed), temperature, config.sample.top_k if top_k is None else top_k)


@register("char_rnn")
def run(ctx: RunContext) -> dict:
    config = ctx.config
    model, data = config.model, config.data
    if model.cell not in rnn.CELLS:
        raise ConfigError(f"model.cell = {model.cell!r} is not one of {sorted(rnn.CELLS)}")
    corpus = char_corpus(data.name, data.validation_fraction)
    x, y = tf_style_windows(corpus.train, config.train.batch_size, model.num_steps)
    vx, vy = tf_style_windows(corpus.validation, config.train.batch_size, model.num_steps)
    windows, rows = x.shape[:2]
    if config.train.shuffle:
        raise ConfigError("train.shuffle must be false for char_rnn: the carried state continues each row "
                          "window after window")
    ctx.log(f"{data.name}: {len(corpus.train):,} training / {len(corpus.validation):,} validation characters, "
            f"vocabulary {corpus.vocab_size}; {windows} windows of {config.train.batch_size} × {model.num_steps} "
            f"per epoch")
    task = char_rnn_task(model, corpus.vocab_size, config.train.batch_size, windows)
    train_cfg = ml_collections.ConfigDict(config.train.to_dict())
    train_cfg.eval_batch_size = 1  # the validation set is one "example"
    rows_of_windows = {"x": x.reshape(windows * rows, -1), "y": y.reshape(windows * rows, -1)}  # window-major
    result = fit(task, make_optimizer(config.optimizer), rows_of_windows,
                 {"validation": {"x": vx[None], "y": vy[None]}}, train_cfg, ctx.workdir, ctx.seeds, ctx.log)
    per_seed = dict(result.final_eval)
    last = result.history[-1]
    per_seed["train_loss"] = np.asarray(last.get("per_seed", {}).get("train_loss", [last["train_loss"]]))

    samples_dir = ctx.workdir / "samples"
    samples_dir.mkdir(parents=True, exist_ok=True)
    params0 = jax.tree.map(lambda a: a[0], result.state.params)
    key = jax.random.PRNGKey(config.seed)
    for temperature in config.sample.temperatures:
        text = sample_text(params0, model, corpus, config.sample.prompt, config.sample.length,
                           jax.random.fold_in(key, int(temperature * 1000)), temperature, config.sample.top_k)
        path = samples_dir / f"temperature{temperature}_top{config.sample.top_k}.txt"
        path.write_text(text)
        ctx.log(f"--- sample, temperature {temperature}, top-{config.sample.top_k} ({path}) ---\n{text[:300]}...")
    return finish(ctx, result, per_seed)
