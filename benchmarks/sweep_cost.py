"""What a sweep costs per run: one run, 3 seeds, and 3 learning rates × 3 seeds as one program,
with the runs vmapped (one batched program) or mapped (`lax.map`: one program, the runs one
after another at their unbatched shapes), for the MNIST MLP and the PTB word LM.

    python benchmarks/sweep_cost.py [--models mnist_mlp,ptb] [--steps 40]
    python benchmarks/sweep_cost.py --models configs/lstm_variants.py:arch5_lr0.001 --sweeps seeds

A model is `mnist_mlp`, `ptb` (truncated BPTT's tf20 at lr 0.003) or any word-LM config file
(`configs/<name>.py:<variant>`), trained on random ids of its shapes.

Prints seconds per step per run and the ratio to one run (target on CPU: ≤ 1.0×). The contenders
take turns, one chunk each per round, so that the machine's drift touches them alike. Every sweep
trains through the trainer's own chunk (`sharded_chunk`) with the learning rates set per run
(`set_hyperparams`), on random data of the real shapes. Not a test: timings, not assertions.
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np


@functools.cache  # every sweep of a model trains on the same task and data: built once
def _setup(model: str):
    """(task, optimizer config, batches, data, batch size) of one of the benchmarked models."""
    from jaxnets.config import load

    rng = np.random.default_rng(0)
    if model == "mnist_mlp":
        from jaxnets.experiments.classifier import classifier_task
        from jaxnets.train.batches import Shuffled

        config = load("configs/mnist_mlp.py")
        data = {"x": rng.random((60_000, 784), np.float32), "y": rng.integers(0, 10, 60_000).astype(np.int32)}
        return classifier_task(config.model), config, Shuffled(config.train.batch_size), data
    from jaxnets.experiments.language_model import lm_task

    config = load(model if model.partition(":")[0].endswith(".py") else "configs/truncated_bptt.py:tf20_lr0.003")
    rows, vocab = config.train.batch_size, 10_000
    length = 40 * config.model.num_steps
    data = {"x": rng.integers(0, vocab, (rows, length)).astype(np.int32),
            "y": rng.integers(0, vocab, (rows, length)).astype(np.int32)}
    task = lm_task(config.model, vocab, rows)
    return task, config, task.batches, data


def prepare(model: str, seeds: list[int], lrs: list[float] | None, runs: str, steps: int):
    """A zero-argument function that trains one chunk of `steps` steps of this sweep (compiled
    and warmed up here) and returns the seconds it took."""
    import jax

    from jaxnets.train import init_state, make_optimizer, sharding
    from jaxnets.train.loop import run_keys, sharded_chunk
    from jaxnets.train.optim import set_hyperparams

    task, config, batches, data = _setup(model)
    optimizer = make_optimizer(config.optimizer)
    mesh = sharding.make_mesh(len(seeds), config.train.batch_size, shard_batch="never")
    state = jax.jit(jax.vmap(lambda k: init_state(task, optimizer, k)),
                    out_shardings=sharding.per_seed(mesh))(run_keys(seeds))
    if lrs:
        state = state._replace(opt_state=jax.device_put(set_hyperparams(state.opt_state, {"learning_rate": lrs},
                                                                        len(seeds)), sharding.per_seed(mesh)))
    chunk = sharded_chunk(task, optimizer, batches, mesh, steps, runs)
    data = sharding.put_replicated(mesh, data)
    holder = {"state": state}

    def one_chunk() -> float:
        start = time.perf_counter()
        holder["state"], metrics = chunk(holder["state"], data)
        jax.block_until_ready(metrics)
        return time.perf_counter() - start

    one_chunk()  # compiles
    return one_chunk


def main() -> None:
    import jax

    from jaxnets.train.sharding import cpu_devices_per_core

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="mnist_mlp,ptb")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=7, help="chunks timed per contender, taking turns")
    parser.add_argument("--sweeps", default="seeds,grid", help="seeds: 3 seeds; grid: 3 lr × 3 seeds")
    parser.add_argument("--axes", default="vmap,map", help="how the runs execute: vmap, map")
    args = parser.parse_args()
    cpu_devices_per_core()
    print(f"jax {jax.__version__}, {jax.device_count()} {jax.default_backend()} device(s); "
          f"{args.rounds} rounds of {args.steps}-step chunks, the contenders taking turns")
    print("| model | sweep | runs | executed as | s/step per run (median) | per run vs one run: median "
          "[range over rounds] |")
    print("|---|---|---|---|---|---|")
    sweeps = {"seeds": ("3 seeds", [0, 1, 2], None),
              "grid": ("3 lr × 3 seeds", [0, 1, 2] * 3, [lr for lr in (3e-4, 1e-3, 3e-3) for _ in range(3)])}
    for model in args.models.split(","):
        contenders = {("one run", 1, "plain"): prepare(model, [0], None, "vmap", args.steps)}
        for label, seeds, lrs in (sweeps[name] for name in args.sweeps.split(",")):
            for runs in args.axes.split(","):
                contenders[(label, len(seeds), runs)] = prepare(model, seeds, lrs, runs, args.steps)
        # Taking turns, a drift in the machine's speed (a neighbour, a frequency change) touches every
        # contender alike; measured one after another, it showed as a 1.22x "cost" that was not there.
        per_run = {key: [] for key in contenders}
        for _ in range(args.rounds):
            for key, one_chunk in contenders.items():
                per_run[key].append(one_chunk() / args.steps / key[1])
        one = np.array(per_run[("one run", 1, "plain")])
        for (label, n, runs), times in per_run.items():
            ratios = np.array(times) / one
            print(f"| {model} | {label} | {n} | {runs} | {np.median(times):.4f} | {np.median(times) / np.median(one):.2f}× "
                  f"[{ratios.min():.2f}–{ratios.max():.2f}] |", flush=True)


if __name__ == "__main__":
    main()
