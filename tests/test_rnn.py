"""RNN cells against their equations written out, scan against a Python loop, masks, stacking
with dropout, initial states; the RNN I task's expected losses."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.data.sequences import echo_series, expected_cross_entropies
from jaxnets.nn import rnn

B, N_IN, H, T = 3, 4, 5, 6
sig = jax.nn.sigmoid


def _inputs(seed=0, t=T):
    return jax.random.normal(jax.random.PRNGKey(seed), (t, B, N_IN))


def _carry(cell, seed=1):
    return tuple(jax.random.normal(jax.random.PRNGKey(seed + i), (B, H)) * 0.5 for i in range(len(cell.components)))


def _ln(v, eps=1e-5):  # scale 1, shift 0 (their initial values)
    return (v - v.mean(-1, keepdims=True)) / jnp.sqrt(v.var(-1, keepdims=True) + eps)


def reference_step(name, p, carry, x):
    """The cells' equations, written out separately from jaxnets.nn.rnn."""
    if name == "vanilla":
        (h,) = carry
        w_x, w_h = p["w"][:N_IN], p["w"][N_IN:]
        h = np.tanh(x @ w_x + h @ w_h + p["b"])
        return (h,), h
    if name == "gru":
        (h,) = carry
        g = sig(x @ p["w_gates"][:N_IN] + h @ p["w_gates"][N_IN:] + p["b_gates"])
        r, u = g[:, :H], g[:, H:]
        c = np.tanh(x @ p["w_candidate"][:N_IN] + (r * h) @ p["w_candidate"][N_IN:] + p["b_candidate"])
        h = u * h + (1 - u) * c
        return (h,), h
    if name in ("lstm", "ln_lstm"):
        c, h = carry
        z = x @ p["w"][:N_IN] + h @ p["w"][N_IN:] + (p["b"] if name == "lstm" else 0.0)
        i, j, f, o = (z[:, k * H:(k + 1) * H] for k in range(4))
        if name == "ln_lstm":
            i, j, f, o = _ln(i), _ln(j), _ln(f), _ln(o)
        c = c * sig(f + 1.0) + sig(i) * np.tanh(j)
        h = np.tanh(_ln(c) if name == "ln_lstm" else c) * sig(o)
        return (c, h), h
    if name == "custom_gru":
        (h,) = carry
        g = sig(x @ p["w_gates"][:N_IN] + h @ p["w_gates"][N_IN:] + p["b_gates"])
        r, u = g[:, :H], g[:, H:]
        logits = x @ p["w_lambda"][:N_IN] + h @ p["w_lambda"][N_IN:] + p["b_lambda"]
        lam = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        wx = sum(lam[:, k:k + 1] * (x @ p["ws"][k]) for k in range(p["ws"].shape[0]))
        c = np.tanh(wx + (r * h) @ p["w_state"] + p["b_state"])
        h = u * h + (1 - u) * c
        return (h,), h
    raise KeyError(name)


@pytest.mark.parametrize("name", sorted(n for n in rnn.CELLS if not n.startswith("pseudo_lstm")))  # those: below
def test_cell_matches_its_equations_for_several_steps(name):
    cell = rnn.get_cell(name)
    params = cell.init(jax.random.PRNGKey(0), N_IN, H)
    xs = _inputs()
    carry = ref = _carry(cell)
    p = jax.tree.map(np.asarray, params)
    for t in range(T):
        carry, y = cell.step(params, carry, xs[t])
        ref, y_ref = reference_step(name, p, tuple(map(np.asarray, ref)), np.asarray(xs[t]))
        np.testing.assert_allclose(y, y_ref, rtol=2e-5, atol=2e-6)
    chex.assert_shape(carry, [(B, H)] * len(cell.components))


def test_gate_biases_are_tensorflows():
    assert np.all(np.asarray(rnn.gru_init(jax.random.PRNGKey(0), N_IN, H)["b_gates"]) == 1.0)
    assert np.all(np.asarray(rnn.lstm_init(jax.random.PRNGKey(0), N_IN, H)["b"]) == 0.0)  # forget bias is added


@pytest.mark.parametrize("w_init, limit", [("uniform_unit_scaling", np.sqrt(3 / (5 * 40))),
                                            ("glorot_uniform", np.sqrt(6 / (5 * 40 + 5 * 30)))])
