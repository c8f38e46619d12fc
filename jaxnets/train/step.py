"""The pure pieces of training: state, one step, a chunk of steps as `lax.scan`, evaluation.

Everything here is a function of explicit inputs; `jaxnets.train.loop` adds the host side
(jit, sharding, logging, checkpoints). A single seed is written here; sweeps `vmap` it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

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
    """What the common trainer needs from an experiment.

    init(key) -> (params, model_state)
    loss(params, model_state, batch, key, step) -> (scalar loss, (new model_state, {metric: scalar}))
    evaluate(params, model_state, batch, key, step) -> {metric: per-example values [B]}

    `step` (int32 scalar, traced: the number of updates already applied) serves schedules that
    live inside the model, such as the slope annealing of binary neurons; `key` serves
    stochastic layers, in evaluation too (stochastic neurons can be evaluated stochastically).
    """

    init: Callable[[jax.Array], tuple[Any, Any]]
    loss: Callable[[Any, Any, Batch, jax.Array, jax.Array], tuple[jax.Array, tuple[Any, Metrics]]]
    evaluate: Callable[[Any, Any, Batch, jax.Array, jax.Array], Metrics]


def init_state(task: Task, optimizer: optax.GradientTransformation, key: jax.Array) -> TrainState:
    init_key, run_key = jax.random.split(key)
    params, model_state = task.init(init_key)
    return TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params), model_state, run_key)


def make_step(task: Task, optimizer: optax.GradientTransformation) -> Callable:
    """step(state, batch) -> (state, metrics): one gradient update, pure."""

    def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        key = jax.random.fold_in(jax.random.fold_in(state.key, STEP_STREAM), state.step)
        grad_fn = jax.value_and_grad(task.loss, has_aux=True)
        (loss, (model_state, metrics)), grads = grad_fn(state.params, state.model_state, batch, key, state.step)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(state.step + 1, params, opt_state, model_state, state.key), {"loss": loss, **metrics}

    return step


def batch_indices(key: jax.Array, first_step: jax.Array, num_steps: int, n_examples: int,
                  batch_size: int, shuffle: bool = True) -> jax.Array:
    """[num_steps, batch_size] example indices for steps first_step, first_step + 1, ...

    Each epoch is a fresh permutation (the last partial batch is dropped), keyed by the epoch
    number alone: the schedule is a function of (key, step), so a run resumed at any step sees
    exactly the batches an uninterrupted run would. Without shuffling, batches are sequential
    (as in the TensorFlow.jl post).
    """
    steps_per_epoch = n_examples // batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"batch size {batch_size} exceeds the {n_examples} training examples")
    t = first_step + jnp.arange(num_steps)
    cols = (t % steps_per_epoch)[:, None] * batch_size + jnp.arange(batch_size)[None, :]
    if not shuffle:
        return cols
    first_epoch = first_step // steps_per_epoch
    max_epochs = (num_steps + steps_per_epoch - 1) // steps_per_epoch + 1  # static bound
    perms = jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(key, e), n_examples))(
        first_epoch + jnp.arange(max_epochs))
    return perms[(t // steps_per_epoch - first_epoch)[:, None], cols]


def make_chunk(task: Task, optimizer: optax.GradientTransformation, batch_size: int, num_steps: int,
               shuffle: bool = True, batch_sharding: Any = None) -> Callable:
    """chunk(state, data) -> (state, metrics[num_steps]): `num_steps` steps as one `lax.scan`
    over shuffled batch indices, with the data set already on the device. `batch_sharding`
    (a NamedSharding) lays each batch out over the mesh's `data` axis."""
    step = make_step(task, optimizer)

    def chunk(state: TrainState, data: Batch) -> tuple[TrainState, Metrics]:
        n_examples = len(jax.tree.leaves(data)[0])
        data_key = jax.random.fold_in(state.key, DATA_STREAM)
        indices = batch_indices(data_key, state.step, num_steps, n_examples, batch_size, shuffle)

        def body(state, idx):
            batch = jax.tree.map(lambda a: a[idx], data)
            if batch_sharding is not None:
                batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
            return step(state, batch)

        return jax.lax.scan(body, state, indices)

    return chunk


def make_evaluate(task: Task, batch_size: int) -> Callable:
    """evaluate(state, data) -> {metric: mean over the whole set}, in batches of `batch_size`
    (a `lax.map`) so that memory does not grow with the evaluation set."""

    def evaluate(state: TrainState, data: Batch) -> Metrics:
        n = len(jax.tree.leaves(data)[0])
        key = jax.random.fold_in(jax.random.fold_in(state.key, EVAL_STREAM), state.step)
        run = lambda i, b: task.evaluate(state.params, state.model_state, b, jax.random.fold_in(key, i),  # noqa: E731
                                         state.step)
        full = (n // batch_size) * batch_size
        per_example = []
        if full:
            batched = jax.tree.map(lambda a: a[:full].reshape(n // batch_size, batch_size, *a.shape[1:]), data)
            out = jax.lax.map(lambda ib: run(*ib), (jnp.arange(n // batch_size), batched))
            per_example.append(jax.tree.map(lambda v: v.reshape(full), out))
        if full < n:
            per_example.append(run(n // batch_size, jax.tree.map(lambda a: a[full:], data)))
        return {k: jnp.concatenate([p[k] for p in per_example]).mean() for k in per_example[0]}

    return evaluate
