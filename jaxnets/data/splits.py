"""TFDS split syntax (`train`, `train[:55000]`, `train[55000:]`, `test[:10%]`, `train[:100]+test`)
applied to in-memory arrays, so a config states exactly which examples it uses."""

from __future__ import annotations

import re

import numpy as np

__all__ = ["parse_split", "select"]

_PART = re.compile(r"^(?P<name>\w+)(\[(?P<start>-?\d+%?)?:(?P<stop>-?\d+%?)?\])?$")


def _bound(text: str | None, n: int) -> int | None:
    if text is None:
        return None
    if text.endswith("%"):
        return int(round(int(text[:-1]) * n / 100))
    return int(text)


def parse_split(split: str) -> list[tuple[str, int | None, int | None]]:
    """'train[:55000]+test' -> [('train', None, 55000), ('test', None, None)] (percentages unresolved)."""
    parts = []
    for piece in split.replace(" ", "").split("+"):
        match = _PART.match(piece)
        if not match:
            raise ValueError(f"bad split {split!r}: use TFDS syntax such as 'train', 'train[:55000]', 'test[10%:]'")
        parts.append((match["name"], match["start"], match["stop"]))
    return parts


def select(split: str, arrays_by_name: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Slice and concatenate the named splits' arrays according to `split`."""
    pieces = []
    for name, start, stop in parse_split(split):
        if name not in arrays_by_name:
            raise ValueError(f"split {split!r}: no split named {name!r}; have {sorted(arrays_by_name)}")
        arrays = arrays_by_name[name]
        n = len(next(iter(arrays.values())))
        bounds = [_bound(start, n), _bound(stop, n)]
        if any(b is not None and abs(b) > n for b in bounds):
            raise ValueError(f"split {split!r}: {name} has {n} examples, so [{start or ''}:{stop or ''}] reaches "
                             f"past its end")
        sl = slice(*bounds)
        piece = {k: v[sl] for k, v in arrays.items()}
        if not len(next(iter(piece.values()))):
            raise ValueError(f"split {split!r}: [{start or ''}:{stop or ''}] of {name} ({n} examples) selects none")
        pieces.append(piece)
    return {k: np.concatenate([p[k] for p in pieces]) if len(pieces) > 1 else pieces[0][k] for k in pieces[0]}
