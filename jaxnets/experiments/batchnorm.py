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
import ml_collections
import numpy as np
import optax

from jaxnets.data import image_classification
from jaxnets.experiments import Context, Outcome
from jaxnets.models.batchnorm_pair import bn_forward, init_pair, one_at_a_time, plain_forward
from jaxnets.nn import activation
from jaxnets.plots import plt, save_figure
from jaxnets.train import Task
from jaxnets.train.step import per_example
from jaxnets.train.curves import Curves


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
        return per_example(out), stats

    return Task(init, loss, evaluate)


def plot_accuracy(curves: Curves, split: str, path) -> None:
    def series(key):
        return curves[key].steps, curves[key].mean()

    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (("plain_accuracy", "without BN"), ("bn_accuracy", "with BN (evaluation-batch statistics)"),
                       ("bn_population_accuracy", "with BN (population statistics)")):
        steps, values = series(f"{split}_{key}")
        ax.plot(steps, values, label=label)
    ax.set(xlabel="step", ylabel=f"{split} accuracy", ylim=(0.8, 1.0), title="Batch normalization: accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def plot_preactivations(curves: Curves, split: str, model: ml_collections.ConfigDict, path) -> None:
    def series(key):
        return curves[key].steps, curves[key].mean()

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
    save_figure(fig, path)


def run(ctx: Context) -> Outcome:
    config = ctx.config
    if config.train.eval_batch_size < 1000:
        ctx.log(f"note: the BN net is also evaluated with evaluation-batch statistics; batches of "
                f"{config.train.eval_batch_size} make those noisy (the post used the whole 10k test set)")
    train_data, eval_data = image_classification(config.data.name, config.data.train_split,
                                                 config.data.eval_splits.to_dict())
    result = ctx.fit(batchnorm_task(config.model), train_data, eval_data)
    per_seed = {k: v for k, v in result.final_eval.items() if "_z" not in k}

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
    figures = {"accuracy.png": lambda path: plot_accuracy(result.curves, split, path),
               "preactivations.png": lambda path: plot_preactivations(result.curves, split, config.model, path)}
    return Outcome(per_seed, fit=result, extra=extra, figures=figures)
