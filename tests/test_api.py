"""The public Python API: `jaxnets.run`, `__all__`, and the shape checks that catch the two
classic RNN mistakes before they compute nonsense."""

import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

import jaxnets
from jaxnets.config import ConfigError, load
from jaxnets.nn import rnn
from tests.conftest import ROOT, xla_flags

SMALL = {"train.steps": 20, "train.log_every": 10, "train.batch_size": 20, "model.hidden_sizes": (16,)}


def test_run_takes_a_path_with_a_dict_of_overrides(tiny_mnist, tmp_path):
    summary = jaxnets.run("configs/mnist_mlp.py", SMALL, workdir=tmp_path / "run", log=lambda m: None)
    assert summary["steps"] == 20 and summary["config_file"] == "configs/mnist_mlp.py"
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["config"]["model"]["hidden_sizes"] == [16] and saved["config"]["train"]["steps"] == 20


def test_run_takes_a_configdict_and_sweeps_seeds(tiny_mnist, tmp_path):
    config = load("configs/mnist_mlp.py")
    config.seed = 5
    summary = jaxnets.run(config, SMALL, workdir=tmp_path / "run", seeds=2, log=lambda m: None)
    assert summary["seeds"] == [5, 6] and len(summary["metrics_per_seed"]["test_error"]) == 2


def test_run_checks_its_arguments_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'train.stepz'"):
        jaxnets.run("configs/mnist_mlp.py", {"train.stepz": 3}, workdir=tmp_path / "a")
    with pytest.raises(ConfigError, match=r"expected an int, got '2.5'"):
        jaxnets.run("configs/mnist_mlp.py", {"train.steps": 2.5}, workdir=tmp_path / "b")
    with pytest.raises(ConfigError, match=r"seeds must be a positive int"):
        jaxnets.run("configs/mnist_mlp.py", seeds=0, workdir=tmp_path / "c")
    with pytest.raises(ConfigError, match=r"config must be a path or a ConfigDict, not dict"):
        jaxnets.run({"experiment": "classifier"}, workdir=tmp_path / "d")
    assert not any(tmp_path.iterdir())  # no folder for a run that could not start


def test_in_process_runs_see_the_devices_the_cli_sees(tiny_mnist, tmp_path):
    """A fresh interpreter calling jaxnets.run gets one CPU device per core, as the CLI does."""
    code = ("import jax, jaxnets; jaxnets.run('configs/mnist_mlp.py', {'train.steps': 4, 'train.log_every': 4, 'train.batch_size': 20}, "
            f"workdir={str(tmp_path / 'run')!r}, log=lambda m: None); print(jax.device_count())")
    env = {k: v for k, v in os.environ.items() if k != "JAX_NUM_CPU_DEVICES"} | {"XLA_FLAGS": xla_flags()}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.split()[-1]) == (os.cpu_count() or 1)


def test_public_modules_declare_what_they_export():
    import importlib

    for name in ("jaxnets", "jaxnets.nn", "jaxnets.nn.rnn", "jaxnets.data", "jaxnets.data.text", "jaxnets.train",
                 "jaxnets.models", "jaxnets.models.rnn_lm", "jaxnets.experiments", "jaxnets.config"):
        module = importlib.import_module(name)
        assert module.__all__ and all(hasattr(module, n) for n in module.__all__), name
    assert "run" in jaxnets.__all__ and callable(jaxnets.run)


def test_unroll_names_batch_major_input():
    params = rnn.gru_init(jax.random.PRNGKey(0), 3, 5)
    carry = (jnp.zeros((4, 5)),)
    _, ys = rnn.unroll(rnn.gru_step, params, carry, jnp.zeros((7, 4, 3)))  # time-major: fine
    assert ys.shape == (7, 4, 5)
    with pytest.raises(ValueError, match=r"time-major \[T, B, \.\.\.\].*got shape \(4, 7, 3\).*batch-major.*swapaxes"):
        rnn.unroll(rnn.gru_step, params, carry, jnp.zeros((4, 7, 3)))


