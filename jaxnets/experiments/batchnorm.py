"""R2RT, "Implementing Batch Normalization in Tensorflow" (2016): a sigmoid MLP with and without
batch normalization, trained side by side on the same batches from the same initial weights,
and the inference trap (normalizing a single example with its own "batch" statistics).

What is special here: one task holds both nets (`params = {'plain', 'bn'}`; the loss is the sum
of their losses, whose gradients touch disjoint parameters, so each net gets exactly its own SGD
update); the BN net's population statistics are an EMA carried in `model_state`. Evaluation
reports the BN net twice: with the evaluation batch's own statistics (what the post's training
graph did on the 10k test set) and with the population statistics (the fixed inference graph).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from jaxnets.config import ConfigError  # noqa: E402
from jaxnets.data import image_classification  # noqa: E402
from jaxnets.experiments import RunContext, register  # noqa: E402
from jaxnets.experiments.common import finish, train_task  # noqa: E402
from jaxnets.nn import activation, batch_norm, batch_norm_init, initializer  # noqa: E402
from jaxnets.plots import save_figure  # noqa: E402
from jaxnets.train import Task  # noqa: E402
from jaxnets.train.sharding import is_primary  # noqa: E402


def init_pair(key: jax.Array, sizes: tuple[int, ...], model: ml_collections.ConfigDict) -> tuple[dict, dict]:
    """(params {'plain', 'bn'}, bn population stats) with the same initial weights in both nets
    (the BN net's output layer: the same draw, or U[0, 1) with model.bn_output_init=uniform).
    The plain net has zero biases; the BN net has no bias before BN (β replaces it) and a zero
    output bias unless model.output_bias is false."""
    w_init = initializer(model.w_init, model.w_scale)
    keys = jax.random.split(key, len(sizes) - 1)
    weights = [w_init(k, (n_in, n_out), jnp.float32) for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:])]
    plain = {f"dense_{i}": {"w": w, "b": jnp.zeros(w.shape[1])} for i, w in enumerate(weights)}
    bn, stats = {}, {}
    for i, w in enumerate(weights[:-1]):
        bn[f"bn_{i}"], stats[f"bn_{i}"] = batch_norm_init(w.shape[1])
        bn[f"dense_{i}"] = {"w": w}
    out = len(weights) - 1
    w_out = weights[-1]
    if model.bn_output_init == "uniform":  # a fresh U[0, 1) draw, as tf.random_uniform
        w_out = jax.random.uniform(jax.random.fold_in(key, 1), w_out.shape, jnp.float32)
    elif model.bn_output_init != "shared":
        raise ConfigError(f"model.bn_output_init = {model.bn_output_init!r} is not one of ['shared', 'uniform']")
    bn[f"dense_{out}"] = {"w": w_out, **({"b": jnp.zeros(sizes[-1])} if model.output_bias else {})}
    return {"plain": plain, "bn": bn}, stats


def plain_forward(params: dict, x: jax.Array, act) -> tuple[jax.Array, list[jax.Array]]:
    """(logits, pre-activations of each hidden layer)."""
    n = len(params)
    pre = []
    for i in range(n - 1):
        z = x @ params[f"dense_{i}"]["w"] + params[f"dense_{i}"]["b"]
        pre.append(z)
        x = act(z)
    return x @ params[f"dense_{n - 1}"]["w"] + params[f"dense_{n - 1}"]["b"], pre


def bn_forward(params: dict, stats: dict, x: jax.Array, act, train: bool, model: ml_collections.ConfigDict
               ) -> tuple[jax.Array, list[jax.Array], dict]:
    """(logits, BN outputs of each hidden layer (pre-activation), new stats). train=True
    normalizes with the batch's statistics (and updates the EMA), else with the population's."""
    n_hidden = len(stats)
    pre, new_stats = [], {}
    for i in range(n_hidden):
        z = x @ params[f"dense_{i}"]["w"]
        z, new_stats[f"bn_{i}"] = batch_norm(params[f"bn_{i}"], stats[f"bn_{i}"], z, train, model.bn_decay, model.bn_eps)
        pre.append(z)
        x = act(z)
    out = params[f"dense_{n_hidden}"]
    return x @ out["w"] + out.get("b", 0.0), pre, new_stats


def batchnorm_task(model: ml_collections.ConfigDict, n_in: int = 784, n_classes: int = 10) -> Task:
    sizes = (n_in, *model.hidden_sizes, n_classes)
    act = activation(model.activation)
    reduce = {"mean": jnp.mean, "sum": jnp.sum}[model.loss_reduction]
    layer = model.tracked_layer - 1  # the post plots layer 2's pre-activations

    def init(key):
        return init_pair(key, sizes, model)

    def loss(params, stats, batch, key, step):
        x, y = batch["x"], batch["y"]
        plain_logits, _ = plain_forward(params["plain"], x, act)
        bn_logits, _, new_stats = bn_forward(params["bn"], stats, x, act, True, model)
        plain_xent = optax.softmax_cross_entropy_with_integer_labels(plain_logits, y)
        bn_xent = optax.softmax_cross_entropy_with_integer_labels(bn_logits, y)
        metrics = {"plain_loss": reduce(plain_xent), "bn_loss": reduce(bn_xent),
                   "plain_accuracy": jnp.mean(jnp.argmax(plain_logits, -1) == y),
                   "bn_accuracy": jnp.mean(jnp.argmax(bn_logits, -1) == y)}
        return reduce(plain_xent) + reduce(bn_xent), (new_stats, metrics)

    def evaluate(params, stats, batch, key, step):
        x, y = batch["x"], batch["y"]
        plain_logits, plain_pre = plain_forward(params["plain"], x, act)
        batch_logits, bn_pre, _ = bn_forward(params["bn"], stats, x, act, True, model)
        pop_logits, _, _ = bn_forward(params["bn"], stats, x, act, False, model)
        out = {name: (jnp.argmax(logits, -1) == y).astype(jnp.float32)
               for name, logits in (("plain_accuracy", plain_logits), ("bn_accuracy", batch_logits),
                                    ("bn_population_accuracy", pop_logits))}
        for k in range(model.tracked_neurons):  # mean over the set = the post's tracked mean input
            out[f"plain_z{model.tracked_layer}_{k}"] = plain_pre[layer][:, k]
            out[f"bn_z{model.tracked_layer}_{k}"] = bn_pre[layer][:, k]
        return out

    return Task(init, loss, evaluate)


def one_at_a_time(params: dict, stats: dict, x: jax.Array, y: jax.Array, model: ml_collections.ConfigDict
                  ) -> dict[str, jax.Array]:
    """The post's inference demonstration: classify each example alone, as a batch of one, with
    its own batch statistics (each feature normalizes to β, so every input gets the same output)
    and with the population statistics. Returns per-mode accuracy and predicted classes."""
    act = activation(model.activation)
    out = {}
    for mode, train in (("batch_stats", True), ("population", False)):
        logits = jax.vmap(lambda xi: bn_forward(params, stats, xi[None], act, train, model)[0][0])(x)
        predictions = jnp.argmax(logits, -1)
        out[f"single_example_{mode}_accuracy"] = jnp.mean(predictions == y)
        out[f"single_example_{mode}_predictions"] = predictions
    return out


def plot_curves(history: list[dict], split: str, model: ml_collections.ConfigDict, plots_dir) -> None:
    def series(key):
        rows = [r for r in history if key in r]
        return np.array([r["step"] for r in rows]), np.array([r[key] for r in rows])

    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (("plain_accuracy", "without BN"), ("bn_accuracy", "with BN (evaluation-batch statistics)"),
                       ("bn_population_accuracy", "with BN (population statistics)")):
        steps, values = series(f"{split}_{key}")
        ax.plot(steps, values, label=label)
    ax.set(xlabel="step", ylabel=f"{split} accuracy", ylim=(0.8, 1.0), title="Batch normalization: accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, plots_dir / "accuracy.png")

    n = model.tracked_neurons
    fig, axes = plt.subplots(n, 2, figsize=(8, 1.8 * n), sharex=True, squeeze=False)
    for k in range(n):
        for col, (net, title) in enumerate((("plain", "without BN"), ("bn", "with BN"))):
            steps, values = series(f"{split}_{net}_z{model.tracked_layer}_{k}")
            axes[k, col].plot(steps, values)
            axes[k, col].grid(alpha=0.3)
            if k == 0:
                axes[k, col].set_title(f"{title}: mean layer-{model.tracked_layer} input to the nonlinearity")
        axes[k, 0].set_ylabel(f"neuron {k}")
    for col in range(2):
        axes[-1, col].set_xlabel("step")
    save_figure(fig, plots_dir / "preactivations.png")


@register("batchnorm")
def run(ctx: RunContext) -> dict:
    config = ctx.config
    if config.train.eval_batch_size < 1000:
        ctx.log(f"note: the BN net is also evaluated with evaluation-batch statistics; batches of "
                f"{config.train.eval_batch_size} make those noisy (the post used the whole 10k test set)")
    train_data, eval_data = image_classification(config.data.name, config.data.train_split,
                                                 config.data.eval_splits.to_dict())
    result, per_seed = train_task(ctx, batchnorm_task(config.model), train_data, eval_data)
    per_seed = {k: v for k, v in per_seed.items() if "_z" not in k}

    split = next(iter(eval_data))
    n = config.model.demo_examples
    x, y = jnp.asarray(eval_data[split]["x"][:n]), jnp.asarray(eval_data[split]["y"][:n])
    demo = jax.jit(jax.vmap(lambda p, s: one_at_a_time(p["bn"], s, x, y, config.model)))(
        result.state.params, result.state.model_state)
    extra = {}
    for mode in ("batch_stats", "population"):
        per_seed[f"single_example_{mode}_accuracy"] = np.asarray(demo[f"single_example_{mode}_accuracy"])
        predicted = np.asarray(demo[f"single_example_{mode}_predictions"])
        extra[f"single_example_{mode}_predicted_classes"] = [np.bincount(p, minlength=10).tolist() for p in predicted]
    ctx.log(f"first {n} {split} images one at a time: with their own batch statistics accuracy "
            f"{per_seed['single_example_batch_stats_accuracy'].mean():.3f} (predicted-class counts, seed "
            f"{ctx.seeds[0]}: {extra['single_example_batch_stats_predicted_classes'][0]}); with population "
            f"statistics {per_seed['single_example_population_accuracy'].mean():.3f}")
    if is_primary():
        plot_curves(result.history, split, config.model, ctx.workdir / "plots")
    return finish(ctx, result, per_seed, extra=extra)
