"""Claiming a run folder: the lock that keeps one process per folder, the marker that says
jaxnets made it (only such a folder is ever emptied), and `open_run`, which creates, reopens or
refuses a folder for a config."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import platform
import shutil
import time

from jaxnets.rundir.files import write_json_atomic
from jaxnets.rundir.identity import blocking, differences
from jaxnets.rundir.provenance import provenance


class RunDirError(RuntimeError):
    """The workdir holds a different run."""


RUN_FILES = ("config.json", "checkpoints", "metrics.jsonl", "summary.json")  # what marks a (damaged) run


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
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {platform.node()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
        yield
    finally:
        if not (workdir / "config.json").exists():  # refused (not a run folder): leave it as it was
            path.unlink(missing_ok=True)
            if created and not any(workdir.iterdir()):
                workdir.rmdir()
        os.close(fd)  # releases the lock


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
        if not isinstance(previous, dict):
            previous = {"<unreadable config.json>": True}
        history, sessions = previous.get("history", []), previous.get("sessions", [])
        changed = differences(previous, run_config)
        refused = blocking(changed)
        if refused and never_trained(workdir):  # a run that failed before its first step blocks nothing
            refused, changed, history, sessions = [], [], [], []
        if refused and not overwrite:
            raise RunDirError(
                f"{workdir} holds a run of a different config; differences: {'; '.join(refused[:8])}. "
                f"Choose another --workdir, or pass --overwrite to delete that run and start this one.")
        if refused:  # asked for explicitly: the old run goes, whatever files it wrote
            _empty(workdir)
            history, sessions = [], []
        elif changed:
            history = history + [{"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "changed": changed}]
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
    write_json_atomic(config_path, {**run_config, **({"history": history} if history else {}),
                                     "sessions": sessions + [provenance()]})
    return workdir
