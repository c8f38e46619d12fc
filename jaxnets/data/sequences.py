"""Synthetic sequences: R2RT's "RNNs in Tensorflow I" task.

X_t ~ Bernoulli(0.5); P(Y_t = 1) = 0.5 + 0.5·X_{t−3} − 0.25·X_{t−8}. A net that learns neither
dependency can do no better than the marginal's entropy, one that learns only the t−3 echo
the conditional entropy given X_{t−3}, one that learns both the entropy given both; these
three levels are computed exactly here by enumerating the four (X_{t−3}, X_{t−8}) cases.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["p_one", "expected_cross_entropies", "echo_series"]

ECHO, DAMP = 3, 8  # Y_t depends on X_{t-3} (+0.5) and X_{t-8} (-0.25)


def p_one(x_echo, x_damp):
    """P(Y_t = 1 | X_{t-3}, X_{t-8})."""
    return 0.5 + 0.5 * x_echo - 0.25 * x_damp


def _entropy(p: float) -> float:
    return float(-sum(q * np.log(q) for q in (p, 1.0 - p) if q > 0))


def expected_cross_entropies() -> dict[str, float]:
    """The three loss levels (nats): learning neither, the t−3 echo only, or both dependencies."""
    cases = list(itertools.product((0, 1), (0, 1)))  # (x_echo, x_damp), each with probability 1/4
    marginal = float(np.mean([p_one(a, b) for a, b in cases]))
    echo_only = np.mean([_entropy(np.mean([p_one(a, b) for b in (0, 1)])) for a in (0, 1)])
    both = np.mean([_entropy(p_one(a, b)) for a, b in cases])
    return {"neither": _entropy(marginal), "echo_only": float(echo_only), "both": float(both)}


def echo_series(key: jax.Array, length: int) -> tuple[jax.Array, jax.Array]:
    """(x, y) int32 [length]: a fresh series. As the post's numpy code, the first 8 steps look
    back around the end of the series (negative indexing wraps)."""
    kx, ky = jax.random.split(key)
    x = jax.random.bernoulli(kx, 0.5, (length,)).astype(jnp.int32)
    p = p_one(jnp.roll(x, ECHO), jnp.roll(x, DAMP))
    y = (jax.random.uniform(ky, (length,)) < p).astype(jnp.int32)
    return x, y
