"""Run every variant of a config file — a post's whole table — and tabulate it.

Each variant is an ordinary sweep (its own run directory under the suite's root, resumable). With
`--jobs N` the variants run N at a time in worker processes, each pinned to its own share of the
CPU cores: on a small CPU one seed-vmapped net per core beats two processes fighting over both
cores, and one process's compilation overlaps another's training. Longest variants start first.

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
         workdir: str | None, overwrite: bool, log=print, record: str | None = None) -> int:
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
    todo.sort(key=lambda n: -_cost(module, configs[n]))
    log(f"suite {config_path}: {len(names)} variants × {n_seeds} seeds in {root}; {len(names) - len(todo)} already done, "
        f"{len(todo)} to run, {jobs} at a time; logs in {root / 'logs'}")

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

    args = [(f"{config_path}:{n}", variant_overrides(n), n_seeds, str(root / n), str(root / "logs" / f"{n}.log"),
             overwrite) for n in todo]

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

    results = (_run_variant(*a) for a in args) if jobs == 1 else _in_workers(args, jobs, log)
    (root / "logs").mkdir(parents=True, exist_ok=True)
    watcher = LogWatcher(root / "logs", sys.stdout).start()
    try:
        for i, (spec, summary, error, seconds) in enumerate(results, 1):
            watcher.poll(force=True)  # its last progress line before its result
            _report(i, spec, summary, error, seconds)
    finally:
        watcher.stop()

    out = write_outputs(module, root, summaries, time.time() - start)
    log(out.read_text())
    log(f"wrote {out} and {root / 'figures'}")
    if record and summaries:  # every finished variant and the figures, to be committed
        from jaxnets.tables.records import record_folder

        record_folder(root, record, log=log)
    if failures:
        print(f"error: {len(failures)} variant(s) failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0
