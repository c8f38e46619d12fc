"""MNIST, Fashion-MNIST and CIFAR-10 as NumPy arrays.

Source: the published files under `$JAXNETS_DATA_DIR/<name>/` (IDX files; for CIFAR-10 the
"python version" batches). MNIST and Fashion-MNIST are downloaded there and verified when the
folder does not exist (`jaxnets.data.download`). CIFAR-10, which has no file source here, goes
to tensorflow-datasets (network, and TensorFlow to prepare it: `pip install -e ".[tfds]"`);
without network that fails at once. A folder that exists but holds a missing or corrupt file is
an error -- never a silent switch to other data.
"""

from __future__ import annotations

import functools
import pathlib

import numpy as np

from jaxnets.data import download
from jaxnets.data.download import data_dir
from jaxnets.data.idx import DataError, read_idx
from jaxnets.data.splits import parse_split, select

__all__ = ["DATA_DIR_ENV", "IMAGE_DATASETS", "IMAGE_SHAPES", "FILES", "CIFAR_SOURCE", "CIFAR_FILES", "TFDS_HOST",
           "how_to_get", "check_image_section", "check_image_split", "load_images", "flat_pixels", "pixels", "standardizer",
           "image_classification"]

DATA_DIR_ENV = "JAXNETS_DATA_DIR"
IMAGE_DATASETS = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
IMAGE_SHAPES = {"mnist": (28, 28), "fashion_mnist": (28, 28), "cifar10": (32, 32, 3)}
FILES = {  # split -> (images, labels), the published file names
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CIFAR_SOURCE = "https://www.cs.toronto.edu/~kriz/cifar.html (the python version, cifar-10-python.tar.gz)"
CIFAR_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
TFDS_HOST = ("storage.googleapis.com", 443)  # where tensorflow-datasets downloads from


def how_to_get(name: str) -> str:
    if name in download.SOURCES:
        return download.where_to_get(name)
    return (f"Put the files of cifar-10-batches-py/ (data_batch_1..5, test_batch) in {data_dir() / name}/ "
            f"(set JAXNETS_DATA_DIR to a folder holding {name}/); they are at {CIFAR_SOURCE}.")


def _read_local(folder: str, name: str, split: str) -> dict[str, np.ndarray]:
    """The IDX pair of a split, cached in memory until either file changes on disk."""
    stamp = tuple((s.st_mtime_ns, s.st_size) if (p := pathlib.Path(folder, f)).is_file() and (s := p.stat()) else None
                  for f in FILES[split])
    return _read_local_cached(folder, name, split, stamp)


@functools.lru_cache(maxsize=8)
def _read_local_cached(folder: str, name: str, split: str, stamp: tuple) -> dict[str, np.ndarray]:
    images_file, labels_file = FILES[split]
    images = read_idx(pathlib.Path(folder, images_file), 0x00000803, how_to_get(name))
    labels = read_idx(pathlib.Path(folder, labels_file), 0x00000801, how_to_get(name))
    if len(images) != len(labels):
        raise DataError(f"{folder}/{images_file} has {len(images)} images but {labels_file} has "
                        f"{len(labels)} labels. {how_to_get(name)}")
    if labels.max(initial=0) > 9:
        raise DataError(f"{folder}/{labels_file} holds label {labels.max()} > 9 (corrupt). {how_to_get(name)}")
    return {"image": images, "label": labels.astype(np.int32)}


@functools.lru_cache(maxsize=4)
def _read_cifar(folder: str, split: str) -> dict[str, np.ndarray]:
    """The CIFAR-10 "python version" batches: pickled dicts with b'data' uint8 [N, 3072] (CHW) and b'labels'."""
    import pickle

    images, labels = [], []
    for file in CIFAR_FILES[split]:
        path = pathlib.Path(folder, file)
        if not path.is_file():
            raise DataError(f"{path} is missing. {how_to_get('cifar10')}")
        try:
            with open(path, "rb") as f:
                batch = pickle.load(f, encoding="bytes")
            data = np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        except Exception as err:
            raise DataError(f"{path} is not a CIFAR-10 python batch ({type(err).__name__}: {err}). "
                            f"{how_to_get('cifar10')}") from err
        images.append(data)
        labels.append(np.asarray(batch[b"labels"], np.int32))
    return {"image": np.concatenate(images), "label": np.concatenate(labels)}


def _network_reachable(host: tuple[str, int], timeout: float = 3.0) -> bool:
    import socket

    try:
        socket.create_connection(host, timeout=timeout).close()
        return True
    except OSError:
        return False


def _read_tfds(name: str, split: str) -> dict[str, np.ndarray]:
    """The same data set through tensorflow-datasets' random-access `data_source` (no TF to read).
    Data prepared earlier is read offline; otherwise an unreachable download host is an error at
    once (tfds itself would retry for minutes before failing)."""
    missing = (f"{IMAGE_DATASETS[name]}: the folder {data_dir() / name} does not exist and tensorflow-datasets "
               f"could not provide it")
    try:
        import tensorflow_datasets as tfds
        try:
            source = tfds.data_source(name, split=split, download=False)
        except Exception:  # not prepared yet: download it, if the internet can be reached
            if not _network_reachable(TFDS_HOST):
                raise DataError(f"{missing} (it is not prepared in the tfds data folder and "
                                f"{TFDS_HOST[0]} cannot be reached: no network). {how_to_get(name)}") from None
            source = tfds.data_source(name, split=split, download=True)
        records = [source[i] for i in range(len(source))]
    except DataError:
        raise
    except Exception as err:  # tfds raises many kinds; all mean "could not get the data"
        raise DataError(f"{missing} ({type(err).__name__}: {err}). {how_to_get(name)}") from err
    images = np.stack([np.asarray(r["image"]).reshape(IMAGE_SHAPES[name]) for r in records]).astype(np.uint8)
    labels = np.asarray([r["label"] for r in records], dtype=np.int32)
    return {"image": images, "label": labels}


def check_image_split(name: str, split: str) -> set[str]:
    """The named parts of a TFDS-style `split` of image set `name`; ValueError naming what is
    wrong (a misspelt set or split) — checked before a run starts, not after it loaded data."""
    if name not in IMAGE_DATASETS:
        raise ValueError(f"unknown image data set {name!r}; have {sorted(IMAGE_DATASETS)}")
    needed = {part for part, _, _ in parse_split(split)}
    if needed - set(FILES):
        raise ValueError(f"split {split!r}: {IMAGE_DATASETS[name]} has the splits {sorted(FILES)}")
    return needed


def check_image_section(data) -> None:
    """An image-classification data section (name, train_split, eval_splits), before any work."""
    from jaxnets.config import ConfigError

    if data.name not in IMAGE_DATASETS:
        raise ConfigError(f"data.name = {data.name!r} is not one of {sorted(IMAGE_DATASETS)}")
    for key, split in [("data.train_split", data.train_split),
                       *((f"data.eval_splits.{k}", v) for k, v in data.get("eval_splits", {}).items())]:
        try:
            check_image_split(data.name, split)
        except ValueError as err:
            raise ConfigError(f"{key}: {err}") from None


def load_images(name: str, split: str) -> dict[str, np.ndarray]:
    """{'image': uint8 [N, 28, 28] (CIFAR-10: [N, 32, 32, 3]), 'label': int32 [N]} for a TFDS-style split."""
    needed = check_image_split(name, split)
    folder = download.ensure(name)
    if not folder.is_dir():
        return _read_tfds(name, split)
    read = (lambda part: _read_cifar(str(folder), part)) if name == "cifar10" else \
        (lambda part: _read_local(str(folder), name, part))
    try:
        data = select(split, {part: read(part) for part in needed})
    except ValueError as err:
        raise DataError(f"{IMAGE_DATASETS[name]}: {err}") from None
    if data["image"].shape[1:] != IMAGE_SHAPES[name]:  # e.g. a 20×20 IDX file under mnist/
        raise DataError(f"{folder}: {name} images are {'×'.join(map(str, IMAGE_SHAPES[name]))}, these are "
                        f"{'×'.join(map(str, data['image'].shape[1:]))} ({how_to_get(name)})")
    return data


def flat_pixels(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] -> float32 [N, 784] scaled to [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def pixels(images: np.ndarray, flatten: bool) -> np.ndarray:
    """float32 in [0, 1]: flat [N, H·W·C] for dense nets, or [N, H, W, C] (channels last) for conv nets."""
    if flatten:
        return flat_pixels(images)
    x = images.astype(np.float32) / 255.0
    return x if x.ndim == 4 else x[..., None]


def standardizer(train_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and sample std of the training inputs; a constant feature gets std 1
    (MLDataUtils' FeatureNormalizer, as the TensorFlow.jl post used)."""
    mean = train_x.mean(axis=0)
    std = train_x.std(axis=0, ddof=1)
    return mean, np.where(std > 0, std, 1.0).astype(np.float32)


def image_classification(name: str, train_split: str, eval_splits: dict[str, str],
                         standardize: bool = False, flatten: bool = True) -> tuple[dict, dict]:
    """({'x': [N, 784], 'y': [N]}, {eval name: same}); standardized with training statistics.
    flatten=False keeps images as [N, H, W, C]."""
    train = load_images(name, train_split)
    train_data = {"x": pixels(train["image"], flatten), "y": train["label"]}
    evals = {}
    for eval_name, split in eval_splits.items():
        arrays = load_images(name, split)
        evals[eval_name] = {"x": pixels(arrays["image"], flatten), "y": arrays["label"]}
    if standardize:
        mean, std = standardizer(train_data["x"])
        for d in (train_data, *evals.values()):
            d["x"] = ((d["x"] - mean) / std).astype(np.float32)
    return train_data, evals
