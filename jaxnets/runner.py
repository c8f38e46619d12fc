"""The one owner of a run: `run(config, workdir, seeds) -> summary`.

The CLI (`train`, `sweep`), `suite`, the public `jaxnets.run` and the tests call this. It checks the config, claims the
run directory, hands the experiment a `Context` (config, seeds, a `RunWriter`, a log), and
writes what the experiment returns — training curves, its figures and text files, summary.json
— once, on the primary process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import time
from typing import Callable, Sequence

import ml_collections

from jaxnets import config as config_lib
from jaxnets import experiments, plots, rundir


def default_workdir(spec: str, n_seeds: int | None, overrides: Sequence[str] = (),
                    learning_rates: Sequence[float] = ()) -> pathlib.Path:
    """runs/<config name>[_<variant>][_<overrides>][_lrs<rates>][_seeds<N>]: a run with overrides
    gets its own folder (`--config.train.steps=200` -> runs/mnist_mlp_steps200), never the
    plain run's; so does a learning-rate grid (runs/batchnorm_lrs0.01-0.1-0.5_seeds5)."""
    path, variant = config_lib.split_spec(spec)
    name = pathlib.Path(path).stem + (f"_{variant}" if variant else "") + override_suffix(overrides)
    name += grid_suffix(learning_rates)
    return pathlib.Path("runs") / (f"{name}_seeds{n_seeds}" if n_seeds else name)


def grid_suffix(learning_rates: Sequence[float] | None) -> str:
    """'_lrs0.01-0.1' for a learning-rate grid's folder name, '' for none."""
    return "_lrs" + "-".join(f"{rate:g}" for rate in learning_rates) if learning_rates else ""


def override_suffix(overrides: Sequence[str]) -> str:
    """'_steps200_cellgru' from ['--config.train.steps=200', '--config.model.cell=gru']; past 40
    characters, '_o' and a hash of them."""
    import hashlib
    import re

    pairs = config_lib.parse_overrides(list(overrides))
    if not pairs:
        return ""
    text = "_".join(re.sub(r"[^A-Za-z0-9_.+-]+", "", key.rsplit(".", 1)[-1] + value) for key, value in pairs)
    if len(text) > 40:
        text = "o" + hashlib.sha256("|".join(f"{k}={v}" for k, v in pairs).encode()).hexdigest()[:8]
    return "_" + text


def check_grid(config: ml_collections.ConfigDict, module, learning_rates: Sequence[float] | None) -> list[float]:
    """The learning rates of a grid, checked before any work (empty: no grid). A grid needs an
    experiment that trains through `ctx.fit` with the config's optimizer, and a rate that is
    optimizer state (not a schedule); the rates are positive, finite and distinct."""
    import math

    rates = [float(rate) for rate in learning_rates or ()]
    if not rates:
        return []
    why = getattr(module, "NO_LEARNING_RATE_GRID", "")
    if why:
        raise config_lib.ConfigError(f"experiment {config.experiment} cannot train a learning-rate grid: {why}")
    if "learning_rate" not in config.get("optimizer", {}):
        raise config_lib.ConfigError(f"experiment {config.experiment}: a learning-rate grid needs an optimizer "
                                     f"section with a learning_rate")
    if config.optimizer.get("decay_after_epochs", 0) and config.optimizer.get("decay_factor", 1.0) != 1.0:
        raise config_lib.ConfigError("a learning-rate grid needs a constant rate: optimizer.decay_after_epochs "
                                     "makes it a schedule (set --config.optimizer.decay_factor=1.0, or run each "
                                     "rate alone)")
    bad = [rate for rate in rates if not math.isfinite(rate) or rate <= 0]
    if bad or len(set(rates)) != len(rates):
        raise config_lib.ConfigError(f"learning rates {rates}: give distinct positive numbers")
    return rates


def run(config: ml_collections.ConfigDict, workdir: str | pathlib.Path, seeds: list[int], *,
        config_file: str = "", overwrite: bool = False, log: Callable[[str], None] = print,
        learning_rates: Sequence[float] | None = None) -> dict:
    """Train `config` for `seeds` (one compiled program) in `workdir`; return the summary.
    `config_file` is the spec it came from (`configs/x.py[:variant]`), recorded in the run.
    `learning_rates`: a grid — every seed at each rate, all rates × seeds one program (the
    rate is optimizer state); its summary gives each metric per rate, `<metric>@lr<rate>`."""
    import jax

    experiments.validate(config)  # every config error surfaces here, before any work
    module = experiments.get(config.experiment)
    if not seeds:
        raise config_lib.ConfigError("a run needs at least one seed")
    rates = check_grid(config, module, learning_rates)
    workdir = pathlib.Path(workdir)
    primary = jax.process_index() == 0
    run_config = {"config_file": config_file, "seeds": list(seeds), "config": config_lib.to_jsonable(config),
                  **({"learning_rates": rates} if rates else {})}
    created = not workdir.exists()
    try:
        with rundir.exclusive(workdir) if primary else contextlib.nullcontext():  # one process per run folder
            if primary:  # multi-host: one process owns the run directory
                rundir.open_run(workdir, run_config, overwrite=overwrite)
            return _run_opened(module, config, workdir, seeds, config_file, run_config, primary, log, rates)
    except BaseException:
        if created and primary:  # failed before training (data missing, ...): leave nothing behind
            rundir.remove_if_untrained(workdir)
        raise


