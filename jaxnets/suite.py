"""Run every variant of a config file — a post's whole table — and tabulate it.

Each variant is an ordinary sweep (its own run directory under the suite's root, resumable). With
`--jobs N` the variants run N at a time in worker processes, each pinned to its own share of the
CPU cores: on a small CPU one seed-vmapped net per core beats two processes fighting over both
cores, and one process's compilation overlaps another's training. Longest variants start first.

Afterwards the suite writes `<root>/results.md` (every published number beside jaxnets' mean ±
std over seeds, from the config file's TABLE) and one figure per experiment (its FIGURES) under
`<root>/figures/`. A config file opts in with:

    VARIANTS = {name: {"dotted.key": value, ...}}   # get_config(name) applies these
    SUITE = [name, ...]                              # optional: the default subset to run
    TABLE = [Row(experiment, row, variant, metric, published), ...]   # optional
    FIGURES = {name: Figure(title, {label: variant}, [metric keys], levels=None, x="step")}   # optional
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import math
import multiprocessing
import os
import pathlib
import statistics
import sys
import time
import traceback

from jaxnets.train.progress import fmt_time
from jaxnets.tables import Figure, Row


def _cost(config) -> float:
    """A rough relative cost for scheduling longest-first: steps × batch × weights."""
    steps = config.train.steps or config.train.get("num_epochs", 1) * 1000
    sizes = [784, *config.model.get("hidden_sizes", (100,)), 10]
    return float(steps * config.train.batch_size * sum(a * b for a, b in zip(sizes[:-1], sizes[1:])))


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


def _shown_metrics(module, summary: dict) -> set[str]:
    """The metrics a progress line shows: those of the config's TABLE, else those with a
    published reference, else all."""
    table = {Row(*r).metric for r in getattr(module, "TABLE", None) or []}
    chosen = table & set(summary["metrics"]) or set(summary.get("reference", {})) & set(summary["metrics"])
    return chosen or set(summary["metrics"])


def _diverged_note(summary: dict, metric: str) -> str:
    """'; 1 diverged, the other 4: m ± s' when some seeds ended with a non-finite loss."""
    diverged = summary.get("diverged_seeds") or []
    values = summary.get("metrics_per_seed", {}).get(metric)
    if not diverged or not values:
        return ""
    finite = [v for seed, v in zip(summary["seeds"], values) if seed not in diverged]
    if not finite:
        return "; all diverged"
    spread = f" ± {statistics.stdev(finite):.4f}" if len(finite) > 1 else ""
    return f"; {len(diverged)} diverged, the other {len(finite)}: {statistics.mean(finite):.4f}{spread}"


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def results_table(module, summaries: dict[str, dict], root: pathlib.Path | None = None) -> str:
    """Markdown: every published number beside the mean ± std over seeds and the gap in stds."""
    lines = ["| exp | row | published | jaxnets mean ± std (seeds) | gap | gap / std | variant |",
             "|---|---|---|---|---|---|---|"]
    table = getattr(module, "TABLE", None) or [
        Row("", name, name, metric, ref) for name, s in summaries.items()
        for metric, ref in s.get("reference", {}).items() if isinstance(ref, (int, float))]
    from jaxnets.report import shortened

    for exp, row, variant, metric, published in map(lambda r: Row(*r), table):
        if isinstance(published, float) and len(repr(published).partition(".")[2]) > 4:
            published = f"{published:.4f}"  # an exact level (0.6615632381579821) shown for people
        summary = summaries.get(variant)
        if summary is None or metric not in summary.get("metrics", {}):
            lines.append(f"| {exp} | {row} | {published} | (not run) | | | {variant} |")
            continue
        mean = summary["metrics"][metric]
        std = summary.get("metrics_std", {}).get(metric)
        shown = f"{mean:.4f} ± {std:.4f}" if std is not None else f"{mean:.4f}"
        shown += f" ({len(summary['seeds'])}{_diverged_note(summary, metric)})"
        cut = root and shortened(root / variant)
        if cut:
            shown += f" **{cut}**"
        if published is None or isinstance(published, str) and not _is_number(published):  # a plot, or not comparable
            lines.append(f"| {exp} | {row} | {published or '(plot only)'} | {shown} | | | {variant} |")
            continue
        gap = mean - float(published)
        ratio = f"{gap / std:+.1f}" if std else "—"
        lines.append(f"| {exp} | {row} | {published} | {shown} | {gap:+.4f} | {ratio} | {variant} |")
    return "\n".join(lines) + "\n"


def _curve(root: pathlib.Path, summaries: dict[str, dict], label: str, variant: str,
           x: str) -> tuple[str, dict, list]:
    """(label, the variant's curves against `x` (steps, or epochs), the indices of its diverged seeds)."""
    from jaxnets.rundir import read_metrics
    from jaxnets.train.curves import Curve, from_records

    summary = summaries.get(variant, {})
    drop = [summary["seeds"].index(s) for s in summary.get("diverged_seeds", []) if s in summary.get("seeds", [])]
    records = read_metrics(root / variant / "metrics.jsonl")
    curves = from_records(records)
    if x == "epoch" and records and records[-1].get("epoch"):
        steps_per_epoch = records[-1]["step"] / records[-1]["epoch"]
        curves = {k: Curve(c.steps / steps_per_epoch, c.values) for k, c in curves.items()}
    return label, curves, drop


def _summary_vector(summary: dict, path: str) -> list | None:
    """summary.json's value at a dotted path ("a.b"), or None where the run has none."""
    value = summary
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value if isinstance(value, list) and value else None


def write_outputs(module, root: pathlib.Path, summaries: dict[str, dict], wall: float) -> pathlib.Path:
    from jaxnets import plots

    text = results_table(module, summaries, root)
    train_s = sum(s.get("wall_time_s", 0.0) for s in summaries.values())
    text += (f"\nSuite wall time {fmt_time(wall)} for {len(summaries)} variants "
             f"(sum of the variants' training times {fmt_time(train_s)}).\n")
    out = root / "results.md"
    out.write_text(text)
    for name, figure in getattr(module, "FIGURES", {}).items():
        title, curves, keys, levels, x = Figure(*figure)
        # {label: variant} is one panel; {panel: {label: variant}} is one panel each.
        groups = curves if all(isinstance(v, dict) for v in curves.values()) else {"": curves}
        if x not in ("step", "epoch"):
            vectors = {key: {label: vector for members in groups.values() for label, variant in members.items()
                             if (vector := _summary_vector(summaries.get(variant, {}), key)) is not None}
                       for key in keys}
            if any(vectors.values()):
                plots.vectors(vectors, root / "figures" / f"{name}.png", xlabel=x, title=title)
            continue
        panels = {panel: [_curve(root, summaries, label, variant, x) for label, variant in members.items()
                          if (root / variant / "metrics.jsonl").exists()]
                  for panel, members in groups.items()}
        if any(panels.values()):
            plots.comparison(panels, keys, root / "figures" / f"{name}.png", title=title,
                             levels=levels, x=x)
    return out


PROGRESS_PREFIXES = ("epoch ", "step ", "  … ", "resuming", "early stop")


class LogWatcher:
    """Live progress of the variants being trained: their log files are followed and each new
    progress line is shown, prefixed by the variant's name, at most one line per variant every
    `every` seconds (the newest one). Workers' output goes only to their logs; this is what the
    terminal sees of it while they run, in process (--jobs 1) or not."""

    def __init__(self, folder: pathlib.Path, out, every: float = 10.0):
        import threading

        self.folder, self.out, self.every = folder, out, every
        self.offsets: dict[pathlib.Path, int] = {}
        self.shown: dict[str, float] = {}
        self.waiting: dict[str, str] = {}
        self.done = threading.Event()
        self.lock = threading.Lock()  # polled by its thread and, as a variant ends, by the suite
        self.thread = threading.Thread(target=self._follow, daemon=True, name="jaxnets-suite-logs")

    def poll(self, force: bool = False) -> None:
        """Show the newest progress line of each variant (force: also those shown < every ago)."""
        with self.lock:
            self._poll(force)

    def _poll(self, force: bool) -> None:
        now = time.time()
        for path in sorted(self.folder.glob("*.log")):
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    f.seek(self.offsets.get(path, 0))
                    text = f.read()
                    self.offsets[path] = f.tell()
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith(PROGRESS_PREFIXES):
                    self.waiting[path.stem] = line
        for name, line in list(self.waiting.items()):
            if force or now - self.shown.get(name, 0.0) >= self.every:
                print(f"  [{name}] {line.strip()}", file=self.out, flush=True)
                self.shown[name] = now
                del self.waiting[name]

    def _follow(self) -> None:
        while not self.done.wait(1.0):
            self.poll()

    def start(self) -> "LogWatcher":
        for path in self.folder.glob("*.log"):  # earlier sessions' lines are not news
            self.offsets[path] = path.stat().st_size
        self.thread.start()
        return self

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=2.0)
        self.poll(force=True)


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
    todo.sort(key=lambda n: -_cost(configs[n]))
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
                              for k, v in summary["metrics"].items() if k in _shown_metrics(module, summary))
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
        from jaxnets.records import record_folder

        record_folder(root, record, log=log)
    if failures:
        print(f"error: {len(failures)} variant(s) failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0
