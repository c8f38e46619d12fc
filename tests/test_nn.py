import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.test_util import check_grads

from jaxnets.experiments.autoencoder import autoencoder_task, dead_units
from jaxnets.experiments.classifier import classifier_task
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


def test_epoch_decay_and_global_norm_clipping_follow_zaremba():
    """The PTB tutorial's training: lr 1 for the first `after` epochs, then halved every epoch;
    gradients rescaled to global norm 5 first (a small gradient passes unchanged)."""
    import ml_collections
    import pytest

    from jaxnets.train import make_optimizer

    config = ml_collections.ConfigDict({"name": "sgd", "learning_rate": 1.0, "clip_global_norm": 5.0,
                                        "decay_after_epochs": 2, "decay_factor": 0.5})
    opt = make_optimizer(config, steps_per_epoch=3)
    w = {"a": jnp.zeros(1), "b": jnp.zeros(1)}
    big, small = {"a": jnp.array([30.0]), "b": jnp.array([40.0])}, {"a": jnp.array([0.3]), "b": jnp.array([0.4])}
    state = opt.init(w)
    for step in range(12):
        lr = 0.5 ** max(0, step // 3 + 1 - 2)  # epochs 0, 1: 1; epoch 2: 0.5; epoch 3: 0.25
        update, state = opt.update(big if step % 2 else small, state, w)
        expected = [-lr * 3.0, -lr * 4.0] if step % 2 else [-lr * 0.3, -lr * 0.4]
        np.testing.assert_allclose([update["a"][0], update["b"][0]], expected, rtol=1e-6, err_msg=f"step {step}")
    with pytest.raises(ValueError, match="steps an epoch has"):
        make_optimizer(config)
    with pytest.raises(ValueError, match="clip_global_norm"):
        make_optimizer(ml_collections.ConfigDict({"name": "adam", "learning_rate": 1e-3, "clip_global_norm": -1.0}))
    with pytest.raises(ValueError, match="decay_factor"):
        make_optimizer(ml_collections.ConfigDict({**config.to_dict(), "decay_factor": 2.0}), steps_per_epoch=3)


def test_fit_builds_an_optimizer_factory_from_the_epoch_length(tmp_path):
    from jaxnets.train import fit

    c = load("configs/mnist_mlp.py", ["--config.model.hidden_sizes=(4,)", "--config.train.batch_size=8",
                                      "--config.train.num_epochs=1", "--config.train.eval_batch_size=40"])
    task = classifier_task(c.model, n_in=3, n_classes=2)
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    data = {"x": x, "y": (x[:, 0] > 0).astype(np.int32)}
    asked = []
    fit(task, lambda steps_per_epoch: asked.append(steps_per_epoch) or optax.sgd(0.1), data, {"test": data},
        c.train, str(tmp_path / "run"), [0], log=lambda message: None)
    assert asked == [5]  # 40 examples in batches of 8


def test_uniform_init_scales_every_language_model_weight():
    """Zaremba et al.'s U(±0.1) for every weight of the LM (w_init 'uniform', w_scale 0.1)."""
    import jax
    import ml_collections

    from jaxnets.models import rnn_lm
    from jaxnets.nn import initializer

    draw = initializer("uniform", 0.1)(jax.random.key(0), (200, 300))
    chex.assert_shape(draw, (200, 300))
    assert float(jnp.max(jnp.abs(draw))) <= 0.1 and float(jnp.max(draw)) > 0.099 and float(jnp.min(draw)) < -0.099
    model = ml_collections.ConfigDict({"cell": "lstm", "num_layers": 2, "state_size": 16, "embedding_size": 8,
                                       "w_init": "uniform", "w_scale": 0.1, "num_weights": 1})
    params = rnn_lm.init(jax.random.key(1), model, 50)
    weights = [params["embedding"], params["out"]["w"], *(layer["w"] for layer in params["layers"])]
    assert all(0.09 < float(jnp.max(jnp.abs(w))) <= 0.1 for w in weights)


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