def test_custom_gru_input_matrices_start_as_one_tf_variable(w_init, limit):
    """The post's Ws is one [K, n_in, n] variable: TF counts its fan-in as K·n_in, so each W_k
    starts sqrt(K) smaller than a matrix of its own would (U(±0.077) vs U(±0.173) in the post)."""
    ws = rnn.custom_gru_init(jax.random.PRNGKey(0), 40, 30, w_init=w_init, num_weights=5)["ws"]
    chex.assert_shape(ws, (5, 40, 30))
    assert float(jnp.max(jnp.abs(ws))) <= limit
    assert float(jnp.max(jnp.abs(ws))) > 0.98 * limit  # 6,000 draws fill the range
    np.testing.assert_allclose(float(jnp.std(ws)), limit / np.sqrt(3), rtol=0.05)


@pytest.mark.parametrize("name", ["gru", "lstm"])
def test_scan_unroll_equals_a_python_loop(name):
    cell = rnn.get_cell(name)
    params = cell.init(jax.random.PRNGKey(2), N_IN, H)
    xs, carry = _inputs(3), _carry(cell)
    final, ys = jax.jit(lambda c, x: rnn.unroll(cell.step, params, c, x))(carry, xs)
    loop, outs = carry, []
    for t in range(T):
        loop, y = cell.step(params, loop, xs[t])
        outs.append(y)
    np.testing.assert_allclose(ys, jnp.stack(outs), rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(final, loop, rtol=1e-5, atol=1e-6)


def test_masked_steps_leave_the_carry_unchanged():
    cell = rnn.get_cell("lstm")
    params = cell.init(jax.random.PRNGKey(4), N_IN, H)
    xs = _inputs(5)
    lengths = jnp.array([6, 2, 4])
    mask = (jnp.arange(T)[:, None] < lengths[None, :]).astype(jnp.float32)
    final, ys = rnn.unroll(rnn.masked(cell.step), params, _carry(cell), (xs, mask))
    for b, n in enumerate(lengths.tolist()):  # = running only the real steps of that sequence
        alone, _ = rnn.unroll(cell.step, params, tuple(c[b:b + 1] for c in _carry(cell)), xs[:n, b:b + 1])
        chex.assert_trees_all_close(tuple(c[b:b + 1] for c in final), alone, rtol=1e-5, atol=1e-6)
        assert float(jnp.abs(ys[n:, b]).max(initial=0.0)) == 0.0


def test_stacked_dropout_is_between_layers_never_on_the_recurrent_path():
    cell = rnn.get_cell("gru")
    params = [cell.init(jax.random.PRNGKey(i), N_IN if i == 0 else H, H) for i in range(2)]
    carries = tuple(_carry(cell, seed=10 + i) for i in range(2))
    x = _inputs(6)[0]
    step = rnn.stacked_step(cell, keep_prob=0.5)
    key = jax.random.PRNGKey(7)
    new, y = step(params, carries, (x, key))
    # By hand: drop layer 0's input, run it; its new state is undropped (the recurrent path)...
    d = lambda v, i: jnp.where(jax.random.bernoulli(jax.random.fold_in(key, i), 0.5, v.shape), v / 0.5, 0.0)  # noqa: E731
    c0, h0 = cell.step(params[0], carries[0], d(x, 0))
    chex.assert_trees_all_close(new[0], c0)
    # ...while layer 1 sees layer 0's dropped output, and its output is dropped too.
    c1, h1 = cell.step(params[1], carries[1], d(d(h0, 1), 2))
    chex.assert_trees_all_close(new[1], c1)
    np.testing.assert_allclose(y, d(h1, 3), rtol=1e-6)
    no_drop, _ = step(params, carries, (x, None))
    chex.assert_trees_all_close(no_drop[0], cell.step(params[0], carries[0], x)[0])


def test_learned_initial_state_gets_gradients_and_noise_is_keyed():
    cell = rnn.get_cell("lstm")
    init_params = rnn.initial_state_params(cell, 2, H, "learned_noisy")
    assert set(init_params) == {"0_c", "0_h", "1_c", "1_h"}
    params = [cell.init(jax.random.PRNGKey(i), N_IN if i == 0 else H, H) for i in range(2)]
    xs = _inputs(8)
    step = rnn.stacked_step(cell)

    def loss(init_params, key):
        carries = rnn.initial_carries(cell, 2, H, B, "learned_noisy", init_params, key)
        _, ys = rnn.unroll(lambda p, c, x: step(p, c, (x, None)), params, carries, xs)
        return jnp.sum(ys ** 2)

    grads = jax.grad(loss)(init_params, jax.random.PRNGKey(0))
    assert all(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(grads))
    a = rnn.initial_carries(cell, 2, H, B, "noisy", {}, jax.random.PRNGKey(1))
    b = rnn.initial_carries(cell, 2, H, B, "noisy", {}, jax.random.PRNGKey(1))
    c = rnn.initial_carries(cell, 2, H, B, "noisy", {}, jax.random.PRNGKey(2))
    chex.assert_trees_all_equal(a, b)
    assert float(jnp.abs(a[0][0] - c[0][0]).max()) > 0
    np.testing.assert_allclose(float(jnp.std(a[0][0])), 0.3, rtol=0.5)
    off = rnn.initial_carries(cell, 2, H, B, "noisy", {}, None)  # evaluation: no noise
    assert float(jnp.abs(off[1][1]).max()) == 0.0
    with pytest.raises(ValueError, match="strategies for 4 state components"):
        rnn.initial_carries(cell, 2, H, B, ["zero"] * 3, {})


def test_rnn_toy_expected_cross_entropies_are_exact():
    levels = expected_cross_entropies()
    assert round(levels["neither"], 4) == 0.6616
    assert round(levels["echo_only"], 4) == 0.5192
    assert round(levels["both"], 4) == 0.4545
    np.testing.assert_allclose(levels["neither"], 0.661563238158, atol=1e-9)  # the post's printed values
    np.testing.assert_allclose(levels["echo_only"], 0.519166699707, atol=1e-9)
    np.testing.assert_allclose(levels["both"], 0.454454367449, atol=1e-9)


def test_echo_series_has_the_tasks_statistics():
    x, y = echo_series(jax.random.PRNGKey(0), 400_000)
    x, y = np.asarray(x), np.asarray(y)
    assert abs(x.mean() - 0.5) < 0.005 and abs(y.mean() - 0.625) < 0.005
    x3, x8 = np.roll(x, 3), np.roll(x, 8)
    for a in (0, 1):
        for b in (0, 1):
            sel = (x3 == a) & (x8 == b)
            assert abs(y[sel].mean() - (0.5 + 0.5 * a - 0.25 * b)) < 0.01


def test_char_corpus_and_tf_style_windows(tmp_path, monkeypatch):
    from jaxnets.data.text import char_corpus, tf_style_windows

    (tmp_path / "toy").mkdir()
    text = "abcdefghij" * 50 + "zz"
    (tmp_path / "toy" / "input.txt").write_text(text)
    monkeypatch.setenv("JAXNETS_DATA_DIR", str(tmp_path))
    corpus = char_corpus("toy", validation_fraction=0.1)
    assert corpus.chars == "abcdefghijz" and corpus.vocab_size == 11
    assert corpus.decode(np.concatenate([corpus.train, corpus.validation])) == text  # split by position
    assert len(corpus.validation) == round(len(text) * 0.1) and corpus.decode(corpus.validation).endswith("zz")
    x, y = tf_style_windows(corpus.train, batch_size=4, num_steps=7)
    chex.assert_equal_shape([x, y])
    assert x.shape[1:] == (4, 7)
    np.testing.assert_array_equal(x[:, :, 1:], y[:, :, :-1])  # targets are the next characters
    np.testing.assert_array_equal(x[1:, :, 0], y[:-1, :, -1])  # window k+1 continues window k, row by row
    rows = len(corpus.train) // 4  # TF's ptb_iterator: n // B tokens a row, (row - 1) // num_steps windows
    np.testing.assert_array_equal(x[0, 1, 0], corpus.train[rows])  # row b starts b rows into the series
    assert len(x) == (rows - 1) // 7
    with pytest.raises(ValueError, match="too short"):
        tf_style_windows(corpus.train[:20], batch_size=4, num_steps=7)


def test_top_k_sampling_never_leaves_the_top_k_and_follows_the_tempered_softmax():
    logits = jnp.log(jnp.array([[0.05, 0.4, 0.3, 0.2, 0.05]]))
    keys = jax.random.split(jax.random.PRNGKey(0), 20_000)
    draws = np.asarray(jax.vmap(lambda k: rnn.sample_logits(k, logits, 1.0, top_k=3))(keys))[:, 0]
    assert set(np.unique(draws)) == {1, 2, 3}
    np.testing.assert_allclose(np.bincount(draws, minlength=5)[1:4] / len(draws), [0.4 / 0.9, 0.3 / 0.9, 0.2 / 0.9],
                               atol=0.015)
    cold = np.asarray(jax.vmap(lambda k: rnn.sample_logits(k, logits, 0.05))(keys[:2000]))[:, 0]
    assert (cold == 1).mean() > 0.99  # low temperature ≈ argmax


def test_sample_sequence_feeds_each_draw_back():
    # A "model" whose next token is always (token + 1) mod 5 with certainty: the sample must count up.
    step = lambda p, carry, token: (carry, token)  # noqa: E731
    readout = lambda p, token: jnp.where(jax.nn.one_hot((token + 1) % 5, 5) > 0, 0.0, -1e9)  # noqa: E731
    ids = jax.jit(lambda key: rnn.sample_sequence(step, readout, None, (), jnp.array([2]), key, 7, top_k=2))(
        jax.random.PRNGKey(0))
    np.testing.assert_array_equal(ids, [3, 4, 0, 1, 2, 3, 4])


def _toy(num_steps=5, state=4, batch=8, length=4000):
    import ml_collections

    from jaxnets.experiments.rnn_toy import rnn_toy_task

    model = ml_collections.ConfigDict(dict(cell="vanilla", state_size=state, num_steps=num_steps, w_init="glorot_uniform"))
    data = ml_collections.ConfigDict(dict(series_length=length, series_seed=0))
    task = rnn_toy_task(model, data, batch)
    return task, task.batches.steps


def test_rnn_toy_windows_continue_their_rows_and_follow_the_task():
    from jaxnets.experiments.rnn_toy import window

    key = jax.random.PRNGKey(0)
    x0, y0 = window(key, 0, 0, 8, 5, 500)
    x1, _ = window(key, 0, 1, 8, 5, 500)
    x_long, y_long = window(key, 0, 0, 8, 10, 500)  # the same positions, read as one window
    np.testing.assert_array_equal(np.concatenate([x0, x1], 1), x_long)
    np.testing.assert_array_equal(y0, y_long[:, :5])
    assert not np.array_equal(np.asarray(window(key, 1, 0, 8, 5, 500)[0]), np.asarray(x0))  # fresh each epoch
    xs, ys = window(key, 0, 0, 2000, 100, 2000)  # 200k draws: the conditional probabilities
    xs, ys = np.asarray(xs), np.asarray(ys)
    for a in (0, 1):
        sel = xs[:, 5:-3] == a  # X_{t-3} for t = 8 .. 99
        assert abs(ys[:, 8:][sel].mean() - (0.875 if a else 0.375)) < 0.01


def test_tf_style_windows_stop_gradients_at_the_boundary():
    task, windows = _toy()
    params, carry0 = task.init(jax.random.PRNGKey(1))
    batch = lambda step: task.batches({}, None, jnp.int32(step))  # noqa: E731  the batch function
    assert bool(batch(0)["reset"]) and not bool(batch(1)["reset"]) and bool(batch(windows)["reset"])
    loss0, (carry1, _) = task.loss(params, carry0, batch(0), None, jnp.int32(0))
    g_scheme = jax.grad(lambda p: task.loss(p, carry1, batch(1), None, jnp.int32(1))[0])(params)

    def through_both(p):  # full backprop through window 0 into window 1
        _, (c1, _) = task.loss(p, carry0, batch(0), None, jnp.int32(0))
        return task.loss(p, c1, batch(1), None, jnp.int32(1))[0]

    g_full = jax.grad(through_both)(params)
    diff = max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(g_scheme), jax.tree.leaves(g_full)))
    assert diff > 1e-6  # the boundary cuts something real...
    g_fixed = jax.grad(lambda p: task.loss(p, jax.lax.stop_gradient(carry1), batch(1), None, jnp.int32(1))[0])(params)
    chex.assert_trees_all_close(g_scheme, g_fixed)  # ...and the scheme is exactly "carry without gradient"
    first = batch(windows)  # an epoch's first window
    _, (carry_reset, _) = task.loss(params, carry1, first, None, jnp.int32(windows))
    _, (carry_zero, _) = task.loss(params, carry0, first, None, jnp.int32(windows))
    chex.assert_trees_all_close(carry_reset, carry_zero)  # starts from zero whatever was carried


