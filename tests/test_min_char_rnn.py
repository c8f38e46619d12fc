"""min-char-rnn through jaxnets: its gradient equals a NumPy transcription of the gist's
lossFun (forward, then backprop through time) in float64."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.config import load
from jaxnets.experiments.language_model import lm_task
from jaxnets.models import rnn_lm


def gist_loss_fun(inputs, targets, hprev, Wxh, Whh, Why, bh, by):
    """min-char-rnn.py's lossFun, transcribed (vocab_size from Wxh)."""
    vocab_size = Wxh.shape[1]
    xs, hs, ys, ps = {}, {}, {}, {}
    hs[-1] = np.copy(hprev)
    loss = 0
    for t in range(len(inputs)):
        xs[t] = np.zeros((vocab_size, 1))
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)
        ys[t] = np.dot(Why, hs[t]) + by
        ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))
        loss += -np.log(ps[t][targets[t], 0])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1
        dWhy += np.dot(dy, hs[t].T)
        dby += dy
        dh = np.dot(Why.T, dy) + dhnext
        dhraw = (1 - hs[t] * hs[t]) * dh
        dbh += dhraw
        dWxh += np.dot(dhraw, xs[t].T)
        dWhh += np.dot(dhraw, hs[t - 1].T)
        dhnext = np.dot(Whh.T, dhraw)
    return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]


def test_min_char_rnn_gradient_is_the_gists():
    config = load("configs/min_char_rnn.py")
    model = config.model
    model.state_size, model.num_steps = 6, 9  # a small example of the same model
    vocab = 7
    rng = np.random.default_rng(0)
    inputs, targets = rng.integers(0, vocab, 9), rng.integers(0, vocab, 9)
    hprev = rng.normal(0, 0.5, (6, 1))
    with jax.enable_x64(True):
        params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), rnn_lm.init(jax.random.PRNGKey(0), model, vocab))
        params = jax.tree.map(lambda a: a + 0.3 * jnp.asarray(rng.normal(size=a.shape)), params)  # biases not 0
        assert "embedding" not in params and params["layers"][0]["w"].shape == (vocab + 6, 6)
        task = lm_task(model, vocab, rows=1)
        carries = ((jnp.asarray(hprev.T),),)
        batch = {"x": jnp.asarray(inputs[None]), "y": jnp.asarray(targets[None]), "reset": jnp.asarray(False)}

        def loss(p):
            value, (final, _) = task.loss(p, carries, batch, None, 0)
            return value, final

        (value, final), grads = jax.value_and_grad(loss, has_aux=True)(params)
    w, b = np.asarray(params["layers"][0]["w"]), np.asarray(params["layers"][0]["b"])
    Wxh, Whh, bh = w[:vocab].T, w[vocab:].T, b[:, None]
    Why, by = np.asarray(params["out"]["w"]).T, np.asarray(params["out"]["b"])[:, None]
    expected = gist_loss_fun(inputs, targets, hprev, Wxh, Whh, Why, bh, by)
    g = grads["layers"][0]
    ours = (float(value), np.asarray(g["w"])[:vocab].T, np.asarray(g["w"])[vocab:].T,
            np.asarray(grads["out"]["w"]).T, np.asarray(g["b"])[:, None], np.asarray(grads["out"]["b"])[:, None],
            np.asarray(final[0][0]).T)
    for name, a, e in zip(("loss", "dWxh", "dWhh", "dWhy", "dbh", "dby", "h"), ours, expected):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-12, err_msg=name)


def test_min_char_rnn_optimizer_is_the_gists_adagrad_with_clipping():
    """mem += g²; p -= lr·g / sqrt(mem + 1e-8), g clipped into [-5, 5] first."""
    from jaxnets.train.optim import make_optimizer

    optimizer = make_optimizer(load("configs/min_char_rnn.py").optimizer)
    p = {"w": jnp.asarray([1.0, -2.0, 0.5])}
    state = optimizer.init(p)
    mem = np.zeros(3)
    for g in ([7.0, -0.3, 0.0], [-9.0, 2.0, 1.0]):
        updates, state = optimizer.update({"w": jnp.asarray(g)}, state, p)
        clipped = np.clip(g, -5, 5)
        mem += clipped ** 2
        expected = -0.1 * clipped / np.sqrt(mem + 1e-8)
        np.testing.assert_allclose(np.asarray(updates["w"]), expected, rtol=1e-5, atol=1e-7)
