import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnets.train import Shuffled, Task, batch_indices, init_state, make_chunk, make_evaluate, make_step, mean_of


def linear_task() -> Task:
    """Least squares y = x·w; the optimum is known in closed form."""

    def init(key):
        return {"w": jnp.zeros((3,))}, {}

    def loss(params, model_state, batch, key, step):
        return jnp.mean((batch["x"] @ params["w"] - batch["y"]) ** 2), (model_state, {})

    def evaluate(params, model_state, batch, key, step):
        return {"sq_error": mean_of((batch["x"] @ params["w"] - batch["y"]) ** 2)}, model_state

    return Task(init, loss, evaluate)


def linear_data(n=96):
    x = jax.random.normal(jax.random.PRNGKey(0), (n, 3))
    return {"x": x, "y": x @ jnp.array([1.0, -2.0, 0.5])}


def test_batch_indices_visit_each_example_once_per_epoch():
    key = jax.random.PRNGKey(3)
    idx = np.asarray(batch_indices(key, 0, 30, n_examples=100, batch_size=10))
    chex.assert_shape(idx, (30, 10))
    for epoch in range(3):
        np.testing.assert_array_equal(np.sort(idx[10 * epoch: 10 * epoch + 10].ravel()), np.arange(100))
    assert not np.array_equal(idx[:10], idx[10:20])  # a fresh permutation each epoch


def test_batch_indices_depend_only_on_step():
    key = jax.random.PRNGKey(3)
    full = np.asarray(batch_indices(key, 0, 37, n_examples=50, batch_size=7))  # 7 steps/epoch, remainder dropped
    for start in (5, 7, 20):
        np.testing.assert_array_equal(batch_indices(key, start, 37 - start, 50, 7), full[start:])


def test_batch_indices_sequential_without_shuffle():
    idx = np.asarray(batch_indices(jax.random.PRNGKey(0), 4, 3, n_examples=10, batch_size=3, shuffle=False))
    np.testing.assert_array_equal(idx, [[3, 4, 5], [6, 7, 8], [0, 1, 2]])


def test_step_is_one_optax_update():
    task, opt = linear_task(), optax.sgd(0.1)
    state = init_state(task, opt, jax.random.PRNGKey(0))
    batch = jax.tree.map(lambda a: a[:8], linear_data())
    new, metrics = make_step(task, opt)(state, batch)
    grad = jax.grad(lambda p: task.loss(p, {}, batch, None, 0)[0])(state.params)
    np.testing.assert_allclose(new.params["w"], -0.1 * grad["w"], rtol=1e-6)
    assert int(new.step) == 1
    chex.assert_shape(metrics["loss"], ())


def test_chunk_scans_steps_never_retraces_and_converges():
    task, opt = linear_task(), optax.sgd(0.1)
    data = linear_data()
    chunk = make_chunk(task, opt, Shuffled(16), num_steps=50)
    traced = chex.assert_max_traces(chunk, n=1)
    jitted = jax.jit(traced)
    state = init_state(task, opt, jax.random.PRNGKey(0))
    for _ in range(4):
        state, metrics = jitted(state, data)
    chex.assert_shape(metrics["loss"], (50,))
    assert int(state.step) == 200
    np.testing.assert_allclose(state.params["w"], [1.0, -2.0, 0.5], atol=1e-4)


def test_chunk_equals_python_loop_of_steps():
    task, opt = linear_task(), optax.adam(0.05)
    data = linear_data()
    state0 = init_state(task, opt, jax.random.PRNGKey(1))
    scanned, _ = jax.jit(make_chunk(task, opt, Shuffled(16), num_steps=9))(state0, data)
    step = jax.jit(make_step(task, opt))
    idx = batch_indices(jax.random.fold_in(state0.key, 1), 0, 9, 96, 16)
    state = state0
    for t in range(9):
        state, _ = step(state, jax.tree.map(lambda a: a[idx[t]], data))
    np.testing.assert_allclose(scanned.params["w"], state.params["w"], rtol=1e-5)


def test_evaluate_in_batches_equals_one_batch():
    task, opt = linear_task(), optax.sgd(0.1)
    state = init_state(task, opt, jax.random.PRNGKey(0))
    state = state._replace(params={"w": jnp.array([0.3, 0.1, -0.2])})
    data = linear_data(103)  # not a multiple of the batch size
    whole = make_evaluate(task, 103)(state, data)["sq_error"]
    batched = jax.jit(make_evaluate(task, 10))(state, data)["sq_error"]
    np.testing.assert_allclose(batched, whole, rtol=1e-5)
    np.testing.assert_allclose(whole, np.mean((np.asarray(data["x"]) @ [0.3, 0.1, -0.2] - data["y"]) ** 2), rtol=1e-5)


