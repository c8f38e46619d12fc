"""The run directory contract: config.json, metrics.jsonl, summary.json, checkpoints/, plots/.

A run directory belongs to one (config, seeds) pair. Rerunning the same command resumes it;
a different config there is an error unless the caller asks to overwrite, so no run ever
replaces another by accident.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import platform
import shutil
from typing import Any, Callable

import numpy as np

class RunDirError(RuntimeError):
    """The workdir holds a different run."""


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out += _diff(old.get(key, "<absent>"), new.get(key, "<absent>"), f"{prefix}{key}.")
        return out
    return [] if old == new else [f"{prefix[:-1]}: {old!r} -> {new!r}"]


# Keys a run may change when it is resumed: they do not change what the steps already taken
# computed (a key, or a whole section: the published numbers, sampling and the analyses of the
# trained net). train.steps / train.num_epochs only when they grow (extending a finished run).
RESUMABLE_KEYS = ("config.train.stop_on_nan", "config.train.eval_batch_size", "config.train.checkpoint_every",
                  "config.train.tensorboard", "config.reference", "config.sample", "config.analysis")
# (not log_every / eval_every: they change what metrics.jsonl records, hence minima over evaluations)
EXTENDABLE_KEYS = ("config.train.steps", "config.train.num_epochs")


def result_neutral(dotted: str) -> bool:
    """Whether a change of this key (or of a key inside this section) leaves the run's results as
    they are: the one definition, for resuming a run and for a suite's reuse of a finished one."""
    return any(dotted == key or dotted.startswith(key + ".") for key in RESUMABLE_KEYS)


def result_relevant(run_config: dict) -> dict:
    """A run's config.json without what a rerun may change: what decides "the same run"."""
    import copy

    fixed = copy.deepcopy({k: v for k, v in run_config.items() if k not in ("history", "sessions")})
    if isinstance(fixed.get("config_file"), str):  # stored relative to where it ran: its name decides (_same_file)
        path, sep, variant = fixed["config_file"].partition(":")
        fixed["config_file"] = pathlib.Path(path).name + sep + variant
    return _without(fixed, RESUMABLE_KEYS)


def _without(tree: dict, dotted_keys) -> dict:
    """`tree` (changed in place) with each "a.b.c" key removed where present."""
    for dotted in dotted_keys:
        node, *path, leaf = [tree] + dotted.split(".")
        for part in path:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(leaf, None)
    return tree


RUN_FILES = ("config.json", "checkpoints", "metrics.jsonl", "summary.json")  # what marks a (damaged) run


def _resumable(difference: str) -> bool:
    key, _, change = difference.partition(": ")
    if result_neutral(key):
        return True
    if key in EXTENDABLE_KEYS:
        old, _, new = change.partition(" -> ")
        try:
            return float(new) >= float(old) and float(old) > 0
        except ValueError:
            return False
    return False


LOCK_FILE = ".lock"  # held (flock) by the process training in the folder
MARKER = ".jaxnets-run"  # written first into a folder jaxnets claims: only such a folder is ever emptied


def _empty(workdir: pathlib.Path) -> None:
    """Delete a run's files, keeping the lock file that this process holds. Only a folder that
    jaxnets created carries MARKER; any other is refused, whatever files it holds. config.json goes
    first: an --overwrite killed midway leaves a damaged run (refused), never a run that resumes
    with half its history."""
    if not (workdir / MARKER).is_file():
        raise RunDirError(f"{workdir} was not made by jaxnets (it has no {MARKER} marker), so it is never deleted, "
                          f"also not with --overwrite; choose another --workdir, or delete it yourself")
    (workdir / "config.json").unlink(missing_ok=True)
    for path in workdir.iterdir():
        if path.name in (LOCK_FILE, MARKER):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


