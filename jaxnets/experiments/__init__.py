"""Experiments, found by name: a config's `experiment` is a module `jaxnets.experiments.<name>`
(or any importable module of that name) whose `run(ctx: Context) -> Outcome` trains and
measures. Nothing to register: adding the module is adding the experiment.

An experiment holds only what is special about it (its task, what it measures after training,
its figures). It trains through `ctx.fit` (the common trainer, writing into the run directory),
and returns its per-seed results, extra summary fields, figures and text files in an `Outcome`;
`jaxnets.runner` writes them, once, on the primary process.

A learning-rate grid (`sweep --learning-rates`) trains every seed at each rate as one program,
through `ctx.fit`; a module whose training does not go through `ctx.fit` with the config's
optimizer says why in `NO_LEARNING_RATE_GRID`, and a grid is refused before any work.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import pathlib
import pkgutil
from typing import Callable

import ml_collections
import numpy as np

from jaxnets.rundir import RunWriter

__all__ = ["Outcome", "Context", "reference_of", "names", "get", "validate"]


@dataclasses.dataclass
class Outcome:
    """What an experiment hands back to the owner of the run."""

    per_seed: dict[str, np.ndarray]  # final metrics, one value per seed
    fit: object | None = None  # the main FitResult: training curves, steps, wall time, throughput
    extra: dict = dataclasses.field(default_factory=dict)  # more summary.json fields
    figures: dict[str, Callable[[pathlib.Path], object]] = dataclasses.field(default_factory=dict)  # plots/<name>
    texts: dict[str, str] = dataclasses.field(default_factory=dict)  # <relative path>: text (samples)
    records: list[dict] = dataclasses.field(default_factory=list)  # metrics.jsonl lines of training done without fit
    state: object | None = None  # the trained state of training done without fit: checkpointed by the runner
    steps: int | None = None  # when there is no single main fit (several fits, no training)
    wall_time_s: float | None = None


@dataclasses.dataclass
class Context:
    """What an experiment gets from the owner of its run: the config, the seeds, a log, the
    common trainer (`fit`), and `keep` for the few files a run needs before it ends. Everything
    else it produces goes back in its `Outcome`."""

    config: ml_collections.ConfigDict
    seeds: list[int]  # one per run: a learning-rate grid repeats the seeds for each rate
    _writer: RunWriter
    log: Callable[[str], None] = print
    hyperparams: dict[str, list[float]] | None = None  # a grid: each run's own value ({"learning_rate": [...]})

    @property
    def workdir(self) -> pathlib.Path:
        return self._writer.workdir

    def keep(self, relative: str, text: str) -> pathlib.Path:
        """Write a file now rather than with the Outcome: what must exist while the run trains or
        after it is interrupted (the vocabulary `sample` reads, samples through training)."""
        return self._writer.text(relative, text)

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
        trainer calls hook(step, state, record) once the first logged step at or past each. In a
        learning-rate grid a fit of the run's seeds with the config's optimizer trains each run
        at its rate; a fit with its own optimizer or seeds cannot, and is refused."""
        from jaxnets.config import ConfigError
        from jaxnets.train import fit, make_optimizer

        if self.hyperparams and (optimizer is not None or seeds is not None):
            raise ConfigError(f"a learning-rate grid reaches only fits of the run's seeds with the config's optimizer; "
                              f"this experiment's {subdir or 'main'} fit brings its own "
                              f"{'optimizer' if optimizer is not None else 'seeds'}")

        optimizer = optimizer or (lambda steps_per_epoch: make_optimizer(self.config.optimizer, steps_per_epoch))
        return fit(task, optimizer, train_data, eval_data,
                   train or self.config.train, self._writer.child(subdir) if subdir else self._writer,
                   seeds or self.seeds, self.log if log is None else log, stream=stream,
                   progress_metrics=(*show, *(k for k in self.reference if k != "source")), at_steps=at_steps,
                   hyperparams=self.hyperparams)


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


def validate(config: ml_collections.ConfigDict) -> None:
    """Every config error, before any work: the trainer checks its sections (train, optimizer),
    the data readers theirs, the keys experiments share (model, sample, analysis) are checked
    wherever present, and the experiment module its own (`check(config)`, where it has one)."""
    from jaxnets.data.images import check_image_section
    from jaxnets.experiments.checks import check_shared_keys
    from jaxnets.train.checks import check_train_sections

    check_train_sections(config)
    if "train_split" in config.get("data", {}):  # an image-classification data section
        check_image_section(config.data)
    check_shared_keys(config)
    module = get(config.experiment)
    if hasattr(module, "check"):
        module.check(config)
