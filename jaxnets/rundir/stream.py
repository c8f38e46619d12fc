"""metrics.jsonl, the run's log of logged steps, mirrored to TensorBoard: appended as training
goes, cut back to the checkpoint on resume, read back line by line (a damaged line costs that
line only)."""

from __future__ import annotations

import json
import os
import pathlib
from typing import Callable

from jaxnets.rundir.files import to_builtin, write_atomic


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
            f.write(json.dumps(record, default=to_builtin, allow_nan=True) + "\n")
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


def read_metrics(path: str | pathlib.Path) -> list[dict]:
    """The records of a metrics.jsonl; damaged lines are left out (see `read_metrics_checked`)."""
    return read_metrics_checked(path)[0]


def read_metrics_checked(path: str | pathlib.Path) -> tuple[list[dict], list[int]]:
    """(every readable record, the numbers of the damaged lines): a line cut by a kill or garbled
    on disk costs that line only, never the lines after it."""
    path = pathlib.Path(path)
    packed = path.with_name(path.name + ".gz")  # a committed record keeps a long one compressed
    if not path.exists() and not packed.exists():
        return [], []
    if path.exists():
        text = path.read_text(errors="replace")
    else:
        import gzip

        text = gzip.decompress(packed.read_bytes()).decode(errors="replace")
    records, damaged = [], []
    for number, line in enumerate(text.splitlines(), 1):
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
