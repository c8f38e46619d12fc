"""Orbax checkpoints of the whole TrainState: what a killed run resumes from — and only what it
may resume from.

Each checkpoint carries, in orbax's custom metadata, the fingerprint of the config that wrote it
and a SHA-256 of its leaves (dtype, shape and bytes, in tree order). Restoring checks both: a
checkpoint of a different config is refused (a run never continues another run's weights), and
one whose leaves do not hash to what was written — a flipped bit, a truncated file — is skipped
like an unreadable one, falling back to the previous checkpoint. A state with non-finite
parameters is never written.
"""

from __future__ import annotations

import contextlib
import hashlib
import pathlib
import signal
import threading
from typing import Callable

import jax
import numpy as np
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
    """A checkpoint that must not be used: written under another config, or no valid one left."""


class NonFiniteState(RuntimeError):
    """The parameters hold NaN or inf: such a state is never checkpointed."""


def leaves_digest(state) -> tuple[str, list[str]]:
    """(SHA-256 over every leaf's dtype, shape and bytes, the paths of non-finite float leaves)."""
    digest, bad = hashlib.sha256(), []
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        array = np.asarray(_to_host(leaf))
        digest.update(f"{jax.tree_util.keystr(path)}|{array.dtype}|{array.shape}|".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            bad.append(jax.tree_util.keystr(path))
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
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
    if received:
        raise KeyboardInterrupt


def open_manager(directory: pathlib.Path, max_to_keep: int = 2, create: bool = True) -> ocp.CheckpointManager:
    """An orbax manager of one pytree item; naming its handler up front keeps a later process's
    restore from warning that it does not know the item ('Item "default" ... could not be restored')."""
    return ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=create),
                                 item_handlers=ocp.StandardCheckpointHandler())


class Checkpointer:
    def __init__(self, directory: str | pathlib.Path, max_to_keep: int = 2, fingerprint: str | None = None,
                 warn: Callable[[str], None] = print, layout: dict | None = None):
        self.directory = pathlib.Path(directory).absolute()
        self.fingerprint = fingerprint  # of the run's config; None: not checked (tests, tools)
        self.warn = warn
        self.layout = layout  # the mesh the state lives on: resuming on another is not bitwise
        self._manager = open_manager(self.directory, max_to_keep)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state) -> None:
        """Synchronous: the train step donates its input, so the save must finish reading the
        buffers before the next step runs; checkpoints are rare, so waiting costs little."""
        digest, bad = leaves_digest(state)
        bad = [p for p in bad if ".params" in p]  # optimizer moments of a NaN step would follow anyway
        if bad:
            raise NonFiniteState(f"the parameters at step {step} hold NaN or inf ({', '.join(bad[:4])}); this "
                                 f"state is not checkpointed, the last good checkpoint is kept in {self.directory}")
        with interrupts_deferred():
            self._manager.save(step, args=ocp.args.StandardSave(state),
                               custom_metadata={"config_fingerprint": self.fingerprint, "leaves_sha256": digest,
                                                "layout": self.layout})
            self._manager.wait_until_finished()

    def _metadata(self, step: int) -> dict:
        try:
            return dict(self._manager.metadata(step).custom_metadata or {})
        except Exception:  # noqa: BLE001  (no or unreadable metadata: an old or damaged checkpoint)
            return {}

    def restore(self, like):
        """The newest valid checkpoint, restored into the structure, shapes and shardings of
        `like`, as (step, state); (None, like) when none is left (each skip is reported)."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        for step in sorted(self._manager.all_steps(), reverse=True):
            meta = self._metadata(step)
            written_by = meta.get("config_fingerprint")
            if self.fingerprint and written_by and written_by != self.fingerprint:
                raise CheckpointError(f"the checkpoint at step {step} in {self.directory} was written under a "
                                      f"different config; it is not resumed. Choose another --workdir, or pass "
                                      f"--overwrite to delete that run.")
            try:
                state = self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
            except Exception as err:  # noqa: BLE001  (unreadable: skip, like a failed checksum)
                self.warn(f"warning: the checkpoint at step {step} cannot be read ({type(err).__name__}: "
                          f"{str(err)[:200]}); trying an older one")
                continue
            expected = meta.get("leaves_sha256")
            if expected is None:
                self.warn(f"warning: the checkpoint at step {step} has no checksum (written by an older jaxnets); "
                          f"restored unverified")
                return step, state
            if leaves_digest(state)[0] != expected:
                self.warn(f"warning: the checkpoint at step {step} does not match its checksum (the files were "
                          f"damaged after writing); skipped, trying an older one")
                continue
            if self.layout and meta.get("layout") and meta["layout"] != self.layout:
                self.warn(f"warning: the checkpoint at step {step} was written on a mesh {meta['layout']}, this run "
                          f"has {self.layout}: the continued run equals an uninterrupted one to float tolerance, "
                          f"not bitwise (batched matmuls block differently)")
            return step, state
        return None, like

    def close(self) -> None:
        self._manager.close()
