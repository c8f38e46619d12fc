"""The host side of training: one loop for a single run and for a vmapped sweep of seeds.

A run is always a batch of seeds (a single run is a batch of one), so `train` and `sweep`
share every line. The loop dispatches jitted chunks of `log_every` steps, reads each short
chunk's metrics one chunk late (dispatch stays asynchronous), evaluates, checkpoints, and
stops on a non-finite loss before that state can reach a checkpoint. A long chunk (an epoch of
a language model on a CPU: minutes) is read before the next is queued, so that Ctrl-C waits
for one chunk at most, and that chunk is saved (`keep_on_interrupt`). What it writes goes
through the `RunWriter` it is given (metrics.jsonl, checkpoints/); it never picks paths.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import time
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxnets.config import ConfigError
from jaxnets.rundir import read_sessions, RunWriter
from jaxnets.train import sharding
from jaxnets.train.batches import Batches
from jaxnets.train.checkpoint import leaves_digest, Checkpointer, NonFiniteState
from jaxnets.train.curves import Curve, Curves, append, final, from_records, to_record
from jaxnets.train.optim import set_hyperparams
from jaxnets.train.progress import fmt_time, Heartbeat, progress_line
from jaxnets.train.step import Task, TrainState, default_batches, init_state, make_chunk, make_evaluate


def run_keys(seeds: list[int], stream: str | None = None) -> jax.Array:
    """[S] PRNG keys of the runs of these seeds; a named `stream` gives independent runs of the
    same seeds (a second net trained beside the first, a second strategy), by `fold_in` of the
    name's hash rather than by shifting seed numbers."""
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    return keys if stream is None else jax.vmap(lambda k: named_key(k, stream))(keys)


def named_key(key: jax.Array, name: str) -> jax.Array:
    """An independent stream of `key` named `name` (fold_in of the name's CRC-32)."""
    import zlib

    return jax.random.fold_in(key, zlib.crc32(name.encode()) & 0x7FFFFFFF)


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN/inf loss; the last good checkpoint is kept."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training, with where it stopped: the CLI's one line instead of a traceback."""

    def __init__(self, step: int, checkpoint_step: int | None, workdir):
        super().__init__(step, checkpoint_step, workdir)
        self.step, self.checkpoint_step, self.workdir = step, checkpoint_step, workdir

    def __str__(self) -> str:
        kept = (f"last checkpoint at step {self.checkpoint_step}; rerun the same command to resume"
                if self.checkpoint_step else "no checkpoint yet: a rerun starts over")
        return f"interrupted at step {self.step} ({self.workdir}); {kept}"


# A chunk longer than this is read before the next is dispatched: what a stop then waits for is
# that one chunk (the device idles for the host's few milliseconds between them, nothing more).
LONG_CHUNK_SECONDS = 2.0


def wait_interruptibly(tree) -> None:
    """Wait for a chunk's arrays with the main thread in Python, not in XLA's wait: a signal
    (Ctrl-C, a scheduler's SIGTERM) is then acted on within a tenth of a second, where XLA's
    wait held it until the chunk ended (10 minutes for 3 seeds of a PTB epoch on this CPU)."""
    leaves = [x for x in jax.tree.leaves(tree) if isinstance(x, jax.Array)]
    pause = 1e-3
    while not all(x.is_ready() for x in leaves):
        time.sleep(pause)
        pause = min(2 * pause, 0.1)


# Whatever train.checkpoint_every says, a run saves at least this often (at its chunk boundaries):
# an interruption never costs more than ~10 minutes of training. Saving changes no result.
CHECKPOINT_SECONDS = 600.0


