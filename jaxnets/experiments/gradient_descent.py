"""Backprop basics: gradient descent on x⁴ − 3x³ + 2, the FAQ's momentum rule, and
stochastic vs mini-batch vs full-batch gradient descent on MNIST."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnets.data import image_classification
from jaxnets.plots import plt
from jaxnets.experiments import Context, Outcome
from jaxnets.experiments.classifier import classifier_task
from jaxnets.train import dampened_momentum, init_state, make_chunk, make_evaluate
from jaxnets.train.batches import Shuffled

NO_LEARNING_RATE_GRID = "it runs the tutorial's own loops (x⁴ − 3x³ + 2, batch sizes), not the common trainer"


def f(x):
    return x**4 - 3 * x**3 + 2


def descend(x0: float, optimizer: optax.GradientTransformation, precision: float, max_steps: int) -> jax.Array:
    """The tutorial's loop: step with ∂f/∂x until |x_new − x_old| ≤ precision. Returns the
    trace x_0, x_1, ... padded with NaN to max_steps + 1 (a while_loop inside jit)."""
    grad_f = jax.grad(f)

    def cond(carry):
        i, x, x_old, _, _ = carry
        return (i < max_steps) & (jnp.abs(x - x_old) > precision)

    def body(carry):
        i, x, _, opt_state, trace = carry
        updates, opt_state = optimizer.update(grad_f(x), opt_state)
        x_new = optax.apply_updates(x, updates)
        return i + 1, x_new, x, opt_state, trace.at[i + 1].set(x_new)

    x0 = jnp.float32(x0)
    trace = jnp.full((max_steps + 1,), jnp.nan, jnp.float32).at[0].set(x0)
    init = (0, x0, x0 + 2 * precision + 1.0, optimizer.init(x0), trace)
    return jax.jit(lambda c: jax.lax.while_loop(cond, body, c)[-1])(init)


def _steps(trace: np.ndarray) -> int:
    return int(np.count_nonzero(~np.isnan(trace))) - 1


def metric_name(curve: dict) -> str:
    """'final_loss_batch100_momentum0.9': an identifier a report, a plot and TensorBoard can key
    on (the human label, with spaces and α, stays in summary.json's `comparison`)."""
    momentum = f"_momentum{curve['momentum']:g}" if curve["momentum"] else ""
    return f"final_loss_batch{curve['batch_size']}{momentum}"


def compare_batch_sizes(ctx: Context) -> tuple[list[dict], dict]:
    """Train the same one-hidden-layer sigmoid net with each (label, batch, lr, momentum) for the
    same number of examples; record training loss (on a fixed subset) vs examples and wall time.
    Returns the curves and each method's final train state."""
    config = ctx.config
    train_data, _ = image_classification(config.data.name, config.data.train_split, {})
    probe = {k: v[: config.train.eval_examples] for k, v in train_data.items()}
    task = classifier_task(config.model)
    evaluate = jax.jit(make_evaluate(task, min(config.train.eval_examples, 10000)))
    data = jax.device_put(train_data)
    curves, final_states = [], {}
    for label, batch, lr, momentum in zip(config.train.labels, config.train.batch_sizes,
                                          config.train.learning_rates, config.train.momenta):
        optimizer = dampened_momentum(lr, momentum)
        total = max(1, config.train.examples // batch)
        if config.train.steps > 0:
            total = min(total, config.train.steps)
        chunk_steps = max(1, total // config.train.points)
        chunk = jax.jit(make_chunk(task, optimizer, Shuffled(batch), chunk_steps), donate_argnums=0)
        state = init_state(task, optimizer, jax.random.PRNGKey(config.seed))
        chunk = chunk.lower(state, data).compile()  # compile before the clock starts
        loss0 = float(evaluate(state, probe)["loss"])
        xs, walls, losses, wall, step = [0], [0.0], [loss0], 0.0, 0
        while step + chunk_steps <= total:
            start = time.perf_counter()
            state, _ = chunk(state, data)
            jax.block_until_ready(state)
            wall += time.perf_counter() - start
            step += chunk_steps
            xs.append(step * batch)
            walls.append(wall)
            losses.append(float(evaluate(state, probe)["loss"]))
        ctx.log(f"{label}: batch {batch}, lr {lr}, α {momentum}: {step} steps, {step * batch:,} examples in "
                f"{wall:.2f} s -> training loss {losses[-1]:.4f}")
        curves.append({"label": label, "batch_size": batch, "learning_rate": lr, "momentum": momentum,
                       "examples": xs, "wall_s": walls, "loss": losses})
        final_states[f"method_{len(curves) - 1}"] = state
    return curves, final_states


def plot_function(path, traces: dict[str, np.ndarray]) -> None:
    xs = np.linspace(-1.0, 4.2, 400)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.plot(xs, f(xs), color="k", lw=1, label="f(x) = x⁴ − 3x³ + 2")
    for (label, trace), marker in zip(traces.items(), "osd^"):
        t = trace[~np.isnan(trace)]
        ax.plot(t, f(t), marker=marker, ms=3, lw=0.8, label=f"{label} ({len(t) - 1} steps → {t[-1]:.5f})")
    ax.axvline(2.25, ls=":", color="gray")
    ax.set(xlabel="x", ylabel="f(x)", title="gradient descent from x = 4; minimum at x = 9/4")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_comparison(path, curves: list[dict]) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for c in curves:
        axes[0].plot(c["examples"], c["loss"], label=c["label"])
        axes[1].plot(c["wall_s"], c["loss"], label=c["label"])
    axes[0].set(xlabel="training examples seen", ylabel="training loss (fixed subset)", xscale="symlog")
    axes[1].set(xlabel="wall time (s, compilation excluded)", ylabel="training loss (fixed subset)")
    for ax in axes:
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("MNIST, one hidden sigmoid layer: stochastic vs mini-batch vs full-batch gradient descent")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(ctx: Context) -> Outcome:
    fc = ctx.config.function
    start = time.time()
    traces = {
        f"η = {fc.learning_rate}": descend(fc.x0, optax.sgd(fc.learning_rate), fc.precision, fc.max_steps),
        f"η = {fc.fast_learning_rate}": descend(fc.x0, optax.sgd(fc.fast_learning_rate), fc.precision, fc.max_steps),
        f"η = {fc.learning_rate}, FAQ momentum α = {fc.momentum}": descend(
            fc.x0, dampened_momentum(fc.learning_rate, fc.momentum), fc.precision, fc.max_steps),
    }
    traces = {k: np.asarray(v, dtype=np.float64) for k, v in traces.items()}
    slow, fast, momentum = traces.values()
    ctx.log("η = %g: %s ... → %.6f after %d updates" % (
        fc.learning_rate, " → ".join(f"{x:.4f}" for x in slow[:4]), slow[_steps(slow)], _steps(slow)))
    ctx.log("η = %g: → %.7f after %d updates; with momentum: → %.6f after %d updates" % (
        fc.fast_learning_rate, fast[_steps(fast)], _steps(fast), momentum[_steps(momentum)], _steps(momentum)))
    curves, final_states = compare_batch_sizes(ctx)
    records = [{"step": step, "time": round(wall, 4), "method": c["label"], "batch_size": c["batch_size"],
                "examples_seen": examples, "train_loss": loss}  # one line per evaluation point of each method
               for c in curves for step, (examples, wall, loss) in enumerate(zip(c["examples"], c["wall_s"], c["loss"]))]

    metrics = {
        "x_1": slow[1], "x_2": slow[2], "x_final": slow[_steps(slow)], "updates": _steps(slow),
        "x_final_fast": fast[_steps(fast)], "updates_fast": _steps(fast),
        "x_final_momentum": momentum[_steps(momentum)], "updates_momentum": _steps(momentum),
        **{metric_name(c): c["loss"][-1] for c in curves},
    }
    ctx.log(f"x_1 {metrics['x_1']:.4f}, x_2 {metrics['x_2']:.4f}, x_final {metrics['x_final']:.5f}")
    return Outcome({k: np.array([v]) for k, v in metrics.items()},
                   extra={"comparison": [{k: c[k] for k in ("label", "batch_size", "learning_rate", "momentum")}
                                         for c in curves]},
                   figures={"descent_path.png": lambda path: plot_function(path, traces),
                            "batch_size_comparison.png": lambda path: plot_comparison(path, curves)},
                   records=records, state=final_states, steps=sum(len(c["loss"]) for c in curves),
                   wall_time_s=time.time() - start)
