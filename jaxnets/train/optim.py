"""Optimizers chosen by name from the `optimizer` config section.

Every optimizer is wrapped in `optax.inject_hyperparams`, so its learning rate lives in the
optimizer state as an array: a sweep can give each seed its own value without recompiling.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax


class DampenedMomentumState(NamedTuple):
    velocity: optax.Updates


def dampened_momentum(learning_rate: float, alpha: float) -> optax.GradientTransformation:
    """The backprop FAQ's inertia rule Δw(t+1) = (1 − α)·η·δ·o + α·Δw(t), with δ·o = −∂E/∂w.

    Unlike classic momentum (v ← αv − ηg) the fresh gradient is damped by (1 − α), so α only
    smooths the step; its size in a steady slope stays η·g. α = 0 is plain gradient descent.
    """

    def init(params):
        return DampenedMomentumState(jax.tree.map(jnp.zeros_like, params))

    def update(grads, state, params=None):
        del params
        velocity = jax.tree.map(lambda v, g: alpha * v - (1.0 - alpha) * learning_rate * g, state.velocity, grads)
        return velocity, DampenedMomentumState(velocity)

    return optax.GradientTransformation(init, update)


OPTIMIZERS = {
    "sgd": lambda c: optax.inject_hyperparams(optax.sgd)(learning_rate=c.learning_rate),
    "momentum": lambda c: optax.inject_hyperparams(optax.sgd)(learning_rate=c.learning_rate, momentum=c.momentum),
    "dampened_momentum": lambda c: optax.inject_hyperparams(dampened_momentum)(
        learning_rate=c.learning_rate, alpha=c.momentum),
    "adam": lambda c: optax.inject_hyperparams(optax.adam)(
        learning_rate=c.learning_rate, b1=c.get("b1", 0.9), b2=c.get("b2", 0.999), eps=c.get("eps", 1e-8)),
    "adagrad": lambda c: optax.inject_hyperparams(optax.adagrad)(
        learning_rate=c.learning_rate, initial_accumulator_value=c.get("initial_accumulator_value", 0.1)),
    "rmsprop": lambda c: optax.inject_hyperparams(optax.rmsprop)(learning_rate=c.learning_rate),
}


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
    """optimizer.name in {sgd, momentum, dampened_momentum, adam, adagrad, rmsprop}."""
    if config.name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer.name {config.name!r}; have {sorted(OPTIMIZERS)}")
    if config.name in ("momentum", "dampened_momentum") and "momentum" not in config:
        raise ValueError(f"optimizer {config.name!r} needs optimizer.momentum")
    return OPTIMIZERS[config.name](config)
