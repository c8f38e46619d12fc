"""What a config file declares about its post's table and figures: the types a config imports
(`from jaxnets.tables import Figure`), kept apart from the suite that runs them, so a config
never reaches into orchestration."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Row", "Figure", "Claim"]


class Row(NamedTuple):
    """One line of a suite's results table: a published number and the variant that measures it."""

    experiment: str  # the post's experiment (a group of rows)
    row: str  # what the row is, in the post's words
    variant: str
    metric: str  # a key of the variant's summary["metrics"]
    published: float | str | None  # None: the post shows it only as a plot; text: shown as is, no gap
    # (a number of another data set or in another unit, e.g. "0.3604 (blogs corpus)")
    published_sd: float | None = None  # the spread (std) of the post's own trials, where it gave one: a
    # one-seed row's gap is then measured in it ("gap / σ" marked "post's σ")


class Figure(NamedTuple):
    """One comparison figure: curves of some variants' metrics, one panel per group."""

    title: str
    curves: dict  # {label: variant}, or {panel title: {label: variant}}
    metrics: list  # metric keys of metrics.jsonl
    levels: dict | None = None  # {label: value}: horizontal reference lines
    x: str = "step"  # "step" or "epoch": metrics.jsonl curves; else the metrics are dotted paths to vectors in
    # summary.json (e.g. "perplexity_by_position_at_best_epoch.train_perplexity"), drawn against
    # their index, which this names (e.g. "position in the window")


class Claim(NamedTuple):
    """A conclusion of the post, checked on the table's rows: `better` scores lower on `metric`
    (a loss; with `higher`, higher: an accuracy) than every variant of `than`. The difference
    shown is min(than) − better (better − max(than) with `higher`), positive where `better` is
    better; the claim holds where it is above −tolerance (0: strictly better, "beats"; > 0: "as
    good or better", worse by at most that much)."""

    claim: str  # the post's words
    metric: str
    better: str  # a variant
    than: tuple  # variants
    tolerance: float = 0.0
    higher: bool = False  # the metric is better higher (an accuracy)
