"""Orbax checkpoints of the whole TrainState: what a killed run resumes from — and only what it
may resume from.

Each checkpoint carries, in orbax's custom metadata, the fingerprint of the config that wrote it
and a SHA-256 of its leaves (dtype, shape and bytes, in tree order). Restoring checks both: a
checkpoint of a different config is refused (a run never continues another run's weights), and
one whose leaves do not hash to what was written — a flipped bit, a truncated file — is skipped
like an unreadable one, falling back to the previous checkpoint. A state with non-finite
parameters is never written.

Before orbax is asked to read a step, its folder is checked against `files.json` (every file's
size, written after the save completed): an empty step folder, a missing or truncated file, an
unparsable `_CHECKPOINT_METADATA` is found without tensorstore (whose failed reads print
tracebacks from its threads). A damaged step is moved aside to `<workdir>/checkpoints_damaged/`
(never deleted) with one line saying why, and the next older one is tried; when checkpoints
exist but none reads, the run stops with a message naming the folder.

Orbax already guarantees, and this module relies on: a step is written under a temporary name
and renamed when complete (an interrupted save never lists as a step), old steps are pruned
(max_to_keep), saving runs in the background. It does not: verify what it reads (no checksum),
tie a checkpoint to the config that wrote it, or find a damaged step without tracebacks from
tensorstore's threads. Those three are what the code below adds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import re
import shutil
import signal
import threading
from typing import Callable

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxnets.rundir import write_atomic


class CheckpointError(RuntimeError):
    """A checkpoint that must not be used: written under another config, or no valid one left."""


class NonFiniteState(RuntimeError):
    """The parameters hold NaN or inf: such a state is never checkpointed."""


def _canonical(path) -> tuple[str, ...]:
    """A leaf's path as names only: the trainer's state (lists, named tuples) and the same
    checkpoint read back without a target (dicts of strings) give the same names."""
    names = []
    for key in path:
        for attr in ("key", "idx", "name"):
            if hasattr(key, attr):
                names.append(str(getattr(key, attr)))
                break
        else:
            names.append(str(key))
    return tuple(names)


def leaves_digest(state) -> tuple[str, list[str]]:
    """(SHA-256 over every leaf's path, dtype, shape and bytes in canonical path order, the paths
    of non-finite float leaves). Independent of container types, so every reader of a
    checkpoint — the trainer with its state, `sample` without one — verifies it the same way."""
    digest, bad = hashlib.sha256(), []
    leaves = sorted(((_canonical(path), leaf) for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]),
                    key=lambda item: tuple((len(n), n) if n.isdigit() else (0, n) for n in item[0]))
    for names, leaf in leaves:
        array = np.asarray(_to_host(leaf))
        digest.update(f"{'/'.join(names)}|{array.dtype}|{array.shape}|".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            bad.append("/".join(names))
    return digest.hexdigest(), bad


def _to_host(leaf):
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
        from jax.experimental import multihost_utils

        return multihost_utils.process_allgather(leaf, tiled=True)
    return jax.device_get(leaf)


@contextlib.contextmanager
def interrupts_deferred():
    """Ctrl-C inside the block takes effect when it ends: a checkpoint being written is finished
    and kept, instead of orbax's wait being interrupted mid-save (an ERROR traceback and a
    half-written step folder). Only the main thread can handle signals; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    deferred = [s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s]
    previous = {s: signal.signal(s, lambda signum, frame: received.append(signum)) for s in deferred}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)
    if received:  # now delivered to whoever handles it outside (the CLI: Ctrl-C's one line and exit code)
        handler = previous[received[0]]
        if handler is signal.SIG_IGN:  # a signal the process ignores stays ignored
            return
        if received[0] == signal.SIGINT and handler in (signal.SIG_DFL, None):
            raise KeyboardInterrupt
        signal.raise_signal(received[0])