@dataclasses.dataclass
class FitResult:
    state: TrainState  # leading axis = seed
    curves: Curves  # {metric: Curve(steps [E], values [E, S, ...])}: metrics.jsonl as arrays
    steps: int
    steps_per_epoch: int
    wall_time_s: float  # training time of all processes of this run, compilation included
    throughput: float | None  # units (examples, tokens) per second after the first chunk (which compiles)
    unit: str  # what `throughput` counts
    final_eval: dict[str, np.ndarray]  # {"<split>_<metric>": [S, ...]} of the final state
    diverged_at: dict[int, int] = dataclasses.field(default_factory=dict)  # {run index: first step with a NaN loss}
    logged_at: dict[int, float] = dataclasses.field(default_factory=dict)  # {logged step: seconds of training}

    def times(self, steps) -> list[float]:
        """The training time (s, all sessions) at each of these logged steps."""
        return [self.logged_at[int(step)] for step in steps]

    @property
    def final_train(self) -> dict[str, np.ndarray]:
        """{"train_<metric>": [S, ...]}: the last logged interval's means."""
        return final(self.curves, "train_")


def resolve_steps(train: ml_collections.ConfigDict, steps_per_epoch: int) -> int:
    """train.steps if positive, else train.num_epochs full passes over the data."""
    if train.steps < 0:
        raise ConfigError(f"train.steps = {train.steps}: give a positive number of steps, or 0 to train "
                          f"train.num_epochs epochs")
    if train.steps > 0:
        return int(train.steps)
    return int(math.ceil(train.num_epochs * steps_per_epoch))


def schedule(train: ml_collections.ConfigDict, steps_per_epoch: int) -> tuple[int, int, int, int]:
    """(total steps, log_every, eval_every, checkpoint_every), checked for consistency.

    0 means: log_every = one epoch, eval_every = log_every, checkpoint_every = end only;
    checkpoint_every < 0: at every log_every (every epoch when log_every is one)."""
    total = resolve_steps(train, steps_per_epoch)
    log_every = train.log_every or max(1, steps_per_epoch)
    log_every = min(log_every, total)
    eval_every = min(train.eval_every or log_every, total)  # "every N > total steps" = at the end
    ckpt_every = log_every if train.checkpoint_every < 0 else min(train.checkpoint_every or total, total)
    for name, value in (("eval_every", eval_every), ("checkpoint_every", ckpt_every)):
        if value % log_every and value != total:
            raise ConfigError(f"train.{name} ({value}) must be a multiple of train.log_every ({log_every}): "
                              f"training runs in chunks of log_every steps")
    return total, log_every, eval_every, ckpt_every


def sharded_chunk(task: Task, optimizer: optax.GradientTransformation, batches: Batches,
                  mesh: jax.sharding.Mesh, num_steps: int, runs: str = "vmap") -> Callable:
    """chunk(states, data) for a stack of runs (seeds, or seeds × learning rates), jitted over
    `mesh`: runs spread along the 'seed' axis and executed as `runs` says on each device
    (`over_runs`), each batch split along 'data', the input state donated. jit caches one
    compiled program per shape of (states, data): buckets of different shapes compile once each."""
    per_seed_chunk = make_chunk(task, optimizer, batches, num_steps, mesh)
    if batches.shared_order:  # one plan for every seed, made outside their vmap: it stays unbatched
        def chunk(states, data):
            plan = batches.plan(data, None, states.step[0], num_steps)
            return over_runs(lambda state, d: per_seed_chunk(state, d, plan), runs, spmd_axis_name="seed")(
                states, data)
    else:
        chunk = over_runs(per_seed_chunk, runs, spmd_axis_name="seed")
    state_sharding = sharding.per_seed(mesh)
    return jax.jit(chunk, donate_argnums=0, out_shardings=(state_sharding, state_sharding))


RUN_AXES = ("auto", "vmap", "map")


def run_axis(choice: str, mesh: jax.sharding.Mesh) -> str:
    """How the runs that share a device execute: 'vmap' (one batched program: what a GPU or TPU
    wants) or 'map' (`lax.map`: one compiled program that runs them one after another, each at
    its unbatched shapes). 'auto': map on CPU, where batching the runs made every matmul a
    batched one (a [3, 640, 101] × [3, 101, 10,000] ran 2.4× slower per run than 3 plain ones:
    benchmarks/sweep_cost.py), vmap elsewhere. Runs spread over several devices ('seed' axis
    > 1) are vmapped: the split is the vmap's."""
    if choice not in RUN_AXES:
        raise ConfigError(f"train.run_axis = {choice!r} is not one of {list(RUN_AXES)}")
    if mesh.shape["seed"] > 1:
        return "vmap"
    if choice == "auto":
        return "map" if mesh.devices.flat[0].platform == "cpu" else "vmap"
    return choice


