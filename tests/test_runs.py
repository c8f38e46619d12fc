"""End-to-end: the CLI, run directories, resume after a kill, NaN stop, sweeps, report."""

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import chex
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

import jaxnets
from jaxnets import rundir
from jaxnets.tables import report
from jaxnets.__main__ import main
from jaxnets.train import NonFiniteLoss, Task, fit, mean_of
from jaxnets.train.curves import Curve, from_records
from tests.conftest import ROOT, needs_mnist

SUMMARY_KEYS = {"experiment", "config_file", "seeds", "metrics", "metrics_std", "reference", "steps", "wall_time_s",
                "examples_per_s", "backend", "devices", "jax_version"}
TINY = ["--config.model.hidden_sizes=(32,)", "--config.train.batch_size=20", "--config.train.eval_batch_size=50"]


SHORT_ANALYSES = {"invert.py": ["--config.inverse.steps=50", "--config.generate.steps=50"],
                  "deeper_layers.py": ["--config.probe.iterations=30", "--config.probe.n_train=300",
                                       "--config.probe.n_test=300"],
                  "lstm_variants.py": ["--config.model.state_size=32"],
                  "initial_states.py": ["--config.model.state_size=16", "--config.model.embedding_size=16"],  # 10,000-way softmax over all of PTB's
                  # validation and test text after training: width 250 made it this file's slowest case
                  "variable_length.py": ["--config.data.n_buckets=2", "--config.train.batch_size=64",
                                         "--config.data.test_fraction=0.05"]}


def final_params(workdir: pathlib.Path) -> dict:
    steps = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    return ocp.StandardCheckpointer().restore((workdir / "checkpoints" / str(steps[-1]) / "default").absolute())


@needs_mnist
# CIFAR-10 has no offline copy here: test_synthetic_gradients checks that its config fails cleanly.
# initial_states.py runs whole on a toy corpus in test_language_model (its real-PTB path is truncated_bptt's).
@pytest.mark.parametrize("config", sorted(p.name for p in (ROOT / "configs").glob("*.py")
                                          if "cifar10" not in p.name and p.name != "initial_states.py"))
