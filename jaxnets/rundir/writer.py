"""RunWriter: the one way into a run folder (metrics.jsonl, checkpoints/, plots/, text files,
summary.json), writing only on the process that owns the run."""

from __future__ import annotations

import pathlib
from typing import Callable

from jaxnets.rundir.files import write_atomic, write_json_atomic
from jaxnets.rundir.stream import MetricsLog


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
            write_json_atomic(path, summary)
        return path
