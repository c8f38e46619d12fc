"""Data sets as arrays: MNIST-like images and CIFAR-10 (`images`), character corpora and their
TF-style row layout (`text`), the RNN I series and its exact expected losses (`sequences`)."""

from jaxnets.data.idx import DataError, read_idx, write_idx
from jaxnets.data.images import (DATA_DIR_ENV, IMAGE_DATASETS, data_dir, flat_pixels, image_classification,
                                 load_images, standardizer)
from jaxnets.data.splits import parse_split, select

__all__ = ["DATA_DIR_ENV", "DataError", "IMAGE_DATASETS", "data_dir", "flat_pixels", "image_classification",
           "load_images", "parse_split", "standardizer",
           "read_idx", "select", "write_idx"]
