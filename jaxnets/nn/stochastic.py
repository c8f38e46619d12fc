"""Discrete stochastic neurons and their gradient estimators, each a `jax.custom_vjp`.

The forward pass emits discrete values (binary {0, 1}, ternary {-1, 0, 1}, one-hot vectors); the
backward pass is an estimator, written out explicitly so that tests can hold it to its formula:

- straight-through "pass-through": d out / d a := 1 (identity through sigmoid and sampling);
- straight-through "sigmoid-adjusted": d out / d a := d sigmoid(slope * a) / d a;
- REINFORCE: d L / d a := (b - p)(L - baseline), ignoring the upstream gradient entirely; the
  learning signal L is the per-example loss, which is only known after the forward pass, so it
  enters through `reinforce_tap` (a zero in the forward pass, the estimator in the backward);
- ternary: f(a) = 1.5 tanh(a) + 0.5 tanh(-3a), rounded or stochastically rounded, backward f'(a);
- one-hot: a categorical sample (or argmax) of softmax(logits / temperature), backward through the
  softmax probabilities.

Randomness comes in as explicit uniform noise `u` (same shape as the output), so every neuron is
a deterministic function of its inputs: stochastic = `u ~ U[0, 1)`, deterministic = pass
`u=None`. Slope and temperature are traced scalars: annealing them never recompiles.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

__all__ = ["ESTIMATORS", "binary_straight_through", "reinforce_sample", "reinforce_tap",
           "init_reinforce_baseline", "reinforce_baseline", "ternary_activation", "ternary_activation_grad",
           "ternary_straight_through", "one_hot_straight_through"]

ESTIMATORS = ("pass_through", "sigmoid_adjusted", "reinforce")


def _sample_or_round(p: jax.Array, u: jax.Array | None) -> jax.Array:
    """ceil(p - u) with u ~ U[0, 1): the integer above p with probability frac(p), else the one
    below (for p in [0, 1]: Bernoulli(p)); round(p) when u is None. `u` never equals 1 and
    ceil(p - u) = 1 exactly when u < p."""
    return jnp.round(p) if u is None else jnp.ceil(p - u)


# --- binary neurons, straight-through -------------------------------------------------------

@partial(jax.custom_vjp, nondiff_argnums=(3,))
def binary_straight_through(a: jax.Array, u: jax.Array | None, slope: jax.Array, adjusted: bool) -> jax.Array:
    """b = ceil(sigmoid(slope * a) - u) (or round(...) when u is None) in {0, 1}.

    Backward: identity (`adjusted=False`, the pass-through estimator) or the derivative of
    sigmoid(slope * a) (`adjusted=True`, sigmoid-adjusted). No gradient reaches u or slope."""
    return _sample_or_round(jax.nn.sigmoid(slope * a), u)


def _binary_st_fwd(a, u, slope, adjusted):
    return binary_straight_through(a, u, slope, adjusted), (a, u, slope)


def _binary_st_bwd(adjusted, residuals, g):
    a, u, slope = residuals
    if adjusted:
        p = jax.nn.sigmoid(slope * a)
        g = g * slope * p * (1.0 - p)
    return g, None if u is None else jnp.zeros_like(u), jnp.zeros_like(slope)


binary_straight_through.defvjp(_binary_st_fwd, _binary_st_bwd)


# --- binary neurons, REINFORCE ----------------------------------------------------------------

def reinforce_sample(a: jax.Array, u: jax.Array | None) -> jax.Array:
    """The forward half of a REINFORCE neuron: b ~ Bernoulli(sigmoid(a)) (round when u is None).
    Nothing flows back through b: the layer learns only from `reinforce_tap`."""
    return jax.lax.stop_gradient(_sample_or_round(jax.nn.sigmoid(a), u))


@jax.custom_vjp
def reinforce_tap(a: jax.Array, b: jax.Array, signal: jax.Array) -> jax.Array:
    """Zeros of shape a.shape[:-1] (one per example, to be added to the per-example loss).

    Backward: d/da = ct[..., None] * (b - sigmoid(a)) * signal, where `signal` = L - baseline
    (per example, or per example and unit). With the loss summed over examples the gradient
    w.r.t. a_nj is the REINFORCE estimate (b_nj - p_nj)(L_n - baseline_j); under a mean it is
    divided by the batch size, as the loss is."""
    del b, signal
    return jnp.zeros(a.shape[:-1], a.dtype)


def _tap_fwd(a, b, signal):
    return reinforce_tap(a, b, signal), (a, b, signal)


def _tap_bwd(residuals, ct):
    a, b, signal = residuals
    grad_a = ct[..., None] * (b - jax.nn.sigmoid(a)) * signal
    return grad_a, jnp.zeros_like(b), jnp.zeros_like(signal)


reinforce_tap.defvjp(_tap_fwd, _tap_bwd)


def init_reinforce_baseline(n_units: int) -> dict:
    """EMA state of the variance-adjusted baseline, as in the post: numerator 0, denominator 1."""
    return {"num": jnp.zeros((n_units,), jnp.float32), "den": jnp.ones((n_units,), jnp.float32)}


def reinforce_baseline(state: dict, b: jax.Array, p: jax.Array, loss: jax.Array,
                       decay: float = 0.95, eps: float = 1e-4) -> tuple[jax.Array, dict]:
    """Per-unit baseline L̄ = EMA[(b - p)² L] / (EMA[(b - p)²] + eps), the minimum-variance
    constant baseline (Bengio et al. 2013) estimated online. Each batch contributes its mean;
    the baseline used for this batch includes this batch's term. Returns (L̄ [units], new state)."""
    b, p, loss = jax.lax.stop_gradient((b, p, loss))
    sq = (b - p) ** 2  # [batch, units]
    num = decay * state["num"] + (1.0 - decay) * jnp.mean(sq * loss[:, None], axis=0)
    den = decay * state["den"] + (1.0 - decay) * jnp.mean(sq, axis=0)
    return num / (den + eps), {"num": num, "den": den}