def test_fused_lstm_layer_equals_the_scanned_cell_in_value_and_gradient():
    cell = rnn.get_cell("lstm")
    params = cell.init(jax.random.PRNGKey(11), N_IN, H)
    params = {"w": params["w"], "b": jax.random.normal(jax.random.PRNGKey(12), (4 * H,)) * 0.3}
    xs, carry = _inputs(13, t=9), _carry(cell, seed=14)
    probe = jax.random.normal(jax.random.PRNGKey(15), (9, B, H))

    def loss(fn, p, c, x):  # depends on every output and the final state
        (c_t, h_t), hs = fn(p, c, x)
        return jnp.sum(hs * probe) + jnp.sum(c_t ** 2) + 0.5 * jnp.sum(h_t)

    reference = lambda p, c, x: rnn.unroll(cell.step, p, c, x)  # noqa: E731  autodiff through scan
    fused = jax.jit(lambda p, c, x: rnn.lstm_sequence(p, c, x))
    (c_ref, h_ref), hs_ref = reference(params, carry, xs)
    (c_fast, h_fast), hs_fast = fused(params, carry, xs)
    np.testing.assert_allclose(hs_fast, hs_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c_fast, c_ref, rtol=1e-5, atol=1e-6)
    g_ref = jax.grad(lambda *a: loss(reference, *a), argnums=(0, 1, 2))(params, carry, xs)
    g_fast = jax.jit(jax.grad(lambda *a: loss(rnn.lstm_sequence, *a), argnums=(0, 1, 2)))(params, carry, xs)
    chex.assert_trees_all_close(g_fast, g_ref, rtol=1e-4, atol=1e-5)


