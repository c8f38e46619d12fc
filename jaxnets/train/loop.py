"""The host side of training: one loop for a single run and for a vmapped sweep of seeds.

A run is always a batch of seeds (a single run is a batch of one), so `train` and `sweep`
share every line. The loop dispatches jitted chunks of `log_every` steps, reads each
chunk's metrics one chunk late (dispatch stays asynchronous), evaluates, checkpoints, and
stops on a non-finite loss before that state can reach a checkpoint. What it writes goes
through the `RunWriter` it is given (metrics.jsonl, checkpoints/); it never picks paths.
"""

from __future__ import annotations

import dataclasses
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
from jaxnets.rundir import read_sessions, RunWriter, fmt_time
from jaxnets.train import sharding
from jaxnets.train.batches import Batches
from jaxnets.train.checkpoint import leaves_digest, Checkpointer, NonFiniteState
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


HEARTBEAT_SECONDS = 30.0  # a run quiet this long (an epoch in one chunk) says where it probably is


class Heartbeat:
    """Between the progress lines of long chunks (char_rnn logs once an epoch, ~30 s), a line
    every HEARTBEAT_SECONDS with the step the run has probably reached, estimated from its
    measured rate. It never asks the device (that would synchronize it), so it changes nothing
    that is computed; it only keeps a long run from looking hung."""

    def __init__(self, log: Callable[[str], None], total: int, every: float = HEARTBEAT_SECONDS):
        import threading

        self.log, self.total, self.every = log, total, every
        self.step, self.at, self.seconds_per_step = 0, time.time(), None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True, name="jaxnets-heartbeat")

    def mark(self, step: int, seconds_per_step: float | None) -> None:
        self.step, self.at, self.seconds_per_step = step, time.time(), seconds_per_step

    def _beat(self) -> None:
        while not self.done.wait(self.every / 3):
            quiet = time.time() - self.at
            if quiet < self.every:
                continue
            if self.seconds_per_step:
                guess = min(self.total - 1, self.step + int(quiet / self.seconds_per_step))
                left = (self.total - guess) * self.seconds_per_step
                self.log(f"  … {fmt_time(quiet)} since the last line: about step {guess}/{self.total} "
                         f"({100 * guess / self.total:.0f}%), ETA {fmt_time(left)}")
            else:
                self.log(f"  … {fmt_time(quiet)} since the last line: the first chunk (compiling, then "
                         f"training) is still running")
            self.at = time.time()

    def start(self) -> "Heartbeat":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=1.0)

    def __enter__(self) -> "Heartbeat":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# Whatever train.checkpoint_every says, a run saves at least this often (at its chunk boundaries):
# an interruption never costs more than ~10 minutes of training. Saving changes no result.
CHECKPOINT_SECONDS = 600.0


@dataclasses.dataclass
class FitResult:
    state: TrainState  # leading axis = seed
    history: list[dict]  # the records of metrics.jsonl
    steps: int
    wall_time_s: float  # training time of all processes of this run, compilation included
    throughput: float | None  # units (examples, tokens) per second after the first chunk (which compiles)
    unit: str  # what `throughput` counts
    final_eval: dict[str, np.ndarray]  # {"<split>_<metric>": [S]} of the final state
    final_train: dict[str, np.ndarray]  # {"train_<metric>": [S]}: the last logged interval's means
    diverged_at: dict[int, int] = dataclasses.field(default_factory=dict)  # {seed: first step with a NaN loss}

    @property
    def examples_per_s(self) -> float | None:
        return self.throughput if self.unit == "examples" else None


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


BY_POSITION = "_by_position"  # a metric named so is a vector (one value per position in a window)


