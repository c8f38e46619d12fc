"""Training curves as arrays: what `fit` returns, and what plots, summaries and reports read.

`Curves` maps a metric name ("train_loss", "validation_loss_by_position") to a `Curve`: the
steps at which it was logged and its values, `[evaluations, seeds, *shape]` (a vector metric
keeps its own axes; nothing about a metric's shape is told by its name). metrics.jsonl is one
view of the same arrays, a line per logged step; `from_records` reads it back, the one place
that knows how a line stores its seeds.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

NOT_METRICS = ("step", "epoch", "time", "per_seed")  # a line's other fields; and every "<unit>_per_s"


class Curve(NamedTuple):
    steps: np.ndarray  # [E] the steps at which the metric was logged
    values: np.ndarray  # [E, S, *shape]

    def mean(self, keep: np.ndarray | None = None) -> np.ndarray:
        """[E, *shape] mean over the seeds (those `keep` marks, when given)."""
        values = self.values if keep is None else self.values[:, keep]
        return values.mean(axis=1)

    def std(self, keep: np.ndarray | None = None) -> np.ndarray | None:
        """[E, *shape] sample std over the seeds, None for one seed."""
        values = self.values if keep is None else self.values[:, keep]
        return values.std(axis=1, ddof=1) if values.shape[1] > 1 else None

    def at(self, step: int) -> np.ndarray | None:
        """[S, *shape] the values logged at `step`, or None when it was not logged then."""
        hit = np.flatnonzero(self.steps == step)
        return self.values[hit[-1]] if hit.size else None

    def best(self) -> np.ndarray:
        """[S] per seed, the index of the first minimum (NaN never counts as one)."""
        return np.argmin(np.where(np.isnan(self.values), np.inf, self.values), axis=0)

    def own_stops(self, patience: int) -> np.ndarray:
        """[S] per seed (a scalar metric, lower is better), the index of the evaluation at which
        that seed trained alone would have stopped early — the first that is `patience`
        evaluations past its minimum so far — or -1 where it has not (or patience is 0). A
        sweep trains until every seed has stopped, and a seed may find a new minimum after its
        own stop: its trial ends there all the same."""
        values = np.where(np.isnan(self.values), np.inf, self.values)
        n, stops = len(values), np.full(values.shape[1], -1)
        if patience <= 0:
            return stops
        for seed in range(values.shape[1]):
            best = 0
            for e in range(1, n):
                if values[e, seed] < values[best, seed]:
                    best = e
                if e - best >= patience:
                    stops[seed] = e
                    break
        return stops


Curves = dict  # {metric: Curve}


def is_metric(key: str) -> bool:
    return key not in NOT_METRICS and not key.endswith("_per_s")


def append(curves: Curves, step: int, values: dict[str, np.ndarray]) -> None:
    """Add the values [S, *shape] of each metric logged at `step`."""
    for key, value in values.items():
        value = np.asarray(value, np.float64)[None]
        old = curves.get(key)
        curves[key] = Curve(np.array([step]), value) if old is None else \
            Curve(np.append(old.steps, step), np.concatenate([old.values, value]))


def to_record(values: dict[str, np.ndarray]) -> dict:
    """The metrics.jsonl fields of one logged step: each metric's mean over seeds and, for more
    than one seed, its value per seed under "per_seed" (vectors rounded to 6 decimals)."""
    record, per_seed = {}, {}
    for key, value in values.items():
        value = np.asarray(value, np.float64)
        if value.ndim > 1:
            record[key] = [round(float(v), 6) for v in value.mean(axis=0).reshape(-1)]
            per_seed[key] = [[round(float(v), 6) for v in row.reshape(-1)] for row in value]
        else:
            record[key] = float(value.mean())
            per_seed[key] = value.tolist()
    if len(next(iter(values.values()), [])) > 1:
        record["per_seed"] = per_seed
    return record


def from_records(records: list[dict], n_seeds: int | None = None) -> Curves:
    """The curves of metrics.jsonl lines (a run of one seed stores no "per_seed"). `n_seeds`,
    when given, must match what the lines hold."""
    curves: Curves = {}
    for record in records:
        seeds = record.get("per_seed", {})
        values = {}
        for key, value in record.items():
            if not is_metric(key) or isinstance(value, (str, bool)) or value is None:
                continue
            values[key] = seeds[key] if key in seeds else [value]
        if n_seeds is not None:
            wrong = [k for k, v in values.items() if len(v) != n_seeds]
            if wrong:
                raise ValueError(f"metrics.jsonl line of step {record.get('step')}: {wrong[0]} has "
                                 f"{len(values[wrong[0]])} seed value(s), the run has {n_seeds}")
        append(curves, int(record["step"]), values)
    return curves


def final(curves: Curves, prefix: str = "") -> dict[str, np.ndarray]:
    """{metric: [S, *shape]} the last logged value of each metric whose name starts with `prefix`."""
    return {key: curve.values[-1] for key, curve in curves.items() if key.startswith(prefix)}
