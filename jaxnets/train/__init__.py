"""Training: pure step/chunk/evaluate functions (step.py) and the host loop (loop.py)."""

from jaxnets.train.loop import FitResult, NonFiniteLoss, fit, resolve_steps, schedule
from jaxnets.train.optim import dampened_momentum, make_optimizer
from jaxnets.train.step import (Task, TrainState, batch_indices, init_state, make_chunk, make_evaluate,
                                make_step)

__all__ = ["FitResult", "NonFiniteLoss", "Task", "TrainState", "batch_indices", "dampened_momentum",
           "fit", "init_state", "make_chunk", "make_evaluate", "make_optimizer", "make_step",
           "resolve_steps", "schedule"]
