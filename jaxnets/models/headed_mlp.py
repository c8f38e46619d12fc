"""An MLP with a softmax head after every hidden layer (R2RT's first-convergence bias): head k
reads hidden layer k, so greedy layer-wise training can train one head at a time."""

from __future__ import annotations

import jax

from jaxnets.nn import dense, dense_init, initializer


def init_headed_mlp(key: jax.Array, sizes: tuple[int, ...], n_classes: int, model) -> dict:
    """{'hidden_k', 'head_k'} for k = 0..L-1: hidden layer k and its softmax head."""
    w, b = initializer(model.w_init, model.w_scale), initializer(model.b_init, model.b_scale)
    keys = jax.random.split(key, 2 * (len(sizes) - 1))
    params = {}
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        params[f"hidden_{k}"] = dense_init(keys[2 * k], n_in, n_out, w, b)
        params[f"head_{k}"] = dense_init(keys[2 * k + 1], n_out, n_classes, w, b)
    return params


def head_logits(params: dict, x: jax.Array, act) -> list[jax.Array]:
    """The logits of every head: head k sits on hidden layer k."""
    logits = []
    for k in range(len(params) // 2):
        x = act(dense(params[f"hidden_{k}"], x))
        logits.append(dense(params[f"head_{k}"], x))
    return logits