def test_every_config_runs_end_to_end(config, tmp_path):
    workdir = tmp_path / "run"
    short = SHORT_ANALYSES.get(config, [])  # the analyses after training, shortened like the training
    assert main(["train", "--config", f"configs/{config}", "--config.train.steps=20", "--workdir", str(workdir),
                 *short]) == 0
    summary = json.loads((workdir / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert summary["seeds"] == [0] and summary["metrics"]
    assert all(np.isfinite(v) for v in summary["metrics"].values())
    assert "source" in summary["reference"]
    assert json.loads((workdir / "config.json").read_text())["config"]["experiment"] == summary["experiment"]
    assert list((workdir / "plots").glob("*.png"))
    # every run logs and checkpoints (experiments made of several fits do so in sub-directories)
    assert all(rundir.read_metrics(path) for path in workdir.rglob("metrics.jsonl"))
    assert list(workdir.rglob("metrics.jsonl"))
    assert [p for d in workdir.rglob("checkpoints") for p in d.iterdir() if p.name.isdigit()]


def test_metrics_jsonl_and_curves(tiny_mnist, tmp_path):
    workdir = tmp_path / "run"
    assert main(["train", "--config", "configs/mnist_mlp.py", *TINY, "--config.train.steps=40",
                 "--config.train.log_every=10", "--workdir", str(workdir)]) == 0
    records = rundir.read_metrics(workdir / "metrics.jsonl")
    assert [r["step"] for r in records] == [10, 20, 30, 40]
    assert {"time", "examples_per_s", "train_loss", "test_accuracy"} <= set(records[-1])
    assert (workdir / "plots" / "curves.png").stat().st_size > 10_000


def test_a_different_config_never_overwrites_a_run(tiny_mnist, tmp_path, capsys):
    workdir = tmp_path / "run"
    args = ["train", "--config", "configs/mnist_mlp.py", *TINY, "--workdir", str(workdir)]
    assert main([*args, "--config.train.steps=10"]) == 0
    before = (workdir / "summary.json").read_text()
    assert main([*args, "--config.train.steps=10", "--config.optimizer.learning_rate=0.002"]) == 2
    err = capsys.readouterr().err
    assert "different config" in err and "optimizer.learning_rate: 0.001 -> 0.002" in err and "--overwrite" in err
    assert (workdir / "summary.json").read_text() == before
    assert main([*args, "--config.train.steps=20", "--config.optimizer.learning_rate=0.002", "--overwrite"]) == 0
    assert json.loads((workdir / "summary.json").read_text())["steps"] == 20
    assert "resuming" not in capsys.readouterr().out  # the old run was deleted, not continued


def test_a_run_that_never_trained_blocks_nothing(tmp_path):
    """A run that failed before its first logged step (config.json and plots/ only) is replaced by
    the corrected command without --overwrite; one metrics line makes it a run to protect."""
    workdir = tmp_path / "run"
    first = {"config_file": "configs/x.py", "seeds": [0], "config": {"data": {"name": "missing"}}}
    fixed = {**first, "config": {"data": {"name": "mnist"}}}
    rundir.open_run(workdir, first)
    rundir.open_run(workdir, fixed)
    saved = json.loads((workdir / "config.json").read_text())
    assert len(saved.pop("sessions")) == 1 and saved == fixed  # no history, no session of the failed attempt
    (workdir / "metrics.jsonl").write_text('{"step": 10}\n')
    with pytest.raises(rundir.RunDirError, match="different config"):
        rundir.open_run(workdir, first)


def test_the_config_file_is_compared_by_where_it_is(tmp_path):
    """`./configs/x.py` and `configs/x.py` are one file: a rerun resumes instead of being refused."""
    from jaxnets.config import normalize_spec

    assert normalize_spec("./configs/mnist_mlp.py:v") == "configs/mnist_mlp.py:v"
    assert normalize_spec(str(pathlib.Path.cwd() / "configs" / "mnist_mlp.py")) == "configs/mnist_mlp.py"
    workdir = tmp_path / "run"
    run = {"config_file": "./configs/mnist_mlp.py", "seeds": [0], "config": {"a": 1}}
    rundir.open_run(workdir, run)
    (workdir / "metrics.jsonl").write_text('{"step": 10}\n')  # a run to protect
    rundir.open_run(workdir, {**run, "config_file": "configs/mnist_mlp.py"})
    with pytest.raises(rundir.RunDirError, match="config_file"):
        rundir.open_run(workdir, {**run, "config_file": "configs/mnist_advanced.py"})


def test_the_default_workdir_reflects_overrides():
    """An override run gets its own folder, so it can neither collide with the plain run nor
    invite --overwrite to delete it."""
    from jaxnets.runner import default_workdir

    assert default_workdir("configs/mnist_mlp.py", None) == pathlib.Path("runs/mnist_mlp")
    assert default_workdir("configs/mnist_mlp.py", 4, ["--config.train.steps=200"]) == \
        pathlib.Path("runs/mnist_mlp_steps200_seeds4")
    assert default_workdir("configs/char_rnn.py:gru", None, ["--config.model.cell", "lstm"]) == \
        pathlib.Path("runs/char_rnn_gru_celllstm")
    long = default_workdir("configs/x.py", None, ["--config.sample.prompt=The quick brown fox jumps over the lazy dog again"])
    assert long.name.startswith("x_o") and len(long.name) == len("x_o") + 8


def _cli(workdir, *extra):
    return [sys.executable, "-m", "jaxnets", "train", "--config", "configs/mnist_mlp.py", *TINY,
            "--config.train.steps=600", "--config.train.log_every=10", "--config.train.checkpoint_every=50",
            "--config.model.keep_prob=0.8", "--workdir", str(workdir), *extra]


def test_resume_after_kill_is_bitwise_equal(tiny_mnist, tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(_cli(straight), check=True, cwd=ROOT, env=env, capture_output=True)

    proc = subprocess.Popen(_cli(killed), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        records = rundir.read_metrics(killed / "metrics.jsonl")
        if records and records[-1]["step"] >= 100:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    interrupted_at = rundir.read_metrics(killed / "metrics.jsonl")[-1]["step"]
    assert 100 <= interrupted_at < 600, "the run must be killed in the middle"

    resumed = subprocess.run(_cli(killed), check=True, cwd=ROOT, env=env, capture_output=True, text=True)
    assert "resuming" in resumed.stdout
    assert "WARNING" not in resumed.stderr  # orbax knows the item it restores: no absl noise
    a, b = final_params(straight), final_params(killed)
    assert int(a["step"][0]) == int(b["step"][0]) == 600
    chex.assert_trees_all_equal(a["params"], b["params"])  # bitwise, not approximately
    chex.assert_trees_all_equal(a["opt_state"], b["opt_state"])
    records = rundir.read_metrics(killed / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(10, 601, 10))  # no duplicated or missing lines
    times = [r["time"] for r in records]
    assert times == sorted(times)  # the resumed clock continues from the killed one


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_ctrl_c_says_where_it_stopped_in_one_line(tiny_mnist, tmp_path, signum, code):
    """SIGINT mid-training: exit 130 and one line with the step, the last checkpoint and what to
    do — no KeyboardInterrupt traceback. SIGTERM and SIGHUP (what schedulers send; issue 35.11)
    the same, with exit 128 + the signal."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    # SIGINT's default disposition in the child, also when the tests themselves run in the
    # background (where the shell ignores SIGINT and Python would inherit that).
    proc = subprocess.Popen(_cli(tmp_path / "run"), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signum, signal.SIG_DFL))  # (nohup ignores SIGHUP)
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "run" / "checkpoints" / "100").exists():
        time.sleep(0.02)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    step, checkpoint = (int(n) for n in re.fullmatch(
        r"interrupted at step (\d+) \(.*\); last checkpoint at step (\d+); rerun the same command to resume",
        last).groups())
    assert 100 <= checkpoint <= step < 600


def counting_task(nan_from: int) -> Task:
    """A least-squares task whose loss turns NaN after `nan_from` steps (model_state counts)."""

    def init(key):
        return {"w": jnp.zeros(2)}, jnp.zeros((), jnp.int32)

    def loss(params, count, batch, key, step):
        value = jnp.mean((batch["x"] @ params["w"] - batch["y"]) ** 2)
        return jnp.where(count >= nan_from, jnp.nan, value), (count + 1, {})

    def evaluate(params, count, batch, key, step):
        return {"sq_error": mean_of((batch["x"] @ params["w"] - batch["y"]) ** 2)}, count

    return Task(init, loss, evaluate)


def _train_config(**overrides):
    c = ml_collections.ConfigDict(dict(batch_size=8, num_epochs=0.0, steps=100, shuffle=True, log_every=10,
                                       eval_every=0, checkpoint_every=20, eval_batch_size=64, stop_on_nan=True))
    c.update(overrides)
    return c


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    data = {"x": x, "y": x @ np.array([1.0, 2.0], np.float32)}
    lines = []
    with pytest.raises(NonFiniteLoss) as err:
        fit(counting_task(nan_from=45), optax.sgd(0.1), data, {"test": data}, _train_config(), tmp_path, [0],
            log=lines.append)
    message = str(err.value)
    assert "non-finite training loss" in message and "step 50" in message and "(step 40)" in message
    checkpoints = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
    assert checkpoints[-1] == 40  # the NaN state (step 50, 60) never reached a checkpoint
    restored = final_params(tmp_path)
    assert np.all(np.isfinite(restored["params"]["w"]))
    assert [r["step"] for r in rundir.read_metrics(tmp_path / "metrics.jsonl")][-1] == 50


def slow_task(width: int = 384, depth: int = 24) -> Task:
    """Least squares through `depth` matmuls of width × width a step: a chunk that takes seconds."""

    def init(key):
        return {"w": jnp.eye(width) * 0.5, "v": jnp.zeros(width)}, ()

    def forward(params, x):
        h = x
        for _ in range(depth):
            h = jnp.tanh(h @ params["w"])
        return h @ params["v"]

    def loss(params, model_state, batch, key, step):
        return jnp.mean((forward(params, batch["x"]) - batch["y"]) ** 2), (model_state, {})

    def evaluate(params, model_state, batch, key, step):
        return {"sq_error": mean_of((forward(params, batch["x"]) - batch["y"]) ** 2)}, model_state

    return Task(init, loss, evaluate)


def _interrupted_fit(tmp_path, name, signals: int):
    """Fit the slow task; `signals` SIGINTs arrive 0.1 s (and 0.3 s) after the first progress
    line, i.e. while the second chunk trains. Returns (the Interrupted, the log lines)."""
    import threading

    from jaxnets.train import Interrupted

    x = np.random.default_rng(0).normal(size=(512, 384)).astype(np.float32)
    data = {"x": x, "y": x[:, 0]}
    lines = []

    def log(message):
        lines.append(message)
        if "step 12/48 " in message:  # the first progress line
            for i in range(signals):
                threading.Timer(0.1 + 0.2 * i, os.kill, (os.getpid(), signal.SIGINT)).start()

    train = _train_config(batch_size=256, steps=48, log_every=12, checkpoint_every=48)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # also when the tests run in the background
    try:
        with pytest.raises(Interrupted) as err:
            fit(slow_task(), optax.sgd(0.05), data, {}, train, tmp_path / name, [0], log=log)
    finally:
        signal.signal(signal.SIGINT, previous)
    return err.value, lines, data, train


def test_ctrl_c_in_a_long_chunk_is_answered_at_once_and_the_chunk_is_saved(tmp_path, monkeypatch):
    """A chunk can be minutes long (an epoch of a PTB model on a CPU). Ctrl-C during one is
    answered at once, not when the chunk ends; the chunk is finished and saved, so a rerun
    resumes from its end and equals the uninterrupted run bit for bit. A second Ctrl-C stops
    without it."""
    import jax

    from jaxnets.train import loop

    monkeypatch.setattr(loop, "LONG_CHUNK_SECONDS", 0.0)  # every chunk is 'long', whatever this machine's speed
    stopped, lines, data, train = _interrupted_fit(tmp_path, "run", signals=1)
    stopping = [i for i, line in enumerate(lines) if line.startswith("stopping: the steps up to 24 are finishing")]
    assert stopping, lines
    chunk_done = [i for i, line in enumerate(lines) if "step 24/48 " in line]
    assert stopping[0] < chunk_done[0]  # said while the chunk still trained
    assert "a rerun resumes" not in lines[stopping[0]] and "no checkpoint yet" in lines[stopping[0]]
    assert (stopped.step, stopped.checkpoint_step) == (24, 24)
    resumed = fit(slow_task(), optax.sgd(0.05), data, {}, train, tmp_path / "run", [0], log=lambda m: None)
    straight = fit(slow_task(), optax.sgd(0.05), data, {}, train, tmp_path / "straight", [0], log=lambda m: None)
    chex.assert_trees_all_equal(jax.device_get(resumed.state.params), jax.device_get(straight.state.params))
    assert [r["step"] for r in rundir.read_metrics(tmp_path / "run" / "metrics.jsonl")] == [12, 24, 36, 48]

    twice, lines, _, _ = _interrupted_fit(tmp_path, "twice", signals=2)  # the second stops the wait
    assert (twice.step, twice.checkpoint_step) == (12, None)
    assert not [line for line in lines if "step 24/48 " in line]
    assert not [p for p in (tmp_path / "twice" / "checkpoints").iterdir() if p.name.isdigit()]


def test_cli_reports_nan_with_exit_code(tiny_mnist, tmp_path, capsys):
    # (a NaN learning rate is refused before training now: an SGD rate of 1e38 diverges instead)
    code = main(["train", "--config", "configs/mnist_mlp.py", *TINY, "--config.optimizer.name=sgd",
                 "--config.optimizer.learning_rate=1e38", "--config.train.steps=20", "--workdir", str(tmp_path / "run")])
    assert code == 3
    assert "non-finite training loss" in capsys.readouterr().err
    assert not (tmp_path / "run" / "summary.json").exists()


def test_sweep_is_vmapped_and_reports_mean_and_std(tiny_mnist, tmp_path):
    sweep_dir, single_dir = tmp_path / "sweep", tmp_path / "single"
    common = ["--config", "configs/mnist_mlp.py", *TINY, "--config.train.steps=30"]
    assert main(["sweep", *common, "--seeds", "3", "--workdir", str(sweep_dir)]) == 0
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert summary["seeds"] == [0, 1, 2]
    per_seed = np.array(summary["metrics_per_seed"]["test_loss"])
    chex.assert_shape(per_seed, (3,))
    assert len(set(per_seed.tolist())) == 3  # three different runs
    np.testing.assert_allclose(summary["metrics"]["test_loss"], per_seed.mean(), rtol=1e-12)
    np.testing.assert_allclose(summary["metrics_std"]["test_loss"], per_seed.std(ddof=1), rtol=1e-12)
    params = final_params(sweep_dir)["params"]
    chex.assert_shape(params["dense_0"]["w"], (3, 784, 32))  # one stacked (vmapped) state
    # seed 1 of the sweep is the same run as a single run with seed 1
    assert main(["train", *common, "--config.seed=1", "--workdir", str(single_dir)]) == 0
    single = json.loads((single_dir / "summary.json").read_text())
    np.testing.assert_allclose(single["metrics"]["test_loss"], per_seed[1], rtol=1e-4)
    records = rundir.read_metrics(sweep_dir / "metrics.jsonl")
    assert len(records[-1]["per_seed"]["train_loss"]) == 3


def test_report_table(tiny_mnist, tmp_path, capsys):
    """One row per run: published metrics with the gap, steps, and a flag on a shortened run."""
    for name, values in (("a", [0.97, 0.98]), ("b", [0.5])):
        (tmp_path / name).mkdir()
        summary = rundir.make_summary(experiment=f"exp_{name}", config_file=f"configs/{name}.py",
                                      seeds=list(range(len(values))),
                                      per_seed={"test_accuracy": np.array(values), "test_loss": np.array(values)},
                                      reference={"test_accuracy": 0.975, "source": "post"}, steps=10,
                                      wall_time_s=1.0, throughput=100.0)
        rundir.RunWriter(tmp_path / name).summary(summary)
    assert main(["train", "--config", "configs/mnist_mlp.py", *TINY, "--config.train.steps=20",
                 "--workdir", str(tmp_path / "short")]) == 0
    text = report.main(str(tmp_path))
    assert "| a | exp_a | test_accuracy | 0.975 ± 0.007071 | 0.975 | +0 | 2 | 10 |  | 1 |" in text
    assert "| b | exp_b | test_accuracy | 0.5 | 0.975 | -0.475 | 1 | 10 |  | 1 |" in text
    short = next(line for line in text.splitlines() if line.startswith("| short |"))
    assert "| test_error | " in short and "| 0.0193 | " in short and "| 20 | cut short: train.steps=20 " \
        "(file: num_epochs=100) |" in short
    assert "Published numbers: White 2017" in text and "; post." in text
    assert (tmp_path / "results.md").read_text() == text


def test_summary_keeps_the_training_sessions_provenance(tiny_mnist, tmp_path):
    """Reopened under another JAX, a run's summary keeps the versions it was trained with and
    lists the later session apart; commit, date and command line are recorded."""
    workdir = tmp_path / "run"
    args = ["train", "--config", "configs/mnist_mlp.py", *TINY, "--config.train.steps=10", "--workdir", str(workdir)]
    assert main(args) == 0
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["git_commit"] and re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", summary["git_commit"])
    assert summary["started"][:2] == "20" and summary["sessions"] == 1 and "last_session" not in summary
    config = json.loads((workdir / "config.json").read_text())
    config["sessions"][0]["jax_version"] = "0.4.1"  # as if trained under an older JAX
    (workdir / "config.json").write_text(json.dumps(config))
    assert main(args) == 0
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["jax_version"] == "0.4.1" and summary["sessions"] == 2
    import jax

    assert summary["last_session"]["jax_version"] == jax.__version__


def test_rerunning_a_finished_run_restores_and_reports_the_same(tiny_mnist, tmp_path):
    args = ["train", "--config", "configs/mnist_mlp.py", *TINY, "--config.train.steps=20",
            "--workdir", str(tmp_path / "run")]
    assert main(args) == 0
    first = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert main(args) == 0  # nothing left to train: the final checkpoint is evaluated again
    again = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert again["metrics"] == first["metrics"] and again["steps"] == 20
    assert [r["step"] for r in rundir.read_metrics(tmp_path / "run" / "metrics.jsonl")][-1] == 20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_suite_workers_die_with_the_suite(tmp_path):
    """A killed suite must not leave workers training in the background (they did, once)."""
    parent = tmp_path / "parent.py"
    parent.write_text(
        "import subprocess, sys\n"
        "code = 'from jaxnets.tables.suite import _die_with_parent; _die_with_parent(); import time; "
        "print(1, flush=True); time.sleep(120)'\n"
        "child = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE)\n"
        "child.stdout.readline()\n"
        "print(child.pid, flush=True)\n")
    out = subprocess.run([sys.executable, str(parent)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    pid = int(out.stdout.split()[-1])
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            state = pathlib.Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return
        if "State:\tZ" in state:  # dead, waiting for a reaper that may not exist in containers
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    pytest.fail("the worker outlived its suite")


def test_curves_show_the_published_numbers_and_single_points(tmp_path, monkeypatch):
    from jaxnets import plots

    keys = ["test_error", "train_loss", "validation_loss"]
    lines = plots.reference_lines({"test_error": 0.0193, "min_validation_loss": 5.01, "source": "post"}, keys)
    assert lines == {"error": [("published test", 0.0193)], "loss": [("published min validation", 5.01)]}
    figures = []
    monkeypatch.setattr(plots.plt, "close", figures.append)
    history = [{"step": 100, "test_error": 0.05, "train_loss": 0.3, "validation_loss": 5.2}]  # one evaluation
    plots.training_curves(from_records(history), tmp_path / "c.png",
                          reference={"test_error": 0.0193, "min_validation_loss": 5.01})
    error_panel, loss_panel = figures[0].axes
    assert error_panel.get_title() == "error" and loss_panel.get_title() == "loss"
    assert [line.get_marker() for line in error_panel.lines] == ["o", "None"]  # the point shows; then the reference
    assert error_panel.lines[1].get_ydata()[0] == 0.0193 and error_panel.lines[1].get_linestyle() == "--"
    assert any("published min validation 5.01" == t.get_text() for t in loss_panel.get_legend().get_texts())


def test_curves_leave_out_throughput_and_comparisons_draw_epochs_and_skip_empty_panels(tmp_path, monkeypatch):
    from jaxnets import plots

    figures = []
    monkeypatch.setattr(plots.plt, "close", figures.append)
    history = [{"step": 50 * e, "epoch": float(e), "time": 1.0 * e, "tokens_per_s": 9e3, "train_loss": 6.0 - e,
                "validation_loss": 6.5 - e} for e in (1, 2, 3)]
    plots.training_curves(from_records(history), tmp_path / "c.png")
    assert [ax.get_title() for ax in figures[0].axes] == ["loss"]  # no panel of tokens/s or epochs
    by_epoch = {k: Curve(c.steps / 50, c.values) for k, c in from_records(history).items()}
    plots.comparison({"lr 0.003": [], "lr 0.001": [("a", by_epoch, []), ("b", by_epoch, [])]}, ["validation_loss"],
                     tmp_path / "f.png", x="epoch")
    (panel,) = figures[1].axes  # the learning rate with no runs is left out
    assert panel.get_title() == "lr 0.001: validation_loss" and panel.get_xlabel() == "epoch"
    for line in panel.lines:
        np.testing.assert_array_equal(line.get_xdata(), [1.0, 2.0, 3.0])
    ticks = panel.get_xticks()  # whole epochs, not 1.25, 2.5, …
    assert len(ticks) >= 3 and all(float(t).is_integer() for t in ticks), ticks


def _tensorboard_scalars(folder: pathlib.Path) -> dict[tuple[str, int], float]:
    """{(tag, step): value} from the event files (TFRecord: length, crc, Event proto, crc)."""
    import struct

    from tensorboardX.proto import event_pb2

    scalars = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data, at = path.read_bytes(), 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at: at + 8])
            event = event_pb2.Event.FromString(data[at + 12: at + 12 + length])
            at += 12 + length + 4
            for value in event.summary.value:
                scalars[(value.tag, event.step)] = value.simple_value
    return scalars


def test_tensorboard_events_equal_metrics_jsonl(tiny_mnist, tmp_path):
    workdir = tmp_path / "run"
    args = ["sweep", "--config", "configs/mnist_mlp.py", *TINY, "--seeds", "2", "--config.train.steps=30",
            "--config.train.log_every=10", "--config.train.checkpoint_every=10", "--workdir", str(workdir)]
    assert main(args) == 0
    records = rundir.read_metrics(workdir / "metrics.jsonl")
    expected = {}
    for r in records:
        expected.update({(k, r["step"]): v for k, v in r.items() if k != "step" and not isinstance(v, dict)})
        expected.update({(f"seed_{i}/{k}", r["step"]): v for k, vs in r["per_seed"].items() for i, v in enumerate(vs)})
    scalars = _tensorboard_scalars(workdir / "tensorboard")
    assert scalars.keys() == expected.keys() and ("seed_1/test_error", 30) in scalars
    for key, value in expected.items():
        assert scalars[key] == pytest.approx(value, rel=1e-6), key  # float32 in the events
    assert main(["train", "--config", "configs/mnist_mlp.py", *TINY, "--config.train.steps=5",
                 "--config.train.tensorboard=false", "--workdir", str(tmp_path / "off")]) == 0
    assert not (tmp_path / "off" / "tensorboard").exists()


def test_a_sweep_with_some_diverged_seeds_keeps_the_others_results():
    summary = rundir.make_summary(experiment="e", config_file="c.py", seeds=[0, 1, 2],
                                  per_seed={"test_loss": np.array([1.0, np.nan, 3.0]),
                                            "train_loss": np.array([0.5, np.inf, 0.7])},
                                  reference={}, steps=10, wall_time_s=1.0)
    assert summary["diverged_seeds"] == [1]
    assert summary["metrics"]["test_loss"] == 2.0 and summary["metrics_std"]["test_loss"] == pytest.approx(2 ** 0.5)
    assert np.isnan(summary["metrics_per_seed"]["test_loss"][1])  # kept, not hidden
    healthy = rundir.make_summary(experiment="e", config_file="c.py", seeds=[0, 1], per_seed={"a": np.ones(2)},
                                  reference={}, steps=1, wall_time_s=1.0)
    assert "diverged_seeds" not in healthy


def test_suite_table_rows_published_number_plot_only_or_not_comparable():
    import types

    from jaxnets.tables.outputs import results_table

    module = types.SimpleNamespace(TABLE=[("e", "a number", "v", "acc", 0.5), ("e", "a plot", "v", "acc", None),
                                          ("e", "other data", "v", "acc", "0.36 (blogs)"),
                                          ("e", "not run", "w", "acc", 0.5)])
    summaries = {"v": {"metrics": {"acc": 0.6}, "metrics_std": {"acc": 0.05}, "seeds": [0, 1, 2]}}
    rows = results_table(module, summaries).splitlines()[2:]
    assert rows[0] == "| e | a number | 0.5 | 0.6000 ± 0.0500 (3) | +0.1000 | +2.0 | v |"
    assert rows[1] == "| e | a plot | (plot only) | 0.6000 ± 0.0500 (3) | | | v |"
    assert rows[2] == "| e | other data | 0.36 (blogs) | 0.6000 ± 0.0500 (3) | | | v |"
    assert rows[3] == "| e | not run | 0.5 | (not run) | | | w |"


def test_suite_draws_summary_vectors_per_position(tmp_path, monkeypatch):
    """A figure with x != "step" reads vectors from each variant's summary.json (the initial-state
    post's perplexity-by-position figures): one panel per key, one line per variant that has it."""
    import importlib.util

    from jaxnets import plots
    from jaxnets.tables.outputs import write_outputs

    spec = importlib.util.spec_from_file_location("initial_states", "configs/initial_states.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.FIGURES = {"perplexity_by_position": module.FIGURES["perplexity_by_position"]}
    curves = {"train_perplexity": [110.0, 90.0, 80.0], "validation_perplexity": [200.0, 150.0, 140.0],
              "best_steps": [619]}
    summaries = {"zero": {"perplexity_by_position_at_best_epoch": curves, "metrics": {}, "seeds": [0]},
                 "variable": {"perplexity_by_position_at_best_epoch": {}, "metrics": {}, "seeds": [0]}}
    figures = []
    monkeypatch.setattr(plots.plt, "close", figures.append)
    write_outputs(module, tmp_path, summaries, wall=1.0)
    assert (tmp_path / "figures" / "perplexity_by_position.png").is_file()
    train, validation = figures[0].axes
    assert train.get_title() == "train_perplexity" and validation.get_title() == "validation_perplexity"
    assert [line.get_label() for line in train.lines] == ["zero"]  # the variant without a curve is left out
    np.testing.assert_array_equal(validation.lines[0].get_ydata(), [200.0, 150.0, 140.0])
    assert train.get_xlabel() == "position in the window"
    wall_line = (tmp_path / "results.md").read_text().strip().splitlines()[-1]
    assert wall_line.startswith("Suite wall time 0m01s for 2 variants"), wall_line
    write_outputs(module, tmp_path, summaries, wall=2100.0, trained=1)  # the other variant was done before
    wall_line = (tmp_path / "results.md").read_text().strip().splitlines()[-1]
    assert wall_line.startswith("This invocation trained 1 of the table's 2 variants in 35m00s"), wall_line


def test_a_learning_rate_grid_is_one_program_and_each_rate_is_its_own_run(tiny_mnist, tmp_path, capsys):
    """Issue 30.2 from the command line: `sweep --learning-rates` trains every seed at each rate
    as one program (4 runs in one stacked state); each rate's numbers equal that rate's sweep
    trained alone, and a rate whose seeds all diverge is NaN without touching the others."""
    common = ["--config", "configs/mnist_mlp.py", *TINY, "--config.train.steps=20", "--config.train.log_every=10",
              "--config.optimizer.name=sgd", "--config.train.stop_on_nan=false"]
    grid_dir, alone_dir = tmp_path / "grid", tmp_path / "alone"
    assert main(["sweep", *common, "--seeds", "2", "--learning-rates", "0.5,1e38", "--workdir", str(grid_dir)]) == 0
    out = capsys.readouterr().out
    assert "seed 1 at learning_rate 1e+38 diverged" in out
    assert "2 of 4 runs diverged: means over the others" in out and "train nan" not in out  # progress stays readable
    grid = json.loads((grid_dir / "summary.json").read_text())
    assert grid["learning_rates"] == [0.5, 1e38] and grid["seeds"] == [0, 1]
    assert grid["diverged_seeds_by_learning_rate"] == {"1e+38": [0, 1]} and "diverged_seeds" not in grid
    assert np.isnan(grid["metrics"]["test_accuracy@lr1e+38"])  # no mean of diverged runs passes for a result
    chex.assert_shape(final_params(grid_dir)["params"]["dense_0"]["w"], (4, 784, 32))  # one program, 4 runs
    assert (grid_dir / "plots" / "curves.png").is_file()
    assert main(["sweep", *common, "--seeds", "2", "--config.optimizer.learning_rate=0.5",
                 "--workdir", str(alone_dir)]) == 0
    alone = json.loads((alone_dir / "summary.json").read_text())
    np.testing.assert_allclose(grid["metrics_per_seed"]["test_loss@lr0.5"], alone["metrics_per_seed"]["test_loss"],
                               rtol=1e-6)
    assert grid["metrics"]["test_loss@lr0.5"] == pytest.approx(alone["metrics"]["test_loss"], rel=1e-6)
    assert alone["metrics"]["test_loss"] < 2.25  # the rate did train (chance: ln 10 = 2.30)


def test_a_learning_rate_grid_is_refused_before_any_work(tiny_mnist, tmp_path, capsys):
    cases = [(["--config", "configs/gradient_descent.py", "--learning-rates", "0.1,0.2"], "own loops"),
             (["--config", "configs/char_rnn_karpathy.py", "--learning-rates", "0.1,0.2"], "constant rate"),
             (["--config", "configs/mnist_mlp.py", "--learning-rates", "0.1,-1"], "distinct positive"),
             (["--config", "configs/mnist_mlp.py", "--learning-rates", "0.1,fast"], "numbers separated by commas"),
             (["--config", "configs/mnist_mlp.py", "--learning-rates", "0.1,0.2", "--record"], "one table row")]
    for i, (args, words) in enumerate(cases):
        assert main(["sweep", "--seeds", "2", *args, "--workdir", str(tmp_path / str(i))]) == 2, args
        assert words in capsys.readouterr().err, args
        assert not (tmp_path / str(i)).exists(), args  # refused before a folder was made


def test_a_grid_summary_leaves_a_diverged_seed_out_of_its_own_rate_only():
    per_seed = {"test_loss": np.array([1.0, 3.0, 2.0, np.nan, 5.0, 7.0])}  # rates a, b, c × seeds 0, 1
    summary = rundir.make_grid_summary(rates=[0.1, 0.2, 0.3], seeds=[0, 1], per_seed=per_seed, diverged_at={3: 40},
                                       reference={}, experiment="x", config_file="", steps=1, wall_time_s=0.0)
    assert summary["metrics"] == {"test_loss@lr0.1": 2.0, "test_loss@lr0.2": 2.0, "test_loss@lr0.3": 6.0}
    assert summary["metrics_std"]["test_loss@lr0.3"] == pytest.approx(np.sqrt(2.0))
    assert "test_loss@lr0.2" not in summary["metrics_std"]  # one seed left at that rate
    assert summary["diverged_seeds_by_learning_rate"] == {"0.2": [1]}
    assert summary["diverged_at_step_by_learning_rate"] == {"0.2": {"1": 40}}
    assert summary["metrics_per_seed"]["test_loss@lr0.3"] == [5.0, 7.0]


def test_a_grid_leaves_out_what_is_not_per_rate(tmp_path, capsys):
    """An experiment's own figures and summary fields pool its runs or read the first one: in a
    grid they would pass one rate's picture off as all rates', so they are left out, saying so."""
    workdir = tmp_path / "grid"
    assert main(["sweep", "--config", "configs/rnn_toy.py", "--seeds", "1", "--learning-rates", "0.1,0.3",
                 "--config.train.steps=20", "--config.train.log_every=10", "--workdir", str(workdir)]) == 0
    assert "loss.png, expected_cross_entropies pool its runs" in capsys.readouterr().out
    summary = json.loads((workdir / "summary.json").read_text())
    assert "expected_cross_entropies" not in summary and set(summary["metrics"]) == {"train_loss@lr0.1",
                                                                                   "train_loss@lr0.3"}
    assert sorted(p.name for p in (workdir / "plots").iterdir()) == ["curves.png"]


def test_a_grid_resumed_from_its_checkpoint_keeps_each_runs_rate(tiny_mnist, tmp_path, capsys):
    """The rates live in the optimizer state: a grid extended from its step-20 checkpoint must
    train each run on at its own rate, bitwise as the grid trained straight through."""
    common = ["--config", "configs/mnist_mlp.py", *TINY, "--config.train.log_every=10",
              "--config.optimizer.name=sgd", "--seeds", "2", "--learning-rates", "0.05,0.5"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(["sweep", *common, "--config.train.steps=40", "--workdir", str(straight)]) == 0
    assert main(["sweep", *common, "--config.train.steps=20", "--workdir", str(resumed)]) == 0
    assert main(["sweep", *common, "--config.train.steps=40", "--workdir", str(resumed)]) == 0
    assert "resuming" in capsys.readouterr().out
    a, b = final_params(straight), final_params(resumed)
    chex.assert_trees_all_equal(a["params"], b["params"])
    chex.assert_trees_all_equal(a["opt_state"], b["opt_state"])
    loaded = jaxnets.load_run(resumed, warn=lambda m: None)
    assert loaded["learning_rates"] == [0.05, 0.5] and loaded["seeds"] == [0, 1]
    chex.assert_shape(loaded["params"]["dense_0"]["w"], (4, 784, 32))  # rate-major: 2 rates × 2 seeds
    rates = [json.loads((d / "summary.json").read_text())["metrics"] for d in (straight, resumed)]
    assert rates[0] == rates[1] and rates[0]["test_loss@lr0.5"] != rates[0]["test_loss@lr0.05"]