def reference_note(config: ml_collections.ConfigDict, config_file: str) -> str:
    """'' when the config's published numbers apply to this run, else why not: they were
    published for the data set its config file reads (`--config.data.name=fashion_mnist` on an
    MNIST config is another experiment, with no published number)."""
    if not config_file or "name" not in config.get("data", {}):
        return ""
    try:
        published_on = config_lib.load(config_file).data.get("name")
    except config_lib.ConfigError:
        return ""
    if published_on == config.data.name:
        return ""
    return (f"no published number: those of {config_lib.split_spec(config_file)[0]} are for {published_on}, "
            f"this run reads {config.data.name}")


def _run_opened(module, config, workdir, seeds, config_file, run_config, primary, log, rates=()) -> dict:
    import jax

    if not primary:
        log = lambda message: None  # noqa: E731  (one progress stream)
    runs = [seed for _ in rates for seed in seeds] if rates else list(seeds)  # rate-major
    hyperparams = {"learning_rate": [rate for rate in rates for _ in seeds]} if rates else None
    grid = f" × {len(rates)} learning rates ({', '.join(f'{r:g}' for r in rates)}) as one program" if rates else ""
    log(f"jaxnets {config.experiment}: {len(seeds)} seed(s){grid} on {jax.device_count()} {jax.default_backend()} "
        f"device(s) in {jax.process_count()} process(es), jax {jax.__version__}; workdir {workdir}")
    writer = rundir.RunWriter(workdir, fingerprint=rundir.config_fingerprint(run_config))
    started = time.time()
    outcome = module.run(experiments.Context(config, runs, writer, log, hyperparams))
    return write_outcome(outcome, config, config_file, seeds, writer, time.time() - started, log, rates)


def write_outcome(outcome: experiments.Outcome, config: ml_collections.ConfigDict, config_file: str,
                  seeds: list[int], writer: rundir.RunWriter, elapsed: float, log: Callable[[str], None],
                  rates: Sequence[float] = ()) -> dict:
    fit = outcome.fit
    reference = experiments.reference_of(config)
    note = reference_note(config, config_file)
    if note:
        reference = {}
    if fit is not None and fit.curves:
        title = f"{config.experiment} ({len(seeds)} seed{'s' * (len(seeds) > 1)})"
        if rates:
            writer.figure("curves.png", lambda path: plots.grid_curves(fit.curves, rates, len(seeds), path,
                                                                       title=f"{title} per learning rate",
                                                                       diverged=set(fit.diverged_at)))
        else:
            writer.figure("curves.png", lambda path: plots.training_curves(fit.curves, path, title=title,
                                                                           reference=reference))
    if rates:  # what an experiment makes after training pools the runs or reads the first: not per rate
        left_out = [*outcome.figures, *outcome.texts, *(k for k in outcome.extra or {} if k != "diverged_seeds")]
        if left_out:
            log(f"note: a learning-rate grid keeps what is per rate (metrics, curves.png); the experiment's own "
                f"{', '.join(left_out)} pool its runs or read the first and are left out (train a rate alone for them)")
        outcome = dataclasses.replace(outcome, figures={}, texts={}, extra={})
    for name, draw in outcome.figures.items():
        writer.figure(name, draw)
    for relative, text in outcome.texts.items():
        writer.text(relative, text)
    if outcome.records:
        metrics_log = writer.metrics_log(resume_step=None)  # a rerun replaces them: resume_step None keeps none
        for record in outcome.records:
            metrics_log.write(record)
        metrics_log.close()
    if outcome.state is not None and writer.primary:
        from jaxnets.train.checkpoint import Checkpointer

        checkpointer = Checkpointer(writer.checkpoint_dir)
        checkpointer.save(outcome.steps or 0, outcome.state)
        checkpointer.close()
    common = dict(
        experiment=config.experiment, config_file=config_lib.split_spec(config_file)[0] if config_file else "",
        seeds=seeds, steps=outcome.steps if outcome.steps is not None else (fit.steps if fit else 0),
        wall_time_s=outcome.wall_time_s if outcome.wall_time_s is not None else (fit.wall_time_s if fit else elapsed),
        throughput=fit.throughput if fit else None, unit=fit.unit if fit else "examples",
        sessions=rundir.read_sessions(writer.workdir))
    diverged_at = fit.diverged_at if fit is not None else {}  # {run index: step}
    if rates:  # each rate's diverged seeds are recomputed from its own values
        summary = rundir.make_grid_summary(rates=rates, per_seed=outcome.per_seed, diverged_at=diverged_at,
                                           reference=grid_reference(reference, config, rates), **common)
    else:
        summary = rundir.make_summary(
            per_seed=outcome.per_seed, reference=reference, **common,
            extra={**({"diverged_at_step": {str(seeds[i]): step for i, step in diverged_at.items()}}
                      if diverged_at else {}), **(outcome.extra or {})})
    if note:
        summary["reference_note"] = note
        log(f"note: {note}")
    path = writer.summary(summary)
    if summary.get("diverged_seeds"):
        log(f"seeds {summary['diverged_seeds']} diverged (a non-finite final metric); the means are over the other "
            f"{len(seeds) - len(summary['diverged_seeds'])} seed(s), every seed's values in metrics_per_seed")
    for rate, lost in summary.get("diverged_seeds_by_learning_rate", {}).items():
        left = len(seeds) - len(lost)
        log(f"at learning rate {rate}, seeds {lost} diverged; " + (f"that rate's means are over its other {left} seed(s)"
                                                                  if left else "its metrics are NaN"))
    log(f"done: {rundir.done_line(summary)}; wrote {path}")
    return summary


