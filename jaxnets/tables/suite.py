"""Run every variant of a config file — a post's whole table — and tabulate it.

Each variant is an ordinary sweep (its own run directory under the suite's root, resumable). With
`--jobs N` the variants run N at a time in worker processes, each pinned to its own share of the
CPU cores: on a small CPU one seed-vmapped net per core beats two processes fighting over both
cores, and one process's compilation overlaps another's training. Longest variants start first.
With `--grids`, the variants that differ only in their learning rate (one setup of a post's table
at each of its rates) train as one learning-rate grid, split afterwards into the variants' own
folders (`tables.grids`): one program per setup, batched on a GPU; on a CPU it costs what the
separate runs cost.

Afterwards the suite writes `<root>/results.md` and `<root>/figures/` (`tables.outputs`). A
config file opts in with:

    VARIANTS = {name: {"dotted.key": value, ...}}   # get_config(name) applies these
    SUITE = [name, ...]                              # optional: the default subset to run
    TABLE = [Row(experiment, row, variant, metric, published), ...]   # optional
    FIGURES = {name: Figure(title, {label: variant}, [metric keys], levels=None, x="step")}   # optional
    CLAIMS = [Claim(words, metric, better, (than, ...), tolerance=0.0), ...]   # optional: the post's
                                    # conclusions, checked on the records (`report:claims` blocks)
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import math
import multiprocessing
import os
import pathlib
import sys
import time
import traceback

from jaxnets.tables.grids import grid_folder
from jaxnets.train.progress import fmt_time
from jaxnets.tables.outputs import shown_metrics, write_outputs
from jaxnets.tables.watch import LogWatcher


def _cost(module, config) -> float:
    """A relative cost for scheduling longest-first: the config file's own `COST(config)` where it
    has one (it knows its model), else steps (or epochs) × batch size, which orders the variants
    of one file as well as their model sizes are alike."""
    if hasattr(module, "COST"):
        return float(module.COST(config))
    return float((config.train.steps or config.train.get("num_epochs", 1) * 1000) * config.train.batch_size)


def _compilation_cache(root: pathlib.Path) -> None:
    """Variants that differ only in traced values (learning rate, seeds) compile to the same
    program: a persistent cache in the suite's root compiles each once (unless the user chose
    a cache already)."""
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str((root / ".jax_cache").absolute()))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def _die_with_parent() -> None:
    """prctl(PR_SET_PDEATHSIG, SIGTERM): the kernel signals this process when its parent exits."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        except OSError:
            pass


def _worker_init(slots, cores_per_job: int, jobs: int) -> None:
    """Runs in each fresh worker before it imports JAX: pin it to its own cores and size XLA's
    CPU client (and a GPU's memory share) to match. On Linux a worker also dies with the suite:
    a killed suite must not leave its workers training (and writing) in the background."""
    _die_with_parent()
    slot = slots.get()
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if available and len(available) >= jobs:
        mine = available[slot * cores_per_job:(slot + 1) * cores_per_job]
        os.sched_setaffinity(0, mine)
        os.environ.setdefault("JAX_NUM_CPU_DEVICES", str(len(mine)))
        if len(mine) == 1:  # one core: XLA's own thread pool would only add switching
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{0.75 / jobs:.3f}")


def _run_variant(spec: str, overrides: list[str], n_seeds: int, workdir: str, log_path: str,
                 overwrite: bool) -> tuple[str, dict | None, str | None, float]:
    """(spec, summary or None, error or None, seconds): one variant, its output to log_path."""
    start = time.time()
    pathlib.Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            from jaxnets.runner import run_spec
            from jaxnets.train.sharding import cpu_devices_per_core

            cpu_devices_per_core()
            summary = run_spec(spec, overrides, n_seeds, workdir, overwrite)
            return spec, summary, None, time.time() - start
        except Exception as err:  # one failed variant must not take the others down
            traceback.print_exc()
            return spec, None, f"{type(err).__name__}: {err}", time.time() - start


def _run_rate_group(spec: str, overrides: list[str], n_seeds: int, root: str, log_path: str,
                overwrite: bool) -> list[tuple[str, dict | None, str | None, float]]:
    """A rate group (`config.py:a,b,c`, variants that differ only in their learning rate) as one
    grid run under <root>/grids/, split into the variants' own folders (`tables.grids`); one
    result per variant, as `_run_variant` gives for one."""
    start = time.time()
    path, _, joined = spec.rpartition(":")
    names = joined.split(",")
    specs = [f"{path}:{name}" for name in names]
    pathlib.Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            from jaxnets import config as config_lib
            from jaxnets import runner
            from jaxnets.tables.grids import split
            from jaxnets.train.sharding import cpu_devices_per_core

            cpu_devices_per_core()
            configs = [config_lib.load(one, overrides) for one in specs]
            rates = [float(config.optimizer.learning_rate) for config in configs]
            grid_dir = grid_folder(pathlib.Path(root), names)
            runner.run(configs[0], grid_dir, [configs[0].seed + i for i in range(n_seeds)],
                       config_file=config_lib.normalize_spec(specs[0]), overwrite=overwrite, log=runner._print_now,
                       learning_rates=rates)
            summaries = split(grid_dir, list(zip(names, specs, configs)), pathlib.Path(root))
            seconds = (time.time() - start) / len(names)
            return [(one, summaries[name], None, seconds) for one, name in zip(specs, names)]
        except Exception as err:  # the group fails as a whole; the suite goes on
            traceback.print_exc()
            return [(one, None, f"{type(err).__name__}: {err}", (time.time() - start) / len(names)) for one in specs]