def over_runs(fn: Callable, runs: str = "vmap", **vmap_kwargs) -> Callable:
    """fn(state, data) over the leading run axis of `state`: vmapped, or `lax.map`ped (`run_axis`);
    a stack of one run runs unbatched either way (a vmap over 1 still batches every matmul)."""
    batched = jax.vmap(fn, in_axes=(0, None), **vmap_kwargs)

    def apply(states, data):
        if jax.tree.leaves(states)[0].shape[0] == 1:
            return jax.tree.map(lambda a: a[None], fn(jax.tree.map(lambda a: a[0], states), data))
        if runs == "map":
            return jax.lax.map(lambda state: fn(state, data), states)
        return batched(states, data)

    return apply



class Clock:
    """Training time and throughput. The first chunk compiles, so the rate and the ETA count
    the chunks after it; a resumed run's clock goes on from its last logged time, so times and
    wall_time_s count the training of all its sessions together."""

    RECENT = 5  # chunks whose median pace makes the ETA

    def __init__(self, already: float = 0.0):
        now = time.time()
        self.start, self.last, self.first_done, self.steps_after_first = now - already, now, None, 0
        self.first_seconds_per_step = None
        self.recent: list[float] = []  # seconds per step of the latest chunks after the first

    def tick(self, n_steps: int) -> float:
        """A chunk's metrics have arrived: the seconds since the previous chunk's."""
        now = time.time()
        took, self.last = max(now - self.last, 1e-9), now
        if self.first_done is None:
            self.first_done, self.first_seconds_per_step = now, took / n_steps
        else:
            self.steps_after_first += n_steps
            self.recent = (self.recent + [took / n_steps])[-self.RECENT:]
        return took

    @property
    def seconds_per_step(self) -> float | None:
        return (self.last - self.first_done) / self.steps_after_first if self.steps_after_first else None

    @property
    def estimate(self) -> float | None:
        """Seconds per step for an ETA: the median pace of the latest chunks (a run paused for
        ten minutes, or slowed while a neighbour trained, is not expected to stay that slow,
        and one that sped up is believed at once; the average since the start said 'ETA 3h40m'
        for 17 minutes left), else the first chunk's (compiling included, so an upper bound)
        rather than none until a second chunk has finished."""
        if self.recent:
            return float(np.median(self.recent))
        return self.first_seconds_per_step if self.first_done is not None else None

    def rate(self, units_per_step: float) -> float | None:
        return units_per_step / self.seconds_per_step if self.seconds_per_step else None


