"""Batch normalization as pure functions: parameters (γ, β) are trained, population statistics
are explicit non-trainable state that the caller carries (in `TrainState.model_state`).

Training normalizes with the batch's own mean and (biased) variance over every axis but the
last, the feature axis (so the same code serves dense [B, F] and conv [B, H, W, F] inputs);
inference normalizes with the population statistics, an exponential moving average of the
batch statistics (Ioffe & Szegedy 2015; R2RT's `batch_norm_wrapper` uses decay 0.999).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["batch_norm_init", "batch_moments", "normalize", "ema_update", "batch_norm"]


def batch_norm_init(n_features: int) -> tuple[dict, dict]:
    """(params {'gamma': 1, 'beta': 0}, population stats {'mean': 0, 'var': 1})."""
    ones, zeros = jnp.ones((n_features,), jnp.float32), jnp.zeros((n_features,), jnp.float32)
    return {"gamma": ones, "beta": zeros}, {"mean": zeros, "var": ones}


def batch_moments(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean and biased variance over every axis but the last (tf.nn.moments)."""
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axis=axes)
    return mean, jnp.mean(jnp.square(x - mean), axis=axes)


def normalize(params: dict, x: jax.Array, mean: jax.Array, var: jax.Array, eps: float) -> jax.Array:
    return params["gamma"] * (x - mean) * jax.lax.rsqrt(var + eps) + params["beta"]


def ema_update(stats: dict, mean: jax.Array, var: jax.Array, decay: float) -> dict:
    """population ← decay · population + (1 − decay) · batch, without gradient."""
    mean, var = jax.lax.stop_gradient(mean), jax.lax.stop_gradient(var)
    return {"mean": decay * stats["mean"] + (1.0 - decay) * mean,
            "var": decay * stats["var"] + (1.0 - decay) * var}


def batch_norm(params: dict, stats: dict, x: jax.Array, train: bool, decay: float = 0.999,
               eps: float = 1e-3) -> tuple[jax.Array, dict]:
    """(normalized x, new population stats). train=True: batch statistics, stats updated by EMA;
    train=False: population statistics, stats returned unchanged."""
    if not train:
        return normalize(params, x, stats["mean"], stats["var"], eps), stats
    mean, var = batch_moments(x)
    return normalize(params, x, mean, var, eps), ema_update(stats, mean, var, decay)