def _run_job(spec: str, *args):
    """A worker's job: one variant (`config.py:a`) or a rate group (`config.py:a,b`)."""
    return (_run_rate_group if "," in spec.rpartition(":")[2] else _run_variant)(spec, *args)


def _per_variant(result) -> list[tuple]:
    """A job's results, one per variant: a rate group's list as it is; a group whose worker died
    (one result for the job) becomes that failure for each of its variants."""
    if isinstance(result, list):
        return result
    spec, summary, error, seconds = result
    path, _, names = spec.rpartition(":")
    return [(f"{path}:{name}", summary, error, seconds) for name in names.split(",")]


def _rate_groups_of(todo: list[str], configs: dict, root: pathlib.Path, log) -> list[list[str]]:
    """`todo` as jobs: each rate group the runner can train as a grid is one job, every
    other variant its own. A variant whose folder holds a run already (started alone) resumes
    alone."""
    from jaxnets import config as config_lib
    from jaxnets import experiments
    from jaxnets.runner import check_grid
    from jaxnets.tables.grids import rate_groups

    fresh = {name: configs[name] for name in todo if not (root / name).exists()}
    jobs = [[name] for name in todo if name not in fresh]
    for group in rate_groups(fresh):
        if len(group) > 1:
            first = configs[group[0]]
            try:
                check_grid(first, experiments.get(first.experiment),
                           [configs[name].optimizer.learning_rate for name in group])
                jobs.append(group)
                continue
            except config_lib.ConfigError as err:
                log(f"note: {', '.join(group)} differ only in their learning rate but train one by one: {err}")
        jobs.extend([name] for name in group)
    return jobs