class Books:
    """What a chunk's metrics become: the curves, a metrics.jsonl line, a progress line and the
    seeds that diverged. A chunk's metrics are read one chunk late (`defer`), so dispatch stays
    asynchronous; `flush` reads them now, where a decision needs them (a checkpoint may keep
    only a state whose loss is known finite). A chunk leaves the queue only once it is written,
    so an interrupt while its values are awaited leaves it there for `flush` to finish."""

    def __init__(self, *, seeds, train, total, steps_per_epoch, units_per_step, unit, metrics_log, log,
                 preferred, heartbeat, checkpoint_dir, labels=None):
        self.labels = labels or [f"seed {seed}" for seed in seeds]  # how a message names each run
        self.seeds, self.train, self.total, self.steps_per_epoch = seeds, train, total, steps_per_epoch
        self.units_per_step, self.unit, self.metrics_log, self.log = units_per_step, unit, metrics_log, log
        self.preferred, self.heartbeat = preferred, heartbeat
        self.checkpoint_dir = checkpoint_dir  # named when a NaN stops the run
        records = metrics_log.records
        self.curves = from_records(records, len(seeds))
        self.last_record = records[-1] if records else {}
        self.logged_at = {int(r["step"]): r["time"] for r in records if "time" in r}
        self.clock = Clock(records[-1]["time"] if records else 0.0)
        self.final_eval: dict[str, np.ndarray] = {}
        self.diverged_at: dict[int, int] = {}  # {run index: step}: a grid repeats its seeds
        self.queue: list[tuple] = []  # (step, n_steps, metrics, evaluated) of chunks dispatched, not yet read
        self.last_checkpoint = None

    def defer(self, step: int, n_steps: int, metrics, evaluated) -> None:
        self.queue.append((step, n_steps, metrics, evaluated))
        self.flush(keep=1)

    def flush(self, keep: int = 0) -> None:
        """Read the queued chunks, oldest first, until `keep` are left."""
        while len(self.queue) > keep:
            self._process(*self.queue[0])
            self.queue.pop(0)

    def long_chunks(self, n_steps: int) -> bool:
        """Whether a chunk of n_steps takes long enough (or is not yet measured: the first one
        compiles) that the next should wait for it to be read rather than be queued behind it."""
        per_step = self.clock.estimate
        return per_step is None or per_step * n_steps > LONG_CHUNK_SECONDS

    def seconds_left(self) -> float | None:
        """How long the newest queued chunk probably still trains (None: not yet measured)."""
        if not self.queue or self.clock.estimate is None:
            return None
        queued = sum(n for _, n, _, _ in self.queue)
        return max(0.0, self.clock.last + queued * self.clock.estimate - time.time())

    def _process(self, step: int, n_steps: int, metrics, evaluated) -> None:
        if step in self.logged_at:  # written already (an interrupt came between the line and the dequeue)
            return
        # Read the values first: dispatch is asynchronous, so the chunk is done only once they
        # have arrived, and the clock must tick then (before, the first chunk's rate counted
        # its dispatch alone, and every later line the chunk before it)
        wait_interruptibly((metrics, evaluated))
        metrics, evaluated = sharding.to_host(metrics), sharding.to_host(evaluated or {})
        seconds = self.clock.tick(n_steps)
        values = {f"train_{k}": np.asarray(v, np.float64).mean(axis=1) for k, v in metrics.items()}
        for name, split in evaluated.items():
            evals = {f"{name}_{k}": np.asarray(v) for k, v in split.items()}
            self.final_eval.update(evals)
            values.update(evals)
        append(self.curves, step, values)
        rate = n_steps * self.units_per_step * len(self.seeds) / seconds
        self.last_record = {"step": step, "epoch": round(step / self.steps_per_epoch, 4),
                            "time": round(self.clock.last - self.clock.start, 3), f"{self.unit}_per_s": round(rate, 1),
                            **to_record(values)}
        self.metrics_log.write(self.last_record)
        self.logged_at[step] = self.last_record["time"]
        self._say(step, values, rate)
        self._check_finite(step, n_steps, values["train_loss"])

    def _say(self, step: int, values: dict, rate: float) -> None:
        per_step = self.clock.estimate
        eta = (self.total - step) * per_step if per_step else float("nan")
        healthy = np.isfinite(values["train_loss"]) & ~np.isin(np.arange(len(self.seeds)), list(self.diverged_at))
        keep = healthy if healthy.any() else np.ones_like(healthy)  # a diverged run's NaN hides the others' means
        scalars = {k: float(v[keep].mean()) for k, v in values.items() if v.ndim == 1}
        note = f"{len(healthy) - healthy.sum()} of {len(healthy)} runs diverged: means over the others" \
            if 0 < healthy.sum() < len(healthy) else ""
        self.log(progress_line(step, self.total, self.steps_per_epoch, scalars, rate, self.unit, len(self.seeds), eta,
                               preferred=self.preferred, note=note))
        self.heartbeat.mark(step, per_step)

    def _check_finite(self, step: int, n_steps: int, loss: np.ndarray) -> None:
        bad = [i for i, value in enumerate(loss) if not np.isfinite(value)]
        for i in bad:
            if i not in self.diverged_at and not self.train.stop_on_nan:
                self.log(f"{self.labels[i]} diverged (a non-finite training loss) by step {step}; the other runs "
                         f"train on (stop_on_nan=false)")
            self.diverged_at.setdefault(i, step)
        if bad and self.train.stop_on_nan:
            kept = f"the last good checkpoint (step {self.last_checkpoint}) is kept in {self.checkpoint_dir}" \
                if self.last_checkpoint \
                else "no checkpoint had been written yet"
            raise NonFiniteLoss(f"non-finite training loss in the {n_steps} steps up to step {step} ({', '.join(self.labels[i] for i in bad)}); "
                                f"the run is stopped and {kept}. Lower the learning rate or set "
                                f"--config.train.stop_on_nan=false to let it continue.")