def open_manager(directory: pathlib.Path, max_to_keep: int = 2, create: bool = True) -> ocp.CheckpointManager:
    """An orbax manager of one pytree item; naming its handler up front keeps a later process's
    restore from warning that it does not know the item ('Item "default" ... could not be restored')."""
    return ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=create),
                                 item_handlers=ocp.StandardCheckpointHandler())


@contextlib.contextmanager
def absl_quiet():
    """orbax logs every damaged step it meets (ERROR/WARNING lines); while jaxnets scans the
    steps and reports each damaged one itself in one line, those stay silent."""
    import logging

    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


FILE_SIZES = "files.json"  # in each step folder: {relative path: bytes}, written after the save


def write_file_sizes(step_dir: pathlib.Path) -> None:
    sizes = {str(f.relative_to(step_dir)): f.stat().st_size for f in sorted(step_dir.rglob("*"))
             if f.is_file() and f.name != FILE_SIZES}
    write_atomic(step_dir / FILE_SIZES, lambda tmp: tmp.write_text(json.dumps(sizes)))


def damage(step_dir: pathlib.Path) -> str | None:
    """Why this step folder cannot be a whole checkpoint, found without reading its arrays, or None."""
    if not step_dir.is_dir() or not any(step_dir.iterdir()):
        return "the step folder is empty"
    meta = step_dir / "_CHECKPOINT_METADATA"
    if meta.exists():
        try:
            json.loads(meta.read_text())
        except (ValueError, OSError):
            return "_CHECKPOINT_METADATA is not readable JSON"
    try:
        sizes = json.loads((step_dir / FILE_SIZES).read_text())
    except FileNotFoundError:
        return f"{FILE_SIZES} is missing (the save did not finish)"
    except (ValueError, OSError):
        return f"{FILE_SIZES} is not readable JSON"
    for name, size in sizes.items():
        path = step_dir / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size:,} of its {size:,} bytes"
    return None