def _summarize(values: dict[str, np.ndarray], prefix: str) -> tuple[dict[str, float], dict[str, list]]:
    """{'loss': [S, n]} -> ({'train_loss': mean}, {'train_loss': [S] seed means}); the second only if S > 1.
    A metric named '*_by_position' keeps its last axis: [S, (n,) P] -> a list of P means."""
    record, per_seed = {}, {}
    for key, value in values.items():
        value = np.asarray(value, dtype=np.float64)
        if key.endswith(BY_POSITION):
            seed_means = value.reshape(value.shape[0], -1, value.shape[-1]).mean(axis=1)
            record[f"{prefix}{key}"] = [round(float(v), 6) for v in seed_means.mean(axis=0)]
            if len(seed_means) > 1:
                per_seed[f"{prefix}{key}"] = [[round(float(v), 6) for v in row] for row in seed_means]
            continue
        seed_means = value.reshape(value.shape[0], -1).mean(axis=1)
        record[f"{prefix}{key}"] = float(seed_means.mean())
        if len(seed_means) > 1:
            per_seed[f"{prefix}{key}"] = seed_means.tolist()
    return record, per_seed


def sharded_chunk(task: Task, optimizer: optax.GradientTransformation, batches: Batches,
                  mesh: jax.sharding.Mesh, num_steps: int) -> Callable:
    """chunk(states, data) for a stack of seeds, jitted over `mesh`: seeds vmapped along the
    'seed' axis, each batch split along 'data', the input state donated. jit caches one
    compiled program per shape of (states, data): buckets of different shapes compile once each."""
    per_seed_chunk = make_chunk(task, optimizer, batches, num_steps, mesh)
    if batches.shared_order:  # one plan for every seed, made outside their vmap: it stays unbatched
        def chunk(states, data):
            plan = batches.plan(data, None, states.step[0], num_steps)
            return over_seeds(lambda state, d: per_seed_chunk(state, d, plan), spmd_axis_name="seed")(states, data)
    else:
        chunk = over_seeds(per_seed_chunk, spmd_axis_name="seed")
    state_sharding = sharding.per_seed(mesh)
    return jax.jit(chunk, donate_argnums=0, out_shardings=(state_sharding, state_sharding))


def over_seeds(fn: Callable, **vmap_kwargs) -> Callable:
    """fn(state, data) mapped over the leading seed axis of `state` (vmap), except that a stack
    of one seed runs unbatched: vmap's batch axis of 1 turns every matmul into a batched one,
    which XLA:CPU ran 2× slower on the PTB model's 10,000-way readout (benchmarks/README.md)."""
    batched = jax.vmap(fn, in_axes=(0, None), **vmap_kwargs)

    def apply(states, data):
        if jax.tree.leaves(states)[0].shape[0] > 1:
            return batched(states, data)
        return jax.tree.map(lambda a: a[None], fn(jax.tree.map(lambda a: a[0], states), data))

    return apply


UNIT_ABBREVIATIONS = {"examples": "ex", "tokens": "tok"}


def progress_line(step: int, total: int, steps_per_epoch: int, values: dict[str, float], rate: float, unit: str,
                  n_seeds: int, eta: float, preferred=(), width: int = 100) -> str:
    """'epoch 3.0/20 (15%) · step 300/2000 | loss: train 0.31 test 0.29 | 9,800 ex/s | ETA 2m10s',
    lines of at most `width` columns: metrics grouped by name (train/validation/test side by
    side), the wanted ones first (`preferred` names, e.g. the metrics with a published number,
    then loss). Too long for one line, the step count goes, then the groups wrap onto indented
    lines: no metric is ever dropped. The rate is the total over all seeds, with the per-seed
    rate beside it in sweeps."""
    groups: dict[str, list[str]] = {}
    rank = {"train": 0, "validation": 1, "test": 2}
    for key, value in sorted(values.items(), key=lambda kv: rank.get(kv[0].partition("_")[0], 3)):
        split, _, name = key.partition("_")
        split = {"validation": "val"}.get(split, split)
        groups.setdefault(name or split, []).append(f"{split} {value:.4g}")
    wanted = [n.removeprefix("min_").removeprefix("max_").partition("_")[2] or n for n in preferred]
    order = sorted(groups, key=lambda n: (n not in wanted, n != "loss", list(groups).index(n)))
    abbreviation = UNIT_ABBREVIATIONS.get(unit, unit)
    speed = f"{rate:,.0f} {abbreviation}/s" + (f" ({rate / n_seeds:,.0f}/seed)" if n_seeds > 1 else "")
    eta_text = f"ETA {fmt_time(eta) if math.isfinite(eta) else '?'}"
    percent = f"({100 * step / total:.0f}%)"
    if steps_per_epoch < total:
        epoch, epochs = step / steps_per_epoch, total / steps_per_epoch
        epochs_text = f"{epochs:g}" if epochs.is_integer() else f"{epochs:.{2 if epochs < 10 else 1}f}"
        where, step_text = f"epoch {epoch:.{2 if epoch < 10 else 1}f}/{epochs_text} {percent}", \
            f" · step {step}/{total}"
    else:
        where, step_text = f"step {step}/{total} {percent}", ""
    metrics = [f"{name}: {' '.join(groups[name])}" for name in order]
    text = " | ".join([where + step_text, *metrics, speed, eta_text])
    if len(text) <= width:
        return text
    lines, current = [], where
    for segment in [*metrics, speed, eta_text]:
        if len(current) + 3 + len(segment) > width and current.strip():
            lines.append(current)
            current = "    " + segment
        else:
            current += (" | " if current.strip() else "") + segment
    return "\n".join([*lines, current])