@contextlib.contextmanager
def exclusive(workdir: str | pathlib.Path):
    """Hold `workdir` for this process: a second jaxnets process started into it (same command in
    two terminals, a suite and a train) is refused, naming the holder. The lock is the kernel's
    (flock), so a killed holder releases it; where there is no fcntl (Windows), no lock."""
    workdir = pathlib.Path(workdir)
    try:
        import fcntl
    except ImportError:
        yield
        return
    created = not workdir.exists()
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = path.read_text().strip() or "another process"
        os.close(fd)
        raise RunDirError(f"{workdir} is in use by another jaxnets run ({holder}); wait for it to finish, stop it, "
                          f"or choose another --workdir") from None
    try:
        import time

        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {platform.node()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
        yield
    finally:
        if not (workdir / "config.json").exists():  # refused (not a run folder): leave it as it was
            path.unlink(missing_ok=True)
            if created and not any(workdir.iterdir()):
                workdir.rmdir()
        os.close(fd)  # releases the lock


def _same_file(old, new) -> bool:
    """The same config file and variant: a path is stored relative to the folder it was run
    from, so a resume from another folder names it differently. The file's name and variant
    decide; the resolved configs themselves are compared key by key anyway."""
    from jaxnets.config import normalize_spec, split_spec

    if not (isinstance(old, str) and isinstance(new, str) and old):
        return False
    (old_path, old_variant), (new_path, new_variant) = split_spec(old), split_spec(new)
    return normalize_spec(old) == normalize_spec(new) or (
        pathlib.Path(old_path).name == pathlib.Path(new_path).name and old_variant == new_variant)


def never_trained(workdir: pathlib.Path) -> bool:
    """No summary, no metrics line and no checkpoint: a run that stopped before its first logged
    step (a data file missing, a model error), which nothing would be lost by replacing."""
    checkpoints = workdir / "checkpoints"
    metrics = workdir / "metrics.jsonl"
    return (not (workdir / "summary.json").exists()
            and not (metrics.exists() and metrics.stat().st_size > 0)
            and not (checkpoints.is_dir() and any(checkpoints.iterdir())))


def remove_if_untrained(workdir: str | pathlib.Path) -> bool:
    """Delete a run folder that jaxnets made (MARKER) and that never trained (no summary, metrics
    line or checkpoint): the trace of a run that failed before it trained (its data could not be
    had, a config error the experiment found: config.json, an empty plots/ or checkpoints/, a
    vocabulary.json), which would otherwise be left for the user to wonder about. True if it was
    deleted."""
    workdir = pathlib.Path(workdir)
    if not (workdir / MARKER).is_file() or not never_trained(workdir):
        return False
    shutil.rmtree(workdir)
    return True


def open_run(workdir: str | pathlib.Path, run_config: dict, overwrite: bool = False) -> pathlib.Path:
    """Create or reopen `workdir` for `run_config` ({'config_file', 'seeds', 'config'}).

    The same config resumes; one that differs only in RESUMABLE_KEYS (or extends the steps)
    resumes too, the change recorded in config.json's `history`. Anything else is refused unless
    `overwrite`, which then deletes the old run entirely — its checkpoints must never be resumed
    by another config — except a run that never trained, which any config replaces. A folder
    with run files but no readable config.json is a damaged run:
    `overwrite` deletes it too. A non-empty folder without run files is never deleted."""
    workdir = pathlib.Path(workdir)
    config_path = workdir / "config.json"
    holds_run = any((workdir / name).exists() for name in RUN_FILES)
    history: list = []
    sessions: list = []
    if config_path.exists():
        try:
            previous = json.loads(config_path.read_text())
        except json.JSONDecodeError:
            previous = {"<unreadable config.json>": True}
        history = previous.pop("history", []) if isinstance(previous, dict) else []
        sessions = previous.pop("sessions", []) if isinstance(previous, dict) else []
        if isinstance(previous, dict) and _same_file(previous.get("config_file"), run_config.get("config_file")):
            previous["config_file"] = run_config["config_file"]  # ./configs/x.py is configs/x.py
        differences = _diff(previous, run_config)
        blocking = [d for d in differences if not _resumable(d)]
        if blocking and never_trained(workdir):  # a run that failed before its first step blocks nothing
            blocking, differences, history, sessions = [], [], [], []
        if blocking and not overwrite:
            raise RunDirError(
                f"{workdir} holds a run of a different config; differences: {'; '.join(blocking[:8])}. "
                f"Choose another --workdir, or pass --overwrite to delete that run and start this one.")
        if blocking:  # asked for explicitly: the old run goes, whatever files it wrote
            _empty(workdir)
            history, sessions = [], []
        elif differences:
            import time

            history = history + [{"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "changed": differences}]
    elif holds_run:
        if not overwrite:
            if not (workdir / MARKER).is_file():
                raise RunDirError(f"{workdir} holds files named like a run's but was not made by jaxnets (no "
                                  f"{MARKER} marker); it is never deleted: choose another --workdir")
            raise RunDirError(f"{workdir} holds run files but no config.json (a damaged run, or an --overwrite "
                              f"that was interrupted); pass --overwrite to delete it, or choose another --workdir")
        _empty(workdir)
    elif workdir.exists() and any(p.name != LOCK_FILE for p in workdir.iterdir()):
        raise RunDirError(f"{workdir} exists, is not empty and holds no jaxnets run; choose another --workdir "
                          f"(jaxnets deletes only its own runs, also with --overwrite)")
    workdir.mkdir(parents=True, exist_ok=True)
    if not config_path.exists():  # a new run (or one just emptied): claimed before anything is written
        (workdir / MARKER).write_text("a jaxnets run folder: `--overwrite` may empty it\n")
    (workdir / "plots").mkdir(exist_ok=True)
    _write_json_atomic(config_path, {**run_config, **({"history": history} if history else {}),
                                     "sessions": sessions + [provenance()]})
    return workdir


def provenance() -> dict:
    """This session of a run: when, by which command, from which code, under which versions —
    recorded in config.json's `sessions` so that a run reopened later under another JAX keeps
    the record of the one that trained it."""
    import datetime
    import shlex
    import sys

    import jax

    argv = list(sys.argv)
    if argv and argv[0].endswith(os.path.join("jaxnets", "__main__.py")):
        argv[0:1] = ["python", "-m", "jaxnets"]
    return {"time": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(shlex.quote(a) for a in argv), "git_commit": git_commit(),
            "jax_version": jax.__version__, "python": platform.python_version(), "backend": jax.default_backend(),
            "devices": jax.device_count(), "host": platform.node()}


def git_commit() -> str | None:
    """The jaxnets checkout's commit (with '+dirty' when tracked files changed), or None when
    jaxnets is not run from a git checkout."""
    import subprocess

    here = pathlib.Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty else "")


def read_sessions(workdir: pathlib.Path) -> list[dict]:
    try:
        sessions = json.loads((pathlib.Path(workdir) / "config.json").read_text()).get("sessions", [])
    except (OSError, ValueError, AttributeError):
        return []
    return sessions if isinstance(sessions, list) else []


def write_atomic(path: pathlib.Path, write) -> pathlib.Path:
    """write(temporary path), fsync, rename over `path`: a crash or a full disk leaves the old file
    (or none), never half a new one."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")  # keeps the suffix: savefig reads the format from it
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def config_fingerprint(run_config: dict) -> str:
    """SHA-256 of a run's resolved config without the keys a resume may change (what its
    checkpoints are stamped with)."""
    import hashlib

    fixed = _without(result_relevant(run_config), EXTENDABLE_KEYS)
    return hashlib.sha256(json.dumps(fixed, sort_keys=True, default=str).encode()).hexdigest()


def _write_json_atomic(path: pathlib.Path, obj: Any) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2, default=_to_builtin) + "\n"))


def _to_builtin(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def fmt_time(seconds: float) -> str:
    """12m05s, or 1h02m past an hour."""
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class MetricsLog:
    """metrics.jsonl: one JSON object per logged step, appended (and fsynced) as training goes.
    On resume, lines past the restored checkpoint are dropped — those steps are about to be
    trained again — by an atomic rewrite, and only when there is something to drop; a damaged
    line is reported and left out, every other line kept."""

    def __init__(self, path: str | pathlib.Path, resume_step: int | None, primary: bool = True,
                 warn: Callable[[str], None] = print, tensorboard: bool = False):
        self.path = pathlib.Path(path)
        self.primary = primary  # one writer on multi-host runs
        self.events = TensorBoardLog(self.path.parent / "tensorboard", resume_step) if tensorboard and primary \
            else None
        records, damaged = read_metrics_checked(self.path)
        self.records = [r for r in records if resume_step is not None and r.get("step", 0) <= resume_step]
        if damaged:
            warn(f"warning: {self.path}: line(s) {damaged} are damaged and left out; the other {len(records)} "
                 f"kept")
        if self.primary and (damaged or len(self.records) < len(records)):
            write_atomic(self.path, lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in self.records)))

    def write(self, record: dict) -> None:
        if not self.primary:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(record, default=_to_builtin, allow_nan=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if self.events is not None:
            self.events.write(record)

    def close(self) -> None:
        if self.events is not None:
            self.events.close()


class TensorBoardLog:
    """The scalars of metrics.jsonl as TensorBoard events in <workdir>/tensorboard/ (tensorboardX:
    no TensorFlow): each metric under its name (the mean over seeds) and, in sweeps, per seed as
    `seed_<i>/<name>`. A resumed run purges the events past its checkpoint, as metrics.jsonl drops
    those lines, so the curves hold each step once."""

    def __init__(self, folder: pathlib.Path, resume_step: int | None):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(str(folder), purge_step=None if resume_step is None else resume_step + 1,
                                    flush_secs=10)

    def write(self, record: dict) -> None:
        step = int(record["step"])
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, float(value), step)
        for key, values in record.get("per_seed", {}).items():
            for i, value in enumerate(values):
                if isinstance(value, (int, float)):  # vector metrics (per position) are metrics.jsonl's only
                    self.writer.add_scalar(f"seed_{i}/{key}", float(value), step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class RunWriter:
    """Everything a run writes goes through here: metrics.jsonl, checkpoints/, plots/, text
    files, summary.json. Only process 0 writes (on one host that is this process), so nothing
    else in jaxnets needs to ask which process it is."""

    def __init__(self, workdir: str | pathlib.Path, fingerprint: str | None = None):
        import jax  # imported here: the suite imports this module before its workers configure JAX

        self.workdir = pathlib.Path(workdir)
        self.primary = jax.process_index() == 0
        self.fingerprint = fingerprint  # of the run's config: checkpoints of another config are refused

    def child(self, name: str) -> "RunWriter":
        """A sub-run's directory (a second fit inside one experiment)."""
        child = RunWriter.__new__(RunWriter)
        child.workdir, child.primary = self.workdir / name, self.primary
        child.fingerprint = None if self.fingerprint is None else f"{self.fingerprint}/{name}"
        return child

    @property
    def checkpoint_dir(self) -> pathlib.Path:
        return self.workdir / "checkpoints"

    def metrics_log(self, resume_step: int | None, warn: Callable[[str], None] = print,
                    tensorboard: bool = False) -> MetricsLog:
        return MetricsLog(self.workdir / "metrics.jsonl", resume_step, self.primary, warn, tensorboard)

    def figure(self, name: str, draw) -> pathlib.Path:
        """plots/<name>: `draw(path)` makes and saves the figure, on process 0 only, atomically
        (a full disk leaves the previous figure, not a 0-byte one)."""
        path = self.workdir / "plots" / name
        if self.primary:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, draw)
        return path

    def text(self, relative: str, text: str) -> pathlib.Path:
        path = self.workdir / relative
        if self.primary:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, lambda tmp: tmp.write_text(text))
        return path

    def summary(self, summary: dict) -> pathlib.Path:
        path = self.workdir / "summary.json"
        if self.primary:
            _write_json_atomic(path, summary)
        return path


