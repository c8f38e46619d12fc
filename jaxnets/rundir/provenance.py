"""Where a run came from: each session's time, command, commit and versions, kept in
config.json's `sessions`."""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import platform
import shlex
import subprocess
import sys


def provenance() -> dict:
    """This session of a run: when, by which command, from which code, under which versions —
    recorded in config.json's `sessions` so that a run reopened later under another JAX keeps
    the record of the one that trained it."""
    import jax  # imported here: the suite reads provenance before its workers configure JAX

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
