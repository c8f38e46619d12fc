"""Data sets as arrays: MNIST-like images (IDX files), later char/word corpora and synthetic sequences."""

from jaxnets.data.idx import DataError, read_idx, write_idx
from jaxnets.data.images import (DATA_DIR_ENV, IMAGE_DATASETS, data_dir, flat_pixels, image_classification,
                                 load_images, standardizer)
from jaxnets.data.splits import parse_split, select

__all__ = ["DATA_DIR_ENV", "DataError", "IMAGE_DATASETS", "data_dir", "flat_pixels", "image_classification",
           "load_images", "parse_split", "standardizer",
           "read_idx", "select", "write_idx"]