def _finished(workdir: pathlib.Path, config_json: dict) -> dict | None:
    """The summary of a finished run of this config in workdir (equal up to result-neutral keys), else None."""
    try:
        saved = json.loads((workdir / "config.json").read_text())
        summary = json.loads((workdir / "summary.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    from jaxnets.rundir import same_results

    return summary if same_results(saved, config_json) else None


def _in_workers(args: list[tuple], jobs: int, log, run=None):
    """Run the variants `jobs` at a time in worker processes, yielding each result as it comes.

    A worker that dies (SIGKILL, out of memory) breaks the pool and every variant running in it,
    and which one died cannot be told. So each of them starts again, alone in a one-worker pool,
    resuming from its checkpoints: a variant that dies alone is reported failed, the others go on
    (and the remaining variants keep sharing a pool)."""
    context = multiprocessing.get_context("spawn")  # a fresh process: JAX is configured before import
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

    def in_pool(batch: list[tuple], workers: int):
        """Yields (args, result or None when the pool broke)."""
        slots = context.Queue()
        for slot in range(workers):
            slots.put(slot)
        pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init,
                                                      initargs=(slots, max(1, cores // workers), workers))
        futures = {pool.submit(run or _run_variant, *a): a for a in batch}
        try:
            for future in concurrent.futures.as_completed(futures):
                try:
                    yield futures[future], future.result()
                except concurrent.futures.process.BrokenProcessPool:
                    yield futures[future], None
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    suspects = []
    for a, result in in_pool(list(args), jobs):
        if result is not None:
            yield result
        else:
            suspects.append(a)
    for a in suspects:
        name = a[0].rpartition(":")[2]
        log(f"a worker process died while {name} ran (killed, or out of memory): {name} starts again alone "
            f"and resumes from its last checkpoint")
        for _, result in in_pool([a], 1):
            yield result if result is not None else (
                a[0], None, "its worker process died, also when it ran alone (killed, or out of memory)", 0.0)


def main(config_path: str, overrides: list[str], n_seeds: int, jobs: int, variants: str | None,
         workdir: str | None, overwrite: bool, log=print, record: str | None = None, grids: bool = False) -> int:
    from jaxnets import config as config_lib
    from jaxnets import experiments

    from jaxnets.catalog import resolve_spec

    if ":" in config_path:
        raise config_lib.ConfigError("suite takes a config file without a :variant (use --variants a,b)")
    config_path = resolve_spec(config_path)
    module = config_lib.load_module(config_path)
    if not hasattr(module, "VARIANTS"):
        raise config_lib.ConfigError(f"{config_path} defines no VARIANTS; run it with `train` or `sweep`")
    default = list(getattr(module, "SUITE", module.VARIANTS))
    names = list(module.VARIANTS) if variants == "all" else variants.split(",") if variants else default
    if jobs < 1 or n_seeds < 1:
        raise config_lib.ConfigError("--jobs and --seeds must be at least 1")
    from jaxnets.runner import override_suffix

    stem = pathlib.Path(config_path).stem + override_suffix(overrides)  # as a run's: overrides get their own folder
    root = pathlib.Path(workdir) if workdir else pathlib.Path("runs") / f"{stem}_seeds{n_seeds}"

    # Every chosen variant's config is loaded and checked before any training starts; the other
    # variants are loaded too, so that the table covers every finished variant in root.
    configs = {}
    for name in names:
        configs[name] = config_lib.load(f"{config_path}:{name}", overrides)
        experiments.validate(configs[name])
    for name in module.VARIANTS:
        if name not in configs and (root / name / "summary.json").exists():
            try:
                configs[name] = config_lib.load(f"{config_path}:{name}", overrides)
            except config_lib.ConfigError:  # these overrides do not apply to it: not this table's run
                pass
    summaries = {}
    for name, config in configs.items():
        done = _finished(root / name, {"config_file": f"{config_path}:{name}",
                                       "seeds": [config.seed + i for i in range(n_seeds)],
                                       "config": config_lib.to_jsonable(config)})
        if done is not None:
            summaries[name] = done
    todo = [name for name in names if name not in summaries]
    groups = _rate_groups_of(todo, configs, root, log) if grids else [[name] for name in todo]
    groups.sort(key=lambda group: -sum(_cost(module, configs[n]) for n in group))
    grouped = [group for group in groups if len(group) > 1]
    log(f"suite {config_path}: {len(names)} variants × {n_seeds} seeds in {root}; {len(names) - len(todo)} already done, "
        f"{len(todo)} to run" + (f" ({sum(map(len, grouped))} of them as {len(grouped)} learning-rate grid(s))"
                                 if grouped else "") + f", {jobs} at a time; logs in {root / 'logs'}")

    _compilation_cache(root)  # inherited by the workers; read by JAX in this process when jobs == 1
    if jobs == 1 and "jax" in sys.modules:
        import jax

        jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
        jax.config.update("jax_persistent_cache_min_compile_time_secs",
                          float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))
    start, failures, durations = time.time(), {}, []

    def variant_overrides(name: str) -> list[str]:
        """A variant checkpointed only at its end would restart from scratch after a kill: the
        suite makes it checkpoint at every log interval (a result-neutral key)."""
        if configs[name].train.get("checkpoint_every", 1) == 0 and not any("checkpoint_every" in o for o in overrides):
            return [*overrides, "--config.train.checkpoint_every=-1"]
        return list(overrides)

    def group_overrides(group: list[str]) -> list[str]:
        """A rate group's runs go on past a diverged rate (`stop_on_nan` is result-neutral): alone,
        a diverging variant stops itself only; in a grid it would stop its whole group."""
        extra = [] if any("stop_on_nan" in o for o in overrides) else ["--config.train.stop_on_nan=false"]
        return [*variant_overrides(group[0]), *extra]

    args = [(f"{config_path}:{g[0]}", variant_overrides(g[0]), n_seeds, str(root / g[0]), str(root / "logs" / f"{g[0]}.log"),
             overwrite) if len(g) == 1 else
            (f"{config_path}:{','.join(g)}", group_overrides(g), n_seeds, str(root),
             str(root / "logs" / f"{grid_folder(root, g).name}.log"), overwrite) for g in groups]

    def _report(i, spec, summary, error, seconds) -> None:
        """One line per finished variant; the ETA from the measured time of the finished ones."""
        name = spec.rpartition(":")[2]
        durations.append(seconds)
        elapsed = time.time() - start
        left = len(todo) - i
        eta = sum(durations) / len(durations) * math.ceil(left / jobs) if left else 0.0
        if error:
            failures[name] = error
            shown = f"FAILED ({error}); see {root / 'logs' / (name + '.log')}"
        else:
            summaries[name] = summary
            stds = summary["metrics_std"]
            shown = ", ".join(f"{k} {v:.4f}" + (f" ± {stds[k]:.4f}" if k in stds else "")
                              for k, v in summary["metrics"].items() if k in shown_metrics(module, summary))
        log(f"[{i}/{len(todo)}] {name}: {shown} ({fmt_time(seconds)}) | elapsed {fmt_time(elapsed)}, "
            f"ETA {fmt_time(eta) if math.isfinite(eta) else '?'}")

    results = (_run_job(*a) for a in args) if jobs == 1 else _in_workers(args, jobs, log, run=_run_job)
    (root / "logs").mkdir(parents=True, exist_ok=True)
    watcher = LogWatcher(root / "logs", sys.stdout).start()
    try:
        finished = 0
        for result in results:
            watcher.poll(force=True)  # its last progress line before its result
            for spec, summary, error, seconds in _per_variant(result):
                finished += 1
                _report(finished, spec, summary, error, seconds)
    finally:
        watcher.stop()

    out = write_outputs(module, root, summaries, time.time() - start,
                        trained=sum(name in summaries for name in todo))
    log(out.read_text())
    log(f"wrote {out} and {root / 'figures'}")
    if record and summaries:  # every finished variant and the figures, to be committed
        from jaxnets.tables.records import record_folder

        record_folder(root, record, log=log)
    if failures:
        print(f"error: {len(failures)} variant(s) failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0
