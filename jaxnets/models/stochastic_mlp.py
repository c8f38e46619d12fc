"""MLP classifiers whose hidden units are discrete stochastic neurons (binary, ternary, one-hot)
or their real-valued baselines (sigmoid, tanh), as in R2RT's "Binary Stochastic Neurons in
Tensorflow" and "Beyond Binary".

The neuron, estimator and mode are Python-level (static) choices; slope/temperature and the
noise are traced inputs. Parameters are `jaxnets.models.init_mlp`'s. `forward` returns each
hidden layer's pre-activation and output so that REINFORCE can attach its estimator to them in
the loss.
"""

from __future__ import annotations

import dataclasses
import jax
import jax.numpy as jnp

from jaxnets.nn import dense
from jaxnets.nn.stochastic import (binary_straight_through, one_hot_straight_through, reinforce_sample,
                                   ternary_straight_through)

NEURONS = ("sigmoid", "tanh", "binary", "ternary", "one_hot")
DISCRETE = ("binary", "ternary", "one_hot")


@dataclasses.dataclass(frozen=True)
class NeuronSpec:
    kind: str = "binary"  # one of NEURONS
    estimator: str = "sigmoid_adjusted"  # binary only: pass_through, sigmoid_adjusted or reinforce
    one_hot_dim: int = 5  # one_hot only: choices per neuron; a layer of width w has w / dim neurons

    def __post_init__(self):
        if self.kind not in NEURONS:
            raise ValueError(f"unknown neuron {self.kind!r}; have {list(NEURONS)}")


def neuron(spec: NeuronSpec, a: jax.Array, key: jax.Array | None, slope: jax.Array) -> jax.Array:
    """One hidden layer's output from its pre-activation `a`; stochastic when `key` is given,
    deterministic (round / argmax) when it is None. `slope` multiplies the binary neuron's
    sigmoid argument; the one-hot neuron's temperature is 1 / slope."""
    if spec.kind == "sigmoid":
        return jax.nn.sigmoid(a)
    if spec.kind == "tanh":
        return jnp.tanh(a)
    u = None if key is None else jax.random.uniform(key, a.shape, a.dtype)
    if spec.kind == "ternary":
        return ternary_straight_through(a, u)
    if spec.kind == "one_hot":
        return one_hot_straight_through(a, u, 1.0 / slope, spec.one_hot_dim)
    if spec.estimator == "reinforce":
        return reinforce_sample(a, u)
    return binary_straight_through(a, u, slope, spec.estimator == "sigmoid_adjusted")


def forward(params: dict, x: jax.Array, spec: NeuronSpec, key: jax.Array | None,
            slope: jax.Array = 1.0) -> tuple[jax.Array, list[tuple[jax.Array, jax.Array]]]:
    """(logits, [(pre-activation, output) of each hidden layer]). Stochastic iff key is given."""
    n = len(params)
    hidden = []
    for i in range(n - 1):
        a = dense(params[f"dense_{i}"], x)
        x = neuron(spec, a, None if key is None else jax.random.fold_in(key, i), slope)
        hidden.append((a, x))
    return dense(params[f"dense_{n - 1}"], x), hidden
