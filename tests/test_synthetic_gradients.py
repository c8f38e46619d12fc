"""Synthetic gradients: with the true gradient injected the update is backprop's; the modules'
targets, the methods' gradient flow, the conv variant's shapes, and CIFAR-10's clear failure."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnets.config import load
from jaxnets.models.sg_net import forward, init_net, module_targets, surrogate_loss
from tests.conftest import ROOT

SHAPE = (20,)


def _model(method, **kw):
    config = load(f"{ROOT}/configs/synthetic_gradients.py")
    model = config.model
    with model.unlocked():
        model.update(dict(method=method, hidden_sizes=(12, 8), module_width=16, **kw))
    return model


def _batch(n=16, shape=SHAPE, seed=0):
    x = jax.random.normal(jax.random.PRNGKey(seed), (n, *shape))
    return x, jnp.arange(n) % 10


def _true_hidden_gradients(params, stats, x, y, model):
    """dL/dh_k of the backprop net, by differentiating the rest of the net from h_k."""
    hs, _, _ = forward(params, stats, x, model, True, stop_between=False)

    def from_h1(h1):
        from jaxnets.models.sg_net import block_apply
        h2, _ = block_apply(params["block_1"], stats["block_1"], h1, "none", model)
        return from_h2(h2)

    def from_h2(h2):
        logits = h2 @ params["out"]["w"] + params["out"]["b"]
        return jnp.sum(optax.softmax_cross_entropy_with_integer_labels(logits, y))

    return hs, [jax.grad(from_h1)(hs[0]), jax.grad(from_h2)(hs[1])]


@pytest.mark.parametrize("conditioned", [False, True])
def test_injected_true_gradient_gives_backprops_update(conditioned):
    model = _model("synthetic_gradient", conditioned=conditioned)
    params, stats = init_net(jax.random.PRNGKey(0), model, SHAPE, 10)
    x, y = _batch()
    _, true = _true_hidden_gradients(params, stats, x, y, model)
    backprop = _model("backprop")
    bp_grads = jax.grad(lambda p: surrogate_loss(p, stats, x, y, backprop, 10)[0])(
        {k: v for k, v in params.items() if not k.startswith("module")})
    sg_grads = jax.grad(lambda p: surrogate_loss(p, stats, x, y, model, 10, injected=true)[0])(params)
    for name in ("block_0", "block_1", "out"):
        chex.assert_trees_all_close(sg_grads[name], bp_grads[name], rtol=2e-4, atol=1e-6)
    assert float(jnp.abs(sg_grads["block_0"]["linear"]["w"]).max()) > 1e-3  # not trivially zero


def test_bootstrapped_target_of_a_perfect_module_is_the_true_gradient():
    model = _model("synthetic_gradient")
    params, stats = init_net(jax.random.PRNGKey(1), model, SHAPE, 10)
    x, y = _batch()
    hs, true = _true_hidden_gradients(params, stats, x, y, model)
    targets = module_targets(params, stats, hs, None, true, y, model)
    chex.assert_trees_all_close(targets, true, rtol=1e-4, atol=1e-6)


def test_zero_kernel_modules_start_by_predicting_zero_and_hidden_blocks_wait():
    model = _model("synthetic_gradient")
    params, stats = init_net(jax.random.PRNGKey(2), model, SHAPE, 10)
    x, y = _batch()
    grads = jax.grad(lambda p: surrogate_loss(p, stats, x, y, model, 10)[0])(params)
    for block in ("block_0", "block_1"):
        assert float(jnp.abs(grads[block]["linear"]["w"]).max()) == 0.0
    assert float(jnp.abs(grads["module_1"]["out"]["w"]).max()) > 0.0  # the module learns from step one
    assert float(jnp.abs(grads["out"]["w"]).max()) > 0.0


def test_no_bprop_trains_only_the_output_layer():
    model = _model("no_bprop")
    params, stats = init_net(jax.random.PRNGKey(3), model, SHAPE, 10)
    x, y = _batch()
    grads = jax.grad(lambda p: surrogate_loss(p, stats, x, y, model, 10)[0])(params)
    hidden = jax.tree.leaves(grads["block_0"]) + jax.tree.leaves(grads["block_1"])
    assert all(float(jnp.abs(g).max()) == 0.0 for g in hidden)
    assert float(jnp.abs(grads["out"]["w"]).max()) > 0.0


def test_synthetic_loss_modules_regress_the_loss_chain():
    model = _model("synthetic_loss")
    params, stats = init_net(jax.random.PRNGKey(4), model, SHAPE, 10)
    x, y = _batch()
    loss, (_, metrics) = surrogate_loss(params, stats, x, y, model, 10)
    assert np.isfinite(float(loss)) and {"module_0_loss", "module_1_loss"} <= set(metrics)
    grads = jax.grad(lambda p: surrogate_loss(p, stats, x, y, model, 10)[0])(params)
    assert float(jnp.abs(grads["block_0"]["linear"]["w"]).max()) > 0.0  # the block follows its module's loss


@pytest.mark.parametrize("method", ["synthetic_gradient", "synthetic_loss"])
def test_the_trainer_logs_the_cross_entropy_not_the_surrogate(method):
    """The surrogate's value is a sum of Σ ĝ·h terms (negative as often as not); the log's
    training loss is the net's cross-entropy, the surrogate beside it under its own name."""
    from jaxnets.experiments.synthetic_gradients import sg_task
    from jaxnets.train import init_state, make_step

    model = _model(method)
    task = sg_task(model, SHAPE)
    optimizer = optax.adam(1e-3)
    state = init_state(task, optimizer, jax.random.PRNGKey(5))
    x, y = _batch(seed=3)
    _, metrics = make_step(task, optimizer)(state, {"x": x, "y": y})
    _, logits, _ = forward(state.params, state.model_state, x, model, True, False)
    xent = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))
    np.testing.assert_allclose(float(metrics["loss"]), float(xent), rtol=1e-5)
    surrogate, _ = surrogate_loss(state.params, state.model_state, x, y, model, 10)
    np.testing.assert_allclose(float(metrics["surrogate"]), float(surrogate), rtol=1e-5)
    assert float(metrics["surrogate"]) != pytest.approx(float(xent), rel=1e-3)