def test_a_bare_array_as_an_lstm_carry_is_named():
    params = rnn.lstm_init(jax.random.PRNGKey(0), 3, 5)
    h = jnp.zeros((2, 5))  # batch 2: `c, h = carry` would silently split the batch
    with pytest.raises(TypeError, match=r"lstm_step: the carry must be a tuple \(c, h\).*array of shape \(2, 5\)"):
        rnn.lstm_step(params, h, jnp.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"unroll: the carry must be a tuple"):
        rnn.unroll(rnn.lstm_step, params, h, jnp.zeros((6, 2, 3)))
    with pytest.raises(TypeError, match=r"the carry must be a tuple \(c, h\).*a tuple of 1"):
        rnn.lstm_step(params, (h,), jnp.zeros((2, 3)))


def test_two_configdicts_without_a_workdir_get_two_folders_and_api_words(tiny_mnist, tmp_path, monkeypatch):
    """Issue 34.4: `run(config)` named its folder runs/<experiment>, so mnist_advanced after
    mnist_mlp was refused with the CLI's '--overwrite'."""
    monkeypatch.chdir(tmp_path)
    first, second = load(str(ROOT / "configs/mnist_mlp.py")), load(str(ROOT / "configs/mnist_advanced.py"))
    small = {**SMALL, "train.steps": 10}
    jaxnets.run(first, {**small, "model.hidden_sizes": (8,)}, log=lambda m: None)
    jaxnets.run(second, {**small, "model.hidden_sizes": (8,)}, log=lambda m: None)
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(folders) == 2 and all(f.startswith("classifier_") for f in folders)
    from jaxnets.rundir import RunDirError

    with pytest.raises(RunDirError, match=r"overwrite=True") as err:
        jaxnets.run(first, {**small, "model.hidden_sizes": (9,)}, workdir=tmp_path / "runs" / folders[0],
                    log=lambda m: None)
    assert "--overwrite" not in str(err.value) and "--workdir" not in str(err.value)


def test_a_published_number_applies_only_to_its_data_set(tiny_mnist, tmp_path):
    """Issue 34.3: fashion_mnist through mnist_mlp's config kept MNIST's published 1.93%."""
    import shutil

    data = pathlib.Path(os.environ["JAXNETS_DATA_DIR"])
    shutil.copytree(data / "mnist", data / "fashion_mnist")
    lines = []
    summary = jaxnets.run("configs/mnist_mlp.py", {**SMALL, "data.name": "fashion_mnist"}, workdir=tmp_path / "run",
                          log=lines.append)
    assert summary["reference"] == {}
    assert summary["reference_note"] == ("no published number: those of configs/mnist_mlp.py are for mnist, "
                                         "this run reads fashion_mnist")
    assert any(line.startswith("note: no published number") for line in lines)
    done = [line for line in lines if line.startswith("done:")][0]
    assert "(published" not in done and "{" not in done
    plain = jaxnets.run("configs/mnist_mlp.py", SMALL, workdir=tmp_path / "plain", log=lines.append)
    assert plain["reference"]["test_error"] == 0.0193 and "(published 0.0193)" in lines[-1]


def test_load_run_gives_config_params_per_seed_and_summary(tiny_mnist, tmp_path):
    """Issue 34.9: a documented way to load a run's trained parameters."""
    import numpy as np

    summary = jaxnets.run("configs/mnist_mlp.py", SMALL, workdir=tmp_path / "run", seeds=2, log=lambda m: None)
    run = jaxnets.load_run(tmp_path / "run")
    assert run["summary"] == summary and run["seeds"] == [0, 1] and run["step"] == 20
    assert run["config"].model.hidden_sizes == (16,) or list(run["config"].model.hidden_sizes) == [16]
    leaves = jax.tree.leaves(run["params"])
    assert leaves and all(leaf.shape[0] == 2 for leaf in leaves)
    w = [leaf for leaf in leaves if leaf.shape[1:] == (784, 16)]
    assert len(w) == 1 and not np.allclose(w[0][0], w[0][1])  # two seeds, two nets
