"""Discrete stochastic neurons on MNIST: R2RT's "Binary Stochastic Neurons in Tensorflow" and
"Beyond Binary: Ternary and One-hot Neurons".

What is special here: the loss is the posts' per-example vector CE/10, summed over the batch
(TensorFlow summed the vector it was given, so the published learning rates apply unchanged);
REINFORCE adds its estimator through `reinforce_tap` with the per-unit baseline's EMA carried as
model state; the slope (binary) or inverse temperature (one-hot) is a function of the step,
annealed by `slope_rate` every `anneal_every` steps, in training (what the posts meant) or only
in evaluation (what the posts' code did: `model.anneal_in_training=false`). At the end every
seed is also evaluated in the other mode (stochastic vs deterministic).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxnets import plots
from jaxnets.config import ConfigError
from jaxnets.data import image_classification
from jaxnets.experiments import Context, Outcome
from jaxnets.models import init_mlp, stochastic_mlp
from jaxnets.nn.stochastic import (ESTIMATORS, init_reinforce_baseline, reinforce_baseline, reinforce_tap,
                                   ternary_activation, ternary_activation_grad)
from jaxnets.train import Task
from jaxnets.train.loop import named_key
from jaxnets.train.step import make_evaluate, per_example
from jaxnets.train.curves import Curves

MODES = ("stochastic", "deterministic")
BASELINES = ("variance_adjusted", "none")


def check(config: ml_collections.ConfigDict) -> None:
    check_model(config.model)


def check_model(model: ml_collections.ConfigDict) -> None:
    for key, valid in (("neuron", stochastic_mlp.NEURONS), ("estimator", ESTIMATORS), ("baseline", BASELINES),
                       ("train_mode", MODES), ("eval_mode", MODES), ("loss_form", ("stable", "posts"))):
        if model[key] not in valid:
            raise ConfigError(f"model.{key} = {model[key]!r} is not one of {list(valid)}")
    if model.neuron == "binary" and model.estimator == "reinforce" and model.train_mode == "deterministic":
        raise ConfigError("REINFORCE needs stochastic training (model.train_mode=stochastic): its gradient "
                          "is (b - p)(L - baseline), which a deterministic b makes meaningless")
    if model.neuron == "one_hot" and any(h % model.one_hot_dim for h in model.hidden_sizes):
        raise ConfigError(f"model.hidden_sizes {tuple(model.hidden_sizes)} must be multiples of "
                          f"model.one_hot_dim ({model.one_hot_dim}): a one-hot layer is neurons × dim wide")
    if model.anneal_every < 1:
        raise ConfigError("model.anneal_every must be at least 1 step")


def slope_at(model: ml_collections.ConfigDict, step: jax.Array) -> jax.Array:
    """slope_rate ** (number of whole annealing periods before `step`) — the slope of the update
    that takes the net from `step` to `step + 1` (the post: slope ← slope × rate after each epoch)."""
    return jnp.asarray(model.slope_rate, jnp.float32) ** (step // model.anneal_every).astype(jnp.float32)


def stochastic_task(model: ml_collections.ConfigDict, n_in: int = 784, n_classes: int = 10,
                    eval_mode: str | None = None) -> Task:
    check_model(model)
    spec = stochastic_mlp.NeuronSpec(model.neuron, model.estimator, model.one_hot_dim)
    sizes = (n_in, *model.hidden_sizes, n_classes)
    reduce = {"mean": jnp.mean, "sum": jnp.sum}[model.loss_reduction]
    reinforce = model.neuron == "binary" and model.estimator == "reinforce"
    adjusted_baseline = reinforce and model.baseline == "variance_adjusted"
    train_stochastic = model.train_mode == "stochastic"
    eval_stochastic = (eval_mode or model.eval_mode) == "stochastic"

    def init(key):
        params = init_mlp(key, sizes, model.w_init, model.w_scale, model.b_init, model.b_scale)
        state = {f"baseline_{i}": init_reinforce_baseline(h) for i, h in enumerate(model.hidden_sizes)} \
            if adjusted_baseline else {}
        return params, state

    def loss(params, state, batch, key, step):
        slope = slope_at(model, step) if model.anneal_in_training else jnp.float32(1.0)
        logits, hidden = stochastic_mlp.forward(params, batch["x"], spec, key if train_stochastic else None, slope)
        xent = cross_entropy(logits, batch["y"], model.loss_form)
        per_example = model.loss_scale * xent  # the posts' vector loss: -mean over classes of y·log p
        new_state = {}
        if reinforce:
            signal = jax.lax.stop_gradient(per_example)
            for i, (a, b) in enumerate(hidden):
                baseline = 0.0
                if adjusted_baseline:
                    baseline, new_state[f"baseline_{i}"] = reinforce_baseline(
                        state[f"baseline_{i}"], b, jax.nn.sigmoid(a), signal, model.baseline_decay)
                per_example = per_example + reinforce_tap(a, b, signal[:, None] - baseline)
        accuracy = jnp.mean(jnp.argmax(logits, -1) == batch["y"])
        return reduce(per_example), (new_state, {"accuracy": accuracy, "xent": jnp.mean(xent)})

    def evaluate(params, state, batch, key, step):
        # The slope of the last update taken (evaluated after it), annealed in either mode.
        slope = slope_at(model, jnp.maximum(step - 1, 0))
        logits, _ = stochastic_mlp.forward(params, batch["x"], spec, key if eval_stochastic else None, slope)
        correct = (jnp.argmax(logits, -1) == batch["y"]).astype(jnp.float32)
        return per_example({"loss": optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]),
                            "accuracy": correct}), state

    return Task(init, loss, evaluate)


def cross_entropy(logits: jax.Array, labels: jax.Array, form: str) -> jax.Array:
    """Per-example cross-entropy. 'stable' uses log_softmax; 'posts' is the posts' (and many 2016
    notebooks') -sum(y · log(softmax(logits))): once a wrong class's probability underflows to 0,
    0 · log 0 = NaN, in the loss and in its gradient — how their runs that "fail" die."""
    if form == "stable":
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    one_hot = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    return -jnp.sum(one_hot * jnp.log(jax.nn.softmax(logits)), axis=-1)


def metrics_at_steps(curves: Curves, names: list[str]) -> dict[str, np.ndarray]:
    """Per-seed values of metrics named '<metric>_step<N>' read from the curves at step N."""
    out = {}
    for name in names:
        metric, _, step = name.rpartition("_step")
        values = curves[metric].at(int(step)) if metric in curves else None
        if values is None:
            raise ConfigError(f"reference.{name}: no evaluation of {metric} at step {step} "
                              f"(train.eval_every must divide {step})")
        out[name] = values
    return out


def hidden_output_fractions(task_model: ml_collections.ConfigDict, params, x: np.ndarray, key: jax.Array
                            ) -> np.ndarray:
    """[S, 3] fractions of -1 / 0 / +1 among the ternary hidden outputs on the evaluation set
    (the post's bar plot), per seed, in the configured evaluation mode."""
    spec = stochastic_mlp.NeuronSpec(task_model.neuron, task_model.estimator, task_model.one_hot_dim)

    def fractions(p, key):
        _, hidden = stochastic_mlp.forward(p, x, spec, key if task_model.eval_mode == "stochastic" else None)
        t = jnp.concatenate([h.reshape(-1) for _, h in hidden])
        return jnp.stack([jnp.mean(t == v) for v in (-1.0, 0.0, 1.0)])

    keys = jax.random.split(key, len(jax.tree.leaves(params)[0]))
    return np.asarray(jax.jit(jax.vmap(fractions))(params, keys))


def ternary_figure(fractions: np.ndarray, path) -> None:
    """f and f' of the ternary neuron beside the bar plot of its outputs."""
    grid = np.linspace(-3, 3, 601)
    plots.ternary_figure(grid, np.asarray(ternary_activation(grid)), np.asarray(ternary_activation_grad(grid)),
                         fractions, path)


def run(ctx: Context) -> Outcome:
    config = ctx.config
    train_data, eval_data = image_classification(config.data.name, config.data.train_split,
                                                 config.data.eval_splits.to_dict(), config.data.standardize)
    result = ctx.fit(stochastic_task(config.model), train_data, eval_data)
    per_seed = dict(result.final_eval)

    # The other evaluation mode, once, on the final parameters (the posts compare both).
    other = "deterministic" if config.model.eval_mode == "stochastic" else "stochastic"
    if config.model.neuron in stochastic_mlp.DISCRETE:
        evaluate = jax.jit(jax.vmap(make_evaluate(stochastic_task(config.model, eval_mode=other),
                                                  config.train.eval_batch_size), in_axes=(0, None)))
        for name, data in eval_data.items():
            values = evaluate(result.state, jax.tree.map(jnp.asarray, data))
            per_seed[f"{name}_accuracy_{other}_eval"] = np.asarray(values["accuracy"])
            per_seed[f"{name}_accuracy_{config.model.eval_mode}_eval"] = per_seed[f"{name}_accuracy"]

    at_steps = [k for k, v in config.reference.items() if "_step" in k and v is not None]
    per_seed.update(metrics_at_steps(result.curves, at_steps))
    final_loss = result.final_train["train_loss"]
    diverged = [seed for seed, value in zip(ctx.seeds, final_loss) if not np.isfinite(value)]
    extra, figures = {"diverged_seeds": diverged}, {}
    if config.model.neuron == "ternary":
        first_eval = next(iter(eval_data.values()))
        fractions = hidden_output_fractions(config.model, result.state.params, jnp.asarray(first_eval["x"]),
                                            named_key(jax.random.PRNGKey(ctx.seeds[0]), "hidden_output_fractions"))
        extra["ternary_output_fractions"] = {v: float(fractions[:, i].mean()) for i, v in enumerate(("-1", "0", "+1"))}
        figures["ternary_outputs.png"] = lambda path: ternary_figure(fractions, path)
    if diverged:
        ctx.log(f"note: seeds {diverged} ended with a non-finite loss (their predictions are argmax of NaN = "
                f"class 0; the posts' runs that 'fail' at ≈0.0958 did the same)")
    return Outcome(per_seed, fit=result, extra=extra, figures=figures)

