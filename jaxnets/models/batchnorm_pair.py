"""R2RT's batch-normalization pair: one sigmoid MLP without and one with batch normalization,
from the same initial weights, and the one-example-at-a-time inference demonstration."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from jaxnets.config import ConfigError
from jaxnets.nn import activation, batch_norm, batch_norm_init, initializer


def init_pair(key: jax.Array, sizes: tuple[int, ...], model: ml_collections.ConfigDict) -> tuple[dict, dict]:
    """(params {'plain', 'bn'}, bn population stats) with the same initial weights in both nets
    (the BN net's output layer: the same draw, or U[0, 1) with model.bn_output_init=uniform).
    The plain net has zero biases; the BN net has no bias before BN (β replaces it) and a zero
    output bias unless model.output_bias is false."""
    w_init = initializer(model.w_init, model.w_scale)
    keys = jax.random.split(key, len(sizes) - 1)
    weights = [w_init(k, (n_in, n_out), jnp.float32) for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:])]
    plain = {f"dense_{i}": {"w": w, "b": jnp.zeros(w.shape[1])} for i, w in enumerate(weights)}
    bn, stats = {}, {}
    for i, w in enumerate(weights[:-1]):
        bn[f"bn_{i}"], stats[f"bn_{i}"] = batch_norm_init(w.shape[1])
        bn[f"dense_{i}"] = {"w": w}
    out = len(weights) - 1
    w_out = weights[-1]
    if model.bn_output_init == "uniform":  # a fresh U[0, 1) draw, as tf.random_uniform
        w_out = jax.random.uniform(jax.random.fold_in(key, 1), w_out.shape, jnp.float32)
    elif model.bn_output_init != "shared":
        raise ConfigError(f"model.bn_output_init = {model.bn_output_init!r} is not one of ['shared', 'uniform']")
    bn[f"dense_{out}"] = {"w": w_out, **({"b": jnp.zeros(sizes[-1])} if model.output_bias else {})}
    return {"plain": plain, "bn": bn}, stats


def plain_forward(params: dict, x: jax.Array, act) -> tuple[jax.Array, list[jax.Array]]:
    """(logits, pre-activations of each hidden layer)."""
    n = len(params)
    pre = []
    for i in range(n - 1):
        z = x @ params[f"dense_{i}"]["w"] + params[f"dense_{i}"]["b"]
        pre.append(z)
        x = act(z)
    return x @ params[f"dense_{n - 1}"]["w"] + params[f"dense_{n - 1}"]["b"], pre


def bn_forward(params: dict, stats: dict, x: jax.Array, act, train: bool, model: ml_collections.ConfigDict
               ) -> tuple[jax.Array, list[jax.Array], dict]:
    """(logits, BN outputs of each hidden layer (pre-activation), new stats). train=True
    normalizes with the batch's statistics (and updates the EMA), else with the population's."""
    n_hidden = len(stats)
    pre, new_stats = [], {}
    for i in range(n_hidden):
        z = x @ params[f"dense_{i}"]["w"]
        z, new_stats[f"bn_{i}"] = batch_norm(params[f"bn_{i}"], stats[f"bn_{i}"], z, train, model.bn_decay, model.bn_eps)
        pre.append(z)
        x = act(z)
    out = params[f"dense_{n_hidden}"]
    return x @ out["w"] + out.get("b", 0.0), pre, new_stats


def one_at_a_time(params: dict, stats: dict, x: jax.Array, y: jax.Array, model: ml_collections.ConfigDict
                  ) -> dict[str, jax.Array]:
    """The post's inference demonstration: classify each example alone, as a batch of one, with
    its own batch statistics (each feature normalizes to β, so every input gets the same output)
    and with the population statistics. Returns per-mode accuracy and predicted classes."""
    act = activation(model.activation)
    out = {}
    for mode, train in (("batch_stats", True), ("population", False)):
        logits = jax.vmap(lambda xi: bn_forward(params, stats, xi[None], act, train, model)[0][0])(x)
        predictions = jnp.argmax(logits, -1)
        out[f"single_example_{mode}_accuracy"] = jnp.mean(predictions == y)
        out[f"single_example_{mode}_predictions"] = predictions
    return out