def grid_reference(reference: dict, config: ml_collections.ConfigDict, rates: Sequence[float]) -> dict:
    """A grid's published numbers: those of the config's own learning rate, beside that rate's
    metrics (`<metric>@lr<rate>`); the other rates have none."""
    from jaxnets.rundir.summary import grid_key

    rate = float(config.optimizer.learning_rate)
    if rate not in rates:
        return {k: v for k, v in reference.items() if k == "source"}
    return {(k if k == "source" else grid_key(k, rate)): v for k, v in reference.items()}


def _print_now(message: str) -> None:
    print(message, flush=True)  # a suite worker's log is a file: unflushed, a long run would look dead


def _without_no_ops(spec: str, overrides: list[str], log: Callable[[str], None]) -> list[str]:
    """The overrides that change the config file's values: `--config.train.steps=0` on a file
    whose steps are 0 is the file's own run, in the file's own folder (said in a note)."""
    file_config = config_lib.flatten(config_lib.load(spec))
    kept = []
    for key, text in config_lib.parse_overrides(list(overrides)):
        override = f"--config.{key}={text}"
        if config_lib.flatten(config_lib.load(spec, [override])) == file_config:
            why = " (0 = train train.num_epochs epochs)" if key == "train.steps" else ""
            log(f"note: {override} is the config file's value already{why}; the run is the file's own")
        else:
            kept.append(override)
    return kept


def run_spec(spec: str, overrides: list[str], n_seeds: int | None = None, workdir: str | None = None,
             overwrite: bool = False, log: Callable[[str], None] = _print_now, record: str | None = None,
             learning_rates: Sequence[float] | None = None) -> dict:
    """Load `configs/x.py[:variant]` with `--config.k=v` overrides and run it (a sweep of
    n_seeds seeds, or one seed), in `workdir` or the default one. `spec` may be a config's short
    name (`mnist_mlp`), as everywhere in the CLI. `record`: a results folder to copy the
    finished run into (`jaxnets.tables.records`). `learning_rates`: a grid (see `run`)."""
    from jaxnets.catalog import resolve_spec

    spec = resolve_spec(spec)
    config = config_lib.load(spec, overrides)
    overrides = _without_no_ops(spec, overrides, log)
    if n_seeds is not None and n_seeds < 1:
        raise config_lib.ConfigError("--seeds must be at least 1")
    if record and learning_rates:
        raise config_lib.ConfigError("--record keeps one table row per run; a learning-rate grid is several rows "
                                     "in one run: record each rate's run (suite variants) instead")
    seeds = [config.seed + i for i in range(n_seeds or 1)]
    workdir = workdir or default_workdir(spec, n_seeds, overrides, learning_rates or ())
    summary = run(config, workdir, seeds, config_file=config_lib.normalize_spec(spec), overwrite=overwrite, log=log,
                  learning_rates=learning_rates)
    if record:  # the finished run's record, kept in git (results/)
        from jaxnets.tables.records import record_folder

        record_folder(workdir, record, log=log)
    return summary
