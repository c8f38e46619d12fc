"""Atomic writes: a crash or a full disk leaves the old file (or none), never half a new one."""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import numpy as np


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


def write_json_atomic(path: pathlib.Path, obj: Any) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2, default=to_builtin) + "\n"))


def to_builtin(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
