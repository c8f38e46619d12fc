"""Dense layers, activations and dropout as pure functions over param pytrees."""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

__all__ = ["leaky_relu6", "ACTIVATIONS", "activation", "uniform_unit_scaling", "glorot_uniform", "INITIALIZERS",
           "initializer", "dense_init", "dense", "dense_softmax_cross_entropy", "dropout", "conv_init", "conv",
           "pool", "lookup_with_squares", "SQUARES_SUFFIX"]


def leaky_relu6(x: jax.Array) -> jax.Array:
    """0.01·x + min(max(x, 0), 6): ReLU6 with a leak so dead units can turn back on (White 2017)."""
    return 0.01 * x + jnp.clip(x, 0.0, 6.0)


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "identity": lambda x: x,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "relu6": jax.nn.relu6,
    "leaky_relu6": leaky_relu6,
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; have {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def uniform_unit_scaling(factor: float) -> Callable:
    """TensorFlow 0.x's default for `tf.get_variable` (until TF 1.0 made it Glorot-uniform):
    U(-m, m) with m = factor·sqrt(3 / input_size), input_size = the product of all dimensions
    but the last, so 1 for a bias vector (m = 1.73: biases start far from zero)."""

    def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        input_size = max(math.prod(shape[:-1]), 1)
        limit = factor * math.sqrt(3.0 / input_size)
        return jax.random.uniform(key, shape, dtype, -limit, limit)

    return init


def glorot_uniform(scale: float) -> Callable:
    """U(-m, m), m = sqrt(3·scale / fan_avg) (TF ≥ 1.0's `get_variable` default). A bias vector
    of n units counts fan_in = fan_out = n, as TensorFlow does (m = sqrt(3/n))."""
    matrix = jax.nn.initializers.variance_scaling(scale, "fan_avg", "uniform")

    def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        if len(shape) != 1:
            return matrix(key, shape, dtype)
        limit = math.sqrt(3.0 * scale / shape[0])
        return jax.random.uniform(key, shape, dtype, -limit, limit)

    return init


INITIALIZERS: dict[str, Callable[[float], Callable]] = {
    "normal": lambda scale: jax.nn.initializers.normal(stddev=scale),
    # U(-scale, scale) for every shape, biases too (Zaremba et al. / TF's PTB tutorial: scale 0.1)
    "uniform": lambda scale: lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -scale, scale),
    "truncated_normal": lambda scale: jax.nn.initializers.truncated_normal(stddev=scale),
    "lecun_normal": lambda scale: jax.nn.initializers.variance_scaling(scale, "fan_in", "truncated_normal"),
    "glorot_uniform": glorot_uniform,
    "he_normal": lambda scale: jax.nn.initializers.variance_scaling(2.0 * scale, "fan_in", "truncated_normal"),
    "uniform_unit_scaling": uniform_unit_scaling,
    "zeros": lambda scale: jax.nn.initializers.zeros,
    "constant": lambda scale: jax.nn.initializers.constant(scale),  # every entry = scale (e.g. biases 0.1)
}


def initializer(name: str, scale: float) -> Callable:
    """'normal' draws N(0, scale²) (TensorFlow.jl's default with scale 0.01); the fan-scaled
    schemes multiply their variance by `scale`."""
    if name not in INITIALIZERS:
        raise ValueError(f"unknown initializer {name!r}; have {sorted(INITIALIZERS)}")
    return INITIALIZERS[name](scale)


def dense_init(key: jax.Array, n_in: int, n_out: int, w_init: Callable, b_init: Callable) -> dict:
    w_key, b_key = jax.random.split(key)
    return {"w": w_init(w_key, (n_in, n_out), jnp.float32), "b": b_init(b_key, (n_out,), jnp.float32)}


def dense(params: dict, x: jax.Array) -> jax.Array:
    return x @ params["w"] + params["b"]


