"""Experiments, found by name: a config's `experiment` is a module `jaxnets.experiments.<name>`
(or any importable module of that name) whose `run(ctx: Context) -> Outcome` trains and
measures. Nothing to register: adding the module is adding the experiment.

An experiment holds only what is special about it (its task, what it measures after training,
its figures). It trains through `ctx.fit` (the common trainer, writing into the run directory),
and returns its per-seed results, extra summary fields, figures and text files in an `Outcome`;
`jaxnets.runner` writes them, once, on the primary process.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import importlib.util
import pathlib
import pkgutil
from typing import Callable

import ml_collections
import numpy as np

from jaxnets.rundir import RunWriter

__all__ = ["Outcome", "Context", "reference_of", "names", "get", "check_numbers", "validate"]


@dataclasses.dataclass
class Outcome:
    """What an experiment hands back to the owner of the run."""

    per_seed: dict[str, np.ndarray]  # final metrics, one value per seed
    fit: object | None = None  # the main FitResult: training curves, steps, wall time, throughput
    extra: dict = dataclasses.field(default_factory=dict)  # more summary.json fields
    figures: dict[str, Callable[[pathlib.Path], object]] = dataclasses.field(default_factory=dict)  # plots/<name>
    texts: dict[str, str] = dataclasses.field(default_factory=dict)  # <relative path>: text (samples)
    steps: int | None = None  # when there is no single main fit (several fits, no training)
    wall_time_s: float | None = None


@dataclasses.dataclass
class Context:
    config: ml_collections.ConfigDict
    seeds: list[int]
    writer: RunWriter
    log: Callable[[str], None] = print

    @property
    def workdir(self) -> pathlib.Path:
        return self.writer.workdir

    @property
    def reference(self) -> dict:
        return reference_of(self.config)

    def fit(self, task, train_data: dict, eval_data: dict, *, optimizer=None, train=None, subdir: str | None = None,
            seeds: list[int] | None = None, stream: str | None = None, log: Callable[[str], None] | None = None,
            show: tuple[str, ...] = (), at_steps=None):
        """The common trainer on this run's seeds, optimizer and train config unless given;
        `subdir` keeps a second fit's metrics and checkpoints apart; `stream` makes it an
        independent random stream of the same seeds; the progress lines show the metrics of
        `show` first, then those with a published number; `at_steps` = (steps, hook): the
        trainer calls hook(step, state, record) once the first logged step at or past each."""
        from jaxnets.train import fit, make_optimizer

        optimizer = optimizer or (lambda steps_per_epoch: make_optimizer(self.config.optimizer, steps_per_epoch))
        return fit(task, optimizer, train_data, eval_data,
                   train or self.config.train, self.writer.child(subdir) if subdir else self.writer,
                   seeds or self.seeds, self.log if log is None else log, stream=stream,
                   progress_metrics=(*show, *(k for k in self.reference if k != "source")), at_steps=at_steps)


def reference_of(config: ml_collections.ConfigDict) -> dict:
    """The published numbers a config states (unset ones left out) and their source."""
    return {k: v for k, v in config.reference.to_dict().items() if v is not None}


def names() -> list[str]:
    """Every module of this package that defines `run`."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_") and hasattr(importlib.import_module(f"{__name__}.{info.name}"), "run"):
            found.append(info.name)
    return sorted(found)


def get(name: str):
    """The module of experiment `name`: `jaxnets.experiments.<name>`, else a module `<name>`
    importable from where you run (your own experiments need not live inside jaxnets)."""
    from jaxnets.config import ConfigError

    candidates = [f"{__name__}.{name}", name] if name.isidentifier() else [name]
    for module_name in candidates:
        try:
            found = importlib.util.find_spec(module_name) is not None
        except (ImportError, ValueError):
            found = False
        if found:
            module = importlib.import_module(module_name)
            if not hasattr(module, "run"):
                raise ConfigError(f"experiment module {module_name} defines no run(ctx) function")
            return module
    raise ConfigError(f"unknown experiment {name!r}: no module jaxnets/experiments/{name}.py nor an importable "
                      f"module {name!r} (experiments: {', '.join(names())})")


def _integer(low: int, high: int = 2**31 - 1):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _real(low: float, high: float = math.inf, low_open: bool = False):
    return lambda v: (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                      and (v > low if low_open else v >= low) and v <= high)


