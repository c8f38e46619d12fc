"""R2RT, "Representational Power of Deeper Layers" (2016): how linearly separable are the digits
in each layer of a trained net? Logistic-regression probes on pixels and on each hidden layer,
a PCA picture of each layer, and the post's "failed experiment" (auxiliary targets: the top
principal components of the trained net's last hidden layer, regressed from the first).

What is special here: after the common trainer, each seed's representations of the first
`probe.n_train` training and `probe.n_test` test images are probed (all seeds and layers as one
vmapped L-BFGS solve of scikit-learn's objective, `jaxnets.models.logistic`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxnets.config import ConfigError
from jaxnets.data import image_classification
from jaxnets.experiments import Context, Outcome
from jaxnets.models import init_mlp, logistic, mlp_activations
from jaxnets.experiments.classifier import classifier_task
from jaxnets.plots import plt, save_figure
from jaxnets.train.curves import Curve
from jaxnets.train import Task


def representations(params: dict, x: jax.Array, act: str) -> list[jax.Array]:
    """[pixels, hidden 1, ..., hidden L] of a batch."""
    return [x, *mlp_activations(params, x, act)[:-1]]


def probe_accuracies(params: dict, train: dict, test: dict, model, probe) -> jax.Array:
    """[layers + 1] probe test accuracies for one seed's net (index 0 = pixels)."""
    reps_train = representations(params, train["x"], model.activation)
    reps_test = representations(params, test["x"], model.activation)
    out = []
    for r_train, r_test in zip(reps_train, reps_test):
        fitted, _ = logistic.fit(r_train, train["y"], 10, probe.C, probe.multi_class, probe.iterations)
        out.append(logistic.accuracy(fitted, r_test, test["y"]))
    return jnp.stack(out)


