"""Batch normalization: the layer's three modes against their formulas, and the experiment's task."""

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxnets.experiments.batchnorm import batchnorm_task
from jaxnets.models.batchnorm_pair import bn_forward, init_pair, one_at_a_time
from jaxnets.nn import batch_norm, batch_norm_init
from tests.conftest import ROOT


def _x(shape=(32, 6), seed=0):
    return jax.random.normal(jax.random.PRNGKey(seed), shape) * 3.0 + 2.0


def test_train_mode_normalizes_over_the_batch():
    params, stats = batch_norm_init(6)
    params = {"gamma": jnp.arange(1.0, 7.0), "beta": jnp.linspace(-1, 1, 6)}
    x = _x()
    y, _ = batch_norm(params, stats, x, train=True, eps=1e-3)
    chex.assert_shape(y, x.shape)
    z = (y - params["beta"]) / params["gamma"]
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.var(0), np.var(np.asarray(x), 0) / (np.var(np.asarray(x), 0) + 1e-3), rtol=1e-5)


def test_conv_shaped_input_normalizes_per_channel():
    params, stats = batch_norm_init(4)
    x = _x((8, 5, 5, 4))
    y, new = batch_norm(params, stats, x, train=True)
    np.testing.assert_allclose(y.mean((0, 1, 2)), 0.0, atol=1e-5)
    chex.assert_shape(new["mean"], (4,))


def test_eval_mode_uses_population_statistics_and_leaves_them():
    params, _ = batch_norm_init(6)
    stats = {"mean": jnp.full(6, 2.0), "var": jnp.full(6, 4.0)}
    x = _x()
    y, same = batch_norm(params, stats, x, train=False, eps=1e-3)
    np.testing.assert_allclose(y, (x - 2.0) / np.sqrt(4.0 + 1e-3), rtol=1e-6)
    chex.assert_trees_all_equal(same, stats)


def test_ema_update_is_exact():
    params, stats = batch_norm_init(6)
    stats = {"mean": jnp.full(6, 0.5), "var": jnp.full(6, 2.0)}
    x = _x()
    _, new = batch_norm(params, stats, x, train=True, decay=0.999)
    mean, var = np.asarray(x).mean(0), np.asarray(x).var(0)  # biased variance, as tf.nn.moments
    np.testing.assert_allclose(new["mean"], 0.999 * 0.5 + 0.001 * mean, rtol=1e-6)
    np.testing.assert_allclose(new["var"], 0.999 * 2.0 + 0.001 * var, rtol=1e-6)


def _model(**kw):
    m = ml_collections.ConfigDict(dict(hidden_sizes=(16, 16), activation="sigmoid", w_init="normal", w_scale=1.0,
                                       output_bias=True, bn_output_init="shared", bn_eps=1e-3, bn_decay=0.999, loss_reduction="sum",
                                       tracked_layer=2, tracked_neurons=3, demo_examples=10))
    m.update(kw)
    return m


def test_both_nets_start_from_the_same_weights_and_get_their_own_gradients():
    model = _model()
    params, stats = init_pair(jax.random.PRNGKey(0), (8, 16, 16, 3), model)
    for i in range(3):
        chex.assert_trees_all_equal(params["plain"][f"dense_{i}"]["w"], params["bn"][f"dense_{i}"]["w"])
    assert "b" not in params["bn"]["dense_0"]  # no pre-BN bias
    task = batchnorm_task(model, n_in=8, n_classes=3)
    batch = {"x": _x((20, 8)), "y": jnp.arange(20) % 3}
    grads = jax.grad(lambda p: task.loss(p, stats, batch, None, 0)[0])(params)
    only_plain = jax.grad(lambda p: task.loss({"plain": p, "bn": params["bn"]}, stats, batch, None, 0)[1][1]
                          ["plain_loss"])(params["plain"])
    chex.assert_trees_all_close(grads["plain"], only_plain, rtol=1e-6)


def test_a_single_example_with_its_own_statistics_gives_the_same_output_for_every_input():
    model = _model()
    params, stats = init_pair(jax.random.PRNGKey(1), (8, 16, 16, 3), model)
    x = _x((10, 8))
    out = one_at_a_time(params["bn"], stats, x, jnp.zeros(10, jnp.int32), model)
    assert len(set(np.asarray(out["single_example_batch_stats_predictions"]).tolist())) == 1
    logits = jax.vmap(lambda xi: bn_forward(params["bn"], stats, xi[None], jax.nn.sigmoid, True, model)[0][0])(x)
    np.testing.assert_allclose(logits, jnp.broadcast_to(logits[0], logits.shape), atol=1e-5)


def test_config_file_variants_load():
    from jaxnets.config import load

    assert load(f"{ROOT}/configs/batchnorm.py:inference").train.steps == 10_000
