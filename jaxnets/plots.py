"""Figures every run shares: training curves read back from metrics.jsonl."""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")  # no screen on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

NOT_METRICS = ("step", "time", "examples_per_s", "per_seed")


def _series(history: list[dict], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    rows = [r for r in history if key in r]
    steps = np.array([r["step"] for r in rows])
    mean = np.array([r[key] for r in rows], dtype=float)
    per_seed = [r.get("per_seed", {}).get(key) for r in rows]
    std = np.array([np.std(p, ddof=1) for p in per_seed]) if all(p is not None and len(p) > 1 for p in per_seed) else None
    return steps, mean, std


def training_curves(history: list[dict], path: str | pathlib.Path, title: str = "") -> pathlib.Path:
    """One panel per metric name (loss, accuracy, ...), train and eval splits overlaid; a band
    of ±1 std across seeds for sweeps."""
    keys = sorted({k for r in history for k in r if k not in NOT_METRICS})
    names = sorted({k.split("_", 1)[1] for k in keys if "_" in k})
    fig, axes = plt.subplots(1, max(len(names), 1), figsize=(4.5 * max(len(names), 1), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        for key in [k for k in keys if k.split("_", 1)[1] == name]:
            steps, mean, std = _series(history, key)
            ax.plot(steps, mean, label=key.split("_", 1)[0])
            if std is not None:
                ax.fill_between(steps, mean - std, mean + std, alpha=0.25)
        if name in ("loss", "reconstruction_loss") and np.all(np.array([r.get(k, 1) for r in history for k in keys
                                                                       if k.endswith(name)], dtype=float) > 0):
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(name)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    path = pathlib.Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
