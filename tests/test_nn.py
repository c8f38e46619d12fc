import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.test_util import check_grads

from jaxnets.experiments.autoencoder import autoencoder_task, dead_units
from jaxnets.models.classifier import classifier_task
from jaxnets.config import load
from jaxnets.models import init_mlp, mlp, mlp_activations
from jaxnets.nn import dense, dense_softmax_cross_entropy, dropout, leaky_relu6
from jaxnets.train import dampened_momentum


def test_leaky_relu6_matches_post_formula():
    x = jnp.array([-3.0, 0.0, 2.0, 6.0, 10.0])
    expected = jnp.where(x > 6, 0.01 * x + 6, jnp.where(x >= 0, 1.01 * x, 0.01 * x))
    np.testing.assert_allclose(leaky_relu6(x), expected, rtol=1e-6)
    np.testing.assert_allclose(jax.vmap(jax.grad(leaky_relu6))(jnp.array([-1.0, 3.0, 8.0])), [0.01, 1.01, 0.01])


def test_dense_softmax_cross_entropy_is_optax_on_the_logits():
    """The wide-softmax loss (bias in the matmul, label logits from weight columns) has the value
    and the gradient of the plain formula, on [T, B, H] features and extreme logits."""
    kw, kb, kx, ky = jax.random.split(jax.random.PRNGKey(0), 4)
    params = {"w": 3.0 * jax.random.normal(kw, (6, 50)), "b": jax.random.normal(kb, (50,))}
    x, labels = jax.random.normal(kx, (4, 3, 6)), jax.random.randint(ky, (4, 3), 0, 50)

    def plain(p, x):
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(dense(p, x), labels))

    def wide(p, x):
        return jnp.mean(dense_softmax_cross_entropy(p, x, labels))

    value = dense_softmax_cross_entropy(params, x, labels)
    chex.assert_shape(value, (4, 3))
    np.testing.assert_allclose(value, optax.softmax_cross_entropy_with_integer_labels(dense(params, x), labels),
                               rtol=1e-5)
    chex.assert_trees_all_close(jax.grad(wide, (0, 1))(params, x), jax.grad(plain, (0, 1))(params, x),
                                rtol=1e-5, atol=1e-6)
    check_grads(wide, (params, x), order=1, modes=["rev"], atol=1e-2, rtol=1e-2)


def test_dropout_keeps_expectation_and_is_keyed():
    x = jnp.ones((200_000,))
    y = dropout(jax.random.PRNGKey(0), x, 0.5)
    assert set(np.unique(np.asarray(y))) == {0.0, 2.0}
    assert abs(float(y.mean()) - 1.0) < 0.01
    np.testing.assert_array_equal(y, dropout(jax.random.PRNGKey(0), x, 0.5))


def test_mlp_shapes_and_layers():
    params = init_mlp(jax.random.PRNGKey(0), (784, 32, 16, 10))
    chex.assert_shape([params["dense_0"]["w"], params["dense_1"]["b"]], [(784, 32), (16,)])
    x = jnp.ones((5, 784))
    outs = mlp_activations(params, x, "relu")
    chex.assert_shape(outs, [(5, 32), (5, 16), (5, 10)])
    np.testing.assert_allclose(mlp(params, x, "relu"), outs[-1])
    np.testing.assert_allclose(outs[0], jax.nn.relu(x @ params["dense_0"]["w"] + params["dense_0"]["b"]), rtol=1e-6)


def test_classifier_loss_gradient_matches_finite_differences():
    model = load("configs/mnist_mlp.py", ["--config.model.hidden_sizes=(6,)"]).model
    task = classifier_task(model, n_in=5, n_classes=3)
    params, state = task.init(jax.random.PRNGKey(1))
    params = jax.tree.map(lambda p: p * 30, params)  # away from the flat start
    batch = {"x": jax.random.normal(jax.random.PRNGKey(2), (4, 5)), "y": jnp.array([0, 2, 1, 2])}
    with jax.enable_x64(True) if hasattr(jax, "enable_x64") else jax.experimental.enable_x64():
        params64 = jax.tree.map(lambda p: p.astype(jnp.float64), params)
        batch64 = {"x": batch["x"].astype(jnp.float64), "y": batch["y"]}
        check_grads(lambda p: task.loss(p, state, batch64, None, 0)[0], (params64,), order=1, modes=["rev"])
    loss, (_, metrics) = task.loss(params, state, batch, None, 0)
    logits = mlp(params, batch["x"], "sigmoid")
    expected = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    chex.assert_shape(metrics["accuracy"], ())


def test_dampened_momentum_follows_the_faq_rule():
    eta, alpha = 0.1, 0.9
    opt = dampened_momentum(eta, alpha)
    w = jnp.array([1.0, -2.0])
    grads = [jnp.array([0.5, 1.0]), jnp.array([-1.0, 2.0]), jnp.array([0.25, 0.0])]
    state, delta = opt.init(w), jnp.zeros(2)
    for g in grads:
        update, state = opt.update(g, state)
        delta = (1 - alpha) * eta * (-g) + alpha * delta  # Δw(t+1) = (1 − α)·η·δ·o + α·Δw(t), δ·o = −g
        np.testing.assert_allclose(update, delta, rtol=1e-6)
    sgd_update, _ = dampened_momentum(eta, 0.0).update(grads[0], dampened_momentum(eta, 0.0).init(w))
    np.testing.assert_allclose(sgd_update, -eta * grads[0], rtol=1e-6)


def test_autoencoder_detects_a_dead_code_unit():
    model = load("configs/autoencoder.py").model
    task = autoencoder_task(model, n_in=12)
    params, state = task.init(jax.random.PRNGKey(0))
    code_layer = "dense_3"  # 12-512-128-64-[2]-...
    chex.assert_shape(params[code_layer]["w"], (64, 2))
    params[code_layer]["w"] = params[code_layer]["w"].at[:, 1].set(0.0)
    params[code_layer]["b"] = params[code_layer]["b"].at[1].set(0.0)
    out, _ = task.evaluate(params, state, {"x": jax.random.uniform(jax.random.PRNGKey(1), (7, 12))}, None, 0)
    chex.assert_shape(list(out["reconstruction_loss"]), [(), ()])  # (sum, count) over the batch
    assert float(out["reconstruction_loss"][1]) == 7
    assert float(out["code1_zero_fraction"][0] / out["code1_zero_fraction"][1]) == 1.0
    assert float(out["code0_zero_fraction"][0]) == 0.0
    assert dead_units(np.array([[0.0, 0.0], [0.3, 0.0]])) == [1]
    assert dead_units(np.array([[0.0, 0.1], [0.3, 0.0]])) == []
