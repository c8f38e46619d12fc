"""Faults that lose or falsify results (issue 18): damaged metrics lines, half-written files,
--overwrite on a damaged run, checkpoints of another config or with damaged contents, NaN
parameters behind a finite loss, result-neutral changes on resume, another device count."""

import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets import rundir
from tests.conftest import ROOT
from jaxnets.__main__ import main
from jaxnets.train.checkpoint import CheckpointError, Checkpointer

TINY = ["--config.model.hidden_sizes=(32,)", "--config.train.batch_size=20", "--config.train.eval_batch_size=50",
        "--config.train.log_every=5", "--config.train.checkpoint_every=5"]


def _train(workdir, *extra):
    return main(["train", "--config", "configs/mnist_mlp.py", *TINY, "--workdir", str(workdir), *extra])


def test_a_damaged_metrics_line_costs_that_line_only(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"step": s, "train_loss": 1.0 / s}) for s in range(1, 13)]
    lines[5] = lines[5][:17]  # cut in the middle of the file
    path.write_text("\n".join(lines) + "\n")
    warnings = []
    log = rundir.MetricsLog(path, resume_step=12, warn=warnings.append)
    assert [r["step"] for r in log.records] == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]  # 11 of 12 kept
    assert "line(s) [6] are damaged" in warnings[0]
    assert [r["step"] for r in rundir.read_metrics(path)] == [r["step"] for r in log.records]  # rewritten clean


def test_resume_appends_and_rewrites_only_to_drop_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s}) + "\n" for s in (5, 10, 15)))
    inode = os.stat(path).st_ino
    rundir.MetricsLog(path, resume_step=15).write({"step": 20})
    assert os.stat(path).st_ino == inode  # nothing to drop: appended in place, never truncated
    assert [r["step"] for r in rundir.read_metrics(path)] == [5, 10, 15, 20]
    rundir.MetricsLog(path, resume_step=10)  # steps 15 and 20 will be trained again
    assert [r["step"] for r in rundir.read_metrics(path)] == [5, 10] and os.stat(path).st_ino != inode


def test_a_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "plots" / "curves.png"
    target.parent.mkdir()
    target.write_bytes(b"old figure")

    def draw(path):
        path.write_bytes(b"half a")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        rundir.write_atomic(target, draw)
    assert target.read_bytes() == b"old figure" and [p.name for p in target.parent.iterdir()] == ["curves.png"]


def test_overwrite_of_a_run_without_config_json_deletes_its_checkpoints(tiny_mnist, tmp_path, capsys):
    workdir = tmp_path / "run"
    assert _train(workdir, "--config.train.steps=10") == 0
    (workdir / "config.json").unlink()  # a damaged run: its checkpoints must not be grafted on
    assert _train(workdir, "--config.train.steps=10", "--config.model.hidden_sizes=(16,)") == 2
    assert "damaged run" in capsys.readouterr().err
    assert _train(workdir, "--config.train.steps=10", "--config.model.hidden_sizes=(16,)", "--overwrite") == 0
    out = capsys.readouterr().out
    assert "resuming" not in out
    assert [r["step"] for r in rundir.read_metrics(workdir / "metrics.jsonl")] == [5, 10]  # trained afresh
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("mine")
    assert _train(foreign, "--config.train.steps=5", "--overwrite") == 2  # never deletes what is not a run
    assert (foreign / "todo.txt").read_text() == "mine"


def test_overwrite_never_deletes_a_folder_jaxnets_did_not_make(tiny_mnist, tmp_path, capsys):
    """Issue 35.1: a user's folder with a checkpoints/ (or metrics.jsonl) in it is not a run."""
    mine = tmp_path / "project"
    (mine / "checkpoints").mkdir(parents=True)
    (mine / "checkpoints" / "model.pt").write_text("weights")
    (mine / "notes.txt").write_text("x")
    (mine / "src").mkdir()
    assert _train(mine, "--config.train.steps=20", "--overwrite") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not made by jaxnets" in err and "never deleted" in err
    assert sorted(p.name for p in mine.iterdir()) == ["checkpoints", "notes.txt", "src"]
    assert (mine / "checkpoints" / "model.pt").read_text() == "weights"