def early_stop(curve: Curve | None, patience: int) -> int | None:
    """The step by which every seed has reached its own early stop (`Curve.own_stops`: `patience`
    evaluations of `curve` without a new minimum, lower is better), or None (also when patience
    is 0: early stopping off). A function of the logged values alone, so a resumed run decides
    exactly as an uninterrupted one; one seed stops exactly where it would alone."""
    if patience <= 0 or curve is None or len(curve.steps) <= patience:
        return None
    return int(curve.steps[-1]) if np.all(curve.own_stops(patience) >= 0) else None


def fit(task: Task, optimizer: optax.GradientTransformation | Callable[[int], optax.GradientTransformation],
        train_data: dict[str, np.ndarray], eval_data: dict[str, dict[str, np.ndarray]],
        train: ml_collections.ConfigDict, writer: RunWriter, seeds: list[int], log: Callable[[str], None] = print,
        stream: str | None = None, progress_metrics: tuple[str, ...] = (), at_steps: tuple | None = None,
        hyperparams: dict[str, list[float]] | None = None) -> FitResult:
    """Train len(seeds) independent runs of `task` as one compiled program (`run_axis`); `optimizer` may be
    a function of the steps in an epoch (for schedules counted in epochs); `stream` names an
    independent random stream of the same seeds (see `run_keys`); the progress lines show
    `progress_metrics` first. `at_steps` = (steps, hook): at the first logged step at or past
    each of `steps`, hook(step, state, record) is called with that very step's state and
    metrics.jsonl line (samples through training). `hyperparams` ({"learning_rate": [one value
    per run]}) gives each run its own value of the optimizer's (injected) hyperparameters: a
    column of learning rates × seeds is then one program (`seeds` repeats a seed per value)."""
    writer = writer if isinstance(writer, RunWriter) else RunWriter(writer)
    log = log if writer.primary else (lambda message: None)  # one progress stream, from the process that writes
    batches = default_batches(task, train.batch_size, train.get("shuffle", True))
    try:
        steps_per_epoch = batches.steps_per_epoch(train_data)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    optimizer = optimizer(steps_per_epoch) if callable(optimizer) else optimizer
    total, log_every, eval_every, ckpt_every = schedule(train, steps_per_epoch)
    mesh = sharding.make_mesh(len(seeds), train.batch_size, shard_batch=train.get("shard_batch", "auto"))
    if mesh.shape["data"] > 1:
        log(f"each batch of {train.batch_size} is split over {mesh.shape['data']} devices "
            f"({train.batch_size // mesh.shape['data']} examples each)")
    state, checkpointer, start = restore(task, optimizer, seeds, stream, mesh, writer,
                                         {"train": train_data, "eval": eval_data}, total, log, hyperparams)
    runs = run_axis(train.get("run_axis", "auto"), mesh)
    step = start
    heartbeat = Heartbeat(log, total, chunk=log_every)
    books = Books(seeds=seeds, train=train, total=total, steps_per_epoch=steps_per_epoch,
                  units_per_step=batches.units_per_step(train_data), unit=batches.unit, log=log,
                  metrics_log=writer.metrics_log(start or None, warn=log, tensorboard=train.get("tensorboard", True)),
                  preferred=progress_metrics, heartbeat=heartbeat, checkpoint_dir=writer.checkpoint_dir,
                  labels=run_labels(seeds, hyperparams))
    books.last_checkpoint = start or None
    data = sharding.put_replicated(mesh, train_data)
    evals = {name: sharding.put_replicated(mesh, d) for name, d in eval_data.items()}
    chunk = functools.lru_cache(lambda n: sharded_chunk(task, optimizer, batches, mesh, n, runs))  # one per length
    evaluate = jax.jit(over_runs(make_evaluate(task, train.eval_batch_size), runs))
    patience, watched = train.get("early_stop_patience", 0), train.get("early_stop_metric", "validation_loss")
    stopped = early_stop(books.curves.get(watched), patience)
    if stopped is not None:
        log(f"early stop: {watched} had not improved for {patience} evaluations at step {stopped}")
    hook_steps = sorted(s for s in at_steps[0] if s > start) if at_steps else []
    last_save = time.time()
    heartbeat.mark(start, None)
    try:
        with heartbeat:
            while step < total and stopped is None:
                n_steps = min(log_every, total - step)
                if books.long_chunks(n_steps):
                    books.flush()  # one long chunk in flight at a time: a stop waits for one, not two
                state, metrics, step = *chunk(n_steps)(state, data), step + n_steps
                due_eval = step % eval_every == 0 or step == total
                books.defer(step, n_steps, metrics, {k: evaluate(state, d) for k, d in evals.items()} if due_eval else None)
                if patience and due_eval:  # decide now, before another chunk trains
                    books.flush()
                    stopped = early_stop(books.curves.get(watched), patience)
                    if stopped is not None:
                        log(f"early stop at step {step}: {watched} has not improved for {patience} evaluations "
                            f"(every seed)")
                if hook_steps and step >= hook_steps[0]:
                    books.flush()
                    hook_steps = [s for s in hook_steps if s > step]
                    at_steps[1](step, state, books.last_record)
                if (step % ckpt_every == 0 or step == total or stopped is not None
                        or time.time() - last_save > CHECKPOINT_SECONDS):  # also a config that saves only at its end
                    books.flush()  # the loss must be known finite before this state is kept
                    save(checkpointer, step, state, train)
                    books.last_checkpoint, last_save = step, time.time()
            books.flush()
    except KeyboardInterrupt:
        kept = keep_on_interrupt(books, checkpointer, state, train, log)
        raise Interrupted(books.last_record.get("step", start), kept or checkpointer.latest_step(),
                          writer.workdir) from None
    finally:
        close(checkpointer, books.metrics_log)
    if step == start:  # nothing left to train (a finished run rerun): evaluate what was restored
        books.final_eval = {f"{name}_{k}": np.asarray(v) for name, d in evals.items()
                            for k, v in sharding.to_host(evaluate(state, d)).items()}
    clock = books.clock
    return FitResult(state, books.curves, step, steps_per_epoch, time.time() - clock.start,
                     clock.rate(batches.units_per_step(train_data) * len(seeds)), batches.unit, books.final_eval,
                     books.diverged_at, books.logged_at)


