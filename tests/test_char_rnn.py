"""The char-RNN experiment end to end on a small corpus: training order, the state carried across
windows, rows split over devices giving the same training, samples saved."""

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.__main__ import main

TEXT = ("the quick brown fox jumps over the lazy dog. " * 40)[:1600]
SMALL = ["--config.model.state_size=12", "--config.model.num_layers=2", "--config.model.num_steps=8",
         "--config.train.batch_size=4", "--config.train.num_epochs=2", "--config.optimizer.learning_rate=0.02",
         "--config.sample.length=40", "--config.sample.temperatures=(1.0,0.5)", "--config.sample.prompt=th"]


@pytest.fixture
def toy_corpus(tmp_path, monkeypatch):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "input.txt").write_text(TEXT)
    monkeypatch.setenv("JAXNETS_DATA_DIR", str(tmp_path))
    return tmp_path


def _train(workdir, cell, shard, capsys, extra=()):
    capsys.readouterr()
    argv = ["train", "--config", "configs/char_rnn.py", "--workdir", str(workdir), "--config.data.name=toy",
            f"--config.model.cell={cell}", f"--config.train.shard_batch={shard}", *SMALL, *extra]
    assert main(argv) == 0
    split = "each batch of 4 is split over 2 devices (2 examples each)" in capsys.readouterr().out
    assert split == (shard == "always")
    return json.loads((workdir / "summary.json").read_text())


def test_rows_split_over_devices_train_exactly_as_one_device(toy_corpus, tmp_path, capsys):
    cell = "lstm"  # the fused path; rows_per_device itself is tested below with a plain autodiff function
    assert jax.device_count() == 2  # conftest: one CPU device per core, as the CLI
    one = _train(tmp_path / "one", cell, "never", capsys)
    split = _train(tmp_path / "split", cell, "always", capsys)
    for name in ("train_loss", "validation_loss"):
        np.testing.assert_allclose(split["metrics"][name], one["metrics"][name], rtol=2e-5)
    assert one["metrics"]["train_loss"] < 2.5  # it learns: log(vocabulary 27) = 3.30 at the start
    samples = sorted((tmp_path / "split" / "samples").glob("*.txt"))
    assert [p.name for p in samples] == ["temperature0.5_top5.txt", "temperature1.0_top5.txt"]
    for p in samples:
        text = p.read_text()
        assert len(text) == 2 + 40 and text.startswith("th") and set(text) <= set(TEXT)


def test_each_step_trains_the_next_window_with_the_state_carried(toy_corpus):
    from jaxnets.config import load
    from jaxnets.data.text import char_corpus, tf_style_windows
    from jaxnets.experiments.char_rnn import char_rnn_task, run_window, zero_carries
    from jaxnets.train import init_state, make_optimizer
    from jaxnets.train.step import batch_indices

    config = load("configs/char_rnn.py:gru", SMALL + ["--config.data.name=toy"])
    corpus = char_corpus("toy", 0.1)
    x, y = tf_style_windows(corpus.train, 4, 8)
    windows = len(x)
    rows_of_windows = x.reshape(windows * 4, 8)
    idx = batch_indices(jax.random.PRNGKey(0), jnp.int32(windows - 1), 3, len(rows_of_windows), 4, shuffle=False)
    np.testing.assert_array_equal(rows_of_windows[idx[0]], x[windows - 1])  # step k: window k, all rows in order
    np.testing.assert_array_equal(rows_of_windows[idx[1]], x[0])  # then the next epoch starts over
    task = char_rnn_task(config.model, corpus.vocab_size, 4, windows)
    optimizer = make_optimizer(config.optimizer)
    params = init_state(task, optimizer, jax.random.PRNGKey(1)).params
    carries = zero_carries(config.model, 4)
    key = jax.random.PRNGKey(2)
    for k in range(3):  # the loss's carry after window k is the stack's state after reading windows 0..k
        batch = {"x": jnp.asarray(x[k]), "y": jnp.asarray(y[k])}
        loss, (carries_next, _) = task.loss(params, carries, batch, key, jnp.int32(k))
        expected_carries, logits = run_window(params, carries, batch["x"], config.model, None)
        chex.assert_trees_all_close(carries_next, expected_carries, rtol=1e-5, atol=1e-6)
        log_p = jax.nn.log_softmax(logits)
        expected = -jnp.mean(jnp.take_along_axis(log_p, batch["y"].T[..., None], -1))
        np.testing.assert_allclose(loss, expected, rtol=1e-5)
        carries = carries_next
    chex.assert_shape(jax.tree.leaves(carries), (4, 12))


