"""The pure pieces of training: state, one step, a chunk of steps as `lax.scan`, evaluation.

Everything here is a function of explicit inputs; `jaxnets.train.loop` adds the host side
(jit, sharding, logging, checkpoints). A single seed is written here; sweeps `vmap` it.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from jaxnets.train.batches import Batches, Shuffled, num_examples

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]

# Independent random streams derived from a run's key, so that e.g. dropout masks do not
# depend on how the data happened to be shuffled.
STEP_STREAM, DATA_STREAM, EVAL_STREAM = 0, 1, 2


class TrainState(NamedTuple):
    step: jax.Array  # int32 scalar: number of updates applied
    params: Any
    opt_state: Any
    model_state: Any  # non-trainable state (e.g. batch-norm statistics); {} when unused
    key: jax.Array  # uint32[2]: this run's key; per-step keys are fold_in(key, step)


@dataclasses.dataclass(frozen=True)
class Task:
    """What the common trainer needs from an experiment (see `jaxnets.train`'s docstring).

    init(key) -> (params, model_state)
    loss(params, model_state, batch, key, step) -> (scalar loss, (new model_state, {metric: scalar}))
    evaluate(params, model_state, batch, key, step) -> ({metric: (sum, count)}, model_state)
    batches: where training batches come from (`jaxnets.train.batches`); None = a shuffled
        gather of `train.batch_size` examples (`train.shuffle`)
    eval_batches: how an evaluation split is read; None = consecutive batches of
        `train.eval_batch_size` examples. Evaluation threads model_state through the batches
        (from the trained state's), so a sequence model can read a split through.
    row_parallel: the batch's rows (and model_state's) are independent and the loss is their
        mean, so a device may train its own rows alone: when the trainer splits a batch over
        devices it then runs loss and gradient per device (`shard_map`) and averages once per
        step, instead of leaving the split to the compiler (a scan over time steps would get an
        all-reduce per time step). The loss itself never knows about devices.

    Metrics of evaluation are (sum, count) pairs, summed over batches and divided at the end, so
    per-token losses over windows or padded sequences are exact (`mean_of` builds them).
    `step` (int32 scalar, traced: the number of updates already applied) serves schedules that
    live inside the model, such as the slope annealing of binary neurons; `key` serves
    stochastic layers, in evaluation too (stochastic neurons can be evaluated stochastically).
    """

    init: Callable[[jax.Array], tuple[Any, Any]]
    loss: Callable[[Any, Any, Batch, jax.Array, jax.Array], tuple[jax.Array, tuple[Any, Metrics]]]
    evaluate: Callable[[Any, Any, Batch, jax.Array, jax.Array], tuple[Metrics, Any]]
    batches: Batches | None = None
    eval_batches: Batches | None = None
    row_parallel: bool = False


def mean_of(values: jax.Array, mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """(sum, count) of `values` (where `mask` is true): a mean that stays exact across batches."""
    values = jnp.asarray(values, jnp.float32)
    if mask is None:
        return jnp.sum(values), jnp.float32(values.size)
    mask = jnp.broadcast_to(mask, values.shape)
    return jnp.sum(jnp.where(mask, values, 0.0)), jnp.sum(mask.astype(jnp.float32))


def per_example(values: dict[str, jax.Array]) -> Metrics:
    """{metric: per-example values} -> {metric: (sum, count)}."""
    return {name: mean_of(v) for name, v in values.items()}


def init_state(task: Task, optimizer: optax.GradientTransformation, key: jax.Array) -> TrainState:
    init_key, run_key = jax.random.split(key)
    params, model_state = task.init(init_key)
    return TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params), model_state, run_key)


def _rows_spec(tree) -> Any:
    """P('data') for arrays with a row axis, P() for scalars (a batch's `reset` flag)."""
    return jax.tree.map(lambda a: P("data") if jnp.ndim(a) >= 1 else P(), tree)


def loss_and_grad(task: Task, mesh: jax.sharding.Mesh | None = None) -> Callable:
    """(params, model_state, batch, key, step) -> ((loss, (model_state, metrics)), grads).

    With a mesh whose 'data' axis splits the batch and a row-parallel task, each device runs
    the task's loss and its gradient on its own rows (its own dropout key: the device index is
    folded in) and the results are averaged once; otherwise plain `value_and_grad`."""
    grad_fn = jax.value_and_grad(task.loss, has_aux=True)
    if mesh is None or not task.row_parallel or mesh.shape.get("data", 1) == 1:
        return grad_fn

    def local(params, model_state, batch, key, step):
        key = jax.random.fold_in(key, jax.lax.axis_index("data"))
        (loss, (model_state, metrics)), grads = grad_fn(params, model_state, batch, key, step)
        mean = functools.partial(jax.lax.pmean, axis_name="data")
        return (mean(loss), (model_state, mean(metrics))), mean(grads)

    def split(params, model_state, batch, key, step):
        rows = _rows_spec(model_state)
        return jax.shard_map(local, mesh=mesh, in_specs=(P(), rows, _rows_spec(batch), P(), P()),
                             out_specs=((P(), (rows, P())), P()), axis_names={"data"},
                             check_vma=False)(params, model_state, batch, key, step)

    return split


def make_step(task: Task, optimizer: optax.GradientTransformation, mesh: jax.sharding.Mesh | None = None
              ) -> Callable:
    """step(state, batch) -> (state, metrics): one gradient update, pure."""
    grad_fn = loss_and_grad(task, mesh)

    def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        key = jax.random.fold_in(jax.random.fold_in(state.key, STEP_STREAM), state.step)
        (loss, (model_state, metrics)), grads = grad_fn(state.params, state.model_state, batch, key, state.step)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        # A task's own "loss" metric, where it gives one, is the loss to log (see Task).
        return TrainState(state.step + 1, params, opt_state, model_state, state.key), {"loss": loss, **metrics}

    return step


def default_batches(task: Task, batch_size: int, shuffle: bool = True) -> Batches:
    return task.batches if task.batches is not None else Shuffled(batch_size, shuffle)


def make_chunk(task: Task, optimizer: optax.GradientTransformation, batches: Batches, num_steps: int,
               mesh: jax.sharding.Mesh | None = None) -> Callable:
    """chunk(state, data[, plan]) -> (state, metrics[num_steps]): `num_steps` steps as one `lax.scan`
    over the batch function, with the data set already on the device (and the batches' plan, when
    the caller made it). With a `mesh` whose
    'data' axis is larger than 1, each batch is laid out over it (rows split)."""
    step = make_step(task, optimizer, mesh)
    split = mesh is not None and mesh.shape.get("data", 1) > 1

    def chunk(state: TrainState, data: Batch, plan: Any = None) -> tuple[TrainState, Metrics]:
        data_key = jax.random.fold_in(state.key, DATA_STREAM)
        if plan is None:  # given: planned once for all seeds (`Batches.shared_order`)
            plan = batches.plan(data, data_key, state.step, num_steps)

        def body(state, x):
            batch = batches.take(data, data_key, x)
            if split:
                batch = jax.lax.with_sharding_constraint(
                    batch, jax.tree.map(lambda s: NamedSharding(mesh, s), _rows_spec(batch)))
            return step(state, batch)

        return jax.lax.scan(body, state, plan)

    return chunk


def make_evaluate(task: Task, batch_size: int) -> Callable:
    """evaluate(state, data) -> {metric: sum / count over the whole split}. The split is read in
    the task's `eval_batches`, or in batches of `batch_size` (a scan, so memory does not grow
    with the split), model_state threaded through."""

    def evaluate(state: TrainState, data: Batch) -> Metrics:
        key = jax.random.fold_in(jax.random.fold_in(state.key, EVAL_STREAM), state.step)

        def run(model_state, i, batch):
            return task.evaluate(state.params, model_state, batch, jax.random.fold_in(key, i), state.step)

        def scan(model_state, count, take):
            def body(ms, i):
                metrics, ms = run(ms, i, take(i))
                return ms, metrics
            model_state, out = jax.lax.scan(body, model_state, jnp.arange(count))
            return model_state, jax.tree.map(lambda v: jnp.sum(v, axis=0), out)

        totals = []
        if task.eval_batches is not None:
            n_batches = task.eval_batches.steps_per_epoch(data)
            totals.append(scan(state.model_state, n_batches, lambda i: task.eval_batches(data, key, i))[1])
        else:
            n = num_examples(data)
            full = n // batch_size
            model_state = state.model_state
            if full:
                model_state, total = scan(model_state, full, lambda i: jax.tree.map(
                    lambda a: jax.lax.dynamic_slice_in_dim(a, i * batch_size, batch_size), data))
                totals.append(total)
            if full * batch_size < n:
                totals.append(run(model_state, full, jax.tree.map(lambda a: a[full * batch_size:], data))[0])
        sums = jax.tree.map(lambda *parts: sum(parts), *totals)
        return {name: s / c for name, (s, c) in sums.items()}

    return evaluate