def test_pseudo_lstm_with_all_three_differences_is_the_basic_lstm():
    """Architecture 8 of "Written Memories" is TF's BasicLSTMCell, to the bit, over a sequence."""
    from jaxnets.nn import lstm_variants

    params = rnn.lstm_init(jax.random.key(0), 3, 5)
    params = {"w": params["w"], "b": jax.random.normal(jax.random.key(1), (20,))}
    carry = (jax.random.normal(jax.random.key(2), (4, 5)), jax.random.normal(jax.random.key(3), (4, 5)))
    xs = jax.random.normal(jax.random.key(4), (6, 4, 3))
    basic = rnn.unroll(rnn.lstm_step, params, carry, xs)
    full = rnn.unroll(rnn.get_cell("pseudo_lstm_d1_d2_d3").step, params, carry, xs)
    chex.assert_trees_all_equal(basic, full)
    assert set(lstm_variants.ARCHITECTURES) == set(range(1, 9))


def test_pseudo_lstm_follows_its_equations():
    """The pseudo LSTM against the post's equations written out with separate W and U, and each
    difference changing exactly what it names."""
    from jaxnets.nn.lstm_variants import variant_step

    n_in, n = 3, 4
    params = rnn.lstm_init(jax.random.key(0), n_in, n)
    params = {"w": params["w"], "b": 0.1 * jax.random.normal(jax.random.key(1), (4 * n,))}
    U, W = params["w"][:n_in], params["w"][n_in:]
    (U_i, U_j, U_f, U_o), (W_i, W_j, W_f, W_o) = jnp.split(U, 4, -1), jnp.split(W, 4, -1)
    b_i, b_j, b_f, b_o = jnp.split(params["b"], 4)
    s, h = jax.random.normal(jax.random.key(2), (2, n)), jax.random.normal(jax.random.key(3), (2, n))
    x = jax.random.normal(jax.random.key(4), (2, n_in))
    sig, phi = jax.nn.sigmoid, jnp.tanh

    o = sig(phi(s) @ W_o + x @ U_o + b_o)
    i, f = sig(phi(s) @ W_i + x @ U_i + b_i), sig(phi(s) @ W_f + x @ U_f + b_f + 1.0)
    s_new = f * s + i * phi((o * phi(s)) @ W_j + x @ U_j + b_j)
    (s1, h1), y = variant_step(params, (s, h), x, diffs=())
    np.testing.assert_allclose(s1, s_new, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, phi(s_new), rtol=1e-5, atol=1e-6)  # the output is not read-gated
    np.testing.assert_allclose(h1, o * phi(s_new), rtol=1e-5, atol=1e-6)

    (_, _), y3 = variant_step(params, (s, h), x, diffs=(3,))  # Diff 3: read-gated output
    np.testing.assert_allclose(y3, o * phi(s_new), rtol=1e-5, atol=1e-6)

    (s2, _), _ = variant_step(params, (s, h), x, diffs=(2,))  # Diff 2: i, f from o ⊙ φ(s)
    r = o * phi(s)
    i2, f2 = sig(r @ W_i + x @ U_i + b_i), sig(r @ W_f + x @ U_f + b_f + 1.0)
    np.testing.assert_allclose(s2, f2 * s + i2 * phi(r @ W_j + x @ U_j + b_j), rtol=1e-5, atol=1e-6)

    (s_d1, _), _ = variant_step(params, (s, h), x, diffs=(1,))  # Diff 1: the candidate reads h
    np.testing.assert_allclose(s_d1, f * s + i * phi(h @ W_j + x @ U_j + b_j), rtol=1e-5, atol=1e-6)