def test_shuffled_windows_are_refused(toy_corpus, tmp_path, capsys):
    argv = ["train", "--config", "configs/char_rnn.py:gru", "--workdir", str(tmp_path / "w"),
            "--config.data.name=toy", "--config.train.shuffle=true", *SMALL]
    assert main(argv) == 2
    assert "train.shuffle must be false" in capsys.readouterr().err


def test_rows_per_device_runs_each_devices_rows_and_sums_parameter_gradients():
    from jax.sharding import PartitionSpec as P

    from jaxnets.train import sharding

    mesh = sharding.make_mesh(1, 4, shard_batch="always")
    w, rows = jnp.arange(3.0), jnp.arange(12.0).reshape(4, 3)

    def local(w, x):  # per device: which device, and its rows' mean of (x · w)²
        return jnp.full((x.shape[0],), jax.lax.axis_index("data")), jnp.mean((x @ w) ** 2)[None]

    def loss(w, x):
        where, per_device = sharding.rows_per_device(local, (P(), P("data")), (P("data"), P("data")))(w, x)
        return jnp.mean(per_device), where

    with jax.set_mesh(mesh):
        (value, where), grad = jax.jit(jax.value_and_grad(loss, has_aux=True))(w, rows)
    np.testing.assert_array_equal(where, [0, 0, 1, 1])  # rows 0-1 on device 0, rows 2-3 on device 1
    (expected, _), expected_grad = jax.value_and_grad(lambda w: (jnp.mean((rows @ w) ** 2), 0), has_aux=True)(w)
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-6)  # the devices' gradients summed once
    assert not sharding.splits_rows()  # outside the trainer's mesh: fn is called as it is


def test_sample_command_reads_a_finished_run(toy_corpus, tmp_path, capsys):
    workdir = tmp_path / "run"
    _train(workdir, "gru", "never", capsys)
    out = tmp_path / "sample.txt"
    argv = ["sample", str(workdir), "--prompt", "the ", "--length", "30", "--temperature", "0.5", "--top-k", "3",
            "--output", str(out)]
    assert main(argv) == 0
    text = out.read_text()
    assert text in capsys.readouterr().out and text.startswith("the ") and len(text) == 34
    assert main(argv) == 0 and out.read_text() == text  # keyed: the same text again
    assert main(argv[:-2] + ["--seed", "1"]) == 0
    assert capsys.readouterr().out.strip() != text  # another key, another text
    assert main(["sample", str(workdir), "--prompt", "Q!"]) == 2  # characters the corpus lacks
    assert "not in it: ['!', 'Q']" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "nothing")]) == 2


def test_fused_lstm_path_equals_the_scanned_cells():
    """model.fused_lstm (layer at a time, hand-written BPTT, the first layer's projection looked
    up in the projected embedding) computes the same logits, state and gradients as the stack
    of scanned `lstm_step` cells."""
    import ml_collections

    from jaxnets.experiments.char_rnn import init_model, run_window, zero_carries

    model = ml_collections.ConfigDict({"cell": "lstm", "num_layers": 2, "state_size": 8, "num_weights": 1,
                                       "keep_prob": 1.0, "w_init": "glorot_uniform", "fused_lstm": True})
    plain = ml_collections.ConfigDict({**model.to_dict(), "fused_lstm": False})
    params = init_model(jax.random.PRNGKey(3), model, vocab=11)
    carries = jax.tree.map(lambda c: c + 0.1, zero_carries(model, 3))
    x = jax.random.randint(jax.random.PRNGKey(4), (3, 7), 0, 11)
    probe = jax.random.normal(jax.random.PRNGKey(5), (7, 3, 11))

    def loss(p, m, key):
        final, logits = run_window(p, carries, x, m, key)
        return jnp.sum(logits * probe) + sum(jnp.sum(c ** 2) for c in jax.tree.leaves(final)), (final, logits)

    (_, (final_f, logits_f)), g_f = jax.value_and_grad(loss, has_aux=True)(params, model, None)
    (_, (final_p, logits_p)), g_p = jax.value_and_grad(loss, has_aux=True)(params, plain, None)
    np.testing.assert_allclose(logits_f, logits_p, rtol=1e-5, atol=1e-5)
    chex.assert_trees_all_close(final_f, final_p, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(g_f, g_p, rtol=1e-4, atol=1e-5)
