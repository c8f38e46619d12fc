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
    # True: the plan does not depend on the seed (see VariableLength), and the trainer computes it
    # once for all seeds of a sweep, outside their vmap, so that it stays unbatched there.
    shared_order = False

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


def bucket_lengths(lengths, n_buckets: int) -> tuple[int, ...]:
    """The padded length of each of `n_buckets` buckets made by sorting sequences on length and
    cutting them into equal parts (the post's BucketedDataIterator): each bucket's longest."""
    import numpy as np

    ordered = np.sort(np.asarray(lengths))
    if len(ordered) < n_buckets:
        raise ValueError(f"{len(ordered)} sequences cannot fill {n_buckets} buckets")
    return tuple(int(part[-1]) for part in np.array_split(ordered, n_buckets))


@dataclasses.dataclass(frozen=True)
class VariableLength(Batches):
    """Batches of variable-length sequences, data {'tokens' [N, T] (padded), 'length' [N], ...},
    in a few fixed shapes: each batch says its `length_class`, the index of the shortest of
    `lengths` that holds its longest sequence, and the model cuts the time axis to that length
    (`by_length_class`) — one compilation per class, not one per batch length.

    bucketed=False, the post's PaddedDataIterator: a fresh permutation each epoch, consecutive
    batches of it. bucketed=True, its BucketedDataIterator: sequences sorted on length and cut
    into len(lengths) equal buckets (`bucket_lengths`), each bucket shuffled, and the epoch's
    batches (every full batch of every bucket) taken in a random order of buckets.

    The order is a function of (order_seed, epoch) only, the same for every seed of a sweep, and
    the trainer plans it once outside the seeds' `vmap` (`shared_order`): a batch's class is then
    one number for all seeds and `lax.switch` runs one branch (batched, it would become a select
    that computes all five: a 3-seed epoch took 5× a 1-seed one, bucketed no faster than padded).
    Seeds still differ in initialization and dropout. Every batch also says its padding: `padding`,
    the post's count (the sum over the batch of its longest length minus each length), and
    `padding_computed`, the same to its class's length (the padded steps this step computes)."""

    batch_size: int
    lengths: tuple[int, ...]  # ascending padded lengths; the last is the data's T
    bucketed: bool
    order_seed: int = 0
    shared_order = True

    def _bucket_sizes(self, data: Batch) -> list[int]:
        n = num_examples(data)
        k = len(self.lengths)
        return [n // k + (1 if b < n % k else 0) for b in range(k)]  # np.array_split's sizes

    def steps_per_epoch(self, data: Batch) -> int:
        n = num_examples(data)
        if not self.bucketed:
            if n < self.batch_size:
                raise ValueError(f"batch size {self.batch_size} exceeds the {n} training sequences")
            return n // self.batch_size
        sizes = self._bucket_sizes(data)
        if min(sizes) < self.batch_size:
            raise ValueError(f"batch size {self.batch_size} exceeds the smallest of {len(sizes)} buckets "
                             f"({min(sizes)} sequences): use fewer buckets or a smaller batch")
        return sum(s // self.batch_size for s in sizes)

    def units_per_step(self, data: Batch) -> int:
        return self.batch_size

    def plan(self, data, key, first_step, num_steps):
        key = jax.random.key(self.order_seed)  # not the seed's key: see the class docstring
        if not self.bucketed:
            return batch_indices(key, first_step, num_steps, num_examples(data), self.batch_size)
        per_epoch = self.steps_per_epoch(data)
        sizes = self._bucket_sizes(data)
        starts = [sum(sizes[:b]) for b in range(len(sizes))]
        batches_of = [s // self.batch_size for s in sizes]
        by_length = jnp.argsort(data["length"], stable=True)
        bucket_of_rank = jnp.repeat(jnp.arange(len(sizes)), jnp.array(sizes), total_repeat_length=len(by_length))

        def epoch_plan(epoch):
            k_members, k_order = jax.random.split(jax.random.fold_in(key, epoch))
            # shuffle within buckets: sort ranks by (bucket, random key)
            shuffled = by_length[jnp.lexsort((jax.random.uniform(k_members, by_length.shape), bucket_of_rank))]
            slots = jnp.repeat(jnp.arange(len(sizes)), jnp.array(batches_of), total_repeat_length=per_epoch)
            buckets = jax.random.permutation(k_order, slots)  # each batch from a random bucket
            ordinal = jnp.cumsum(jax.nn.one_hot(buckets, len(sizes), dtype=jnp.int32), axis=0)[
                jnp.arange(per_epoch), buckets] - 1  # the how-many-th batch of its bucket
            first = jnp.array(starts)[buckets] + ordinal * self.batch_size
            return first[:, None] + jnp.arange(self.batch_size)[None, :], shuffled

        t = first_step + jnp.arange(num_steps)
        first_epoch = first_step // per_epoch
        max_epochs = (num_steps + per_epoch - 1) // per_epoch + 1  # static bound
        positions, shuffled = jax.vmap(epoch_plan)(first_epoch + jnp.arange(max_epochs))
        e = t // per_epoch - first_epoch
        return shuffled[e[:, None], positions[e, t % per_epoch]]

    def take(self, data, key, indices):
        batch = jax.tree.map(lambda a: a[indices], data)
        longest = jnp.max(batch["length"])
        length_class = jnp.sum(jnp.array(self.lengths) < longest)  # the shortest class that holds it
        return {**batch, "length_class": length_class,
                "padding": jnp.sum(longest - batch["length"]).astype(jnp.float32),
                "padding_computed": jnp.sum(jnp.array(self.lengths)[length_class] - batch["length"]).astype(jnp.float32)}


def by_length_class(fn: Callable, lengths: tuple[int, ...], time_keys: tuple[str, ...] = ("tokens",)) -> Callable:
    """fn'(params, batch, *rest) = fn(params, batch cut to lengths[batch['length_class']], *rest):
    one `lax.switch` branch per length, each traced (and compiled) once, and a step runs only the
    branch of its own length. `time_keys` are the batch arrays whose axis 1 is time."""

    def branch(length):
        def cut(operands):
            params, batch, rest = operands
            batch = {k: (v[:, :length] if k in time_keys else v) for k, v in batch.items()}
            return fn(params, batch, *rest)
        return cut

    def apply(params, batch, *rest):
        return jax.lax.switch(batch["length_class"], [branch(length) for length in lengths], (params, batch, rest))

    return apply