def test_shuffled_batch_function_alone_equals_the_chunks_plan():
    """batches(data, key, step) — the pure batch function — is what the chunk's hoisted plan
    (one permutation per epoch, not per step) yields at that step."""
    data, key = linear_data(), jax.random.PRNGKey(5)
    batches = Shuffled(16)
    plan = batches.plan(data, key, jnp.int32(3), 8)  # steps 3..10 cross the epoch boundary at 6
    for t in range(8):
        chex.assert_trees_all_equal(batches(data, key, 3 + t), batches.take(data, key, plan[t]))
    assert batches.steps_per_epoch(data) == 6 and batches.units_per_step(data) == 16


def test_windows_batch_function_reads_consecutive_windows_and_flags_resets():
    from jaxnets.data.text import text_rows, tf_style_windows
    from jaxnets.train import Windows

    series = np.arange(204) % 17
    x, y = tf_style_windows(series, 4, 5)  # rows of 51: (51 - 1) // 5 = 10 windows of 4 rows × 5
    rows = jax.tree.map(jnp.asarray, text_rows(series, 4, 5))
    windows = Windows(5)
    assert windows.steps_per_epoch(rows) == len(x) == 10 and windows.units_per_step(rows) == 20
    for step in (0, 3, 9, 10, 23):
        batch = windows(rows, None, step)
        np.testing.assert_array_equal(batch["x"], x[step % 10])
        np.testing.assert_array_equal(batch["y"], y[step % 10])
        assert bool(batch["reset"]) == (step % 10 == 0)


def test_one_compiled_chunk_per_batch_shape():
    """Buckets of different shapes (here: feature widths and example counts) go through the same
    jitted chunk; jit keeps one program per shape, so N shapes trace N times, and repeats none."""
    opt = optax.sgd(0.1)

    def task_for_any_width():
        def init(key):
            return {"w": jnp.zeros((3,))}, {}

        def loss(params, model_state, batch, key, step):  # a masked mean over padded columns
            pred = jnp.sum(batch["x"][..., :3] * params["w"], -1) + jnp.sum(batch["x"][..., 3:], -1)
            return jnp.mean((pred - batch["y"]) ** 2), (model_state, {})

        return Task(init, loss, None)

    task = task_for_any_width()
    chunk = jax.jit(chex.assert_max_traces(make_chunk(task, opt, Shuffled(8), num_steps=5), n=3))
    state = init_state(task, opt, jax.random.PRNGKey(0))
    shapes = [(40, 3), (40, 5), (64, 7)]
    for repeat in range(2):
        for n, width in shapes:
            data = {"x": jnp.ones((n, width)), "y": jnp.ones((n,))}
            state, metrics = chunk(state, data)
            chex.assert_shape(metrics["loss"], (5,))
    assert int(state.step) == 30  # 6 chunks ran; a 4th shape would raise in assert_max_traces


def test_progress_line_shows_the_epoch_and_fits_100_columns():
    from jaxnets.train.progress import progress_line

    lm = progress_line(81326, 116180, 5809, {"train_loss": 4.786, "test_loss": 4.99, "validation_loss": 5.07},
                       9218.3, "tokens", 1, 889.0, preferred=("min_validation_loss",))
    assert lm == "epoch 14.0/20 (70%) | loss: train 4.786 val 5.07 test 4.99 | 9,218 tok/s | ETA 14m49s"
    values = {"train_accuracy": 0.09, "train_loss": 2.295, "test_accuracy": 0.12, "test_error": 0.88,
              "test_loss": 2.283}
    sweep = progress_line(600, 60000, 600, values, 3000.0, "examples", 3, float("nan"), preferred=("test_error",),
                          width=60)
    assert all(len(line) <= 60 for line in sweep.splitlines()) and sweep.startswith("epoch 1.00/100 (1%) | error")
    assert "error: test 0.88" in sweep and "3,000 ex/s (1,000/seed)" in sweep and sweep.endswith("ETA ?")
    assert "accuracy: train 0.09 test 0.12" in sweep and "loss: train 2.295 test 2.283" in sweep  # wrapped, not dropped
    assert sweep.index("error") < sweep.index("loss") < sweep.index("accuracy")  # the wanted groups first
    assert progress_line(300, 1000, 300, values, 1.0, "examples", 1, 1.0).startswith("epoch 1.00/3.33 (30%)")
    wide = progress_line(600, 60000, 600, values, 3000.0, "examples", 1, 5.0, width=200)
    assert "· step 600/60000 |" in wide and "accuracy: train 0.09 test 0.12" in wide
    assert progress_line(5, 10, 10, {"train_loss": 1.0}, 10.0, "examples", 1, 1.0).startswith("step 5/10 (50%)")


