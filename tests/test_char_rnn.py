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
         "--config.sample.length=40", "--config.sample.temperatures=(1.0,0.5)", "--config.sample.prompt=th",
         "--config.data.validation_fraction=0.1"]


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
    cell = "lstm"  # the fused path; the row split itself is tested below with a plain autodiff function
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
    from jaxnets.data.text import char_corpus, text_rows, tf_style_windows
    from jaxnets.experiments.language_model import lm_task
    from jaxnets.models import rnn_lm
    from jaxnets.train import init_state, make_optimizer

    config = load("configs/char_rnn.py:gru", SMALL + ["--config.data.name=toy"])
    corpus = char_corpus("toy", 0.1)
    x, y = tf_style_windows(corpus.train, 4, 8)
    windows = len(x)
    rows = jax.tree.map(jnp.asarray, text_rows(corpus.train, 4, 8))
    task = lm_task(config.model, corpus.vocab_size, 4)
    assert task.batches.steps_per_epoch(rows) == windows
    last, first = task.batches(rows, None, windows - 1), task.batches(rows, None, windows)
    np.testing.assert_array_equal(last["x"], x[windows - 1])  # step k: window k, all rows in order
    np.testing.assert_array_equal(first["x"], x[0])  # then the next epoch starts over...
    assert bool(first["reset"]) and not bool(last["reset"])  # ...and says so
    optimizer = make_optimizer(config.optimizer)
    params = init_state(task, optimizer, jax.random.PRNGKey(1)).params
    carries = jax.tree.map(lambda c: c + 0.5, rnn_lm.zero_carries(config.model, 4))  # a stale state
    key = jax.random.PRNGKey(2)
    for k in range(3):  # the loss's carry after window k is the stack's state after reading windows 0..k
        batch = task.batches(rows, None, jnp.int32(k))
        np.testing.assert_array_equal(batch["y"], y[k])
        loss, (carries_next, _) = task.loss(params, carries, batch, key, jnp.int32(k))
        start = rnn_lm.zero_carries(config.model, 4) if k == 0 else carries  # window 0 resets
        expected_carries, logits = rnn_lm.apply(params, start, batch["x"], config.model, None)
        chex.assert_trees_all_close(carries_next, expected_carries, rtol=1e-5, atol=1e-6)
        log_p = jax.nn.log_softmax(logits)
        expected = -jnp.mean(jnp.take_along_axis(log_p, batch["y"].T[..., None], -1))
        np.testing.assert_allclose(loss, expected, rtol=1e-5)
        carries = carries_next
    chex.assert_shape(jax.tree.leaves(carries), (4, 12))