def read_metrics(path: str | pathlib.Path) -> list[dict]:
    """The records of a metrics.jsonl; damaged lines are left out (see `read_metrics_checked`)."""
    return read_metrics_checked(path)[0]


def read_metrics_checked(path: str | pathlib.Path) -> tuple[list[dict], list[int]]:
    """(every readable record, the numbers of the damaged lines): a line cut by a kill or garbled
    on disk costs that line only, never the lines after it."""
    path = pathlib.Path(path)
    if not path.exists():
        return [], []
    records, damaged = [], []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            damaged.append(number)
            continue
        if isinstance(record, dict) and "step" in record:
            records.append(record)
        else:
            damaged.append(number)
    return records, damaged


def seed_stats(per_seed: dict[str, np.ndarray], keep: np.ndarray | None = None) -> tuple[dict, dict]:
    """Mean and (sample, ddof=1) std over seeds of each final metric (over the seeds `keep`
    marks, when given and the metric has one value per seed)."""
    means, stds = {}, {}
    for key, values in per_seed.items():
        values = np.asarray(values, dtype=np.float64)
        if keep is not None and values.shape == keep.shape and keep.any():
            values = values[keep]
        means[key] = float(values.mean())
        if values.size > 1:
            stds[key] = float(values.std(ddof=1))
    return means, stds


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

    lost = sorted(set(diverged(seeds, per_seed)) | set((extra or {}).get("diverged_seeds", []))
                  | {int(seed) for seed in (extra or {}).get("diverged_at_step", {})})
    keep = np.array([seed not in lost for seed in seeds])
    means, stds = seed_stats(per_seed, keep if lost else None)  # the diverged seeds do not sink the others
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