def test_lstm_variants_published_unit_is_the_validation_windows_sum():
    """The post's unit (386–434) read as a sum over ptb_iterator's validation windows: the count
    must be the number of windows jaxnets lays PTB's validation file out in at batch 30 × 30 steps
    (ptb_iterator: (73,760 // 30 − 1) // 30 = 81), and the converted values nats per token."""
    import importlib.util

    from jaxnets.data.text import tf_style_windows

    spec = importlib.util.spec_from_file_location("lstm_variants_config", "configs/lstm_variants.py")
    config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config)
    x, _ = tf_style_windows(np.arange(73_760), 30, 30)  # PTB's validation file is 73,760 tokens
    assert x.shape == (config.VALIDATION_WINDOWS, 30, 30) and config.VALIDATION_WINDOWS == 81
    per_token = [row[4] for row in config.TABLE]
    assert len(per_token) == 32 and all(4.7 < v < 5.4 < np.log(10_000) for v in per_token)
    assert dict(zip([row[2] for row in config.TABLE], per_token))["arch5_lr0.001"] == round(386.0 / 81, 4)


def _written_memories_reference(U, W, b, s, h, x, diffs):
    """One step of the post's equations with separate U (input) and W (state) weights, for any
    set of differences; gates in the LSTM's (i, j, f, o) order."""
    sig, phi = jax.nn.sigmoid, jnp.tanh
    (U_i, U_j, U_f, U_o), (W_i, W_j, W_f, W_o) = jnp.split(U, 4, -1), jnp.split(W, 4, -1)
    b_i, b_j, b_f, b_o = jnp.split(b, 4)
    if 1 in diffs:  # read after write: the shadow state written last step
        read = h
    else:  # the read gate of time t, from φ(s_{t−1})
        o = sig(phi(s) @ W_o + x @ U_o + b_o)
        read = o * phi(s)
    g = read if 2 in diffs else phi(s)  # what the gates see
    i, f = sig(g @ W_i + x @ U_i + b_i), sig(g @ W_f + x @ U_f + b_f + 1.0)
    if 1 in diffs:
        o = sig(g @ W_o + x @ U_o + b_o)
    s_new = f * s + i * phi(read @ W_j + x @ U_j + b_j)
    h_new = o * phi(s_new)
    return (s_new, h_new), (h_new if 3 in diffs else phi(s_new))


