"""The run directory contract: config.json, metrics.jsonl, summary.json, checkpoints/, plots/.

A run directory belongs to one (config, seeds) pair. Rerunning the same command resumes it;
a different config there is an error unless the caller asks to overwrite, so no run ever
replaces another by accident.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import shutil
from typing import Any

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


def open_run(workdir: str | pathlib.Path, run_config: dict, overwrite: bool = False) -> pathlib.Path:
    """Create or reopen `workdir` for `run_config` ({'config_file', 'seeds', 'config'})."""
    workdir = pathlib.Path(workdir)
    config_path = workdir / "config.json"
    if config_path.exists():
        try:
            previous = json.loads(config_path.read_text())
        except json.JSONDecodeError:
            previous = {"<unreadable config.json>": True}
        differences = _diff(previous, run_config)
        if differences and not overwrite:
            raise RunDirError(
                f"{workdir} holds a run of a different config; differences: {'; '.join(differences[:8])}. "
                f"Choose another --workdir, or pass --overwrite to delete that run and start this one.")
        if differences:  # asked for explicitly: the old run goes, whatever files it wrote
            shutil.rmtree(workdir)
    elif workdir.exists() and any(workdir.iterdir()) and not overwrite:
        raise RunDirError(f"{workdir} exists, is not empty and holds no jaxnets run (no config.json); "
                          f"choose another --workdir or pass --overwrite")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "plots").mkdir(exist_ok=True)
    _write_json_atomic(config_path, run_config)
    return workdir


def _write_json_atomic(path: pathlib.Path, obj: Any) -> None:
    """Write-then-rename, so a crash never leaves half a JSON file behind."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=_to_builtin) + "\n")
    os.replace(tmp, path)


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
    """metrics.jsonl: one JSON object per logged step. On resume, the lines past the restored
    checkpoint are dropped: those steps are about to be trained again."""

    def __init__(self, path: str | pathlib.Path, resume_step: int | None, primary: bool = True):
        self.path = pathlib.Path(path)
        self.primary = primary  # one writer on multi-host runs
        self.records = [r for r in read_metrics(self.path) if resume_step is not None and r["step"] <= resume_step]
        if self.primary:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in self.records))
            os.replace(tmp, self.path)

    def write(self, record: dict) -> None:
        if not self.primary:
            return
        with self.path.open("a") as f:
            f.write(json.dumps(record, default=_to_builtin, allow_nan=True) + "\n")


class RunWriter:
    """Everything a run writes goes through here: metrics.jsonl, checkpoints/, plots/, text
    files, summary.json. Only process 0 writes (on one host that is this process), so nothing
    else in jaxnets needs to ask which process it is."""

    def __init__(self, workdir: str | pathlib.Path):
        import jax  # imported here: the suite imports this module before its workers configure JAX

        self.workdir = pathlib.Path(workdir)
        self.primary = jax.process_index() == 0

    def child(self, name: str) -> "RunWriter":
        """A sub-run's directory (a second fit inside one experiment)."""
        child = RunWriter.__new__(RunWriter)
        child.workdir, child.primary = self.workdir / name, self.primary
        return child

    @property
    def checkpoint_dir(self) -> pathlib.Path:
        return self.workdir / "checkpoints"

    def metrics_log(self, resume_step: int | None) -> MetricsLog:
        return MetricsLog(self.workdir / "metrics.jsonl", resume_step, self.primary)

    def figure(self, name: str, draw) -> pathlib.Path:
        """plots/<name>: `draw(path)` makes and saves the figure, on process 0 only."""
        path = self.workdir / "plots" / name
        if self.primary:
            path.parent.mkdir(parents=True, exist_ok=True)
            draw(path)
        return path

    def text(self, relative: str, text: str) -> pathlib.Path:
        path = self.workdir / relative
        if self.primary:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
        return path

    def summary(self, summary: dict) -> pathlib.Path:
        path = self.workdir / "summary.json"
        if self.primary:
            _write_json_atomic(path, summary)
        return path


def read_metrics(path: str | pathlib.Path) -> list[dict]:
    path = pathlib.Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line cut off by a kill; everything before it is good
    return records


def seed_stats(per_seed: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Mean and (sample, ddof=1) std over seeds of each final metric."""
    means, stds = {}, {}
    for key, values in per_seed.items():
        values = np.asarray(values, dtype=np.float64)
        means[key] = float(values.mean())
        if values.size > 1:
            stds[key] = float(values.std(ddof=1))
    return means, stds


def make_summary(*, experiment: str, config_file: str, seeds: list[int], per_seed: dict[str, np.ndarray],
                 reference: dict, steps: int, wall_time_s: float, throughput: float | None = None,
                 unit: str = "examples", extra: dict | None = None) -> dict:
    """The summary.json contract (DESIGN.md): final metrics as mean / std / per seed, the
    published numbers, and how the run was made."""
    import jax

    means, stds = seed_stats(per_seed)
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
    if extra:
        summary.update(extra)
    return summary
