"""summary.json: a run's final metrics over its seeds (mean, std, per seed, diverged seeds left
out of the means), its published numbers and how it was made."""

from __future__ import annotations

import platform

import numpy as np


def seed_stats(per_seed: dict[str, np.ndarray], keep: np.ndarray | None = None) -> tuple[dict, dict]:
    """Mean and (sample, ddof=1) std over seeds of each final metric (over the seeds `keep`
    marks, when given and the metric has one value per seed; NaN when it marks none: no mean
    of diverged runs passes for a result)."""
    means, stds = {}, {}
    for key, values in per_seed.items():
        values = np.asarray(values, dtype=np.float64)
        if keep is not None and values.shape == keep.shape:
            values = values[keep]
        means[key] = float(values.mean()) if values.size else float("nan")
        if values.size > 1:
            stds[key] = float(values.std(ddof=1))
    return means, stds


def stats_without_diverged(seeds: list[int], per_seed: dict[str, np.ndarray],
                           also_lost: set[int] = frozenset()) -> tuple[list[int], dict, dict]:
    """(the diverged seeds — a non-finite final metric, or named in `also_lost` — and the mean and
    std of each metric over the others): the diverged seeds do not sink the others."""
    lost = sorted(set(diverged(seeds, per_seed)) | set(also_lost))
    keep = np.array([seed not in lost for seed in seeds])
    return (lost, *seed_stats(per_seed, keep if lost else None))


def diverged(seeds: list[int], per_seed: dict[str, np.ndarray]) -> list[int]:
    """The seeds with a non-finite final metric (a sweep run with stop_on_nan=false)."""
    bad = np.zeros(len(seeds), bool)
    for values in per_seed.values():
        values = np.asarray(values, dtype=np.float64)
        if values.shape == bad.shape:
            bad |= ~np.isfinite(values)
    return [seed for seed, b in zip(seeds, bad) if b]


def make_summary(*, experiment: str, config_file: str, seeds: list[int], per_seed: dict[str, np.ndarray],
                 reference: dict, steps: int, wall_time_s: float, throughput: float | None = None,
                 unit: str = "examples", extra: dict | None = None, sessions: list[dict] | None = None) -> dict:
    """The summary.json contract (DESIGN.md): final metrics as mean / std / per seed, the
    published numbers, and how the run was made."""
    import jax

    lost, means, stds = stats_without_diverged(seeds, per_seed, set((extra or {}).get("diverged_seeds", []))
                                               | {int(seed) for seed in (extra or {}).get("diverged_at_step", {})})
    rate = None if throughput is None else round(float(throughput), 1)
    summary = {
        "experiment": experiment,
        "config_file": config_file,
        "seeds": list(seeds),
        "metrics": means,
        "metrics_std": stds,
        "metrics_per_seed": {k: np.asarray(v, dtype=np.float64).tolist() for k, v in per_seed.items()},
        "reference": reference,
        "steps": int(steps),
        "wall_time_s": round(float(wall_time_s), 2),
        "examples_per_s": rate if unit == "examples" else None,
        **({f"{unit}_per_s": rate} if unit != "examples" else {}),
        "backend": jax.default_backend(),
        "devices": jax.device_count(),
        "jax_version": jax.__version__,
        "python": platform.python_version(),
    }
    if sessions:  # the versions are those of the session that trained (first); later ones are listed apart
        first, last = sessions[0], sessions[-1]
        summary.update({key: first[key] for key in ("backend", "devices", "jax_version", "python") if key in first})
        summary.update({"git_commit": first.get("git_commit"), "started": first.get("time"),
                        "command": first.get("command"), "sessions": len(sessions)})
        versions = ("jax_version", "python", "git_commit", "backend")
        if any(last.get(k) != first.get(k) for k in versions):
            summary["last_session"] = {k: last.get(k) for k in ("time", "command", *versions)}
    if extra:
        summary.update(extra)
    if lost:
        summary["diverged_seeds"] = lost
    return summary


def grid_key(metric: str, rate: float) -> str:
    """A grid's name for a metric at one learning rate: 'test_error@lr0.1'."""
    return f"{metric}@lr{rate:g}"


def make_grid_summary(*, rates: list[float], seeds: list[int], per_seed: dict[str, np.ndarray],
                      diverged_at: dict[int, int], reference: dict, extra: dict | None = None, **common) -> dict:
    """A learning-rate grid's summary.json: the runs are rate-major (every seed at rates[0],
    then at rates[1], ...); each final metric per rate as `<metric>@lr<rate>` — mean, std and
    per seed over that rate's seeds, a seed that diverged at one rate left out of that rate's
    mean alone — and the rates as `learning_rates`. `diverged_at` is {run index: step}."""
    n = len(seeds)
    summary = make_summary(seeds=seeds, per_seed={}, reference=reference, extra=extra, **common)
    lost, steps = {}, {}
    for i, rate in enumerate(rates):
        part = {key: np.asarray(values)[i * n:(i + 1) * n] for key, values in per_seed.items()}
        at = {str(seeds[j - i * n]): step for j, step in diverged_at.items() if i * n <= j < (i + 1) * n}
        dropped, means, stds = stats_without_diverged(seeds, part, {int(seed) for seed in at})
        summary["metrics"].update({grid_key(k, rate): v for k, v in means.items()})
        summary["metrics_std"].update({grid_key(k, rate): v for k, v in stds.items()})
        summary["metrics_per_seed"].update({grid_key(k, rate): np.asarray(v, np.float64).tolist()
                                            for k, v in part.items()})
        if dropped:
            lost[f"{rate:g}"] = dropped
        if at:
            steps[f"{rate:g}"] = at
    summary["learning_rates"] = list(rates)
    if lost:
        summary["diverged_seeds_by_learning_rate"] = lost
    if steps:
        summary["diverged_at_step_by_learning_rate"] = steps
    return summary


def fmt_number(value) -> str:
    """A number for people: integers as integers, else 4 decimals (1 from 100 up)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):d}"
    return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"


def done_line(summary: dict) -> str:
    """'test_error 0.0183 ± 0.0005 (published 0.0193)' for every final metric, the published
    number beside the metric it belongs to."""
    reference, stds = summary.get("reference", {}), summary.get("metrics_std", {})
    parts = []
    for key, value in summary["metrics"].items():
        text = f"{key} {fmt_number(value)}" + (f" ± {fmt_number(stds[key])}" if key in stds else "")
        if isinstance(reference.get(key), (int, float)):
            text += f" (published {fmt_number(reference[key])})"
        parts.append(text)
    return ", ".join(parts)