def test_cnn_shapes_and_a_training_step():
    config = load(f"{ROOT}/configs/synthetic_gradients_cifar10.py")
    model = config.model
    with model.unlocked():
        model.update(dict(hidden_sizes=(8, 8), module_width=8, conditioned=True))
    params, stats = init_net(jax.random.PRNGKey(0), model, (32, 32, 3), 10)
    chex.assert_shape(params["block_0"]["linear"]["w"], (5, 5, 3, 8))
    chex.assert_shape(params["module_0"]["hidden_0"]["linear"]["w"], (5, 5, 8 + 10, 8))
    chex.assert_shape(params["out"]["w"], (3 * 3 * 8, 10))  # 32 -> max-pool 10 -> avg-pool 3
    x, y = _batch(4, (32, 32, 3))
    hs, logits, _ = forward(params, stats, x, model, True, True)
    chex.assert_shape(hs, [(4, 10, 10, 8), (4, 3, 3, 8)])
    chex.assert_shape(logits, (4, 10))
    loss, (new_stats, _) = jax.jit(lambda p: surrogate_loss(p, stats, x, y, model, 10))(params)
    assert np.isfinite(float(loss))
    chex.assert_trees_all_equal_shapes(new_stats, stats)


def test_cifar10_without_data_or_network_fails_with_a_clear_message(tmp_path, monkeypatch, capsys):
    from jaxnets.__main__ import main
    from jaxnets.data import images

    monkeypatch.setenv("JAXNETS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setattr(images, "_network_reachable", lambda host, timeout=3.0: False)
    code = main(["train", "--config", "configs/synthetic_gradients_cifar10.py", "--workdir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert "CIFAR-10" in err and "cannot be reached" in err and "cifar10" in err