def run_labels(seeds: list[int], hyperparams: dict[str, list[float]] | None = None) -> list[str]:
    """How messages name each run: 'seed 3', or 'seed 3 at learning_rate 0.1' in a grid."""
    return [f"seed {seed}" + "".join(f" at {name} {values[i]:g}" for name, values in (hyperparams or {}).items())
            for i, seed in enumerate(seeds)]


def restore(task: Task, optimizer, seeds: list[int], stream: str | None, mesh, writer: RunWriter, data: dict,
            total: int, log: Callable[[str], None], hyperparams: dict | None = None
            ) -> tuple[TrainState, Checkpointer, int]:
    """The runs' initial state (each with its `hyperparams`), or the newest valid checkpoint of
    this run (saying which), and the checkpointer that keeps the run's next ones. A checkpoint of
    other data is refused."""
    state_sharding = sharding.per_seed(mesh)
    keys = run_keys(seeds, stream)
    state = jax.jit(jax.vmap(lambda k: init_state(task, optimizer, k)), out_shardings=state_sharding)(keys)
    if hyperparams:
        state = state._replace(opt_state=jax.device_put(set_hyperparams(state.opt_state, hyperparams, len(seeds)),
                                                        state_sharding))
    checkpointer = Checkpointer(writer.checkpoint_dir, fingerprint=writer.fingerprint, warn=log,
                                layout={k: int(v) for k, v in mesh.shape.items()}, data_digest=leaves_digest(data)[0])
    restored_step, state = checkpointer.restore(state)
    if restored_step:
        log(f"resuming {writer.workdir} from the checkpoint at step {restored_step}/{total}")
    elif checkpointer.latest_step() is not None:
        log(f"no valid checkpoint in {checkpointer.directory}: training starts over")
    elif len(read_sessions(writer.workdir)) > 1:  # reopened, yet nothing to resume: say so
        log(f"note: an earlier session of {writer.workdir} stopped before its first checkpoint; training starts "
            f"over from step 0 (train.checkpoint_every sets how often a run checkpoints)")
    return state, checkpointer, restored_step or 0