def test_a_quiet_chunk_gets_heartbeat_lines_with_an_estimate():
    """Issue 34.8: runs that log once an epoch printed nothing for ~30 s at a time."""
    import time

    from jaxnets.train.progress import Heartbeat

    lines = []
    with Heartbeat(lines.append, total=100_000, every=0.2) as beat:
        time.sleep(0.35)  # the first chunk: no rate measured yet
        beat.mark(100, 0.001)  # 100 steps logged, 1 ms a step
        time.sleep(0.75)
    assert lines[0].endswith("the first chunk (compiling, then training) is still running")
    estimate = [line for line in lines if "about step" in line]
    assert estimate, lines
    steps = [int(line.split("about step ")[1].split("/")[0]) for line in estimate]
    assert 250 <= steps[0] <= 99_999 and "ETA" in estimate[0]  # ≥ 0.2 s at 1 ms a step past step 100
    assert len(steps) >= 2 and steps[1] > steps[0] + 100  # a later line estimates further, from the same mark
    count = len(lines)
    time.sleep(0.3)
    assert len(lines) == count  # stopped with its block


def test_a_late_chunk_is_said_to_be_late_not_estimated_past_it():
    """A run paused (SIGSTOP) in an epoch-long chunk said 'about step 19359/19360 (100%), ETA
    0m00s' at step ~8,000: the estimate ran past the next progress line's step, which no chunk
    can pass unseen."""
    import time

    from jaxnets.train.progress import Heartbeat

    lines = []
    with Heartbeat(lines.append, total=100_000, every=0.2, chunk=200) as beat:
        beat.mark(100, 0.001)  # the next line comes at step 300, 0.2 s from now at 1 ms a step
        time.sleep(0.75)
    assert lines, "no heartbeat line in 0.75 s"
    late = [line for line in lines if "late" in line]
    assert late and "the next one (step 300/100000) is" in late[-1], lines
    assert not any("about step" in line and int(line.split("about step ")[1].split("/")[0]) >= 300
                   for line in lines), lines


def test_the_eta_follows_the_recent_pace_not_a_pause(monkeypatch):
    """A run paused for 10 minutes (SIGSTOP) in a 20-minute job printed 'ETA 3h40m' with 17
    minutes left: its pace was the average since the start, pause included."""
    from jaxnets.train import loop

    now = [1000.0]
    monkeypatch.setattr(loop.time, "time", lambda: now[0])
    clock = loop.Clock()
    for took in (30.0, 1.0, 1.0, 1.0, 600.0, 1.0, 1.0):  # compile, three chunks, a pause, two chunks
        now[0] += took
        clock.tick(10)
    assert clock.estimate == pytest.approx(0.1)  # 10 steps a second again
    assert clock.seconds_per_step == pytest.approx(605.0 / 60)  # the throughput keeps the pause
    fresh = loop.Clock()
    assert fresh.estimate is None
    now[0] += 30.0
    fresh.tick(10)
    assert fresh.estimate == pytest.approx(3.0)  # the first chunk's pace, compile included


def test_a_chunks_time_counts_until_its_values_arrive(monkeypatch):
    """Dispatch is asynchronous: a chunk is done only when its metrics reach the host. The clock
    ticked before that, so the first line's rate was the dispatch's (247,421 tok/s for a PTB
    epoch of 4 minutes) and the heartbeat thought the first chunk still ran in the second."""
    import time

    from jaxnets.train import loop

    def slow_to_host(tree):  # a chunk that computes 0.2 s after its dispatch returned
        time.sleep(0.2)
        return jax.device_get(tree)

    monkeypatch.setattr(loop.sharding, "to_host", slow_to_host)

    class Log:
        records = []

        def write(self, record):
            self.records.append(record)

    marks, lines = [], []

    class Beat:
        def mark(self, step, per_step):
            marks.append((step, per_step))

    books = loop.Books(seeds=[0], train={}, total=40, steps_per_epoch=10, units_per_step=100, unit="tokens",
                       metrics_log=Log(), log=lines.append, preferred=(), heartbeat=Beat(), checkpoint_dir=None)
    books.defer(10, 10, {"loss": jnp.ones((10, 1))}, None)
    books.flush()
    rate = books.last_record["tokens_per_s"]
    assert rate <= 10 * 100 / 0.2  # 1,000 tokens took at least the 0.2 s their values took to arrive
    assert marks[-1][1] is not None and marks[-1][1] >= 0.2 / 10  # an estimate (compile included) at once
    assert "ETA ?" not in lines[-1]


