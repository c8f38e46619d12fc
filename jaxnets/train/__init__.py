"""Training: what a task provides, and the trainer that runs it.

A **task** (`step.Task`) is four pure pieces an experiment writes:

- `init(key) -> (params, model_state)`: parameters (a pytree) and non-trainable state (batch-norm
  statistics, a recurrent carry; `{}` when unused).
- a **batch function** (`batches.Batches`): `(data, key, step) -> batch`, pure. `Shuffled` (the
  default: a gather of `train.batch_size` examples, a fresh permutation per epoch), `Windows`
  (TF-style truncated BPTT: consecutive windows of a text laid out as rows, `reset` at each
  epoch's first), `Generated` (synthetic data drawn inside the step). Every batch is a function
  of (key, step), so a resumed run sees the batches an uninterrupted one would.
- `loss(params, model_state, batch, key, step) -> (loss, (model_state, {metric: scalar}))`:
  differentiated with respect to params; model_state flows on, undifferentiated (a carry that
  crosses windows is TF-style truncation). A model resets its state where the batch says.
  A metric named `loss` is logged as the training loss in place of the differentiated value
  (for a surrogate objective whose value means nothing, as synthetic gradients' is).
- `evaluate(params, model_state, batch, key, step) -> ({metric: (sum, count)}, model_state)`:
  sums and counts add up over batches, so per-token losses and masked accuracies are exact;
  `eval_batches` says how a split is read (windows, with the state carried through it).

`row_parallel=True` declares rows independent and the loss their mean: split over devices,
each device then trains its own rows and the gradients meet once per step. Nothing in a task
knows about devices, processes or files: the same loss gives the same value in a test and in
the trainer.

The **trainer** (`loop.fit`) builds `step(state, batch) -> (state, metrics)` (one Optax update,
`step.make_step`), scans it over `log_every` steps with the batch function inside the scan
(`step.make_chunk`), vmaps that over seeds and jits it on a ('seed', 'data') mesh with the state
donated; jit keeps one compiled chunk per shape of the data. It evaluates, logs, checkpoints
and stops on a non-finite loss through the `RunWriter` it is given.
"""

from jaxnets.train.batches import Batches, Generated, Shuffled, Windows, batch_indices
from jaxnets.train.loop import (FitResult, Interrupted, NonFiniteLoss, fit, named_key, resolve_steps, run_keys,
                                schedule)
from jaxnets.train.optim import dampened_momentum, make_optimizer
from jaxnets.train.step import (Task, TrainState, init_state, make_chunk, make_evaluate, make_step, mean_of,
                                per_example)

__all__ = ["Batches", "FitResult", "Generated", "Interrupted", "NonFiniteLoss", "Shuffled", "Task", "TrainState",
           "Windows", "batch_indices", "dampened_momentum", "fit", "init_state", "make_chunk", "make_evaluate",
           "make_optimizer", "make_step", "mean_of", "named_key", "per_example", "resolve_steps", "run_keys",
           "schedule"]
