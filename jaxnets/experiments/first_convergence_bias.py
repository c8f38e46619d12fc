"""R2RT, "First Convergence Bias" (2016): does the path to the first minimum matter? Strategy A
trains a 3-hidden-layer tanh net end to end; strategy B first trains layer 1 (with its own
softmax head), then layers 1–2 (head 2), then the same end-to-end schedule. Hundreds of random
initializations per strategy, compared as distributions.

What is special here: every hidden layer has a softmax head; the loss at step t is the summed
cross-entropy of the head that t's phase trains (a one-hot weighting, so one compiled step
serves every phase and every strategy, and the seeds of a strategy run as one compiled
program); the learning rate drops in the final phase; at the end the two distributions are
compared with a Welch t-test and a Kolmogorov–Smirnov test and plotted.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from scipy import stats as scipy_stats

from jaxnets.config import ConfigError
from jaxnets.data import image_classification
from jaxnets.experiments import Context, Outcome
from jaxnets.models.headed_mlp import head_logits, init_headed_mlp
from jaxnets.nn import activation
from jaxnets.plots import plt, save_figure
from jaxnets.train import Task
from jaxnets.train.step import per_example

NO_LEARNING_RATE_GRID = "its learning rate is a schedule over the strategies' phases (it drops in the last one)"


def phase_table(phases) -> tuple[jax.Array, jax.Array]:
    """((head, steps), ...) -> (0-based head per phase, cumulative end step per phase)."""
    heads = jnp.asarray([head - 1 for head, _ in phases], jnp.int32)
    ends = jnp.cumsum(jnp.asarray([steps for _, steps in phases], jnp.int32))
    return heads, ends


def fcb_task(model: ml_collections.ConfigDict, phases, n_in: int = 784, n_classes: int = 10) -> Task:
    sizes = (n_in, *model.hidden_sizes)
    act = activation(model.activation)
    heads, ends = phase_table(phases)
    n_heads = len(model.hidden_sizes)

    def init(key):
        return init_headed_mlp(key, sizes, n_classes, model), {}

    def loss(params, state, batch, key, step):
        phase = jnp.minimum(jnp.searchsorted(ends, step, side="right"), len(phases) - 1)
        weights = jax.nn.one_hot(heads[phase], n_heads)
        xents = jnp.stack([jnp.sum(optax.softmax_cross_entropy_with_integer_labels(lg, batch["y"]))
                           for lg in head_logits(params, batch["x"], act)])
        return jnp.dot(weights, xents), (state, {"head": heads[phase].astype(jnp.float32) + 1})

    def evaluate(params, state, batch, key, step):
        return per_example({f"head{k + 1}_accuracy": (jnp.argmax(lg, -1) == batch["y"]).astype(jnp.float32)
                            for k, lg in enumerate(head_logits(params, batch["x"], act))}), state

    return Task(init, loss, evaluate)


def strategy_optimizer(config: ml_collections.ConfigDict, phases) -> optax.GradientTransformation:
    """SGD at learning_rate, dropping to final_learning_rate `final_drop_after` steps into the last phase."""
    final_start = sum(steps for _, steps in phases[:-1])
    schedule = optax.piecewise_constant_schedule(
        config.learning_rate, {final_start + config.final_drop_after: config.final_learning_rate / config.learning_rate})
    return optax.inject_hyperparams(optax.sgd)(learning_rate=schedule)


def strategy_train_config(train: ml_collections.ConfigDict, phases) -> ml_collections.ConfigDict:
    """The train section with steps = the phases' total (or train.steps, if set, when smaller)."""
    out = ml_collections.ConfigDict(train.to_dict())
    total = sum(steps for _, steps in phases)
    out.steps = min(total, train.steps) if train.steps else total
    return out


def compare(a: np.ndarray, b: np.ndarray) -> dict:
    """Means, stds, Welch's t-test and the two-sample Kolmogorov–Smirnov test of A vs B."""
    out = {"mean_a": float(a.mean()), "mean_b": float(b.mean()), "difference_of_means": float(a.mean() - b.mean())}
    if len(a) > 1 and len(b) > 1:
        welch = scipy_stats.ttest_ind(a, b, equal_var=False)
        ks = scipy_stats.ks_2samp(a, b)
        out.update(std_a=float(a.std(ddof=1)), std_b=float(b.std(ddof=1)), welch_t=float(welch.statistic),
                   welch_p=float(welch.pvalue), ks_statistic=float(ks.statistic), ks_p=float(ks.pvalue))
    return out


