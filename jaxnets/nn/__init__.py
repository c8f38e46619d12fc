"""Pure building blocks: layers, activations, dropout, estimators, normalization (later: RNN cells)."""

from jaxnets.nn.layers import (ACTIVATIONS, INITIALIZERS, activation, dense, dense_init, dropout, initializer,
                               leaky_relu6)
from jaxnets.nn.normalization import batch_norm, batch_norm_init

__all__ = ["ACTIVATIONS", "INITIALIZERS", "activation", "batch_norm", "batch_norm_init", "dense", "dense_init", "dropout",
           "initializer", "leaky_relu6"]