def test_an_interrupted_overwrite_leaves_a_damaged_run_not_a_silent_resume(tiny_mnist, tmp_path, capsys, monkeypatch):
    """Issue 35.7: killed while --overwrite deletes, the rerun of the old command must not resume
    the old checkpoints with the history gone: config.json goes first, so the folder is refused."""
    workdir = tmp_path / "run"
    assert _train(workdir, "--config.train.steps=10") == 0
    real_rmtree = rundir.shutil.rmtree

    def killed(path, *a, **k):
        raise KeyboardInterrupt  # the process dies at its first deletion of a folder

    monkeypatch.setattr(rundir.shutil, "rmtree", killed)
    assert _train(workdir, "--config.train.steps=10", "--config.model.hidden_sizes=(16,)", "--overwrite") == 130
    monkeypatch.setattr(rundir.shutil, "rmtree", real_rmtree)
    assert not (workdir / "config.json").exists()
    capsys.readouterr()
    assert _train(workdir, "--config.train.steps=10") == 2  # the old command: refused, nothing resumed
    assert "damaged run" in capsys.readouterr().err


def test_a_run_that_fails_before_training_leaves_no_folder(tmp_path, capsys, monkeypatch):
    """Issue 35.13: a data error before the first step leaves nothing behind (no config.json, no
    empty checkpoints/ or vocabulary.json)."""
    monkeypatch.setenv("JAXNETS_DATA_DIR", str(tmp_path / "no_data"))
    workdir = tmp_path / "run"
    assert main(["train", "--config", "configs/mnist_mlp.py", "--config.train.steps=5", "--workdir",
                 str(workdir)]) == 2
    assert "mnist" in capsys.readouterr().err.lower()
    assert not workdir.exists()


def test_checkpoints_of_another_config_are_never_resumed(tmp_path):

    like = {"params": {"w": jnp.ones(3)}}
    ckpt = Checkpointer(tmp_path / "ck", fingerprint=rundir.config_fingerprint({"config": {"lr": 0.1}}))
    ckpt.save(5, like)
    ckpt.close()
    other = rundir.config_fingerprint({"config": {"lr": 0.01}})
    with pytest.raises(CheckpointError, match="written under a different config"):
        Checkpointer(tmp_path / "ck", fingerprint=other).restore(like)
    # result-neutral keys do not change the fingerprint: such a rerun resumes
    neutral = {"config": {"lr": 0.1, "train": {"stop_on_nan": False, "steps": 50}}}
    assert rundir.config_fingerprint(neutral) == rundir.config_fingerprint(
        {"config": {"lr": 0.1, "train": {"stop_on_nan": True, "steps": 10}}})


def _checkpointed(tmp_path, steps=(10, 20)):
    state = {"params": {"w": jnp.arange(6.0).reshape(2, 3)}}
    ckpt = Checkpointer(tmp_path / "ck", fingerprint="f")
    for step in steps:
        ckpt.save(step, jax.tree.map(lambda a: a + step, state))
    ckpt.close()
    return state


def test_a_checkpoint_that_fails_its_checksum_is_skipped(tmp_path):
    like = _checkpointed(tmp_path)
    meta_path = tmp_path / "ck" / "20" / "_CHECKPOINT_METADATA"
    meta = json.loads(meta_path.read_text())
    meta["custom_metadata"]["leaves_sha256"] = "0" * 64  # as if a byte of the data had flipped
    meta_path.write_text(json.dumps(meta))
    warnings = []
    step, state = Checkpointer(tmp_path / "ck", fingerprint="f", warn=warnings.append).restore(like)
    assert step == 10 and float(state["params"]["w"][0, 0]) == 10.0  # fell back to the older one
    assert "do not match the checksum written with them" in warnings[0]
    assert (tmp_path / "checkpoints_damaged" / "20").is_dir()  # set aside, never deleted


def _damage(step_dir, case):
    import shutil

    files = [p for p in step_dir.rglob("*") if p.is_file()]
    if case == "manifest_removed":
        (step_dir / "default" / "manifest.ocdbt").unlink()
    elif case == "data_truncated":
        for path in (step_dir / "default" / "d").rglob("*"):
            if path.is_file():
                path.write_bytes(path.read_bytes()[:10])
    elif case == "garbage_metadata":
        (step_dir / "_CHECKPOINT_METADATA").write_text("garbage{{")
    elif case == "item_removed":
        shutil.rmtree(step_dir / "default")
    elif case == "all_truncated_to_zero":
        for path in files:
            path.write_bytes(b"")
    elif case == "empty_newer_step":
        (step_dir.parent / "30").mkdir()


