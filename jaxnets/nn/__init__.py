"""Pure building blocks: layers, activations, dropout, estimators, normalization, RNN cells."""

from jaxnets.nn.layers import (ACTIVATIONS, INITIALIZERS, activation, conv, conv_init, dense, dense_init,
                               dense_softmax_cross_entropy, dropout, initializer, leaky_relu6, pool)
from jaxnets.nn import rnn
from jaxnets.nn import lstm_variants  # registers the pseudo-LSTM architectures in rnn.CELLS
from jaxnets.nn.normalization import batch_norm, batch_norm_init

__all__ = ["ACTIVATIONS", "INITIALIZERS", "activation", "batch_norm", "batch_norm_init", "conv", "conv_init", "dense",
           "dense_init", "dense_softmax_cross_entropy", "dropout", "initializer", "leaky_relu6", "lstm_variants", "pool", "rnn"]
