"""Orbax checkpoints of the whole TrainState: what a killed run resumes from."""

from __future__ import annotations

import pathlib

import jax
import orbax.checkpoint as ocp


class Checkpointer:
    def __init__(self, directory: str | pathlib.Path, max_to_keep: int = 2):
        self.directory = pathlib.Path(directory).absolute()
        self._manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state) -> None:
        """Synchronous: the train step donates its input, so the save must finish reading the
        buffers before the next step runs; checkpoints are rare, so waiting costs little."""
        self._manager.save(step, args=ocp.args.StandardSave(state))
        self._manager.wait_until_finished()

    def restore(self, like):
        """Restore the latest checkpoint into the structure, shapes and shardings of `like`."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        return self._manager.restore(self.latest_step(), args=ocp.args.StandardRestore(abstract))

    def close(self) -> None:
        self._manager.close()
