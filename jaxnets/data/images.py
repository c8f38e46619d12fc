"""MNIST and Fashion-MNIST as NumPy arrays.

Primary source: the published IDX files under `$JAXNETS_DATA_DIR/<name>/`. If that folder does
not exist, tensorflow-datasets is asked for the same data set (which needs network access
and, to prepare MNIST, TensorFlow: `pip install -e ".[tfds]"`). A folder that exists but holds a
missing or corrupt file is an error -- never a silent switch to other data.
"""

from __future__ import annotations

import functools
import os
import pathlib

import numpy as np

from jaxnets.data.idx import DataError, read_idx
from jaxnets.data.splits import parse_split, select

DATA_DIR_ENV = "JAXNETS_DATA_DIR"
IMAGE_DATASETS = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
FILES = {  # split -> (images, labels), the published file names
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
SOURCES = {
    "mnist": "http://yann.lecun.com/exdb/mnist/ (or any mirror of the four *-ubyte.gz files)",
    "fashion_mnist": "https://github.com/zalandoresearch/fashion-mnist (data/fashion/*.gz)",
}


def data_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get(DATA_DIR_ENV, pathlib.Path.home() / "jaxnets_data")).expanduser()


def how_to_get(name: str) -> str:
    return (f"Put the published IDX files of {IMAGE_DATASETS[name]} ({', '.join(sum(FILES.values(), ()))}) "
            f"in $JAXNETS_DATA_DIR/{name}/ (JAXNETS_DATA_DIR={data_dir()}); they are at {SOURCES[name]}.")


@functools.lru_cache(maxsize=8)
def _read_local(folder: str, name: str, split: str) -> dict[str, np.ndarray]:
    images_file, labels_file = FILES[split]
    images = read_idx(pathlib.Path(folder, images_file), 0x00000803, how_to_get(name))
    labels = read_idx(pathlib.Path(folder, labels_file), 0x00000801, how_to_get(name))
    if len(images) != len(labels):
        raise DataError(f"{folder}/{images_file} has {len(images)} images but {labels_file} has "
                        f"{len(labels)} labels. {how_to_get(name)}")
    if labels.max(initial=0) > 9:
        raise DataError(f"{folder}/{labels_file} holds label {labels.max()} > 9 (corrupt). {how_to_get(name)}")
    return {"image": images, "label": labels.astype(np.int32)}


def _read_tfds(name: str, split: str) -> dict[str, np.ndarray]:
    """The same data set through tensorflow-datasets' random-access `data_source` (no TF to read)."""
    try:
        import tensorflow_datasets as tfds
        source = tfds.data_source(name, split=split, download=True)
        records = [source[i] for i in range(len(source))]
    except Exception as err:  # tfds raises many kinds; all mean "could not get the data"
        raise DataError(
            f"{IMAGE_DATASETS[name]}: the folder {data_dir() / name} does not exist and tensorflow-datasets "
            f"could not provide it ({type(err).__name__}: {err}). {how_to_get(name)}") from err
    images = np.stack([np.asarray(r["image"]).reshape(28, 28) for r in records]).astype(np.uint8)
    labels = np.asarray([r["label"] for r in records], dtype=np.int32)
    return {"image": images, "label": labels}


def load_images(name: str, split: str) -> dict[str, np.ndarray]:
    """{'image': uint8 [N, 28, 28], 'label': int32 [N]} for a TFDS-style split of `name`."""
    if name not in IMAGE_DATASETS:
        raise ValueError(f"unknown image data set {name!r}; have {sorted(IMAGE_DATASETS)}")
    folder = data_dir() / name
    if not folder.is_dir():
        return _read_tfds(name, split)
    needed = {part for part, _, _ in parse_split(split)}
    unknown = needed - set(FILES)
    if unknown:
        raise ValueError(f"split {split!r}: {IMAGE_DATASETS[name]} has the splits {sorted(FILES)}")
    return select(split, {part: _read_local(str(folder), name, part) for part in needed})


def flat_pixels(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] -> float32 [N, 784] scaled to [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def standardizer(train_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and sample std of the training inputs; a constant feature gets std 1
    (MLDataUtils' FeatureNormalizer, as the TensorFlow.jl post used)."""
    mean = train_x.mean(axis=0)
    std = train_x.std(axis=0, ddof=1)
    return mean, np.where(std > 0, std, 1.0).astype(np.float32)


def image_classification(name: str, train_split: str, eval_splits: dict[str, str],
                         standardize: bool = False) -> tuple[dict, dict]:
    """({'x': [N, 784], 'y': [N]}, {eval name: same}); standardized with training statistics."""
    train = load_images(name, train_split)
    train_data = {"x": flat_pixels(train["image"]), "y": train["label"]}
    evals = {}
    for eval_name, split in eval_splits.items():
        arrays = load_images(name, split)
        evals[eval_name] = {"x": flat_pixels(arrays["image"]), "y": arrays["label"]}
    if standardize:
        mean, std = standardizer(train_data["x"])
        for d in (train_data, *evals.values()):
            d["x"] = ((d["x"] - mean) / std).astype(np.float32)
    return train_data, evals