def dense_softmax_cross_entropy(params: dict, x: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example cross-entropy of softmax(dense(params, x)) against integer labels [...]: the
    value of optax's `softmax_cross_entropy_with_integer_labels` on the logits, written for a wide
    softmax (a 10,000-word readout). The bias rides in the matmul as a row of ones and each label's
    logit is a dot with its weight column, so the [..., V] logits feed only the log-sum-exp: a
    broadcast bias add and a gather from the logits made XLA:CPU fuse both into the softmax and ran
    the PTB readout's gradient 1.6× slower (benchmarks/README.md)."""
    w = jnp.concatenate([params["w"], params["b"][None]], axis=0)  # [n_in + 1, V]
    rows = x.reshape(-1, x.shape[-1])  # 2-D: a weight gradient contracting two axes is slower still
    rows = jnp.concatenate([rows, jnp.ones((rows.shape[0], 1), x.dtype)], axis=1)
    label_logits = jnp.sum(rows * jnp.take(w, labels.reshape(-1), axis=1).T, axis=1)
    return (jax.nn.logsumexp(rows @ w, axis=1) - label_logits).reshape(labels.shape)


SQUARES_SUFFIX = "_sq"  # params[name + SQUARES_SUFFIX]: the companion of params[name] (`lookup_with_squares`)


@jax.custom_vjp
def lookup_with_squares(table: jax.Array, squares: jax.Array, ids: jax.Array) -> jax.Array:
    """table[ids]. In the backward, `squares` (a zero array shaped as `table`, kept in the params
    as table's companion and never trained) receives, per row, the sum of the squared gradients
    of that row's occurrences in `ids` — not the square of their sum, which is table's gradient.
    TF ≤ 1.0's Adam took that sum for an embedding's second moment: the gradient of a lookup
    reached it as IndexedSlices with an entry per occurrence, and `_apply_sparse` scatter-added
    their squares (`train.optim.adam` reads the companion so)."""
    del squares
    return table[ids]


def _lookup_fwd(table, squares, ids):
    del squares
    return table[ids], (ids, table)  # the table only for its shape and dtype


def _lookup_bwd(residual, g):
    ids, table = residual
    rows, g = ids.reshape(-1), g.reshape(-1, table.shape[-1])
    zeros = jnp.zeros_like(table)
    return zeros.at[rows].add(g), zeros.at[rows].add(g * g), None


lookup_with_squares.defvjp(_lookup_fwd, _lookup_bwd)


def dropout(key: jax.Array, x: jax.Array, keep_prob: float) -> jax.Array:
    """Inverted dropout: keep each unit with probability keep_prob and scale by 1/keep_prob,
    so evaluation (no dropout) needs no rescaling."""
    keep = jax.random.bernoulli(key, keep_prob, x.shape)
    return jnp.where(keep, x / keep_prob, 0.0)


def conv_init(key: jax.Array, size: int, c_in: int, c_out: int, w_init: Callable, b_init: Callable) -> dict:
    """A `size` × `size` convolution, kernel [size, size, c_in, c_out] (HWIO)."""
    w_key, b_key = jax.random.split(key)
    return {"w": w_init(w_key, (size, size, c_in, c_out), jnp.float32), "b": b_init(b_key, (c_out,), jnp.float32)}


def conv(params: dict, x: jax.Array, padding: str = "SAME") -> jax.Array:
    """2-D convolution, stride 1, of channels-last images [B, H, W, C]."""
    y = jax.lax.conv_general_dilated(x, params["w"], (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + params["b"]


def pool(x: jax.Array, kind: str, size: int, stride: int) -> jax.Array:
    """'max' or 'avg' pooling over H and W of [B, H, W, C], VALID padding (tf.layers' default)."""
    window, strides = (1, size, size, 1), (1, stride, stride, 1)
    if kind == "max":
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, strides, "VALID")
    if kind == "avg":
        return jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, "VALID") / (size * size)
    raise ValueError(f"unknown pooling {kind!r}; have 'max', 'avg'")
