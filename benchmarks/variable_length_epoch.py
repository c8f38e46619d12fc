"""Padded vs bucketed batches (R2RT, "RNNs in Tensorflow III"): the time of one training epoch of
the variable-length GRU classifier on WordNet's glosses, and the padding per batch of each.

    python benchmarks/variable_length_epoch.py [--rounds 3] [--seeds 1]

Both iterators train the same model (configs/variable_length.py) through the trainer's jitted
chunk (`sharded_chunk`, as `fit` builds it): one epoch is one chunk, compiled beforehand; the two
take turns, best round counts. Printed: seconds per epoch, the ratio bucketed / padded (the post:
71.45 / 100.90 s = 0.71), and the padding per batch of 256 (the post's count, to each batch's
longest sentence: 3279.9 padded vs 573.49 bucketed on the blogs corpus) beside what is computed
(to the batch's padded length).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def epoch_runner(bucketed: bool, seeds: int):
    import jax

    from jaxnets.config import load
    from jaxnets.data.sentences import from_config
    from jaxnets.experiments.variable_length import sequence_classifier_task
    from jaxnets.train import init_state, make_optimizer, sharding
    from jaxnets.train.batches import VariableLength, bucket_lengths
    from jaxnets.train.loop import sharded_chunk

    c = load("configs/variable_length.py", [f"--config.data.bucketed={bucketed}"])
    data = from_config(c.data)
    train = data.splits["train"]
    batches = VariableLength(c.train.batch_size, bucket_lengths(train["length"], c.data.n_buckets), bucketed,
                             c.data.order_seed)
    task = sequence_classifier_task(c.model, len(data.vocabulary), len(data.classes), batches)
    optimizer = make_optimizer(c.optimizer)
    steps = batches.steps_per_epoch(train)
    mesh = sharding.make_mesh(seeds, c.train.batch_size, shard_batch="never")
    chunk = sharded_chunk(task, optimizer, batches, mesh, steps)
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    holder = [jax.jit(jax.vmap(lambda k: init_state(task, optimizer, k)), out_shardings=sharding.per_seed(mesh))(keys)]
    on_device = sharding.put_replicated(mesh, train)
    padding = {}

    def run():
        holder[0], metrics = chunk(holder[0], on_device)
        jax.block_until_ready(metrics)
        padding.update({k: float(np.mean(metrics[k])) for k in ("padding", "padding_computed")})

    run()  # compile
    return run, padding, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=1, help="seeds trained at once (vmapped)")
    args = parser.parse_args()
    import jax

    runners = {name: epoch_runner(name == "bucketed", args.seeds) for name in ("padded", "bucketed")}
    best = {name: float("inf") for name in runners}
    for _ in range(args.rounds):
        for name, (run, _, _) in runners.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    print(f"jax {jax.__version__} ({jax.default_backend()}); {args.seeds} seed(s); best of {args.rounds} interleaved epochs")
    for name, (_, padding, steps) in runners.items():
        print(f"{name}: {best[name]:.1f} s per epoch ({steps} steps of 256); padding per batch {padding['padding']:.1f} "
              f"(to each batch's longest; computed: {padding['padding_computed']:.1f})")
    print(f"epoch time bucketed / padded: {best['bucketed'] / best['padded']:.2f} (published 71.45 / 100.90 = 0.71)")


if __name__ == "__main__":
    main()