@pytest.mark.parametrize("case", ["manifest_removed", "data_truncated", "garbage_metadata", "item_removed",
                                  "all_truncated_to_zero", "empty_newer_step"])
def test_a_damaged_newest_checkpoint_falls_back_in_one_line(case, tmp_path, capfd):
    """Each way a newest step can be damaged (a full disk, a copy, a crash): the older one is
    restored, the damaged one moved aside with one line saying why, orbax kept quiet."""
    like = _checkpointed(tmp_path)
    _damage(tmp_path / "ck" / "20", case)
    capfd.readouterr()
    warnings = []
    step, state = Checkpointer(tmp_path / "ck", fingerprint="f", warn=warnings.append).restore(like)
    expected = 20 if case == "empty_newer_step" else 10
    assert step == expected and float(state["params"]["w"][0, 0]) == expected
    damaged = "30" if case == "empty_newer_step" else "20"
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: the checkpoint at step {damaged} is damaged (")
    assert warnings[0].endswith(f"moved to {tmp_path / 'checkpoints_damaged' / damaged}; trying step {expected}")
    assert (tmp_path / "checkpoints_damaged" / damaged).is_dir() and not (tmp_path / "ck" / damaged).exists()
    out = capfd.readouterr()
    assert "absl" not in out.err and "Traceback" not in out.err


def test_when_no_checkpoint_reads_the_run_stops_naming_the_folder(tiny_mnist, tmp_path, capsys):
    workdir = tmp_path / "run"
    assert _train(workdir, "--config.train.steps=20", "--config.train.checkpoint_every=10") == 0
    (workdir / "summary.json").unlink()  # as if killed at the end
    for step in ("10", "20"):
        (workdir / "checkpoints" / step / "_CHECKPOINT_METADATA").write_text("")
    capsys.readouterr()
    assert _train(workdir, "--config.train.steps=20", "--config.train.checkpoint_every=10") == 2
    err = capsys.readouterr().err
    assert f"none of the checkpoints in {(workdir / 'checkpoints').absolute()} (steps [10, 20]) can be read" in err
    assert sorted(p.name for p in (workdir / "checkpoints_damaged").iterdir()) == ["10", "20"]
    assert (workdir / "metrics.jsonl").read_text()  # nothing already written is lost


def test_ctrl_c_during_a_save_lets_the_checkpoint_finish(tmp_path, monkeypatch):
    """A SIGINT that arrives while a checkpoint is written takes effect after it: the step is
    complete and restorable, then KeyboardInterrupt (orbax's own wait is never interrupted)."""
    import signal

    from jaxnets.train import checkpoint

    # Python's own handler, also when the tests run in the background (SIGINT ignored there).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        state = {"params": {"w": jnp.ones((2, 3))}}
        ckpt = Checkpointer(tmp_path / "ck", fingerprint="f")
        real_save = ckpt._manager.save

        def save_then_interrupted(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C lands in the middle of the save
            return real_save(*args, **kwargs)

        monkeypatch.setattr(ckpt._manager, "save", save_then_interrupted)
        with pytest.raises(KeyboardInterrupt):
            ckpt.save(7, state)
        ckpt.close()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is restored
        step, restored = Checkpointer(tmp_path / "ck", fingerprint="f").restore(state)
        assert step == 7
        chex.assert_trees_all_equal(restored, state)
        with checkpoint.interrupts_deferred():  # and without a signal, nothing is raised
            pass
    finally:
        signal.signal(signal.SIGINT, previous)


def test_flipped_bytes_in_the_data_files_are_caught(tmp_path):
    like = _checkpointed(tmp_path, steps=(10,))
    files = [p for p in (tmp_path / "ck" / "10").rglob("*") if p.is_file() and "METADATA" not in p.name
             and p.name != "files.json"
             and p.stat().st_size > 0]
    for path in files:  # damage every data file of the checkpoint a little
        data = bytearray(path.read_bytes())
        for i in range(len(data) // 2, len(data), max(1, len(data) // 7)):
            data[i] ^= 0x5A
        path.write_bytes(bytes(data))
    warnings = []
    try:
        step, state = Checkpointer(tmp_path / "ck", fingerprint="f", warn=warnings.append).restore(like)
    except CheckpointError as err:  # the only checkpoint is damaged: the run stops, naming the folder
        assert "none of the checkpoints in" in str(err) and "(steps [10])" in str(err)
        assert warnings and ("checksum" in warnings[0] or "orbax cannot read it" in warnings[0])
    else:  # orbax read it: then the values must be exactly what was written
        assert step == 10
        np.testing.assert_array_equal(state["params"]["w"], np.arange(6.0).reshape(2, 3) + 10)


def test_non_finite_parameters_are_never_checkpointed(tmp_path):
    from jaxnets.train.checkpoint import NonFiniteState
    from jaxnets.train.step import TrainState

    good = TrainState(jnp.int32(5), {"w": jnp.ones(3)}, {}, {}, jax.random.PRNGKey(0))
    ckpt = Checkpointer(tmp_path / "ck")
    ckpt.save(5, good)
    with pytest.raises(NonFiniteState, match="NaN or inf"):
        ckpt.save(10, good._replace(params={"w": jnp.array([1.0, jnp.nan, 1.0])}))
    assert ckpt.latest_step() == 5
    ckpt.close()


def test_keep_prob_zero_is_refused_before_any_work(tiny_mnist, tmp_path, capsys):
    assert _train(tmp_path / "run", "--config.model.keep_prob=0.0") == 2
    assert "model.keep_prob = 0.0" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_result_neutral_changes_and_longer_runs_resume(tiny_mnist, tmp_path, capsys):
    workdir = tmp_path / "run"
    assert _train(workdir, "--config.train.steps=10") == 0
    capsys.readouterr()
    assert _train(workdir, "--config.train.steps=20", "--config.train.stop_on_nan=false") == 0  # extend
    assert "from the checkpoint at step 10/20" in capsys.readouterr().out
    history = json.loads((workdir / "config.json").read_text())["history"]
    assert any("train.steps: 10 -> 20" in change for change in history[0]["changed"])
    assert [r["step"] for r in rundir.read_metrics(workdir / "metrics.jsonl")] == [5, 10, 15, 20]
    assert _train(workdir, "--config.train.steps=10") == 2  # shortening is not resuming


def test_a_run_from_before_a_result_neutral_key_existed_resumes(tiny_mnist, tmp_path, capsys):
    """Runs written before train.tensorboard existed (config.json without it) still resume."""
    workdir = tmp_path / "run"
    assert _train(workdir, "--config.train.steps=10", "--config.train.checkpoint_every=5") == 0
    saved = json.loads((workdir / "config.json").read_text())
    del saved["config"]["train"]["tensorboard"]
    (workdir / "config.json").write_text(json.dumps(saved))
    capsys.readouterr()
    assert _train(workdir, "--config.train.steps=20", "--config.train.checkpoint_every=5") == 0
    assert "from the checkpoint at step 10/20" in capsys.readouterr().out


def test_resuming_on_another_mesh_says_it_is_not_bitwise(tmp_path):
    like = {"params": {"w": jnp.ones(2)}}
    ckpt = Checkpointer(tmp_path / "ck", layout={"seed": 2, "data": 1})
    ckpt.save(3, like)
    ckpt.close()
    warnings = []
    step, _ = Checkpointer(tmp_path / "ck", layout={"seed": 1, "data": 1}, warn=warnings.append).restore(like)
    assert step == 3 and "not bitwise" in warnings[0]


def test_a_dead_worker_costs_its_variant_a_restart_not_the_suite(tmp_path):
    from jaxnets.tables.suite import _in_workers
    from tests.suite_helpers import flaky_variant

    args = [(f"x.py:{name}", str(tmp_path)) for name in ("dies_once", "fine", "dies_always", "also_fine")]
    lines = []
    results = {spec.rpartition(":")[2]: error for spec, _, error, _ in _in_workers(args, 2, lines.append,
                                                                                    run=flaky_variant)}
    assert set(results) == {"dies_once", "fine", "dies_always", "also_fine"}  # every variant reported
    assert results["dies_once"] is None and results["fine"] is None and results["also_fine"] is None
    assert "died, also when it ran alone" in results["dies_always"]
    assert any("dies_once starts again alone" in line for line in lines)


def test_a_second_process_in_the_same_workdir_is_refused_naming_the_holder(tiny_mnist, tmp_path, capsys):
    import subprocess
    import sys

    workdir = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from jaxnets import rundir; "
                               "cm = rundir.exclusive(sys.argv[1]); cm.__enter__(); "
                               "open(sys.argv[1] + '/config.json', 'w').write('{}'); print('held', flush=True); "
                               "time.sleep(120)", str(workdir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert _train(workdir, "--config.train.steps=10") == 2
        err = capsys.readouterr().err
        assert f"{workdir} is in use by another jaxnets run (pid {holder.pid} on " in err
        assert json.loads((workdir / "config.json").read_text()) == {}  # the holder's folder untouched
    finally:
        holder.kill()
        holder.wait()
    (workdir / "config.json").unlink()
    assert _train(workdir, "--config.train.steps=10") == 0  # a killed holder releases the folder


def test_a_refused_folder_is_left_as_it_was(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a run")
    assert _train(tmp_path / "mine", "--config.train.steps=10") == 2
    assert "holds no jaxnets run" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]  # no .lock left behind


def test_a_full_disk_is_one_line_and_the_last_checkpoint_survives(tiny_mnist, tmp_path, capsys, monkeypatch):
    """Writing metrics.jsonl fails with ENOSPC at step 20 (as a full disk would): one line naming
    the file, exit 2, and the checkpoint of step 10 still restores."""
    import errno

    real_write = rundir.MetricsLog.write

    def write(self, record):
        if record["step"] >= 20:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        return real_write(self, record)

    monkeypatch.setattr(rundir.MetricsLog, "write", write)
    workdir = tmp_path / "run"
    args = ("--config.train.steps=20", "--config.train.log_every=10", "--config.train.checkpoint_every=10")
    assert _train(workdir, *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: No space left on device: {workdir / 'metrics.jsonl'} (OSError;")
    assert not any("Traceback" in line for line in err)
    monkeypatch.setattr(rundir.MetricsLog, "write", real_write)
    assert _train(workdir, *args) == 0
    assert "resuming" in capsys.readouterr().out  # from the intact checkpoint


def test_debug_shows_the_traceback_instead_of_one_line(tmp_path):
    from jaxnets.config import ConfigError

    with pytest.raises(ConfigError, match="train.batch_size = 0"):
        main(["train", "--config", "configs/mnist_mlp.py", "--config.train.batch_size=0", "--debug",
              "--workdir", str(tmp_path / "d")])


@pytest.fixture
def small_filesystem(tmp_path):
    """A 4 MiB tmpfs (root only: elsewhere the failing-writer tests above stand in for it)."""
    import subprocess

    mount = tmp_path / "fs"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root, or no mount rights)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_read_only_workdir_and_a_really_full_disk(tiny_mnist, small_filesystem, capsys):
    """On a real file system: a run folder remounted read-only refuses a longer rerun in one line
    and keeps every file; remounted writable, the run resumes. Then the 4 MiB disk fills up with
    a checkpoint: one line, exit 2, and the last complete checkpoint still restores."""
    import subprocess

    workdir = small_filesystem / "run"
    steps = ("--config.train.steps=10", "--config.train.tensorboard=false")
    assert _train(workdir, *steps) == 0
    before = {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()}
    subprocess.run(["mount", "-o", "remount,ro", str(small_filesystem)], check=True)
    try:
        assert _train(workdir, "--config.train.steps=20", "--config.train.tensorboard=false") == 2
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(err) == 1 and err[0].startswith("error: Read-only file system"), err
        assert {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()} == before
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_filesystem)], check=True)
    assert _train(workdir, "--config.train.steps=20", "--config.train.tensorboard=false") == 0
    assert "resuming" in capsys.readouterr().out

    big = small_filesystem / "big"  # a wider net's checkpoints fill the rest of the disk
    code = _train(big, "--config.train.steps=40", "--config.model.hidden_sizes=(256,)")  # TensorBoard on
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1 and "No space left on device while writing a checkpoint" in err[0], (code, err)
    good = Checkpointer(big / "checkpoints").latest_step()
    assert good is not None and good < 40


def test_a_save_killed_midway_leaves_nothing_for_orbax_to_warn_about(tmp_path, caplog):
    """A kill during a save leaves orbax's `<step>.orbax-checkpoint-tmp` folder; the resumed run
    saves that step again. jaxnets removes the remains first (one line of its own), so orbax
    does not log 'Attempted to create temporary directory ... which already exists'."""
    import logging

    like = _checkpointed(tmp_path, steps=(10,))
    leftover = tmp_path / "ck" / "20.orbax-checkpoint-tmp"
    leftover.mkdir()
    (leftover / "partial").write_text("half a save")
    notes = []
    with caplog.at_level(logging.WARNING):
        ckpt = Checkpointer(tmp_path / "ck", fingerprint="f", warn=notes.append)
        assert ckpt.restore(like)[0] == 10
        ckpt.save(20, like)
        ckpt.close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], [r.getMessage() for r in caplog.records]
    assert notes == ["note: removed 20.orbax-checkpoint-tmp, a checkpoint save that was interrupted (never a checkpoint)"]
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["10", "20"]


def _diverging_task():
    """w ← w − lr·2·scale·w: the seeds whose drawn scale is large overshoot by a factor 3 a step
    and overflow to inf within ~80 steps; the others converge to 0."""
    from jaxnets.train import Task, per_example

    def init(key):
        scale = jnp.where(jax.random.uniform(key) > 0.5, 2.0, 0.01)
        return {"w": jnp.ones(()), "scale": scale}, {}

    def loss(params, state, batch, key, step):
        value = jax.lax.stop_gradient(params["scale"]) * params["w"] ** 2 + 0.0 * batch["x"].sum()
        return value, (state, {})

    def evaluate(params, state, batch, key, step):
        return per_example({"w2": jnp.broadcast_to(params["w"] ** 2, batch["x"].shape[:1])}), state

    return Task(init, loss, evaluate)


def test_stop_on_nan_false_keeps_training_and_saving_the_healthy_seeds(tmp_path, capsys):
    """Issue 35.2: one diverged seed must not make the checkpoint refuse, losing the others."""
    import optax

    from jaxnets.config import train_section
    from jaxnets.train.loop import fit

    seeds = list(range(6))
    data = {"x": np.zeros((40, 2), np.float32)}
    train = train_section(batch_size=4, steps=200, log_every=20, eval_every=0, checkpoint_every=20,
                          eval_batch_size=40, stop_on_nan=False, tensorboard=False)
    result = fit(_diverging_task(), optax.sgd(1.0), data, {"test": data}, train, tmp_path / "run", seeds,
                 log=print)
    out = capsys.readouterr().out
    assert result.steps == 200
    assert result.diverged_at, "no seed diverged: the test's task is wrong"
    assert len(result.diverged_at) < len(seeds)
    assert "diverged" in out and "train on" in out
    finite = [i for i in range(len(seeds)) if i not in result.diverged_at]  # keyed by run index
    assert np.all(np.isfinite(result.final_eval["test_w2"][finite]))
    assert (tmp_path / "run" / "checkpoints" / "200").is_dir()  # the last state is saved, NaN seeds and all


def test_a_no_op_override_and_a_restart_from_zero_are_said(tiny_mnist, tmp_path, capsys, monkeypatch):
    """Issue 34.5: `--config.train.steps=0` trained the full schedule into a folder '…_steps0',
    and a run killed before its first checkpoint restarted from zero without a word."""
    from jaxnets.train import checkpoint

    workdir = tmp_path / "killed"
    with monkeypatch.context() as patch:
        patch.setattr(checkpoint.Checkpointer, "save", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
        assert _train(workdir, "--config.train.steps=10") == 130  # stopped before any checkpoint was written
    capsys.readouterr()
    assert _train(workdir, "--config.train.steps=10") == 0
    assert "stopped before its first checkpoint; training starts over from step 0" in capsys.readouterr().out

    monkeypatch.chdir(tmp_path)
    config = str(ROOT / "configs" / "mnist_mlp.py")
    assert main(["train", "--config", config, "--config.train.steps=0", "--config.train.num_epochs=0.5",
                 "--config.model.hidden_sizes=(8,)", "--config.train.batch_size=20"]) == 0
    out = capsys.readouterr().out
    assert "note: --config.train.steps=0 is the config file's value already (0 = train train.num_epochs epochs)" in out
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["mnist_mlp_num_epochs0.5_hidden_sizes8_batch_size20"]


def test_a_run_that_checkpoints_only_at_its_end_still_saves_every_few_minutes(tiny_mnist, tmp_path, monkeypatch):
    """Issue 35.13: configs with checkpoint_every = 0 restarted from zero after a Ctrl-C late in
    a long run; a run now saves at least every CHECKPOINT_SECONDS of training."""
    from jaxnets.train import loop

    monkeypatch.setattr(loop, "CHECKPOINT_SECONDS", 0.0)  # every chunk is overdue
    workdir = tmp_path / "run"
    assert _train(workdir, "--config.train.steps=20", "--config.train.checkpoint_every=0") == 0
    saved = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert saved[-1] == 20 and len(saved) >= 2  # orbax keeps the newest two: 15 and 20


def test_data_changed_between_sessions_is_refused(tiny_mnist, tmp_path, capsys):
    """Issue 35.6: labels changed after a kill and the rerun resumed silently on other data."""
    from jaxnets.data import read_idx, write_idx

    workdir = tmp_path / "run"
    assert _train(workdir, "--config.train.steps=10") == 0
    labels_path = tiny_mnist / "train-labels-idx1-ubyte.gz"
    labels = read_idx(labels_path, 0x00000801)
    write_idx(labels_path, ((labels + 1) % 10).astype(labels.dtype))  # every label swapped
    capsys.readouterr()
    assert _train(workdir, "--config.train.steps=20") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the data this run reads changed since its checkpoint at step 10" in err
    write_idx(labels_path, labels)  # the data it trained on: resumes
    assert _train(workdir, "--config.train.steps=20") == 0
    assert "from the checkpoint at step 10/20" in capsys.readouterr().out


def test_a_run_resumes_from_another_working_directory(tiny_mnist, tmp_path, capsys, monkeypatch):
    """Issue 35.8: config_file is stored relative to the folder the run started in; the same
    file named from elsewhere was 'a different config'."""
    workdir = tmp_path / "run"
    assert _train(workdir, "--config.train.steps=10") == 0
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["train", "--config", str(ROOT / "configs" / "mnist_mlp.py"), *TINY, "--workdir", str(workdir),
                 "--config.train.steps=20"]) == 0
    assert "from the checkpoint at step 10/20" in capsys.readouterr().out


def test_a_really_full_disk_is_one_line_from_the_command_line(tiny_mnist, small_filesystem):
    """Issue 35.10: as a process (orbax's threads log to the real stderr), a full disk during a
    save printed 8-27 tracebacks; the one line must be all."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "jaxnets", "train", "--config", "configs/mnist_mlp.py",
                           "--config.train.steps=40", "--config.train.log_every=10",
                           "--config.train.checkpoint_every=10", "--config.model.hidden_sizes=(512,)",
                           "--config.train.batch_size=20", "--workdir", str(small_filesystem / "big")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith("error: No space left on device while writing a checkpoint")


def test_a_published_number_edited_is_not_a_different_run(tiny_mnist, tmp_path, capsys):
    """Issue 35.13 (and 35.3): reference, sample and analysis are result-neutral sections; changing
    one reopens the finished run without retraining (recorded in history), where it was refused."""
    workdir = tmp_path / "run"
    assert _train(workdir, "--config.train.steps=10") == 0
    capsys.readouterr()
    assert _train(workdir, "--config.train.steps=10", "--config.reference.test_error=0.5") == 0
    out = capsys.readouterr().out
    assert "from the checkpoint at step 10/10" in out and "(published 0.5000)" in out
    history = json.loads((workdir / "config.json").read_text())["history"]
    assert history[-1]["changed"] == ["config.reference.test_error: 0.0193 -> 0.5"]


def test_an_ignored_signal_during_a_save_stays_ignored(tmp_path):
    """A process that ignores SIGHUP (nohup) is not stopped by one that lands mid-save."""
    import signal

    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        ckpt = Checkpointer(tmp_path / "ck", fingerprint="f")
        real_save = ckpt._manager.save

        def save_then_hangup(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGHUP)
            return real_save(*args, **kwargs)

        ckpt._manager.save = save_then_hangup
        ckpt.save(5, {"params": {"w": jnp.ones(3)}})  # no exception, no exit
        ckpt.close()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