class Checkpointer:
    def __init__(self, directory: str | pathlib.Path, max_to_keep: int = 2, fingerprint: str | None = None,
                 warn: Callable[[str], None] = print, layout: dict | None = None, read_only: bool = False,
                 data_digest: str | None = None):
        self.directory = pathlib.Path(directory).absolute()
        self.data_digest = data_digest  # of the arrays the run trains and evaluates on
        self.read_only = read_only  # a reader (sample, load_run): damaged steps are skipped, never moved
        self.fingerprint = fingerprint  # of the run's config; None: not checked (tests, tools)
        self.warn = warn
        self.layout = layout  # the mesh the state lives on: resuming on another is not bitwise
        self._remove_unfinished_saves()
        with absl_quiet():
            self._manager = open_manager(self.directory, max_to_keep)

    def _remove_unfinished_saves(self) -> None:
        """A save killed midway leaves orbax's temporary folder (`<step>.orbax-checkpoint-tmp*`):
        never a checkpoint, and orbax would warn when that step is saved again. Removed here, in
        one line, by the process that holds the run directory's lock."""
        if jax.process_index() != 0 or not self.directory.is_dir():
            return
        for tmp in sorted(self.directory.glob("*.orbax-checkpoint-tmp*")):
            shutil.rmtree(tmp, ignore_errors=True)
            self.warn(f"note: removed {tmp.name}, a checkpoint save that was interrupted (never a checkpoint)")

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state, nonfinite_ok: bool = False) -> None:
        """Synchronous: the train step donates its input, so the save must finish reading the
        buffers before the next step runs; checkpoints are rare, so waiting costs little.
        Non-finite parameters are refused unless `nonfinite_ok` (a sweep told to go on past
        diverged seeds keeps them, and the healthy seeds with them)."""
        digest, bad = leaves_digest(state)
        bad = [p for p in bad if "params" in p.split("/")]  # optimizer moments of a NaN step would follow anyway
        if bad and not nonfinite_ok:
            raise NonFiniteState(f"the parameters at step {step} hold NaN or inf ({', '.join(bad[:4])}); this "
                                 f"state is not checkpointed, the last good checkpoint is kept in {self.directory}")
        with interrupts_deferred(), absl_quiet():  # a failed save is reported once, by us, not by orbax's threads
            try:
                self._manager.save(step, args=ocp.args.StandardSave(state),
                                   custom_metadata={"config_fingerprint": self.fingerprint, "leaves_sha256": digest,
                                                    "layout": self.layout, "data_sha256": self.data_digest})
                self._manager.wait_until_finished()
            except Exception as err:  # noqa: BLE001  (re-raised as it came unless it is the file system's)
                raise _as_os_error(err, self.directory / str(step)) from None
            if jax.process_index() == 0:
                write_file_sizes(self.directory / str(step))

    def _metadata(self, step: int) -> dict:
        try:
            return dict(self._manager.metadata(step).custom_metadata or {})
        except Exception:  # noqa: BLE001  (no or unreadable metadata: an old or damaged checkpoint)
            return {}

    def _set_aside(self, step: int, why: str, older: list[int]) -> None:
        """Move a damaged step out of the manager's folder (kept for inspection, never deleted);
        a reader only skips it."""
        if self.read_only:
            self.warn(f"warning: the checkpoint at step {step} is damaged ({why}); "
                      + (f"reading step {older[0]} instead" if older else "no older checkpoint"))
            return
        source = self.directory / str(step)
        target = self.directory.parent / "checkpoints_damaged" / str(step)
        n = 1
        while target.exists():
            target, n = target.with_name(f"{step}.{n}"), n + 1
        if jax.process_index() == 0 and source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), str(target))
        self._manager.reload()
        self.warn(f"warning: the checkpoint at step {step} is damaged ({why}); moved to {target}; "
                  + (f"trying step {older[0]}" if older else "no older checkpoint"))

    def restore(self, like=None):
        """The newest valid checkpoint, restored into the structure, shapes and shardings of
        `like` (None: as saved, nested dicts of NumPy arrays), as (step, state); (None, like)
        when there is none. Damaged ones are set aside (each in one line); CheckpointError when
        some existed but none reads."""
        with absl_quiet():
            return self._restore(like)

    def _restore(self, like):
        abstract = None if like is None else jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        steps = sorted(self._manager.all_steps(), reverse=True)
        for i, step in enumerate(steps):
            older = steps[i + 1:]
            why = damage(self.directory / str(step))
            if why:
                self._set_aside(step, why, older)
                continue
            meta = self._metadata(step)
            written_by = meta.get("config_fingerprint")
            if self.fingerprint and written_by and written_by != self.fingerprint and self.read_only:
                self.warn(f"warning: the checkpoint at step {step} carries another config fingerprint than "
                          f"config.json gives (the config edited, or written by another jaxnets); read anyway, "
                          f"its checksum verified")
            elif self.fingerprint and written_by and written_by != self.fingerprint:
                raise CheckpointError(f"the checkpoint at step {step} in {self.directory} was written under a "
                                      f"different config; it is not resumed. Choose another --workdir, or pass "
                                      f"--overwrite to delete that run.")
            read_on = meta.get("data_sha256")
            if self.data_digest and read_on and read_on != self.data_digest:
                raise CheckpointError(f"the data this run reads changed since its checkpoint at step {step} was "
                                      f"written (the arrays' SHA-256 differs): it is not resumed. Restore the data "
                                      f"it trained on, or choose another --workdir (or pass --overwrite to start "
                                      f"over on the new data).")
            try:
                state = self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
            except Exception as err:  # noqa: BLE001  (unreadable: set aside, like a failed checksum)
                self._set_aside(step, f"orbax cannot read it ({type(err).__name__}: {_first_line(err)})", older)
                continue
            expected = meta.get("leaves_sha256")
            if expected is None or leaves_digest(state)[0] != expected:
                self._set_aside(step, "its leaves do not match the checksum written with them", older)
                continue
            if self.layout and meta.get("layout") and meta["layout"] != self.layout:
                self.warn(f"warning: the checkpoint at step {step} was written on a mesh {meta['layout']}, this run "
                          f"has {self.layout}: the continued run equals an uninterrupted one to float tolerance, "
                          f"not bitwise (batched matmuls block differently)")
            return step, state
        if steps and self.read_only:
            raise CheckpointError(f"none of the checkpoints in {self.directory} (steps {sorted(steps)}) can be read")
        if steps:
            raise CheckpointError(f"none of the checkpoints in {self.directory} (steps {sorted(steps)}) can be read; "
                                  f"they were moved to {self.directory.parent / 'checkpoints_damaged'}. Rerun with "
                                  f"--overwrite to start this run over, or restore a copy of the checkpoints.")
        return None, like

    def close(self) -> None:
        """Waits for orbax's threads; an error they still hold was reported by `save` already
        (or is the file system's, given back as the OSError it is)."""
        with absl_quiet():
            try:
                self._manager.close()
            except Exception as err:  # noqa: BLE001
                raise _as_os_error(err, self.directory) from None


