"""The sharded step on 8 simulated CPU devices gives the single-device result.

Each configuration runs in a fresh subprocess, because the device count is fixed when JAX
starts (XLA_FLAGS=--xla_force_host_platform_device_count=8).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, xla_flags

SCRIPT = r"""
import json, sys
import jax, numpy as np
from jaxnets.config import load
from jaxnets.experiments.classifier import classifier_task
from jaxnets.train import Shuffled, fit, make_optimizer, sharding
from jaxnets.train.loop import sharded_chunk

def one(out, n_seeds):
    c = load("configs/mnist_mlp.py", ["--config.model.hidden_sizes=(16,)", "--config.model.keep_prob=0.75",
                                      "--config.train.batch_size=32", "--config.train.steps=40",
                                      "--config.train.log_every=20", "--config.train.eval_batch_size=64",
                                      "--config.optimizer.learning_rate=0.01", "--config.train.shard_batch=always"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 20)).astype(np.float32)
    data = {"x": x, "y": (x[:, 0] > 0).astype(np.int32) + 2 * (x[:, 1] > 0).astype(np.int32)}
    task, optimizer = classifier_task(c.model, n_in=20, n_classes=4), make_optimizer(c.optimizer)
    result = fit(task, optimizer, data, {"test": data}, c.train, out + "_work", list(range(n_seeds)), log=lambda m: None)
    mesh = sharding.make_mesh(n_seeds, c.train.batch_size, shard_batch="always")
    hlo = sharded_chunk(task, optimizer, Shuffled(c.train.batch_size), mesh, 20).lower(result.state, sharding.put_replicated(mesh, data)) \
        .compile().as_text()
    leaves = jax.tree_util.tree_flatten_with_path(result.state.params)[0]
    np.savez(out, **{jax.tree_util.keystr(path): np.asarray(v) for path, v in leaves})
    w = result.state.params["dense_0"]["w"]
    return {"devices": jax.device_count(), "mesh": dict(mesh.shape), "all_reduce": "all-reduce" in hlo,
            "param_devices": len(w.sharding.device_set), "loss": float(result.curves["train_loss"].mean()[-1])}


print(json.dumps({n: one(f"{sys.argv[1]}_s{n}", n) for n in (1, 8)}))
"""


def run(tmp_path, devices: int) -> dict:
    """{n_seeds: (info, final params)} for a single run and an 8-seed sweep on `devices` CPU devices
    (one interpreter per device count: XLA's device count is fixed at start)."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": xla_flags(*([f"--xla_force_host_platform_device_count={devices}"] if devices > 1 else []))}
    out = str(tmp_path / f"d{devices}")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, out], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    infos = json.loads(proc.stdout.strip().splitlines()[-1])
    return {int(n): (info, dict(np.load(f"{out}_s{n}.npz"))) for n, info in infos.items()}


def test_eight_devices_match_one(tmp_path):
    ones, eights = run(tmp_path, 1), run(tmp_path, 8)
    for n_seeds, mesh in ((1, {"seed": 1, "data": 8}), (8, {"seed": 8, "data": 1})):
        _check_eight_match_one(n_seeds, mesh, *ones[n_seeds], *eights[n_seeds])


def _check_eight_match_one(n_seeds, mesh, one_info, one, eight_info, eight):
    assert one_info["devices"] == 1 and one_info["mesh"] == {"seed": 1, "data": 1}
    assert eight_info["devices"] == 8 and eight_info["mesh"] == mesh
    # a sweep's state is split over the seed axis; a single run's replicated over the data axis
    assert eight_info["param_devices"] == 8
    # batch sharding makes the compiler sum gradients across devices; independent seeds need no communication
    assert eight_info["all_reduce"] == (mesh["data"] > 1)
    assert one.keys() == eight.keys()
    for key in one:
        assert one[key].shape[0] == n_seeds
        np.testing.assert_allclose(eight[key], one[key], rtol=2e-5, atol=2e-6, err_msg=key)
    assert abs(one_info["loss"] - eight_info["loss"]) < 1e-5


def test_cpu_mesh_policy():
    """On CPU the batch stays on one device unless asked; seeds spread over devices."""
    import jax

    from jaxnets.train import sharding

    cpus = [jax.devices("cpu")[0]] * 4  # only the mesh shape is under test
    mesh = sharding.make_mesh(1, 100, cpus)
    assert dict(mesh.shape) == {"seed": 1, "data": 1}
    assert dict(sharding.make_mesh(1, 100, cpus, shard_batch="always").shape) == {"seed": 1, "data": 4}
    assert dict(sharding.make_mesh(6, 100, cpus).shape) == {"seed": 2, "data": 1}
    assert dict(sharding.make_mesh(6, 100, cpus, shard_batch="always").shape) == {"seed": 2, "data": 2}
    with pytest.raises(ValueError, match="shard_batch"):
        sharding.make_mesh(1, 100, cpus, shard_batch="yes")


def test_two_processes_match_one(tiny_mnist, tmp_path):
    """A multi-host sweep (2 processes x 1 CPU device on loopback, jax.distributed + Gloo)
    gives the single-process result, and only process 0 writes the run directory."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [sys.executable, "-m", "jaxnets", "sweep", "--config", "configs/mnist_mlp.py", "--seeds", "2",
            "--config.model.hidden_sizes=(32,)", "--config.train.batch_size=20", "--config.train.eval_batch_size=50",
            "--config.train.steps=40", "--config.train.log_every=10", "--config.train.checkpoint_every=20"]
    base = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_NUM_CPU_DEVICES": "1", "XLA_FLAGS": xla_flags()}
    procs = [subprocess.Popen([*args, "--workdir", str(tmp_path / "multi")], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env={**base, "JAXNETS_MULTIHOST": "1", "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
                                   "JAXNETS_NUM_PROCESSES": "2", "JAXNETS_PROCESS_ID": str(i)})
             for i in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    assert "(100%)" in outputs[0] and "(100%)" not in outputs[1], outputs[0][-3000:]  # one progress stream
    single = subprocess.run([*args, "--workdir", str(tmp_path / "single")], cwd=ROOT, env=base, capture_output=True)
    assert single.returncode == 0, single.stderr[-2000:]
    multi = json.loads((tmp_path / "multi" / "summary.json").read_text())
    one = json.loads((tmp_path / "single" / "summary.json").read_text())
    assert multi["devices"] == 2 and one["devices"] == 1
    for key, values in one["metrics_per_seed"].items():
        np.testing.assert_allclose(multi["metrics_per_seed"][key], values, rtol=1e-5, err_msg=key)
