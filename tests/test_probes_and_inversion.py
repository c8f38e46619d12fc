"""Deeper-layer probes (logistic regression as scikit-learn defines it, PCA, the auxiliary-target
task) and the inversion of a net (exact inverse recovers layer 1, masks, generation)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize

from jaxnets.config import load
from jaxnets.experiments.deeper_layers import aux_task, pca, representations
from jaxnets.experiments.invert import generate, invert, inverse_loss, squash, x_pre_activation
from jaxnets.models import init_mlp, logistic
from tests.conftest import ROOT


def _problem(n=200, d=8, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = np.argmax(x[:, :k] * 1.5 + rng.normal(size=(n, k)), axis=1).astype(np.int32)
    return x, y


def test_multinomial_logistic_regression_reaches_scipys_optimum():
    x, y = _problem()
    params, values = jax.jit(lambda x, y: logistic.fit(x, y, 3, 1.0, "multinomial", 200))(x, y)
    chex.assert_shape((params["w"], params["b"]), ((8, 3), (3,)))

    def objective(theta):
        w, b = theta[:24].reshape(8, 3), theta[24:]
        logits = x.astype(np.float64) @ w + b
        lse = np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
        return 0.5 * np.sum(w ** 2) + np.sum(lse - logits[np.arange(len(y)), y])

    best = minimize(objective, np.zeros(27), method="L-BFGS-B", options=dict(maxiter=5000, gtol=1e-10))
    assert float(values[-1]) == pytest.approx(best.fun, rel=1e-5)


def test_one_vs_rest_penalizes_the_intercept_like_liblinear():
    x, y = _problem(seed=1)
    params, _ = logistic.fit(jnp.asarray(x), jnp.asarray(y), 3, 1.0, "ovr", 200)
    for k in range(3):
        s = np.where(y == k, 1.0, -1.0)

        def objective(theta):
            margin = s * (x.astype(np.float64) @ theta[:8] + theta[8])
            return 0.5 * np.sum(theta ** 2) + np.sum(np.logaddexp(0, -margin))

        best = minimize(objective, np.zeros(9), method="L-BFGS-B", options=dict(maxiter=5000, gtol=1e-10))
        np.testing.assert_allclose(np.r_[params["w"][:, k], params["b"][k]], best.x, atol=2e-3)
    assert float(logistic.accuracy(params, x, y)) > 0.6


def test_pca_recovers_the_principal_axes():
    rng = np.random.default_rng(0)
    axes = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    x = (rng.normal(size=(4000, 5)) * np.array([5.0, 3.0, 1.0, 0.1, 0.1])) @ axes.T + 7.0
    directions, mean = pca(x, 2)
    np.testing.assert_allclose(np.abs(directions.T @ axes[:, :2]), np.eye(2), atol=0.02)
    np.testing.assert_allclose(mean, 7.0, atol=0.3)


def test_representations_and_the_auxiliary_target_loss():
    config = load(f"{ROOT}/configs/deeper_layers.py")
    params = init_mlp(jax.random.PRNGKey(0), (12, 100, 100, 100, 10), "truncated_normal", 0.1, "constant", 0.1)
    x = jax.random.uniform(jax.random.PRNGKey(1), (7, 12))
    reps = representations(params, x, "tanh")
    chex.assert_shape(reps, [(7, 12), (7, 100), (7, 100), (7, 100)])
    task = aux_task(config.model, n_in=12)
    aux_params, state = task.init(jax.random.PRNGKey(2))
    batch = {"x": x, "y": jnp.arange(7) % 10, "pc": jnp.ones((7, 3))}
    loss, (_, metrics) = task.loss(aux_params, state, batch, None, 0)
    h1 = jnp.tanh(x @ aux_params["dense_0"]["w"] + aux_params["dense_0"]["b"])
    l1 = jnp.sum(jnp.abs(h1 @ aux_params["aux"]["w"] + aux_params["aux"]["b"] - 1.0))
    assert float(metrics["aux_l1"]) == pytest.approx(float(l1), rel=1e-5)
    assert float(loss) == pytest.approx(float(metrics["xent"] + 0.1 * l1), rel=1e-5)


def _net(seed=0):
    return init_mlp(jax.random.PRNGKey(seed), (784, 100, 100, 10), "truncated_normal", 0.1, "constant", 0.1)


def test_squash_maps_each_row_onto_the_open_unit_interval():
    s = squash(jnp.array([[-3.0, 0.0, 5.0], [2.0, 2.5, 3.0]]))
    np.testing.assert_allclose(s.min(1), 0.005, rtol=1e-5)
    np.testing.assert_allclose(s.max(1), 0.995, rtol=1e-5)


def test_an_exact_inverse_of_layer_2_recovers_layer_1():
    net = _net()
    x = jax.random.uniform(jax.random.PRNGKey(3), (5, 784))
    inverse = {"w2_inv": jnp.linalg.inv(net["dense_1"]["w"]), "w1_inv": jnp.zeros((100, 784))}
    _, l1_inv = invert(net, inverse, x_pre_activation(net, x, "sigmoid", 1))
    l1 = jax.nn.sigmoid(x @ net["dense_0"]["w"] + net["dense_0"]["b"])
    np.testing.assert_allclose(l1_inv, l1, atol=2e-3)


def test_inverse_loss_ignores_unconfident_examples():
    net = _net(1)
    x = jax.random.uniform(jax.random.PRNGKey(4), (6, 784))
    inverse = {"w2_inv": jnp.ones((100, 100)) * 0.01, "w1_inv": jnp.ones((100, 784)) * 0.01}
    loss_none, metrics = inverse_loss(inverse, net, x, "sigmoid", confidence=1.0)  # nobody is that sure
    assert float(loss_none) == 0.0 and float(metrics["kept"]) == 0.0
    loss_all, metrics = inverse_loss(inverse, net, x, "sigmoid", confidence=0.0)
    assert float(loss_all) > 0.0 and float(metrics["kept"]) == 1.0


def test_generation_drives_the_softmax_to_each_digit():
    net = _net(2)
    config = load(f"{ROOT}/configs/invert.py")
    digits = jnp.arange(1, 10)
    z, confidence = generate(net, digits, config)
    chex.assert_shape(z, (9, 100))
    out = net["dense_2"]
    at_zero = jax.nn.softmax(jax.nn.sigmoid(jnp.zeros(100)) @ out["w"] + out["b"])[digits]
    assert bool(jnp.all(confidence > at_zero + 0.3)), (confidence, at_zero)  # every digit's own optimum