# --- ternary neurons ----------------------------------------------------------------------------

def ternary_activation(a: jax.Array) -> jax.Array:
    """f(a) = 1.5 tanh(a) + 0.5 tanh(-3a): monotone onto (-1, 1), flat near 0 and ±1."""
    return 1.5 * jnp.tanh(a) + 0.5 * jnp.tanh(-3.0 * a)


def ternary_activation_grad(a: jax.Array) -> jax.Array:
    """f'(a) = 1.5 (1 - tanh²(a)) - 1.5 (1 - tanh²(3a))."""
    return 1.5 * (1.0 - jnp.tanh(a) ** 2) - 1.5 * (1.0 - jnp.tanh(3.0 * a) ** 2)


@jax.custom_vjp
def ternary_straight_through(a: jax.Array, u: jax.Array | None) -> jax.Array:
    """t = ceil(f(a) - u) in {-1, 0, 1}: stochastic rounding between the integers around f(a),
    E[t] = f(a); round(f(a)) when u is None. Backward: f'(a), straight through the rounding."""
    return _sample_or_round(ternary_activation(a), u)


def _ternary_fwd(a, u):
    return ternary_straight_through(a, u), (a, u)


def _ternary_bwd(residuals, g):
    a, u = residuals
    return g * ternary_activation_grad(a), None if u is None else jnp.zeros_like(u)


ternary_straight_through.defvjp(_ternary_fwd, _ternary_bwd)


# --- one-hot neurons ----------------------------------------------------------------------------

@partial(jax.custom_vjp, nondiff_argnums=(3,))
def one_hot_straight_through(logits: jax.Array, u: jax.Array | None, temperature: jax.Array, dim: int) -> jax.Array:
    """Logits [..., n * dim] read as n neurons of `dim` choices; each emits a one-hot vector:
    a sample of softmax(logits / temperature) (Gumbel-max with the uniform noise u), or the
    argmax when u is None. Backward: through the softmax probabilities (straight through the
    selection). Output shape = logits shape."""
    z = logits.reshape(*logits.shape[:-1], -1, dim) / temperature
    if u is not None:
        u = u.reshape(z.shape)
        z = z - jnp.log(-jnp.log(jnp.clip(u, jnp.finfo(u.dtype).tiny, 1.0)))  # + Gumbel(0, 1) noise
    return jax.nn.one_hot(jnp.argmax(z, axis=-1), dim, dtype=logits.dtype).reshape(logits.shape)


def _one_hot_fwd(logits, u, temperature, dim):
    return one_hot_straight_through(logits, u, temperature, dim), (logits, u, temperature)


def _one_hot_bwd(dim, residuals, g):
    logits, u, temperature = residuals
    p = jax.nn.softmax(logits.reshape(*logits.shape[:-1], -1, dim) / temperature, axis=-1)
    g = g.reshape(p.shape)
    grad = p * (g - jnp.sum(g * p, axis=-1, keepdims=True)) / temperature
    return grad.reshape(logits.shape), None if u is None else jnp.zeros_like(u), jnp.zeros_like(temperature)


one_hot_straight_through.defvjp(_one_hot_fwd, _one_hot_bwd)
