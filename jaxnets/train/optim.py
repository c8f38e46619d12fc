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

from jaxnets.nn.layers import SQUARES_SUFFIX


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


class CompanionAdamState(NamedTuple):
    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates


def _companions(tree) -> dict[str, str]:
    """{name: name + SQUARES_SUFFIX} for the top-level entries of a params (or gradients) dict
    that have a squared-gradient companion (`nn.layers.lookup_with_squares`)."""
    if not isinstance(tree, dict):
        return {}
    return {k: k + SQUARES_SUFFIX for k in tree if k + SQUARES_SUFFIX in tree}


def adam(learning_rate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> optax.GradientTransformation:
    """`optax.adam` (the very transformation, bit for bit), except for parameters whose gradient
    comes with a squared-gradient companion (`nn.layers.lookup_with_squares`: an embedding read
    as TF ≤ 1.0 read it): their second moment accumulates the companion — each looked-up row's
    sum of its occurrences' squared gradients, as TF's sparse Adam did — and the companion
    itself is never changed."""
    plain = optax.adam(learning_rate, b1, b2, eps)

    def init(params):
        if not _companions(params):
            return plain.init(params)
        zeros = jax.tree.map(jnp.zeros_like, params)
        return CompanionAdamState(jnp.zeros([], jnp.int32), zeros, zeros)

    def update(grads, state, params=None):
        pairs = _companions(grads)
        if not pairs:
            return plain.update(grads, state, params)
        squares = {k: (grads[pairs[k]] if k in pairs else jax.tree.map(jnp.square, g)) for k, g in grads.items()}
        mu = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, grads)
        nu = jax.tree.map(lambda v, q: b2 * v + (1 - b2) * q, state.nu, squares)
        count = optax.safe_increment(state.count)
        mu_hat = jax.tree.map(lambda m: m / (1 - b1 ** count), mu)
        nu_hat = jax.tree.map(lambda v: v / (1 - b2 ** count), nu)
        updates = jax.tree.map(lambda m, v: -learning_rate * m / (jnp.sqrt(v) + eps), mu_hat, nu_hat)
        updates = {k: (jax.tree.map(jnp.zeros_like, u) if k in pairs.values() else u) for k, u in updates.items()}
        return updates, CompanionAdamState(count, mu, nu)

    return optax.GradientTransformation(init, update)


OPTIMIZERS = {
    "sgd": lambda c: optax.inject_hyperparams(optax.sgd)(learning_rate=c.learning_rate),
    "momentum": lambda c: optax.inject_hyperparams(optax.sgd)(learning_rate=c.learning_rate, momentum=c.momentum),
    "dampened_momentum": lambda c: optax.inject_hyperparams(dampened_momentum)(
        learning_rate=c.learning_rate, alpha=c.momentum),
    "adam": lambda c: optax.inject_hyperparams(adam)(
        learning_rate=c.learning_rate, b1=c.get("b1", 0.9), b2=c.get("b2", 0.999), eps=c.get("eps", 1e-8)),
    "adagrad": lambda c: optax.inject_hyperparams(optax.adagrad)(
        learning_rate=c.learning_rate, initial_accumulator_value=c.get("initial_accumulator_value", 0.1),
        eps=c.get("eps", 1e-7)),
    "rmsprop": lambda c: optax.inject_hyperparams(optax.rmsprop)(
        learning_rate=c.learning_rate, decay=c.get("rms_decay", 0.9), eps=c.get("eps", 1e-8)),
}


def set_hyperparams(opt_state, values: dict[str, list[float]], n_runs: int):
    """`opt_state` (a stack of runs) with each run's own value of the injected hyperparameters
    `values` ({"learning_rate": [one per run]}). Every optimizer of OPTIMIZERS injects its
    hyperparameters (`optax.inject_hyperparams`), so they are state, not constants of the
    program: runs that differ only in them are one program. A hyperparameter given as a
    schedule (epoch_decay) is recomputed every step and cannot be set this way."""
    found = set()

    def is_injected(node):  # optax's InjectHyperparamsState and InjectStatefulHyperparamsState
        return hasattr(node, "hyperparams") and hasattr(node, "inner_state") and hasattr(node, "_replace")

    def replace(node):
        if not is_injected(node):
            return node
        hyper = dict(node.hyperparams)
        for name, per_run in values.items():
            if name in hyper:
                if len(per_run) != n_runs:
                    raise ValueError(f"{name}: {len(per_run)} values for {n_runs} runs")
                hyper[name] = jnp.asarray(per_run, dtype=jnp.asarray(hyper[name]).dtype).reshape(
                    jnp.shape(hyper[name]))
                found.add(name)
        return node._replace(hyperparams=hyper)

    new = jax.tree.map(replace, opt_state, is_leaf=is_injected)
    missing = set(values) - found
    if missing:
        raise ValueError(f"the optimizer injects no hyperparameter {sorted(missing)} (a schedule, or not its own: "
                         f"those runs cannot share one program)")
    return new


def epoch_decay(learning_rate: float, steps_per_epoch: int, after_epochs: int, factor: float):
    """Zaremba et al.'s schedule (TF's PTB tutorial): `learning_rate` for the first `after_epochs`
    epochs, then × `factor` at the start of every later epoch (epoch e, from 0: lr·factor^max(0,
    e + 1 − after_epochs))."""

    def schedule(count):
        epoch = count // steps_per_epoch
        return learning_rate * factor ** jnp.maximum(0, epoch + 1 - after_epochs).astype(jnp.float32)

    return schedule


def make_optimizer(config: ml_collections.ConfigDict, steps_per_epoch: int | None = None) -> optax.GradientTransformation:
    """optimizer.name in {sgd, momentum, dampened_momentum, adam, adagrad, rmsprop}; optionally
    optimizer.clip_global_norm (> 0: gradients rescaled to at most that global norm first),
    optimizer.clip_value (> 0: each entry clipped into [-clip_value, clip_value] first) and
    optimizer.decay_after_epochs / decay_factor (`epoch_decay`; the experiment must say how many
    steps an epoch has)."""
    if config.name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer.name {config.name!r}; have {sorted(OPTIMIZERS)}")
    if config.name in ("momentum", "dampened_momentum") and "momentum" not in config:
        raise ValueError(f"optimizer {config.name!r} needs optimizer.momentum")
    after, factor = config.get("decay_after_epochs", 0), config.get("decay_factor", 1.0)
    if after < 0 or not 0 < factor <= 1:
        raise ValueError(f"optimizer.decay_after_epochs = {after} must be >= 0 and optimizer.decay_factor = "
                         f"{factor} in (0, 1]")
    if after and factor != 1.0:
        if not steps_per_epoch:
            raise ValueError("optimizer.decay_after_epochs is set but this experiment does not say how many steps "
                             "an epoch has (make_optimizer(..., steps_per_epoch=...))")
        config = ml_collections.ConfigDict({**config.to_dict(), "learning_rate": epoch_decay(
            config.learning_rate, steps_per_epoch, after, factor)})
    optimizer = OPTIMIZERS[config.name](config)
    clip = config.get("clip_global_norm", 0.0)
    if clip < 0:
        raise ValueError(f"optimizer.clip_global_norm = {clip}: give a positive norm, or 0 for no clipping")
    if clip:
        optimizer = optax.chain(optax.clip_by_global_norm(clip), optimizer)
    value = config.get("clip_value", 0.0)  # each gradient entry into [-value, value] (min-char-rnn's np.clip)
    return optax.chain(optax.clip(value), optimizer) if value else optimizer
