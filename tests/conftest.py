"""Shared fixtures. Tests read the offline data copies from $JAXNETS_DATA_DIR (CI: ../shared/data)."""

import os
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_shared = ROOT.parent / "shared" / "data"
if "JAXNETS_DATA_DIR" not in os.environ and _shared.is_dir():
    os.environ["JAXNETS_DATA_DIR"] = str(_shared)
elif "JAXNETS_DATA_DIR" in os.environ:  # a relative path (`JAXNETS_DATA_DIR=../shared/data`) would
    # move with the tests that run in a scratch folder: pin it to where pytest was started
    os.environ["JAXNETS_DATA_DIR"] = str(pathlib.Path(os.environ["JAXNETS_DATA_DIR"]).resolve())
os.environ.setdefault("JAXNETS_NO_DOWNLOAD", "1")  # hermetic: only tests/test_download.py downloads (loopback)
os.chdir(ROOT)  # config paths in tests are relative to the repository root
# Many tests compile the same small programs (and subprocesses inherit this): JAX's persistent
# compilation cache, shared by the xdist workers, turns the repeats into disk reads.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(ROOT / ".pytest_cache" / "jax_compilation_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
# Tests check what programs compute, not how fast the compiled code runs, and a cold suite (CI)
# spends most of its time in LLVM: without its optimization passes the slowest tests compile in
# about half the time (4 of them cold: 81 s -> 51 s). Subprocesses inherit it; tests that set
# their own XLA_FLAGS keep it through `xla_flags`.
TEST_XLA_FLAGS = "--xla_backend_optimization_level=0"


def xla_flags(*flags: str) -> str:
    """XLA_FLAGS for a subprocess: the tests' compile setting plus `flags`."""
    return " ".join((TEST_XLA_FLAGS, *flags))


if TEST_XLA_FLAGS not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + TEST_XLA_FLAGS).strip()

from jaxnets.train.sharding import cpu_devices_per_core  # noqa: E402

cpu_devices_per_core()  # as the CLI does: in-process runs see the devices a real run sees


def mnist_dir() -> pathlib.Path | None:
    path = pathlib.Path(os.environ.get("JAXNETS_DATA_DIR", "/nonexistent")) / "mnist"
    return path if (path / "train-images-idx3-ubyte.gz").is_file() else None


needs_mnist = pytest.mark.skipif(mnist_dir() is None, reason="MNIST IDX files not under $JAXNETS_DATA_DIR/mnist")


@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch):
    """A 200/50-example MNIST-shaped data set in IDX files under a fresh JAXNETS_DATA_DIR: images
    of class k are bright in the k-th band of rows, so a small net learns them quickly."""
    from jaxnets.data import write_idx
    from jaxnets.data.images import _read_local_cached

    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for split, n in (("train", 200), ("t10k", 50)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 * label: 2 * label + 3] = 250
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels)
    monkeypatch.setenv("JAXNETS_DATA_DIR", str(tmp_path))
    _read_local_cached.cache_clear()
    yield folder
    _read_local_cached.cache_clear()


SENTENCES = ["the cat sat on the mat", "a dog ran to the cat", "the mat was red", "a cat saw a dog"]


@pytest.fixture
def toy_ptb(tmp_path, monkeypatch):
    """A PTB folder of 11 words (train 300 / valid 60 / test 60 lines) in $JAXNETS_DATA_DIR."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "data" / "ptb"
    folder.mkdir(parents=True)
    for name, n in (("train", 300), ("valid", 60), ("test", 60)):
        lines = [SENTENCES[i] for i in rng.integers(0, len(SENTENCES), n)]
        (folder / f"ptb.{name}.txt").write_text("".join(f" {line} \n" for line in lines))
    monkeypatch.setenv("JAXNETS_DATA_DIR", str(tmp_path / "data"))
    return tmp_path
