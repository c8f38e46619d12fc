"""Multi-layer perceptrons: the MNIST classifiers and the bottleneck autoencoder."""

from __future__ import annotations

from typing import Sequence

import jax

from jaxnets.nn import activation, dense, dense_init, dropout, initializer


def init_mlp(key: jax.Array, sizes: Sequence[int], w_init: str = "normal", w_scale: float = 0.01,
             b_init: str = "normal", b_scale: float = 0.01) -> dict:
    """Params {'dense_0': {'w', 'b'}, ...} for the layer sizes [n_in, h_1, ..., n_out]."""
    keys = jax.random.split(key, len(sizes) - 1)
    w, b = initializer(w_init, w_scale), initializer(b_init, b_scale)
    return {f"dense_{i}": dense_init(k, n_in, n_out, w, b)
            for i, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:]))}


def mlp_activations(params: dict, x: jax.Array, hidden: str, output: str = "identity",
                    keep_prob: float = 1.0, key: jax.Array | None = None) -> list[jax.Array]:
    """Every layer's output, input excluded. Dropout (when `key` is given and keep_prob < 1)
    follows each hidden activation, as in the TensorFlow.jl post."""
    hidden_fn, output_fn = activation(hidden), activation(output)
    n = len(params)
    outputs = []
    for i in range(n):
        x = dense(params[f"dense_{i}"], x)
        if i < n - 1:
            x = hidden_fn(x)
            if key is not None and keep_prob < 1.0:
                x = dropout(jax.random.fold_in(key, i), x, keep_prob)
        else:
            x = output_fn(x)
        outputs.append(x)
    return outputs


def mlp(params: dict, x: jax.Array, hidden: str, output: str = "identity",
        keep_prob: float = 1.0, key: jax.Array | None = None) -> jax.Array:
    return mlp_activations(params, x, hidden, output, keep_prob, key)[-1]