def plot_distributions(accuracies: dict[str, np.ndarray], result: dict, reference: dict, path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    values = np.concatenate(list(accuracies.values()))
    bins = np.linspace(values.min(), values.max(), 30)
    grid = np.linspace(values.min() - 0.002, values.max() + 0.002, 300)
    for label, acc in accuracies.items():
        line = ax.hist(acc, bins=bins, density=True, alpha=0.35, label=f"{label}: {acc.mean():.5f} ± "
                       f"{acc.std(ddof=1) if len(acc) > 1 else 0:.5f} (n={len(acc)})")[2][0]
        if len(acc) > 2 and acc.std() > 0:
            ax.plot(grid, scipy_stats.gaussian_kde(acc)(grid), color=line.get_facecolor()[:3])
    for key, style in (("test_accuracy_all_layers", "--"), ("test_accuracy_layer_wise", ":")):
        if key in reference:
            ax.axvline(reference[key], color="k", linestyle=style, lw=1, label=f"published mean, {key[14:]}")
    title = "First convergence bias: final test accuracy"
    if "welch_p" in result:
        title += f"\nWelch p = {result['welch_p']:.2g}, KS p = {result['ks_p']:.2g}"
    ax.set(xlabel="test accuracy", ylabel="density", title=title)
    ax.legend(fontsize=7)
    save_figure(fig, path)



def run(ctx: Context) -> Outcome:
    config = ctx.config
    strategies = {"all_layers": tuple(map(tuple, config.model.phases_all_layers)),
                  "layer_wise": tuple(map(tuple, config.model.phases_layer_wise))}
    if config.optimizer.name != "sgd":
        raise ConfigError(f"optimizer.name = {config.optimizer.name!r}: this experiment is defined with plain SGD")
    for name, phases in strategies.items():
        if not phases or any(h < 1 or h > len(config.model.hidden_sizes) or s < 1 for h, s in phases):
            raise ConfigError(f"model.phases_{name} = {phases}: each phase is (head 1..{len(config.model.hidden_sizes)}, "
                              f"steps ≥ 1)")
    train_data, eval_data = image_classification(config.data.name, config.data.train_split,
                                                 config.data.eval_splits.to_dict())
    split = next(iter(eval_data))
    top = f"{split}_head{len(config.model.hidden_sizes)}_accuracy"
    if config.train.steps:
        ctx.log(f"note: train.steps = {config.train.steps} cuts each strategy short (a smoke test); "
                f"0 runs the phases in full")
    accuracies, walls, per_seed = {}, {}, {}
    for name, phases in strategies.items():  # each strategy its own random stream of the seeds
        train_cfg = strategy_train_config(config.train, phases)
        ctx.log(f"strategy {name}: phases (head, steps) {phases}, {len(ctx.seeds)} seeds as one compiled program")
        started = time.time()
        result = ctx.fit(fcb_task(config.model, phases), train_data, eval_data, train=train_cfg, subdir=name,
                         stream=name, optimizer=strategy_optimizer(config.optimizer, phases))
        walls[name] = time.time() - started
        accuracies[name] = np.asarray(result.final_eval[top], np.float64)
        per_seed[f"{split}_accuracy_{name}"] = accuracies[name]
    single = {}
    if config.model.time_single_run and len(ctx.seeds) > 1:  # one seed alone: the cost of one run
        for name, phases in strategies.items():
            train_cfg = strategy_train_config(config.train, phases)
            started = time.time()
            ctx.fit(fcb_task(config.model, phases), train_data, eval_data, train=train_cfg, subdir=f"single_{name}",
                    seeds=ctx.seeds[:1], stream=name, optimizer=strategy_optimizer(config.optimizer, phases),
                    log=lambda message: None)
            single[name] = time.time() - started

    result = compare(accuracies["all_layers"], accuracies["layer_wise"])
    reference = ctx.reference
    shown = {"all layers (A)": accuracies["all_layers"], "layer-wise (B)": accuracies["layer_wise"]}
    figures = {"distributions.png": lambda path: plot_distributions(shown, result, reference, path)}
    runs = len(ctx.seeds) * len(strategies)
    ctx.log(f"{runs} runs in {sum(walls.values()):.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in walls.items())})"
            + (f"; one run alone: {', '.join(f'{k} {v:.1f} s' for k, v in single.items())}" if single else ""))
    if "welch_p" in result:
        ctx.log(f"all layers {result['mean_a']:.5f} ± {result['std_a']:.5f} vs layer-wise {result['mean_b']:.5f} ± "
                f"{result['std_b']:.5f}: difference {result['difference_of_means']:+.5f}, Welch t = "
                f"{result['welch_t']:.2f} (p = {result['welch_p']:.3g}), KS D = {result['ks_statistic']:.3f} "
                f"(p = {result['ks_p']:.3g})")
    return Outcome(per_seed, extra={"comparison": result, "wall_time_s_per_strategy": walls,
                                    "wall_time_s_single_run": single, "runs": runs}, figures=figures,
                   steps=sum(strategy_train_config(config.train, p).steps for p in strategies.values()),
                   wall_time_s=sum(walls.values()))
