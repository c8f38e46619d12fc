"""Styles of truncated backpropagation through time, as choices of where gradients stop.

TF-style (k1 = k2 = n): a window of n steps is unrolled and differentiated as a whole; the state
enters the window without gradient. Every error flows back to the window start, so the last step's
error gets n steps and the first step's one. That is `rnn.unroll` inside a loss whose carry
crosses windows in model state (never differentiated): nothing to write here.

True truncation (Williams & Peng's BPTT(k1 = 1, k2 = k); R2RT, "Styles of Truncated
Backpropagation"): in a window of L steps, the error of step t flows back exactly k steps — to the
steps max(0, t − k + 1) … t — and no further. `true_bptt_unroll` computes that gradient exactly in
one reverse pass: a custom VJP whose reverse loop carries the k live adjoint streams together, a
[k, *carry] ring buffer. At step t the stream of ℓ_t enters the slot t mod k, which the stream of
ℓ_{t+k} (now k steps old) leaves; the parameters and inputs of step t take the *sum* of the live
streams (the step's VJP is linear, so one product serves all k), and the streams move one step back
together (one batched VJP over the k axis). Cost per step: the cell's VJP on k·B rows instead of B,
no k-fold forward recomputation.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp

__all__ = ["true_bptt_unroll", "truncated_losses_by_brute_force", "gradient_by_distance"]


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 4, 5))
def true_bptt_unroll(step: Callable, params: Any, carry: Any, xs: jax.Array, k: int, scale: float = 1.0
                     ) -> tuple[Any, jax.Array]:
    """(final carry, ys [T, ...]) of `step(params, carry, x) -> (carry, y)` over xs [T, ...], the
    same values as `rnn.unroll`; its gradient is true truncated BPTT with truncation k: the
    cotangent of ys[t] reaches the parameters and inputs of steps t − k + 1 … t only, times
    `scale` (R2RT's post divides the summed per-step gradients by batch·k where a mean over the
    window divides by batch·L: scale = L / k reproduces it). The initial carry gets no gradient
    (it comes from the previous window), nor does the final carry pass any back."""
    return jax.lax.scan(lambda c, x: step(params, c, x), carry, xs)


def _forward(step, params, carry, xs, k, scale):
    def body(c, x):
        new, y = step(params, c, x)
        return new, (y, c)  # keep each step's input carry for the reverse pass

    final, (ys, carries_in) = jax.lax.scan(body, carry, xs)
    return (final, ys), (params, carries_in, xs)


def _backward(step, k, scale, residuals, cotangents):
    params, carries_in, xs = residuals
    _, dys = cotangents  # the final carry's cotangent is dropped: the next window stops it anyway
    length = xs.shape[0]
    zeros_like_carry = jax.tree.map(jnp.zeros_like, jax.tree.map(lambda c: c[0], carries_in))
    streams = jax.tree.map(lambda c: jnp.zeros((k,) + c.shape, c.dtype), zeros_like_carry)
    grads = jax.tree.map(jnp.zeros_like, params)

    def body(state, t):
        streams, grads = state
        carry, x, dy = (jax.tree.map(lambda a: a[t], tree) for tree in (carries_in, xs, dys))
        slot = t % k
        # ℓ_t's stream starts here with no cotangent on carry_t (only on y_t); it replaces ℓ_{t+k}'s.
        streams = jax.tree.map(lambda s: s.at[slot].set(0.0), streams)
        dys_k = jax.tree.map(lambda d: jnp.zeros((k,) + d.shape, d.dtype).at[slot].set(d), dy)
        total = jax.tree.map(lambda s: jnp.sum(s, axis=0), streams)
        _, vjp_px = jax.vjp(lambda p, x_: step(p, carry, x_), params, x)
        d_params, d_x = vjp_px((total, dy))  # linear: the sum of the live streams, once
        _, vjp_c = jax.vjp(lambda c: step(params, c, x), carry)
        streams = jax.vmap(lambda s, d: vjp_c((s, d))[0])(streams, dys_k)  # all streams one step back
        grads = jax.tree.map(lambda g, d: g + d, grads, d_params)
        return (streams, grads), d_x

    (_, grads), d_xs = jax.lax.scan(body, (streams, grads), jnp.arange(length - 1, -1, -1))
    d_xs = jax.tree.map(lambda d: d[::-1], d_xs)
    scaled = lambda tree: jax.tree.map(lambda g: g * scale, tree)  # noqa: E731
    return scaled(grads), zeros_like_carry, scaled(d_xs)


true_bptt_unroll.defvjp(_forward, _backward)


def truncated_losses_by_brute_force(step: Callable, params: Any, carry: Any, xs: jax.Array, k: int,
                                    loss_of_y: Callable[[jax.Array, int], jax.Array]) -> jax.Array:
    """Σ_t ℓ_t where each ℓ_t = loss_of_y(y_t, t) is computed from a graph cut k steps back: the
    carry entering step t − k + 1 is the forward value with its gradient stopped. Its gradient is
    the definition of true truncated BPTT (k forward copies: a reference for tests, not for use)."""
    length = xs.shape[0]
    carries = [carry]
    for t in range(length):
        carries.append(step(params, carries[-1], xs[t])[0])
    total = 0.0
    for t in range(length):
        start = max(0, t - k + 1)
        c = jax.tree.map(jax.lax.stop_gradient, carries[start])
        for s in range(start, t + 1):
            c, y = step(params, c, xs[s])
        total = total + loss_of_y(y, t)
    return total


def gradient_by_distance(step: Callable, params: dict, carry: Any, xs: jax.Array, loss_of_last: Callable,
                         name: str = "w") -> jax.Array:
    """[T] L1 norms of the gradient of the *last* step's loss with respect to `params[name]` as
    used at each step, nearest first: entry d − 1 is the step d − 1 steps before the last (R2RT's
    vanishing-gradient measurement). One backward pass: the parameter enters step t as
    params[name] + e_t with e_t = 0, and the gradient with respect to e_t is step t's share."""
    length = xs.shape[0]

    def last_loss(perturbations):
        def body(c, inputs):
            x, e = inputs
            return step({**params, name: params[name] + e}, c, x)

        _, ys = jax.lax.scan(body, carry, (xs, perturbations))
        return loss_of_last(ys[-1])

    shares = jax.grad(last_loss)(jnp.zeros((length,) + params[name].shape, params[name].dtype))
    return jnp.sum(jnp.abs(shares), axis=tuple(range(1, shares.ndim)))[::-1]