# Keys that several experiments share: checked wherever present, before any work (a value out of
# range otherwise failed deep in JAX or orbax, or after training). key: (test, what it must be)
NUMBER_RULES = {
    "seed": (_integer(0, 2**32 - 1), "must be an integer in [0, 2**32)"),
    "train.num_epochs": (_real(0, 1e6), "must be a finite number of epochs (> 0 where train.steps is 0)"),
    "optimizer.learning_rate": (_real(0), "must be >= 0 and finite (a negative rate climbs the loss)"),
    "optimizer.clip_global_norm": (_real(0), "must be a finite norm >= 0 (0 = no clipping)"),
    "optimizer.clip_value": (_real(0), "must be a finite bound >= 0 (0 = no clipping)"),
    "optimizer.decay_factor": (_real(0, 1, low_open=True), "must be in (0, 1]"),
    "optimizer.decay_after_epochs": (_real(0), "must be >= 0"),
    "optimizer.momentum": (_real(0, 1), "must be in [0, 1]"),
    "model.num_steps": (_integer(1, 100_000), "must be an integer >= 1 (the window length)"),
    "model.state_size": (_integer(1, 100_000), "must be an integer >= 1"),
    "model.num_layers": (_integer(1, 1_000), "must be an integer >= 1"),
    "model.embedding_size": (_integer(-1, 100_000), "must be an integer >= -1 (0 = the state size, -1 = one-hot)"),
    "model.hidden_sizes": (lambda v: isinstance(v, (tuple, list)) and all(_integer(1, 1_000_000)(h) for h in v),
                           "must be a tuple of layer widths, integers in [1, 1,000,000]"),
    "sample.length": (_integer(0, 10_000_000), "must be an integer >= 0"),
    "sample.top_k": (_integer(0, 10_000_000), "must be an integer >= 0 (0 = all tokens)"),
    "sample.temperatures": (lambda v: isinstance(v, (tuple, list)) and all(_real(0)(t) for t in v),
                            "must be a tuple of finite temperatures >= 0 (0 = argmax)"),
    "sample.at_steps": (lambda v: isinstance(v, (tuple, list)) and all(_integer(1, 10**12)(t) for t in v),
                        "must be a tuple of steps >= 1 (samples.md during training)"),
    "analysis.gradient_distances": (_integer(0, 1_000), "must be an integer in [0, 1000] (0 = off)"),
}


def check_numbers(config: ml_collections.ConfigDict) -> None:
    """Train-section counts and the learning rate in their ranges (a negative batch size trained,
    a zero one divided by zero, a negative learning rate ascended the loss)."""
    from jaxnets.config import ConfigError

    train = config.get("train", {})
    lower = {"batch_size": 1, "steps": 0, "log_every": 0, "eval_every": 0, "checkpoint_every": -1,
             "eval_batch_size": 1, "early_stop_patience": 0}
    meaning = {"batch_size": "examples per step", "steps": "0 = train num_epochs instead",
               "log_every": "0 = once an epoch", "eval_every": "0 = every log_every",
               "checkpoint_every": "0 = at the end, -1 = every log_every", "eval_batch_size": "examples per evaluation",
               "early_stop_patience": "0 = off"}
    for key, low in lower.items():
        if key in train and (not isinstance(train[key], int) or train[key] < low):
            raise ConfigError(f"train.{key} = {train[key]!r}: must be an integer >= {low} ({meaning[key]})")
    if train.get("steps", 1) == 0 and "num_epochs" in train and not train.num_epochs > 0:
        raise ConfigError(f"train.num_epochs = {train.num_epochs}: must be > 0 when train.steps is 0 (or set "
                          f"train.steps)")
    for key, (test, must) in NUMBER_RULES.items():
        section, _, name = key.rpartition(".")
        node = config.get(section, {}) if section else config
        if name in node and node[name] is not None and not test(node[name]):
            raise ConfigError(f"{key} = {node[name]!r}: {must}")


def validate(config: ml_collections.ConfigDict) -> None:
    """Names in a config that select code must exist, checked before any work starts."""
    from jaxnets.config import ConfigError
    from jaxnets.nn import ACTIVATIONS, INITIALIZERS
    from jaxnets.train.optim import OPTIMIZERS

    choices = {"model.activation": ACTIVATIONS, "model.output_activation": ACTIVATIONS,
               "model.w_init": INITIALIZERS, "model.b_init": INITIALIZERS, "optimizer.name": OPTIMIZERS,
               "model.loss_reduction": ("mean", "sum"), "train.shard_batch": ("auto", "always", "never")}
    for key, valid in choices.items():
        section, name = key.split(".")
        if section in config and name in config[section] and config[section][name] not in valid:
            raise ConfigError(f"{key} = {config[section][name]!r} is not one of {sorted(valid)}")
    data = config.get("data", {})
    if "train_split" in data:  # an image-classification data section
        from jaxnets.data.images import IMAGE_DATASETS, check_image_split

        if data.name not in IMAGE_DATASETS:
            raise ConfigError(f"data.name = {data.name!r} is not one of {sorted(IMAGE_DATASETS)}")
        for key, split in [("data.train_split", data.train_split),
                           *((f"data.eval_splits.{k}", v) for k, v in data.get("eval_splits", {}).items())]:
            try:
                check_image_split(data.name, split)
            except ValueError as err:
                raise ConfigError(f"{key}: {err}") from None
    check_numbers(config)
    keep_prob = config.get("model", {}).get("keep_prob", 1.0)
    if not 0.0 < keep_prob <= 1.0:
        raise ConfigError(f"model.keep_prob = {keep_prob}: the probability of keeping a unit must be in (0, 1] "
                          f"(1 = no dropout)")
    get(config.experiment)