def fit(task: Task, optimizer: optax.GradientTransformation | Callable[[int], optax.GradientTransformation],
        train_data: dict[str, np.ndarray],
        eval_data: dict[str, dict[str, np.ndarray]], train: ml_collections.ConfigDict,
        writer: RunWriter, seeds: list[int], log: Callable[[str], None] = print,
        stream: str | None = None, progress_metrics: tuple[str, ...] = (),
        at_steps: tuple | None = None) -> FitResult:
    """Train len(seeds) independent runs of `task` as one vmapped computation; `optimizer` may be
    a function of the steps in an epoch (for schedules counted in epochs); `stream` names
    an independent random stream of the same seeds (see `run_keys`); the progress lines show
    `progress_metrics` (e.g. those with a published number) first. `at_steps` = (steps, hook):
    at the first logged step at or past each of `steps`, hook(step, state, record) is called
    with the state of that very step (samples through training: the pending record is
    processed first, so the state is not a chunk ahead)."""
    if not isinstance(writer, RunWriter):
        writer = RunWriter(writer)
    if not writer.primary:
        log = lambda message: None  # noqa: E731  (one progress stream, from the process that writes)
    batches = default_batches(task, train.batch_size, train.get("shuffle", True))
    try:
        steps_per_epoch = batches.steps_per_epoch(train_data)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if callable(optimizer):
        optimizer = optimizer(steps_per_epoch)
    total, log_every, eval_every, ckpt_every = schedule(train, steps_per_epoch)
    units_per_step = batches.units_per_step(train_data)
    n_seeds = len(seeds)
    mesh = sharding.make_mesh(n_seeds, train.batch_size, shard_batch=train.get("shard_batch", "auto"))
    if mesh.shape["data"] > 1:
        log(f"each batch of {train.batch_size} is split over {mesh.shape['data']} devices "
            f"({train.batch_size // mesh.shape['data']} examples each)")
    state_sharding = sharding.per_seed(mesh)

    keys = run_keys(seeds, stream)
    state = jax.jit(jax.vmap(lambda k: init_state(task, optimizer, k)), out_shardings=state_sharding)(keys)
    checkpointer = Checkpointer(writer.checkpoint_dir, fingerprint=writer.fingerprint, warn=log,
                                layout={k: int(v) for k, v in mesh.shape.items()},
                                data_digest=leaves_digest({"train": train_data, "eval": eval_data})[0])
    restored_step, state = checkpointer.restore(state)
    start = restored_step or 0
    if start:
        log(f"resuming {writer.workdir} from the checkpoint at step {start}/{total}")
    elif checkpointer.latest_step() is not None:
        log(f"no valid checkpoint in {checkpointer.directory}: training starts over")
    elif len(read_sessions(writer.workdir)) > 1:  # reopened, yet nothing to resume: say so
        log(f"note: an earlier session of {writer.workdir} stopped before its first checkpoint; training starts "
            f"over from step 0 (train.checkpoint_every sets how often a run checkpoints)")
    metrics_log = writer.metrics_log(start if start else None, warn=log, tensorboard=train.get("tensorboard", True))
    history = list(metrics_log.records)

    data = sharding.put_replicated(mesh, train_data)
    evals = {name: sharding.put_replicated(mesh, d) for name, d in eval_data.items()}
    chunks: dict[int, Callable] = {}

    def chunk_fn(num_steps: int) -> Callable:
        if num_steps not in chunks:
            chunks[num_steps] = sharded_chunk(task, optimizer, batches, mesh, num_steps)
        return chunks[num_steps]

    evaluate = jax.jit(over_seeds(make_evaluate(task, train.eval_batch_size)))
    # A resumed run's clock continues from its last logged time, so times and wall_time_s
    # count the training of all processes together.
    already = history[-1]["time"] if history else 0.0
    clock = {"start": time.time() - already, "first_done": None, "last": time.time(), "steps_after_first": 0}
    last_good_ckpt = start or None
    last_save_time = time.time()
    final_eval: dict[str, np.ndarray] = {}  # per-seed eval of the newest evaluated state
    final_train: dict[str, np.ndarray] = {}
    diverged_at: dict[int, int] = {}
    rate_key = f"{batches.unit}_per_s"

    def process(pending) -> None:
        step, n_steps, metrics, eval_metrics = pending
        metrics = sharding.to_host(metrics)
        now = time.time()
        record, per_seed = _summarize(metrics, "train_")
        final_train.update({f"train_{k}": np.asarray(v, np.float64).reshape(n_seeds, -1, *np.shape(v)[2:]).mean(axis=1)
                            for k, v in metrics.items()})
        bad = [seeds[i] for i in range(n_seeds) if not np.all(np.isfinite(metrics["loss"][i]))]
        for seed in bad:
            if seed not in diverged_at and not train.stop_on_nan:
                log(f"seed {seed} diverged (a non-finite training loss) by step {step}; the other seeds train on "
                    f"(stop_on_nan=false)")
            diverged_at.setdefault(seed, step)
        if eval_metrics is not None:
            for name, values in sharding.to_host(eval_metrics).items():
                r, p = _summarize(values, f"{name}_")
                record.update(r)
                per_seed.update(p)
                final_eval.update({f"{name}_{k}": np.asarray(v) for k, v in values.items()})
        if clock["first_done"] is None:
            clock["first_done"] = now
        else:
            clock["steps_after_first"] += n_steps
        rate = (n_steps * units_per_step * n_seeds) / max(now - clock["last"], 1e-9)
        clock["last"] = now
        record = {"step": step, "epoch": round(step / steps_per_epoch, 4), "time": round(now - clock["start"], 3),
                  rate_key: round(rate, 1), **record}
        if per_seed:
            record["per_seed"] = per_seed
        metrics_log.write(record)
        history.append(record)
        eta = (total - step) * (now - clock["first_done"]) / max(clock["steps_after_first"], 1) \
            if clock["steps_after_first"] else float("nan")
        values = {k: v for k, v in record.items()
                  if k not in ("step", "epoch", "time", rate_key, "per_seed") and not k.endswith(BY_POSITION)}
        log(progress_line(step, total, steps_per_epoch, values, rate, batches.unit, n_seeds, eta,
                          preferred=progress_metrics))
        heartbeat.mark(step, (now - clock["first_done"]) / clock["steps_after_first"]
                       if clock["steps_after_first"] else None)
        if bad and train.stop_on_nan:
            kept = f"the last good checkpoint (step {last_good_ckpt}) is kept in {checkpointer.directory}" \
                if last_good_ckpt else "no checkpoint had been written yet"
            raise NonFiniteLoss(f"non-finite training loss in the {n_steps} steps up to step {step} "
                                f"(seeds {bad}); the run is stopped and {kept}. Lower the learning rate "
                                f"or set --config.train.stop_on_nan=false to let it continue.")

    patience = train.get("early_stop_patience", 0)
    watched = train.get("early_stop_metric", "validation_loss")
    stopped_at = early_stop(history, watched, patience, n_seeds)
    if stopped_at is not None:
        log(f"early stop: {watched} had not improved for {patience} evaluations at step {stopped_at}")
    pending = None
    step = start
    hook_steps, hook = (sorted(s for s in at_steps[0] if s > start), at_steps[1]) if at_steps else ([], None)
    heartbeat = Heartbeat(log, total)
    heartbeat.mark(start, None)
    try:
        heartbeat.start()
        while step < total and stopped_at is None:
            n_steps = min(log_every, total - step)
            state, metrics = chunk_fn(n_steps)(state, data)
            step += n_steps
            eval_metrics = None
            if step % eval_every == 0 or step == total:
                eval_metrics = {name: evaluate(state, d) for name, d in evals.items()}
            if pending is not None:
                process(pending)
            pending = (step, n_steps, metrics, eval_metrics)
            if patience and eval_metrics is not None:  # decide now, before another chunk trains
                process(pending)
                pending = None
                stopped_at = early_stop(history, watched, patience, n_seeds)
                if stopped_at is not None:
                    log(f"early stop at step {step}: {watched} has not improved for {patience} evaluations "
                        f"(every seed)")
            overdue = time.time() - last_save_time > CHECKPOINT_SECONDS  # a config that saves only at its end
            if hook_steps and step >= hook_steps[0]:
                if pending is not None:
                    process(pending)
                    pending = None
                while hook_steps and step >= hook_steps[0]:
                    hook_steps.pop(0)
                hook(step, state, history[-1])
            if step % ckpt_every == 0 or step == total or stopped_at is not None or overdue:
                if pending is not None:
                    process(pending)  # the loss must be known finite before this state is kept
                    pending = None
                try:
                    # stop_on_nan=false: a diverged seed's NaN parameters are kept with the healthy seeds
                    checkpointer.save(step, state, nonfinite_ok=not train.stop_on_nan)
                except NonFiniteState as err:
                    raise NonFiniteLoss(f"{err}. Lower the learning rate or check the model (a finite loss "
                                        f"with non-finite parameters: an unused NaN parameter, keep_prob 0).") from None
                last_good_ckpt, last_save_time = step, time.time()
        if pending is not None:
            process(pending)
    except KeyboardInterrupt:
        raise Interrupted(history[-1]["step"] if history else start, checkpointer.latest_step(),
                          writer.workdir) from None
    finally:
        heartbeat.stop()
        failing = sys.exc_info()[0] is not None  # a failed save already on its way up says it in one line
        try:
            checkpointer.close()
        except Exception:  # noqa: BLE001
            if not failing:
                raise
        finally:
            metrics_log.close()
    if step == start:  # nothing left to train (a finished run rerun): evaluate what was restored
        for name, d in evals.items():
            values = sharding.to_host(evaluate(state, d))
            final_eval.update({f"{name}_{k}": np.asarray(v) for k, v in values.items()})
        last = history[-1] if history else {}
        final_train.update({k: np.asarray(last.get("per_seed", {}).get(k, [v] * n_seeds), np.float64)
                            for k, v in last.items() if k.startswith("train_")})
    wall = time.time() - clock["start"]
    after_first = clock["last"] - clock["first_done"] if clock["first_done"] else 0.0
    rate = clock["steps_after_first"] * units_per_step * n_seeds / after_first if after_first > 0 else None
    return FitResult(state, history, step, wall, rate, batches.unit, final_eval, final_train, diverged_at)


def early_stop(history: list[dict], metric: str, patience: int, n_seeds: int) -> int | None:
    """The step at which every seed has gone `patience` evaluations of `metric` (lower is better)
    without a new minimum, or None (also when patience is 0: early stopping off). A function of
    the history alone, so a resumed run decides exactly as an uninterrupted one."""
    if patience <= 0:
        return None
    rows = [r for r in history if metric in r]
    if len(rows) <= patience:
        return None
    values = np.asarray([r.get("per_seed", {}).get(metric, [r[metric]] * n_seeds) for r in rows], np.float64)
    best_index = np.argmin(np.where(np.isnan(values), np.inf, values), axis=0)  # first minimum per seed
    return rows[-1]["step"] if np.all(len(rows) - 1 - best_index >= patience) else None