def keep_on_interrupt(books: Books, checkpointer: Checkpointer, state: TrainState,
                      train: ml_collections.ConfigDict, log: Callable[[str], None]) -> int | None:
    """Ctrl-C or SIGTERM while a chunk trains: the chunk is partly paid for (on a CPU a language
    model's chunk is an epoch, minutes), so where its measured pace says it ends within
    CHECKPOINT_SECONDS it is finished and saved, as the message says at once; a second interrupt
    stops without it, and so does the first during the first chunk (compiling, unmeasured).
    Returns the step saved, or None. Saved only where `state` is the chunk whose metrics were
    just written (an interrupt between the dispatch and its bookkeeping leaves nothing to keep)."""
    latest = checkpointer.latest_step() or 0
    left = books.seconds_left()
    if not books.queue or books.queue[-1][0] <= latest or left is None or left > CHECKPOINT_SECONDS:
        return None  # nothing unsaved, or a chunk not yet measured (compiling) or too far from its end: stop now
    target = books.queue[-1][0]
    fallback = f"a rerun resumes from step {latest}" if latest else "no checkpoint yet: a rerun starts over"
    log(f"stopping: the steps up to {target} are finishing (about {fmt_time(left)} to go) and are then saved; "
        f"interrupt again to stop now ({fallback})")
    try:
        books.flush()
        if any(leaf.is_deleted() for leaf in jax.tree.leaves(state)) or \
                int(np.asarray(sharding.to_host(state.step)).ravel()[0]) != target:
            return None
        save(checkpointer, target, state, train)
    except KeyboardInterrupt:
        return None
    return target


def save(checkpointer: Checkpointer, step: int, state: TrainState, train: ml_collections.ConfigDict) -> None:
    """Checkpoint `state`; with stop_on_nan=false a diverged seed's NaN parameters are kept with
    the healthy seeds, otherwise a non-finite state is never saved."""
    try:
        checkpointer.save(step, state, nonfinite_ok=not train.stop_on_nan)
    except NonFiniteState as err:
        raise NonFiniteLoss(f"{err}. Lower the learning rate or check the model (a finite loss with non-finite "
                            f"parameters: an unused NaN parameter, keep_prob 0).") from None


def close(checkpointer: Checkpointer, metrics_log) -> None:
    """Finish pending checkpoint writes and the metrics stream; an error while closing is raised
    unless another is already on its way up (a failed save says it in one line)."""
    failing = sys.exc_info()[0] is not None
    try:
        checkpointer.close()
    except Exception:  # noqa: BLE001
        if not failing:
            raise
    finally:
        metrics_log.close()
