"""A small NumPy reader for the IDX format of MNIST-like data sets.

Layout: a big-endian header -- magic (0x00000803 for uint8 rank-3 images, 0x00000801 for
uint8 labels), then one uint32 per dimension -- followed by the uint8 values. Files may be
gzipped. Every way a file can be wrong raises `DataError` naming the file.
"""

from __future__ import annotations

import gzip
import pathlib
import zlib

import numpy as np

__all__ = ["MAGICS", "DataError", "read_idx", "write_idx"]

# magic -> rank; the third byte 0x08 is the uint8 type code.
MAGICS = {0x00000801: 1, 0x00000803: 3}


class DataError(RuntimeError):
    """A data file that is missing, truncated or corrupt; the message names it and says how to get it."""


def _read_bytes(path: pathlib.Path, how_to_get: str) -> bytes:
    if not path.is_file():
        raise DataError(f"data file {path} is missing. {how_to_get}")
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"data file {path} is corrupt or truncated ({err}). {how_to_get}") from err


def read_idx(path: str | pathlib.Path, expected_magic: int, how_to_get: str = "") -> np.ndarray:
    """Parse an IDX file into a uint8 array, validating magic, header and length."""
    path = pathlib.Path(path)
    data = _read_bytes(path, how_to_get)
    if len(data) < 4:
        raise DataError(f"data file {path} is truncated: {len(data)} bytes, no IDX header. {how_to_get}")
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise DataError(
            f"data file {path} has magic number 0x{magic:08x}, expected 0x{expected_magic:08x} "
            f"(wrong file or corrupt). {how_to_get}")
    rank = MAGICS[expected_magic]
    header = 4 + 4 * rank
    if len(data) < header:
        raise DataError(f"data file {path} is truncated inside its header. {how_to_get}")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise DataError(
            f"data file {path} holds {len(data) - header} values, its header {shape} promises "
            f"{expected - header} (truncated or corrupt). {how_to_get}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path: str | pathlib.Path, array: np.ndarray) -> None:
    """Write a uint8 array as (gzipped if *.gz) IDX; used by tests to build tiny data sets."""
    array = np.asarray(array, dtype=np.uint8)
    magic = {1: 0x00000801, 3: 0x00000803}[array.ndim]
    payload = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape) + array.tobytes()
    path = pathlib.Path(path)
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)