@pytest.mark.parametrize("arch", range(1, 9))
def test_every_written_memories_architecture_follows_the_equations_over_a_sequence(arch):
    """All 8 combinations of the differences, each cell run through the toolkit's scan for 5
    steps against the equations stepped by hand."""
    from jaxnets.nn.lstm_variants import ARCHITECTURES, variant_name

    n_in, n = 3, 4
    params = rnn.lstm_init(jax.random.key(arch), n_in, n)
    params = {"w": params["w"], "b": 0.1 * jax.random.normal(jax.random.key(10 + arch), (4 * n,))}
    U, W = params["w"][:n_in], params["w"][n_in:]
    carry = (jax.random.normal(jax.random.key(20), (2, n)), jax.random.normal(jax.random.key(21), (2, n)))
    xs = jax.random.normal(jax.random.key(22), (5, 2, n_in))
    (s_end, h_end), ys = rnn.unroll(rnn.get_cell(variant_name(ARCHITECTURES[arch])).step, params, carry, xs)
    chex.assert_shape(ys, (5, 2, n))
    s, h = carry
    for t in range(5):
        (s, h), y = _written_memories_reference(U, W, params["b"], s, h, xs[t], ARCHITECTURES[arch])
        np.testing.assert_allclose(ys[t], y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s_end, s, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_end, h, rtol=1e-5, atol=1e-6)
