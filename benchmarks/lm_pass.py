"""The jaxnets side of the language-model benchmarks: the trainer's own jitted chunk."""

from __future__ import annotations

from typing import Callable

import numpy as np


def language_model_pass(config_file: str, overrides: list[str], vocab: int, rows: int, windows: int,
                        shard_batch: str = "never") -> Callable[[], None]:
    """One pass of the trainer's jitted chunk (`sharded_chunk`, as `fit` builds it) over `windows`
    windows of random tokens, one seed, compiled on creation; the rows split over the devices
    when shard_batch = 'always'."""
    import jax

    from jaxnets.config import load
    from jaxnets.experiments.language_model import lm_task
    from jaxnets.train import init_state, make_optimizer, sharding
    from jaxnets.train.loop import sharded_chunk

    config = load(config_file, [*overrides, f"--config.train.shard_batch={shard_batch}"])
    rng = np.random.default_rng(0)
    length = windows * config.model.num_steps
    data = {"x": rng.integers(0, vocab, (rows, length)).astype(np.int32),  # the text as `rows` rows
            "y": rng.integers(0, vocab, (rows, length)).astype(np.int32)}
    task = lm_task(config.model, vocab, rows)
    optimizer = make_optimizer(config.optimizer)
    mesh = sharding.make_mesh(1, rows, shard_batch=shard_batch)
    chunk = sharded_chunk(task, optimizer, task.batches, mesh, windows)
    holder = [jax.jit(jax.vmap(lambda k: init_state(task, optimizer, k)),
                      out_shardings=sharding.per_seed(mesh))(jax.random.PRNGKey(0)[None])]
    data = sharding.put_replicated(mesh, data)

    def run():
        holder[0], metrics = chunk(holder[0], data)
        jax.block_until_ready(metrics)

    run()  # compile
    return run