def _classifier_fit(tmp_path, name, seeds, learning_rate=1e-3, hyperparams=None, run_axis="map"):
    """A small MLP classifier trained through `fit` on fixed random data."""
    import ml_collections

    from jaxnets.config import load, train_section
    from jaxnets.experiments.classifier import classifier_task
    from jaxnets.train import fit, make_optimizer

    model = load("configs/mnist_mlp.py", ["--config.model.hidden_sizes=(32,)"]).model
    rng = np.random.default_rng(0)
    data = {"x": rng.standard_normal((256, 20)).astype(np.float32), "y": rng.integers(0, 4, 256).astype(np.int32)}
    train = train_section(batch_size=32, steps=24, log_every=8, run_axis=run_axis, tensorboard=False)
    optimizer = make_optimizer(ml_collections.ConfigDict({"name": "adam", "learning_rate": learning_rate}))
    return fit(classifier_task(model, n_in=20, n_classes=4), optimizer, data, {"test": data}, train,
               tmp_path / name, seeds, log=lambda message: None, hyperparams=hyperparams)


def test_mapped_runs_are_bitwise_the_runs_alone(tmp_path):
    """run_axis=map (the CPU's choice): each run of a sweep is the very program of a run alone,
    so a sweep's seed 1 equals `train` of seed 1 bit for bit (vmap's batched matmuls round
    differently)."""
    sweep = _classifier_fit(tmp_path, "sweep", [0, 1, 2])
    alone = _classifier_fit(tmp_path, "alone", [1])
    chex.assert_trees_all_equal(jax.tree.map(lambda a: a[1], sweep.state.params),
                                jax.tree.map(lambda a: a[0], alone.state.params))
    np.testing.assert_array_equal(sweep.curves["train_loss"].values[:, 1], alone.curves["train_loss"].values[:, 0])


@pytest.mark.parametrize("run_axis", ["map", "vmap"])
def test_learning_rates_times_seeds_are_one_program_equal_to_separate_runs(tmp_path, run_axis):
    """Issue 30.2: runs that differ only in the learning rate share one program (the rate is
    optimizer state, set per run) and each equals the run trained alone at its rate: bit for
    bit where the runs are mapped (the CPU's way), to rounding where they are vmapped (GPU's)."""
    rates = [1e-3, 3e-3, 1e-2]
    column = _classifier_fit(tmp_path, "column", [0, 0, 0], hyperparams={"learning_rate": rates}, run_axis=run_axis)
    chex.assert_shape(column.curves["train_loss"].values, (3, 3))
    for i, rate in enumerate(rates):
        alone = _classifier_fit(tmp_path, f"lr{rate}", [0], learning_rate=rate)
        mine, theirs = (jax.tree.map(lambda a: a[i], column.state.params),
                        jax.tree.map(lambda a: a[0], alone.state.params))
        if run_axis == "map":
            chex.assert_trees_all_equal(mine, theirs)
        else:
            chex.assert_trees_all_close(mine, theirs, rtol=1e-4, atol=1e-5)
    assert column.final_eval["test_loss"][2] < column.final_eval["test_loss"][0]  # they did differ


def test_a_hyperparameter_the_optimizer_lacks_is_refused():
    import pytest

    from jaxnets.train.optim import set_hyperparams

    opt_state = jax.vmap(optax.inject_hyperparams(optax.adam)(learning_rate=1e-3).init)({"w": jnp.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"no hyperparameter \['momentum'\]"):
        set_hyperparams(opt_state, {"momentum": [0.9, 0.9]}, 2)
    with pytest.raises(ValueError, match="3 values for 2 runs"):
        set_hyperparams(opt_state, {"learning_rate": [1e-3, 1e-2, 1e-1]}, 2)
    new = set_hyperparams(opt_state, {"learning_rate": [1e-3, 1e-2]}, 2)
    np.testing.assert_allclose(new.hyperparams["learning_rate"], [1e-3, 1e-2])
