"""Pure building blocks: layers, activations, dropout (later: estimators, normalization, RNN cells)."""

from jaxnets.nn.layers import (ACTIVATIONS, INITIALIZERS, activation, dense, dense_init, dropout, initializer,
                               leaky_relu6)

__all__ = ["ACTIVATIONS", "INITIALIZERS", "activation", "dense", "dense_init", "dropout", "initializer", "leaky_relu6"]
