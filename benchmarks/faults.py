"""Fault injection, counted: kill −9 at random moments of `mnist_mlp` runs and resume; kill −9 a
suite and resume it. Prints trials, held and failed per kind of fault (issue 15's table).

    python benchmarks/faults.py --kills 30 --suites 5 [--out runs/faults]

kill trials: `train --config configs/mnist_mlp.py` with 600 steps of 100 examples, a metrics line
every 10 steps and a checkpoint every 100 (MNIST from $JAXNETS_DATA_DIR), killed with SIGKILL at
one of three kinds of moment, taken in turn —
  random:      a uniformly random time during training (after the first metrics line),
  checkpoint:  while orbax writes a checkpoint (its temporary folder exists),
  logged-line: right after a metrics line appears;
then rerun to completion. Held: the resumed run's final parameters and optimizer state are
bitwise equal to an uninterrupted run's, and metrics.jsonl has every step once.

suite trials: `suite` over three short variants (1 seed each) killed with SIGKILL while a worker
trains. Held: no worker process is left (each dies with its suite), and the rerun finishes every
variant, the finished ones not retrained.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
TRAIN = ["--config", "configs/mnist_mlp.py", "--config.train.steps=600", "--config.train.batch_size=100",
         "--config.train.log_every=10", "--config.train.checkpoint_every=100", "--config.train.tensorboard=false"]


def jaxnets(*args: str) -> list[str]:
    return [sys.executable, "-m", "jaxnets", *args]


def final_state(workdir: pathlib.Path) -> dict:
    import orbax.checkpoint as ocp

    steps = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    return ocp.StandardCheckpointer().restore((workdir / "checkpoints" / str(steps[-1]) / "default").absolute())


def metrics_steps(workdir: pathlib.Path) -> list[int]:
    path = workdir / "metrics.jsonl"
    if not path.exists():
        return []
    steps = []
    for line in path.read_text().splitlines():
        try:
            steps.append(json.loads(line)["step"])
        except (ValueError, KeyError):
            pass
    return steps


def same(a, b) -> bool:
    import jax

    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(leaves_a) == len(leaves_b) and all(np.array_equal(np.asarray(x), np.asarray(y))
                                                  for x, y in zip(leaves_a, leaves_b))


def kill_when(proc: subprocess.Popen, workdir: pathlib.Path, kind: str, rng: random.Random) -> str:
    """SIGKILL `proc` at a moment of `kind`; what the moment was, in words."""
    deadline = time.time() + 300
    while not metrics_steps(workdir) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    if kind == "random":
        wait = rng.uniform(0.0, 15.0)  # training takes ~10-20 s here
        time.sleep(wait)
        moment = f"{wait:.2f} s after the first line"
    elif kind == "checkpoint":
        target = rng.choice([100, 200, 300, 400, 500])
        seen = False
        while proc.poll() is None and time.time() < deadline:
            tmp = [p.name for p in (workdir / "checkpoints").glob("*tmp*")] if (workdir / "checkpoints").exists() else []
            if any(name.startswith(f"{target}.") for name in tmp):
                seen = True
                break
            if metrics_steps(workdir) and metrics_steps(workdir)[-1] > target + 10:
                break  # missed that save's window: kill anyway, just after it
            time.sleep(0.0005)
        moment = (f"during the save of step {target} (its temporary folder existed)" if seen
                  else f"just after the save of step {target} (its temporary folder was not caught)")
    else:
        target = rng.choice(range(20, 600, 10))
        while proc.poll() is None and time.time() < deadline:
            steps = metrics_steps(workdir)
            if steps and steps[-1] >= target:
                break
            time.sleep(0.0005)
        moment = f"after the line of step {target}"
    if proc.poll() is not None:
        return moment + " (too late: the run had finished)"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    steps = metrics_steps(workdir)
    return moment + f" (last line: step {steps[-1] if steps else None})"


def kill_trials(n: int, out: pathlib.Path, rng: random.Random) -> list[dict]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    reference = out / "straight"
    if not (reference / "summary.json").exists():
        shutil.rmtree(reference, ignore_errors=True)
        subprocess.run(jaxnets("train", *TRAIN, "--workdir", str(reference)), check=True, cwd=ROOT, env=env,
                       capture_output=True)
    want = final_state(reference)
    results = []
    kinds = ["random", "checkpoint", "logged-line"]
    for trial in range(n):
        kind = kinds[trial % 3]
        workdir = out / f"kill_{trial}"
        shutil.rmtree(workdir, ignore_errors=True)
        proc = subprocess.Popen(jaxnets("train", *TRAIN, "--workdir", str(workdir)), cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        moment = kill_when(proc, workdir, kind, rng)
        resumed = subprocess.run(jaxnets("train", *TRAIN, "--workdir", str(workdir)), cwd=ROOT, env=env,
                                 capture_output=True, text=True)
        held = resumed.returncode == 0 and same(final_state(workdir), want) \
            and metrics_steps(workdir) == list(range(10, 601, 10))
        results.append({"kind": kind, "moment": moment, "held": held,
                        **({} if held else {"stderr": resumed.stderr[-400:]})})
        print(f"kill {trial + 1}/{n} [{kind}] {moment}: {'held' if held else 'FAILED'}", flush=True)
        if held:
            shutil.rmtree(workdir)
    return results


SUITE_CONFIG = """
from jaxnets.config import apply_variant, base_config

