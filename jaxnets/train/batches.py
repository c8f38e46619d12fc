"""Where a task's batches come from: pure functions of (data, key, step).

A `Batches` object is the batch function of a task plus what the trainer needs to know about
it: how many steps make an epoch, how many units (examples, tokens) a step consumes, and,
optionally, the work a chunk of steps can do once instead of once per step (an epoch's
permutation is one sort of the whole data set: per step it would cost more than a small
net's update). Every batch is a function of (key, step) alone, so a run resumed at any step
sees exactly the batches an uninterrupted run would.

    batches.plan(data, key, first_step, num_steps) -> xs      # [num_steps, ...], once per chunk
    batches.take(data, key, xs[t]) -> batch                   # inside the scan, per step
    batches(data, key, step) -> batch                         # the two together, for one step

Three kinds cover the experiments: `Shuffled` (a gather of examples, reshuffled each epoch),
`Windows` (consecutive windows of a text laid out as rows, with a `reset` flag at each epoch's
first window, TF-style truncated BPTT) and `Generated` (synthetic data drawn inside the step).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

Batch = dict[str, jax.Array]


def num_examples(data: Batch) -> int:
    return len(jax.tree.leaves(data)[0])


class Batches:
    """The interface; subclasses define `take` and `steps_per_epoch` (and may define `plan`)."""

    unit = "examples"

    def steps_per_epoch(self, data: Batch) -> int:
        raise NotImplementedError

    def units_per_step(self, data: Batch) -> int:
        raise NotImplementedError

    def plan(self, data: Batch, key: jax.Array, first_step: jax.Array, num_steps: int) -> Any:
        return first_step + jnp.arange(num_steps)

    def take(self, data: Batch, key: jax.Array, x: Any) -> Batch:
        raise NotImplementedError

    def __call__(self, data: Batch, key: jax.Array, step: jax.Array) -> Batch:
        return self.take(data, key, jax.tree.map(lambda a: a[0], self.plan(data, key, jnp.asarray(step), 1)))


def batch_indices(key: jax.Array, first_step: jax.Array, num_steps: int, n_examples: int,
                  batch_size: int, shuffle: bool = True) -> jax.Array:
    """[num_steps, batch_size] example indices for steps first_step, first_step + 1, ...

    Each epoch is a fresh permutation (the last partial batch is dropped), keyed by the epoch
    number alone. Without shuffling, batches are sequential (as in the TensorFlow.jl post).
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


@dataclasses.dataclass(frozen=True)
class Shuffled(Batches):
    """`batch_size` examples gathered from arrays with a leading example axis; a fresh
    permutation every epoch (shuffle=False: consecutive examples)."""

    batch_size: int
    shuffle: bool = True

    def steps_per_epoch(self, data: Batch) -> int:
        n = num_examples(data)
        if n < self.batch_size:
            raise ValueError(f"batch size {self.batch_size} exceeds the {n} training examples")
        return n // self.batch_size

    def units_per_step(self, data: Batch) -> int:
        return self.batch_size

    def plan(self, data, key, first_step, num_steps):
        return batch_indices(key, first_step, num_steps, num_examples(data), self.batch_size, self.shuffle)

    def take(self, data, key, indices):
        return jax.tree.map(lambda a: a[indices], data)


@dataclasses.dataclass(frozen=True)
class Windows(Batches):
    """TF-style truncated BPTT: data {'x', 'y'} [rows, length] (a text cut into `rows` rows,
    `text_rows`' layout); step k reads window k mod W, columns [kT, (k+1)T) of every row,
    and says `reset` at window 0, where the model starts its state over. An epoch is W windows."""

    num_steps: int
    unit = "tokens"

    def steps_per_epoch(self, data: Batch) -> int:
        length = data["x"].shape[1]
        if length < self.num_steps:
            raise ValueError(f"num_steps {self.num_steps} exceeds a row of the text ({length} tokens)")
        return length // self.num_steps

    def units_per_step(self, data: Batch) -> int:
        return data["x"].shape[0] * self.num_steps

    def take(self, data, key, step):
        k = step % self.steps_per_epoch(data)
        window = {name: jax.lax.dynamic_slice_in_dim(a, k * self.num_steps, self.num_steps, axis=1)
                  for name, a in data.items()}
        return {**window, "reset": k == 0}


@dataclasses.dataclass(frozen=True)
class Generated(Batches):
    """Data drawn inside the step: fn(key, step) -> batch, with no stored data set (the trainer
    passes {}), e.g. a synthetic series that is a function of (seed, epoch, position)."""

    fn: Callable[[jax.Array, jax.Array], Batch]
    steps: int  # per epoch
    units: int  # per step
    unit: str = "examples"

    def steps_per_epoch(self, data: Batch) -> int:
        return self.steps

    def units_per_step(self, data: Batch) -> int:
        return self.units

    def take(self, data, key, step):
        return self.fn(key, step)