def test_validation_fraction_zero_trains_on_the_whole_text_as_the_post(toy_corpus, tmp_path, capsys):
    all_text = _train(tmp_path / "all", "gru", "never", capsys, ["--config.data.validation_fraction=0.0"])
    assert set(all_text["metrics"]) == {"train_loss", "train_perplexity"}  # nothing held out, nothing evaluated
    held_out = _train(tmp_path / "held", "gru", "never", capsys)  # SMALL holds out 10%
    assert "validation_loss" in held_out["metrics"]
    steps = [json.loads(line)["step"] for line in (tmp_path / "all" / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 2 * ((len(TEXT) // 4 - 1) // 8)  # 2 epochs of every row's windows, the tail included


def test_windows_are_read_in_order_so_shuffling_is_not_a_key(toy_corpus, tmp_path, capsys):
    argv = ["train", "--config", "configs/char_rnn.py:gru", "--workdir", str(tmp_path / "w"),
            "--config.data.name=toy", "--config.train.shuffle=true", *SMALL]
    assert main(argv) == 2
    assert "train.shuffle" in capsys.readouterr().err


def test_row_parallel_loss_is_the_same_function_inside_and_outside_the_trainer():
    """loss_and_grad with a mesh that splits rows runs the task's own loss per device (shard_map)
    and averages once: the same value, gradient and carried state as the loss called directly."""
    from jaxnets.train import Task, sharding
    from jaxnets.train.step import loss_and_grad

    w, rows, carry = jnp.arange(3.0), jnp.arange(12.0).reshape(4, 3), jnp.arange(4.0)

    def loss(w, carry, batch, key, step):  # rows independent, the loss their mean
        h = jnp.tanh(batch["x"] @ w + carry)
        return jnp.mean(h ** 2), (jnp.where(batch["reset"], 0.0, h), {"h_mean": jnp.mean(h)})

    task = Task(lambda key: (w, carry), loss, None, row_parallel=True)
    batch = {"x": rows, "reset": jnp.bool_(False)}
    (value, (state, metrics)), grad = jax.value_and_grad(loss, has_aux=True)(w, carry, batch, None, 0)
    mesh = sharding.make_mesh(1, 4, shard_batch="always")
    assert mesh.shape["data"] == 2
    split = jax.jit(loss_and_grad(task, mesh))
    (value_s, (state_s, metrics_s)), grad_s = split(w, carry, batch, jax.random.PRNGKey(0), 0)
    np.testing.assert_allclose(value_s, value, rtol=1e-6)
    np.testing.assert_allclose(grad_s, grad, rtol=1e-6)  # the devices' gradients averaged once
    np.testing.assert_allclose(state_s, state, rtol=1e-6)  # each device's rows of the carry, in place
    np.testing.assert_allclose(metrics_s["h_mean"], metrics["h_mean"], rtol=1e-6)
    hlo = split.lower(w, carry, batch, jax.random.PRNGKey(0), 0).compile().as_text()
    assert hlo.count("all-reduce-start") + hlo.count("all-reduce(") >= 1
    assert loss_and_grad(task) is not split  # without a mesh: plain value_and_grad


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
    (tmp_path / "toy" / "input.txt").unlink()  # the run keeps its vocabulary: no corpus needed to sample
    assert json.loads((workdir / "vocabulary.json").read_text()) == {"words": False, "tokens": sorted(set(TEXT))}
    assert main(argv) == 0 and out.read_text() == text


def test_fused_lstm_path_equals_the_scanned_cells():
    """model.fused_lstm (layer at a time, hand-written BPTT, the first layer's projection looked
    up in the projected embedding) computes the same logits, state and gradients as the stack
    of scanned `lstm_step` cells."""
    import ml_collections

    from jaxnets.models.rnn_lm import apply as run_window
    from jaxnets.models.rnn_lm import init as init_model
    from jaxnets.models.rnn_lm import zero_carries

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


def test_sample_verifies_the_checkpoint_as_training_does(toy_corpus, tmp_path, capsys):
    """Issue 35.4: a flipped bit in the largest data file gave garbage with exit 0, a truncated
    newest checkpoint a traceback; now `sample` reads the newest valid checkpoint, verified by
    the same checksum as training, and says what it skipped. Issue 35.7/35.12: a NaN temperature,
    a top-k over the vocabulary and a huge seed are one line each."""
    workdir = tmp_path / "run"
    _train(workdir, "gru", "never", capsys, extra=["--config.train.checkpoint_every=-1", "--config.train.log_every=5"])
    argv = ["sample", str(workdir), "--prompt", "the ", "--length", "30", "--temperature", "0"]
    assert main(argv) == 0
    capsys.readouterr()
    steps = sorted((int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()), reverse=True)
    assert len(steps) == 2
    newest = workdir / "checkpoints" / str(steps[0])
    biggest = max((p for p in newest.rglob("*") if p.is_file() and "metadata" not in p.name.lower()),
                  key=lambda p: p.stat().st_size)
    data = bytearray(biggest.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit
    biggest.write_bytes(bytes(data))
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert f"the checkpoint at step {steps[0]} is damaged" in out + err and f"reading step {steps[1]}" in out + err
    assert "Traceback" not in out + err
    assert newest.exists()  # a reader moves nothing
    for bad, message in ((["--temperature", "nan"], "--temperature a finite number"),
                         (["--top-k", "1000"], "the vocabulary has"), (["--seed", "99999999999999999999"], "--seed")):
        assert main(["sample", str(workdir), *bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


def test_a_loop_is_found_where_it_starts_with_its_period():
    from jaxnets.views.sample import describe_loop, find_loop

    text = "he said:" + "is that they were all the same thing that was a startup " * 4
    start, period = find_loop(list(text))
    assert text[start:start + period] == "is that they were all the same thing that was a startup "
    assert start == len("he said:") and period == len("is that they were all the same thing that was a startup ")
    assert find_loop(list("abcabcab")) is None  # two and a half repeats: not yet a loop
    assert find_loop(list("xyz" + "ab" * 3)) == (3, 2)
    assert find_loop(list("the quick brown fox")) is None
    words = "a b c d e f e f e f".split()
    assert describe_loop(words, " ") == "loops from token 4 with period 2: 'e f'"
    near = "And then the state of the common\nThe state of the world and the state of the king\nthe state of the end"
    assert describe_loop(list(near)) == "no exact loop; the phrase 'the state of the' comes 3 times"
    assert describe_loop(list("the quick brown fox")) == "no loop (no cycle repeats 3 times to the end)"


def test_sample_at_several_temperatures_reports_the_loop(toy_corpus, tmp_path, capsys):
    """Issue 33.2: one call, several temperatures; at 0 (argmax) the toy model loops."""
    workdir = tmp_path / "run"
    _train(workdir, "gru", "never", capsys)
    assert main(["sample", str(workdir), "--prompt", "th", "--length", "200", "--temperature", "1.0,0.5,0"]) == 0
    out = capsys.readouterr().out
    headers = [line for line in out.splitlines() if line.startswith("--- temperature")]
    assert [h.split(":")[0] for h in headers] == ["--- temperature 1", "--- temperature 0.5", "--- temperature 0"]
    assert "loops from token" in headers[2]  # argmax from a deterministic state: a cycle


def test_samples_through_training_are_written_with_step_and_loss(toy_corpus, tmp_path, capsys):
    """Issue 33.1: samples at chosen steps into samples.md, from the parameters of that step."""
    workdir = tmp_path / "run"
    _train(workdir, "gru", "never", capsys, extra=["--config.sample.at_steps=(3,7)", "--config.train.log_every=2",
                                                     "--config.train.steps=12"])
    text = (workdir / "samples.md").read_text()
    steps = [int(line.split()[2]) for line in text.splitlines() if line.startswith("## step ")]
    assert steps == [4, 8]  # the first logged steps at or past 3 and 7 (logged every 2)
    assert text.count("training loss ") == 2 and text.count("```\nth") == 2
    first, second = [block.split("```\n")[1] for block in text.split("## step ")[1:]]
    assert first != second  # the same key, other parameters


def test_samples_through_training_can_start_from_the_carried_state(toy_corpus, tmp_path, capsys):
    """min-char-rnn samples from hprev, the state its training carried: generate(start=...)
    reads the prompt from that state; from the model's start state it is the default."""
    from jaxnets.config import load
    from jaxnets.models import rnn_lm

    model = load("configs/char_rnn.py", ["--config.model.state_size=8", "--config.model.num_layers=1"]).model
    params = rnn_lm.init(jax.random.PRNGKey(0), model, 11)
    prompt, key = jnp.asarray([1, 2, 3]), jax.random.PRNGKey(1)
    default = rnn_lm.generate(params, model, prompt, 20, key, 0.0)
    np.testing.assert_array_equal(default, rnn_lm.generate(params, model, prompt, 20, key, 0.0,
                                                           start=rnn_lm.start_carries(params, model, 1)))
    other = jax.tree.map(lambda a: a + 3.0, rnn_lm.start_carries(params, model, 1))
    assert not np.array_equal(default, rnn_lm.generate(params, model, prompt, 20, key, 0.0, start=other))
    workdir = tmp_path / "run"
    _train(workdir, "gru", "never", capsys, extra=["--config.sample.at_steps=(4,)", "--config.train.log_every=2",
                                                     "--config.train.steps=6", "--config.sample.carried_state=true"])
    assert "from the state its training carried" in (workdir / "samples.md").read_text()


def _tf012_sparse_adam(var, m, v, t, rows, values, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """TF 0.12's AdamOptimizer._apply_sparse (tensorflow/python/training/adam.py), transcribed
    in NumPy: `values` has one row per occurrence of an id in `rows` (duplicates not summed)."""
    lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    m = m * b1
    np.add.at(m, rows, values * (1 - b1))
    v = v * b2
    np.add.at(v, rows, values * values * (1 - b2))
    return var - lr_t * m / (np.sqrt(v) + eps), m, v


def test_tf0_sparse_adam_moves_an_embedding_as_tf_did():
    """RNN II's models trained an embedding with TF 0.9's Adam, which squared each occurrence's
    gradient of a looked-up row before summing them (optimizer.py handed `_apply_sparse` the
    IndexedSlices with repeated ids; deduplication came in TF 1.x). `model.tf0_sparse_adam`
    reproduces it: 3 steps of a model with a repeated id give the embedding TF's values, the
    other parameters plain Adam's, and without the key nothing changes."""
    import ml_collections
    import optax

    from jaxnets.models import rnn_lm
    from jaxnets.nn.layers import lookup_with_squares
    from jaxnets.train.optim import adam

    ids = jnp.array([[2, 0, 2, 2], [1, 2, 0, 2]])  # id 2 five times, 3 never
    table = jax.random.normal(jax.random.key(0), (4, 3))
    weights = jax.random.normal(jax.random.key(1), (4, 3))

    def loss(p, ids):
        x = lookup_with_squares(p["embedding"], p["embedding_sq"], ids)
        return jnp.mean(jnp.tanh(x * p["w"][ids]).sum(-1) ** 2)

    params = {"embedding": table, "embedding_sq": jnp.zeros_like(table), "w": weights}
    per_occurrence = jax.grad(lambda x: jnp.mean(jnp.tanh(x * weights[ids]).sum(-1) ** 2))(table[ids])
    grads = jax.grad(loss)(params, ids)
    squares = np.zeros((4, 3))
    np.add.at(squares, np.asarray(ids).reshape(-1), np.asarray(per_occurrence).reshape(-1, 3) ** 2)
    np.testing.assert_allclose(grads["embedding_sq"], squares, rtol=1e-6)  # Σ g², not (Σ g)²
    assert not np.allclose(squares, np.asarray(grads["embedding"]) ** 2, rtol=0.1)
    plain_loss = lambda t: jnp.mean(jnp.tanh(t[ids] * weights[ids]).sum(-1) ** 2)  # noqa: E731
    np.testing.assert_allclose(grads["embedding"], jax.grad(plain_loss)(table), rtol=1e-6)  # the table's own

    opt = adam(1e-3)
    state, p_tf = opt.init(params), params
    var, m, v = np.asarray(table, np.float64), np.zeros((4, 3)), np.zeros((4, 3))
    plain = {"w": weights}
    plain_opt = optax.adam(1e-3)
    plain_state = plain_opt.init(plain)
    for t in range(1, 4):
        g_occ = jax.grad(lambda x: jnp.mean(jnp.tanh(x * p_tf["w"][ids]).sum(-1) ** 2))(p_tf["embedding"][ids])
        var, m, v = _tf012_sparse_adam(var, m, v, t, np.asarray(ids).reshape(-1),
                                       np.asarray(g_occ, np.float64).reshape(-1, 3))
        g = jax.grad(loss)(p_tf, ids)
        updates, state = opt.update(g, state, p_tf)
        plain_updates, plain_state = plain_opt.update({"w": g["w"]}, plain_state)
        p_tf = optax.apply_updates(p_tf, updates)
        np.testing.assert_allclose(p_tf["embedding"], var, rtol=2e-5, atol=2e-7)
        np.testing.assert_array_equal(p_tf["embedding_sq"], 0.0)  # the companion never moves
        np.testing.assert_allclose(updates["w"], plain_updates["w"], rtol=1e-5)  # other parameters: Adam

    # without the companion, `adam` is optax.adam bit for bit
    p = {"w": weights}
    a, b = adam(1e-3), optax.adam(1e-3)
    np.testing.assert_array_equal(a.update(p, a.init(p))[0]["w"], b.update(p, b.init(p))[0]["w"])

    model = ml_collections.ConfigDict({"cell": "gru", "num_layers": 1, "state_size": 3, "embedding_size": 0,
                                       "w_init": "uniform_unit_scaling", "tf0_sparse_adam": True})
    made = rnn_lm.init(jax.random.key(0), model, 4)
    chex.assert_trees_all_equal_shapes(made["embedding_sq"], made["embedding"])
    model.tf0_sparse_adam = False
    assert "embedding_sq" not in rnn_lm.init(jax.random.key(0), model, 4)
