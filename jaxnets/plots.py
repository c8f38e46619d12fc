"""Figures every run shares: training curves (the arrays `fit` returns, or metrics.jsonl read back)."""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")  # no screen on training machines: chosen here, once; experiments import plt from here
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from jaxnets.train.curves import Curves  # noqa: E402


def save_figure(fig, path: str | pathlib.Path) -> pathlib.Path:
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def reference_lines(reference: dict, keys: list[str]) -> dict[str, list[tuple[str, float]]]:
    """{panel name: [(label, published value)]}: a published `test_error` goes on the error panel
    as "published test", a published `min_validation_loss` on the loss panel as "published min validation"."""
    lines: dict[str, list[tuple[str, float]]] = {}
    for ref_key, value in (reference or {}).items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        curve = ref_key[4:] if ref_key.startswith("min_") and ref_key not in keys else ref_key
        if curve in keys and "_" in curve:
            split, name = curve.split("_", 1)
            label = "published " + ("min " if curve != ref_key else "") + split
            lines.setdefault(name, []).append((label, float(value)))
    return lines


def training_curves(curves: Curves, path: str | pathlib.Path, title: str = "",
                    reference: dict | None = None) -> pathlib.Path:
    """One panel per metric name (loss, accuracy, ...), train and eval splits overlaid; a band
    of ±1 std across seeds for sweeps; the published numbers as dashed lines; markers where a
    curve has too few points to be a line (a single evaluation would otherwise be invisible).
    Vector metrics (one value per position) are not curves and are left out."""
    keys = sorted(k for k, c in curves.items() if c.values.ndim == 2)
    names = sorted({k.split("_", 1)[1] for k in keys if "_" in k})
    published = reference_lines(reference or {}, keys)
    fig, axes = plt.subplots(1, max(len(names), 1), figsize=(4.5 * max(len(names), 1), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        shown = [k for k in keys if k.split("_", 1)[1] == name]
        for key in shown:
            curve = curves[key]
            mean, std = curve.mean(), curve.std()
            ax.plot(curve.steps, mean, label=key.split("_", 1)[0], marker="o" if len(curve.steps) <= 3 else None)
            if std is not None:
                ax.fill_between(curve.steps, mean - std, mean + std, alpha=0.25)
        for (label, value), color in zip(published.get(name, []), ("k", "0.4", "0.6")):
            ax.axhline(value, color=color, linestyle="--", linewidth=1, label=f"{label} {value:.4g}")
        if name in ("loss", "reconstruction_loss") and all(np.all(curves[k].values > 0) for k in shown):
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(name)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return save_figure(fig, path)


def grid_curves(curves: Curves, rates, n_seeds: int, path: str | pathlib.Path, title: str = "",
                diverged: set[int] = frozenset()) -> pathlib.Path:
    """A learning-rate grid (runs rate-major, `n_seeds` per rate): one panel per metric name,
    a colour per rate (mean over its seeds, a band of ±1 std), the training split dashed and
    the evaluated ones solid, so the rates compare at a glance (the BN post's higher-rate
    claim). Runs in `diverged` (run indices) are left out; a rate with none left says so."""
    keys = sorted(k for k, c in curves.items() if c.values.ndim == 2)
    names = sorted({k.split("_", 1)[1] for k in keys if "_" in k})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(1, max(len(names), 1), figsize=(4.5 * max(len(names), 1), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        shown = [k for k in keys if k.split("_", 1)[1] == name]
        for i, rate in enumerate(rates):
            color = colors[i % len(colors)]
            runs = [r for r in range(i * n_seeds, (i + 1) * n_seeds) if r not in diverged]
            if not runs:
                ax.plot([], [], color=color, label=f"lr {rate:g}: diverged")
                continue
            for key in shown:
                curve = curves[key]
                values = curve.values[:, runs]
                mean = values.mean(axis=1)
                split = key.split("_", 1)[0]
                ax.plot(curve.steps, mean, color=color, linestyle="--" if split == "train" else "-",
                        label=f"lr {rate:g} {split}", marker="o" if len(curve.steps) <= 3 else None)
                if values.shape[1] > 1:
                    std = values.std(axis=1, ddof=1)
                    ax.fill_between(curve.steps, mean - std, mean + std, alpha=0.15, color=color)
        if name in ("loss", "reconstruction_loss") and all(
                np.all(curves[k].values[np.isfinite(curves[k].values)] > 0) for k in shown):
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(name)
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return save_figure(fig, path)


def ternary_figure(grid: np.ndarray, f: np.ndarray, f_prime: np.ndarray, fractions: np.ndarray,
                   path: str | pathlib.Path) -> pathlib.Path:
    """The ternary neuron: its activation f, its derivative f' (the straight-through backward)
    and the distribution of its outputs over an evaluation set ([seeds, 3] fractions of -1/0/+1)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    axes[0].plot(grid, f)
    axes[0].set_title("f(a) = 1.5 tanh(a) + 0.5 tanh(-3a)")
    axes[1].plot(grid, f_prime)
    axes[1].set_title("f'(a)")
    for ax in axes[:2]:
        ax.set_xlabel("a")
        ax.grid(alpha=0.3)
    mean, std = fractions.mean(axis=0), fractions.std(axis=0, ddof=1) if len(fractions) > 1 else None
    axes[2].bar(["-1", "0", "+1"], mean, yerr=std, capsize=4)
    axes[2].set_title(f"hidden outputs on the evaluation set ({len(fractions)} seeds)")
    axes[2].set_ylabel("fraction")
    return save_figure(fig, path)


def comparison(panels: dict[str, list[tuple[str, Curves, list[int]]]], keys: list[str],
               path: str | pathlib.Path, title: str = "", levels: dict[str, float] | None = None,
               x: str = "step") -> pathlib.Path:
    """Several runs' curves in one figure, the posts' one-figure-per-experiment layout: one
    panel per (panel name, metric key); each curve is the mean over seeds with a ±1 std band.
    Seeds that diverged (third tuple item: their indices) are left out of mean and band and
    counted in the legend, so one NaN seed does not hide what the others did. `levels`
    ({label: value}) are drawn as horizontal reference lines in every panel; `x` is "step" or
    "epoch" (the curves' steps are then counted in epochs: the caller's). A panel with no curves
    (e.g. a learning rate not run) is left out."""
    cells = [(name, key) for name in panels if panels[name] for key in keys]
    fig, axes = plt.subplots(1, len(cells), figsize=(5.5 * len(cells), 4), squeeze=False)
    for ax, (name, key) in zip(axes[0], cells):
        finals = []
        for label, curves, drop in panels[name]:
            curve = curves.get(key)
            if curve is None:
                continue
            n_seeds = curve.values.shape[1]
            keep = np.array([i not in drop for i in range(n_seeds)])
            steps, mean, std = curve.steps, curve.mean(keep if keep.any() else None), curve.std(keep if keep.any() else None)
            note = "" if not drop else (" (all seeds diverged)" if len(drop) >= n_seeds
                                        else f" ({len(drop)}/{n_seeds} seeds diverged, left out)")
            line, = ax.plot(steps, mean, label=label + note)
            if std is not None:
                ax.fill_between(steps, mean - std, mean + std, alpha=0.2, color=line.get_color())
            if len(drop) < n_seeds and np.isfinite(mean[-1]):
                finals.append(mean[-1])
        for (label, value), style in zip((levels or {}).items(), [":", "--", "-.", (0, (1, 4))] * 4):
            ax.axhline(value, color="black", linestyle=style, linewidth=1, label=label)
        ax.set_xlabel(x)
        if x == "epoch":  # ticks on whole epochs (a 20-epoch axis would otherwise read 2.5, 5.0, …)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{name}: {key}" if name else key)
        ax.grid(alpha=0.3)
        if key.endswith("accuracy") and finals:
            ax.set_ylim(max(0.0, min(finals) - 0.04), min(1.0, max(finals) + 0.01))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(title)
    return save_figure(fig, path)


def gradient_by_distance(measured: dict[str, np.ndarray], path: str | pathlib.Path) -> pathlib.Path:
    """Vanishing gradients: L1 norm of a loss's gradient by how many steps back it acts (log scale)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, norms in measured.items():
        ax.semilogy(np.arange(1, len(norms) + 1), norms, marker="o", ms=3, label=label)
    ax.set(xlabel="backprop distance (steps)", ylabel="L1 norm of dL/dW at that step",
           title="Gradient of the last step's loss by distance")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return save_figure(fig, path)


def by_position(curves: dict[str, list], path: str | pathlib.Path, title: str = "") -> pathlib.Path:
    """Perplexity at each position of a truncation window (0 = the window's first prediction, made
    from the initial state), training and validation: where a learned initial state helps."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for key in ("train_perplexity", "validation_perplexity"):
        if key in curves:
            ax.plot(np.arange(len(curves[key])), curves[key], marker="o", ms=2, label=key.split("_")[0])
    ax.set(xlabel="position in the window", ylabel="perplexity", title=title or "Perplexity by position",
           yscale="log")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return save_figure(fig, path)


def vectors(panels: dict[str, dict[str, list]], path: str | pathlib.Path, xlabel: str, title: str = "") -> pathlib.Path:
    """Several runs' vectors (e.g. perplexity by position in the window), one panel per key of
    `panels` ({panel: {label: values}}), each vector drawn against its index."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, (name, curves) in zip(axes[0], panels.items()):
        for label, values in curves.items():
            ax.plot(np.arange(len(values)), values, marker="o", ms=2, label=label)
        ax.set(xlabel=xlabel, title=name.rsplit(".", 1)[-1])
        ax.grid(alpha=0.3)
        if curves:
            ax.legend(fontsize=7)
    fig.suptitle(title)
    return save_figure(fig, path)