VARIANTS = {f"lr{lr}": {"optimizer.learning_rate": lr} for lr in (1e-3, 3e-4, 1e-4)}


def get_config(arg=None):
    c = base_config(__file__, "mnist_mlp")
    c.train.steps, c.train.batch_size, c.train.log_every, c.train.checkpoint_every = 300, 100, 10, 100
    c.train.tensorboard = False
    return apply_variant(c, VARIANTS, arg, default="lr0.001")
"""


def live_workers(marker: str) -> list[int]:
    pids = []
    for status in pathlib.Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmd = status.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd and "faults.py" not in cmd:
            try:
                state = (status.parent / "status").read_text()
            except OSError:
                continue
            if "State:\tZ" not in state:
                pids.append(int(status.parent.name))
    return pids


def suite_trials(n: int, out: pathlib.Path, rng: random.Random) -> list[dict]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", }
    config = ROOT / "configs" / "_fault_suite.py"
    config.write_text(SUITE_CONFIG)
    results = []
    try:
        for trial in range(n):
            workdir = out / f"suite_{trial}"
            shutil.rmtree(workdir, ignore_errors=True)
            command = jaxnets("suite", "--config", str(config.relative_to(ROOT)), "--workdir", str(workdir))
            proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            target = rng.choice(["lr0.001", "lr0.0003", "lr0.0001"])
            deadline = time.time() + 300
            while proc.poll() is None and time.time() < deadline:  # a worker has written training lines
                if metrics_steps(workdir / target):
                    break
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 1.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            done_before = {p.parent.name: p.stat().st_mtime_ns for p in workdir.glob("*/summary.json")}
            time.sleep(2.0)  # PR_SET_PDEATHSIG is immediate; give a stray worker time to show itself
            left = live_workers(str(workdir))
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
            done_after = sorted(p.parent.name for p in workdir.glob("*/summary.json"))
            retrained = [name for name, mtime in done_before.items()
                         if (workdir / name / "summary.json").stat().st_mtime_ns != mtime]
            held = not left and not retrained and rerun.returncode == 0 and len(done_after) == 3
            results.append({"killed_while": target, "finished_before_kill": sorted(done_before), "workers_left": left,
                            "held": held, "retrained_finished": retrained})
            print(f"suite {trial + 1}/{n}: killed while {target} trained ({len(done_before)} done before); "
                  f"workers left: {len(left)}; rerun {'finished all 3' if len(done_after) == 3 else done_after}: "
                  f"{'held' if held else 'FAILED'}", flush=True)
            if held:
                shutil.rmtree(workdir)
    finally:
        config.unlink(missing_ok=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--suites", type=int, default=5)
    parser.add_argument("--out", default="runs/faults")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = (ROOT / args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    results = {"kill": kill_trials(args.kills, out, rng), "suite": suite_trials(args.suites, out, rng)}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print("\n| fault | trials | held | failed |\n|---|---|---|---|")
    for kind in ("random", "checkpoint", "logged-line"):
        rows = [r for r in results["kill"] if r["kind"] == kind]
        if rows:
            held = sum(r["held"] for r in rows)
            print(f"| kill −9, {kind} | {len(rows)} | {held} | {len(rows) - held} |")
    if results["suite"]:
        held = sum(r["held"] for r in results["suite"])
        print(f"| suite killed −9 | {len(results['suite'])} | {held} | {len(results['suite']) - held} |")


if __name__ == "__main__":
    main()
