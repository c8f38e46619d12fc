"""Meshes and shardings: jit with NamedShardings is what pmap data parallelism became.

One 2-D mesh ('seed', 'data') serves every run: a sweep spreads its seeds over the devices
(each seed is an independent program, so this needs no communication), a single run spreads
each batch over them (the compiler inserts the gradient all-reduce). One device is the
trivial 1 x 1 mesh, so the same code runs everywhere.
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P


def make_mesh(n_seeds: int, batch_size: int, devices: Sequence[jax.Device] | None = None,
              shard_batch: str = "auto") -> Mesh:
    """Seeds take as many devices as divide their count; the batch takes what divides it of the rest.

    shard_batch: 'always', 'never', or 'auto' = not on CPU. Splitting a batch costs a gradient
    all-reduce per step, which on CPU devices (one per core) is slower than the step itself
    (784-100-100-10 at batch 100 on 2 cores: 40k ex/s split vs 130k on one device), while
    independent seeds on separate cores run at full speed each.
    """
    if shard_batch not in ("auto", "always", "never"):
        raise ValueError(f"shard_batch must be 'auto', 'always' or 'never', not {shard_batch!r}")
    devices = list(devices if devices is not None else jax.devices())
    seed_axis = math.gcd(n_seeds, len(devices))
    split = shard_batch == "always" or (shard_batch == "auto" and devices[0].platform != "cpu")
    data_axis = math.gcd(batch_size, len(devices) // seed_axis) if split else 1
    return jax.make_mesh((seed_axis, data_axis), ("seed", "data"), axis_types=(AxisType.Auto, AxisType.Auto),
                         devices=devices[: seed_axis * data_axis])


def cpu_devices_per_core() -> None:
    """Give the CPU backend one device per core (before JAX starts), so that sweeps spread their
    seeds over the cores. Respects a device count already chosen through XLA_FLAGS or
    JAX_NUM_CPU_DEVICES."""
    import os

    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", "") or \
            os.environ.get("JAX_NUM_CPU_DEVICES"):
        return
    try:
        jax.config.update("jax_num_cpu_devices", os.cpu_count() or 1)
    except RuntimeError:  # JAX already started in this process (e.g. the CLI called from Python)
        pass


def per_seed(mesh: Mesh) -> NamedSharding:
    """Arrays with a leading seed axis (train state, per-seed metrics)."""
    return NamedSharding(mesh, P("seed"))


def replicated(mesh: Mesh) -> NamedSharding:
    """The data set: every device holds all of it, so any batch can be gathered locally."""
    return NamedSharding(mesh, P())


def to_host(tree):
    """Device arrays -> NumPy on every process (an all-gather across hosts; a copy on one)."""
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


def put_replicated(mesh: Mesh, tree):
    """Host arrays -> global replicated device arrays; on many hosts each passes its full copy."""
    sharding = replicated(mesh)
    return jax.tree.map(lambda a: jax.make_array_from_process_local_data(sharding, a), tree)


def batch(mesh: Mesh) -> NamedSharding:
    """A batch split over the data axis; inside vmap(..., spmd_axis_name='seed') the seed axis
    is added in front."""
    return NamedSharding(mesh, P("data"))
