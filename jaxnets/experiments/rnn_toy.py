"""R2RT, "Recurrent Neural Networks in Tensorflow I": can a small RNN learn that Y_t echoes
X_{t−3} (and, with a longer window, X_{t−8})? Its loss falls to one of three exactly known levels.

What is special here: the data is a fresh series every epoch, drawn by the batch function from
(series seed, epoch, position) rather than stored (`Generated`): row b of the epoch's
[batch_size, L / batch_size] layout, window k covers positions b·L/batch_size + k·num_steps
onward, and window 0 says `reset`. The RNN state crosses windows in `model_state` (TF-style
truncation: no gradient flows back into the previous window, since model_state is not
differentiated) and is zeroed where the batch says `reset`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxnets.config import ConfigError
from jaxnets.data.sequences import expected_cross_entropies, p_one
from jaxnets.experiments import Context, Outcome
from jaxnets.nn import initializer, rnn
from jaxnets.plots import plt, save_figure
from jaxnets.train.curves import Curve
from jaxnets.train import Task
from jaxnets.train.batches import Generated


def window(key: jax.Array, epoch: jax.Array, k: jax.Array, batch_size: int, num_steps: int, row_length: int
           ) -> tuple[jax.Array, jax.Array]:
    """(x, y) int32 [batch_size, num_steps] of window k of the epoch's series: every value is a
    function of (key, epoch, position), so any window can be drawn on its own."""
    epoch_key = jax.random.fold_in(key, epoch)
    positions = (jnp.arange(batch_size)[:, None] * row_length + k * num_steps
                 + jnp.arange(-8, num_steps)[None, :])  # 8 steps of history before the window

    def bit(t):
        return jax.random.bernoulli(jax.random.fold_in(jax.random.fold_in(epoch_key, 0), t), 0.5).astype(jnp.int32)

    x = jax.vmap(jax.vmap(bit))(positions)
    u = jax.vmap(jax.vmap(lambda t: jax.random.uniform(jax.random.fold_in(jax.random.fold_in(epoch_key, 1), t))))(
        positions[:, 8:])
    y = (u < p_one(x[:, 5:-3], x[:, :-8])).astype(jnp.int32)
    return x[:, 8:], y


def rnn_toy_task(model: ml_collections.ConfigDict, data: ml_collections.ConfigDict, batch_size: int) -> Task:
    cell = rnn.get_cell(model.cell)
    row_length = data.series_length // batch_size
    windows_per_epoch = row_length // model.num_steps
    if windows_per_epoch < 1:
        raise ConfigError(f"model.num_steps ({model.num_steps}) exceeds a row of the series "
                          f"({data.series_length} / batch {batch_size} = {row_length})")
    series_key = jax.random.PRNGKey(data.series_seed)  # the data, shared by every seed of a sweep

    def batch(key, step):
        epoch, k = step // windows_per_epoch, step % windows_per_epoch
        x, y = window(series_key, epoch, k, batch_size, model.num_steps, row_length)
        return {"x": x, "y": y, "reset": k == 0}  # a fresh series: a fresh state

    def init(key):
        k1, k2 = jax.random.split(key)
        params = {"cell": cell.init(k1, 2, model.state_size, model.w_init, 1.0),
                  "out": {"w": initializer(model.w_init, 1.0)(k2, (model.state_size, 2), jnp.float32),
                          "b": jnp.zeros((2,), jnp.float32)}}
        carry = tuple(jnp.zeros((batch_size, model.state_size)) for _ in cell.components)
        return params, carry

    def loss(params, carry, batch, key, step):
        carry = jax.tree.map(lambda c: jnp.where(batch["reset"], 0.0, c), carry)
        final, hs = rnn.unroll(cell.step, params["cell"], carry, jax.nn.one_hot(batch["x"].T, 2))
        logits = hs @ params["out"]["w"] + params["out"]["b"]  # [T, B, 2]
        xent = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"].T)
        return jnp.mean(xent), (final, {})

    def evaluate(params, carry, batch, key, step):
        return {}, carry

    batches = Generated(batch, windows_per_epoch, batch_size * model.num_steps, unit="tokens")
    return Task(init, loss, evaluate, batches=batches)


def plot_losses(loss: Curve, levels: dict[str, float], path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(loss.steps, loss.mean(), label="training loss (mean per log interval)")
    for (name, level), style in zip(levels.items(), (":", "--", "-.")):
        ax.axhline(level, color="k", linestyle=style, lw=1, label=f"expected, learns {name.replace('_', ' ')}: {level:.4f}")
    ax.set(xlabel="step", ylabel="cross-entropy (nats)", title=title, ylim=(0.4, 0.7))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def run(ctx: Context) -> Outcome:
    config = ctx.config
    task = rnn_toy_task(config.model, config.data, config.train.batch_size)
    ctx.log(f"{task.batches.steps} windows of {config.train.batch_size} × {config.model.num_steps} per epoch, "
            f"a fresh {config.data.series_length:,}-step series each epoch")
    result = ctx.fit(task, {}, {})
    levels = expected_cross_entropies()
    ctx.log("expected levels: " + ", ".join(f"{k} {v:.4f}" for k, v in levels.items()))
    title = f"RNN I: state {config.model.state_size}, num_steps {config.model.num_steps}"
    return Outcome({"train_loss": result.final_train["train_loss"]}, fit=result,
                   extra={"expected_cross_entropies": levels},
                   figures={"loss.png": lambda path: plot_losses(result.curves["train_loss"], levels, path, title)})