def pca(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(top-k principal directions [D, k], the data's mean) by SVD of the centred data."""
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    return vt[:k].T, mean


def plot_pca(reps: list[np.ndarray], labels: np.ndarray, digits: tuple[int, ...], path) -> None:
    """The post's 3 × (layers) grid: component pairs (0,1), (0,2), (1,2) of each layer."""
    pairs = ((0, 1), (0, 2), (1, 2))
    fig, axes = plt.subplots(len(pairs), len(reps), figsize=(3.2 * len(reps), 3 * len(pairs)), squeeze=False)
    keep = np.isin(labels, digits)
    for col, rep in enumerate(reps):
        directions, mean = pca(rep[keep], 3)
        proj = (rep[keep] - mean) @ directions
        for row, (i, j) in enumerate(pairs):
            ax = axes[row, col]
            for d in digits:
                sel = labels[keep] == d
                ax.scatter(proj[sel, i], proj[sel, j], s=3, alpha=0.6, label=str(d))
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title("pixels" if col == 0 else f"hidden layer {col}")
            if col == 0:
                ax.set_ylabel(f"PC {i + 1} vs PC {j + 1}")
    axes[0, 0].legend(fontsize=7, markerscale=3)
    save_figure(fig, path)


def aux_task(model: ml_collections.ConfigDict, n_in: int = 784, n_classes: int = 10) -> Task:
    """The "failed experiment": the classifier plus a linear map from hidden layer 1 that regresses
    the given principal components (batch['pc']); loss = summed CE + weight · Σ|pred − pc|."""
    base = classifier_task(model, n_in, n_classes)
    sizes = (n_in, *model.hidden_sizes, n_classes)

    def init(key):
        net_key, aux_key = jax.random.split(key)
        aux = init_mlp(aux_key, (model.hidden_sizes[0], model.aux_components), model.w_init, model.w_scale,
                       model.b_init, model.b_scale)["dense_0"]
        return {**init_mlp(net_key, sizes, model.w_init, model.w_scale, model.b_init, model.b_scale), "aux": aux}, {}

    def loss(params, state, batch, key, step):
        net = {k: v for k, v in params.items() if k != "aux"}
        outputs = mlp_activations(net, batch["x"], model.activation)
        xent = jnp.sum(optax.softmax_cross_entropy_with_integer_labels(outputs[-1], batch["y"]))
        pred = outputs[0] @ params["aux"]["w"] + params["aux"]["b"]
        l1 = jnp.sum(jnp.abs(pred - batch["pc"]))
        return xent + model.aux_weight * l1, (state, {"xent": xent, "aux_l1": l1})

    def evaluate(params, state, batch, key, step):
        return base.evaluate({k: v for k, v in params.items() if k != "aux"}, state, batch, key, step)

    return Task(init, loss, evaluate)


def plot_aux(base: Curve, aux: Curve, key: str, path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, curve in (("base net", base), ("with auxiliary PCA targets", aux)):
        ax.plot(curve.steps, curve.mean(), label=label)
    ax.set(xlabel="step", ylabel=key, ylim=(0.9, 0.99), title="Auxiliary PCA targets from layer 1")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def plot_probes(accs: np.ndarray, names: list[str], published: list, path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(range(len(names)), accs.mean(0), yerr=accs.std(0, ddof=1) if len(accs) > 1 else None,
                marker="o", capsize=4, label=f"jaxnets ({len(accs)} seeds)")
    if all(p is not None for p in published):
        ax.plot(range(len(names)), published, "k--", marker="x", label="published")
    ax.set_xticks(range(len(names)), names)
    ax.set(ylabel="probe test accuracy", title="Linear probes of each layer")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def check(config: ml_collections.ConfigDict) -> None:
    if config.probe.multi_class not in logistic.MULTI_CLASS:
        raise ConfigError(f"probe.multi_class = {config.probe.multi_class!r} is not one of "
                          f"{list(logistic.MULTI_CLASS)}")


def run(ctx: Context) -> Outcome:
    config = ctx.config
    model, probe = config.model, config.probe
    train_data, eval_data = image_classification(config.data.name, config.data.train_split,
                                                 config.data.eval_splits.to_dict())
    split = next(iter(eval_data))
    result = ctx.fit(classifier_task(model), train_data, eval_data)
    per_seed = dict(result.final_eval)

    probe_train = {k: jnp.asarray(v[:probe.n_train]) for k, v in train_data.items()}
    probe_test = {k: jnp.asarray(v[:probe.n_test]) for k, v in eval_data[split].items()}
    ctx.log(f"probing pixels and {len(model.hidden_sizes)} hidden layers of {len(ctx.seeds)} seed(s): logistic "
            f"regression (C = {probe.C}, {probe.multi_class}) on the first {probe.n_train} training and "
            f"{probe.n_test} {split} examples")
    accs = np.asarray(jax.jit(jax.vmap(lambda p: probe_accuracies(p, probe_train, probe_test, model, probe)))(
        result.state.params))
    names = ["pixels"] + [f"hidden{k + 1}" for k in range(len(model.hidden_sizes))]
    for i, name in enumerate(names):
        per_seed[f"probe_{name}_accuracy"] = accs[:, i]
    ctx.log("probe accuracy: " + ", ".join(f"{n} {accs[:, i].mean():.4f} ± {accs[:, i].std(ddof=1) if len(accs) > 1 else 0:.4f}"
                                          for i, n in enumerate(names)))
    extra = {"probe_accuracy_increases_with_depth_per_seed": [bool(np.all(np.diff(a) > 0)) for a in accs]}

    seed0 = jax.tree.map(lambda a: a[0], result.state.params)
    x_test = np.asarray(eval_data[split]["x"][:probe.n_test])
    reps = [np.asarray(r) for r in representations(seed0, jnp.asarray(x_test), model.activation)]
    labels = eval_data[split]["y"][:probe.n_test]
    published = [config.reference.get(f"probe_{n}_accuracy") for n in names]
    figures = {"pca.png": lambda path: plot_pca(reps, labels, tuple(config.pca_digits), path),
               "probes.png": lambda path: plot_probes(accs, names, published, path)}

    if model.aux_components > 0:  # the "failed experiment": targets from the first seed's net
        top = representations(seed0, jnp.asarray(train_data["x"]), model.activation)[-1]
        directions, mean = pca(np.asarray(top), model.aux_components)
        aux_data = {**train_data, "pc": ((np.asarray(top) - mean) @ directions).astype(np.float32)}
        ctx.log(f"failed experiment: fresh nets (one per seed) with {model.aux_components} auxiliary PCA targets "
                f"(of seed {ctx.seeds[0]}'s last hidden layer) regressed from hidden layer 1")
        aux = ctx.fit(aux_task(model), aux_data, eval_data, subdir="aux_pca", stream="aux_pca")
        per_seed[f"aux_pca_{split}_accuracy"] = np.asarray(aux.final_eval[f"{split}_accuracy"])
        key = f"{split}_accuracy"
        figures["aux_pca.png"] = lambda path: plot_aux(result.curves[key], aux.curves[key], key, path)
    return Outcome(per_seed, fit=result, extra=extra, figures=figures)