def _first_line(err: Exception) -> str:
    """An error's first line, at most 160 characters: orbax's messages can carry whole reprs."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = re.sub(r"<bound method [^>]*>", "(a method)", text)
    return text[:160]


_OS_ERROR_CODE = re.compile(r"os_error_code='?(\d+)")


def _as_os_error(err: Exception, where: pathlib.Path) -> Exception:
    """tensorstore reports a full disk or a read-only file system as a ValueError whose text
    carries the OS error code ("RESOURCE_EXHAUSTED: ... No space left on device
    [os_error_code='28']"); give it back as the OSError it is, naming the checkpoint being
    written, so that the CLI says it in one line. Anything else is returned unchanged."""
    if isinstance(err, OSError):
        return err
    match = _OS_ERROR_CODE.search(str(err))
    if not match:
        return err
    code = int(match.group(1))
    return OSError(code, f"{os.strerror(code)} while writing a checkpoint (the last complete one is kept)",
                   str(where))


def _lists(tree):
    """A checkpoint read without a target holds lists as {'0': ..., '1': ...}: lists again."""
    if isinstance(tree, dict):
        if tree and all(isinstance(k, str) and k.isdigit() for k in tree):
            return [_lists(tree[k]) for k in sorted(tree, key=int)]
        return {k: _lists(v) for k, v in tree.items()}
    return tree


def read_run_state(workdir: str | pathlib.Path, warn: Callable[[str], None] = print) -> tuple[int, dict]:
    """(step, state) of a run folder's newest valid checkpoint, for readers (`sample`,
    `jaxnets.load_run`): verified as the trainer verifies it — the config's fingerprint, each
    file's size, the leaves' checksum — a damaged step skipped for the one before it and nothing
    moved. The state is nested dicts and lists of NumPy arrays, each with a leading seed axis."""
    from jaxnets.config import ConfigError
    from jaxnets.rundir import config_fingerprint

    workdir = pathlib.Path(workdir)
    try:
        saved = json.loads((workdir / "config.json").read_text())
    except (OSError, ValueError):
        raise ConfigError(f"{workdir} holds no readable jaxnets run (config.json)") from None
    if not (workdir / "checkpoints").is_dir():
        raise ConfigError(f"{workdir} has no checkpoint")
    checkpointer = Checkpointer(workdir / "checkpoints", fingerprint=config_fingerprint(saved), warn=warn,
                                read_only=True)
    try:
        step, state = checkpointer.restore()
    finally:
        checkpointer.close()
    if step is None:
        raise ConfigError(f"{workdir} has no checkpoint")
    return step, _lists(state)
