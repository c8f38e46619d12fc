"""R2RT, "Recurrent Neural Networks in Tensorflow I" (2016; TF 1.0 edit 2017).

X_t ~ Bernoulli(0.5), P(Y_t = 1) = 0.5 + 0.5·X_{t−3} − 0.25·X_{t−8}; a fresh 1,000,000-step
series every epoch, laid out as 200 rows of 5,000 and read in consecutive windows of num_steps
with the state carried across windows (TF-style truncated backprop) and reset each epoch.
Model: one-hot x -> tanh RNN (state 4; W [2 + d, d] Glorot-uniform as TF 1.0's default, b = 0)
-> softmax (b = 0); mean cross-entropy; Adagrad 0.1. Expected losses: 0.6616 (learns nothing),
0.5192 (the t−3 echo), 0.4545 (both). Published: num_steps 5 reaches 0.5192 by step 900.

Variants: `steps1` (num_steps 1, 2 epochs: stays near 0.66), `state16_steps10` (state 16,
num_steps 10, 10 epochs: approaches 0.454).

    python -m jaxnets train --config configs/rnn_toy.py
"""

import ml_collections

from jaxnets.config import apply_variant, train_section
from jaxnets.data.sequences import expected_cross_entropies

VARIANTS = {
    "steps5": {},
    "steps1": {"model.num_steps": 1, "train.num_epochs": 2.0, "reference.train_loss": None},
    "state16_steps10": {"model.state_size": 16, "model.num_steps": 10, "train.num_epochs": 10.0,
                        "reference.train_loss": 0.454454367449},
}

_EXPECTED = expected_cross_entropies()  # the task's three levels, computed exactly
LEVELS = {f"learns neither: {_EXPECTED['neither']:.4f}": _EXPECTED["neither"],
          f"learns the t−3 echo: {_EXPECTED['echo_only']:.4f}": _EXPECTED["echo_only"],
          f"learns both echoes: {_EXPECTED['both']:.4f}": _EXPECTED["both"]}
TABLE = [("RNN I", "state 4, num_steps 5 (published: 0.5192 by step 900)", "steps5", "train_loss", 0.519166699707),
         ("RNN I", "num_steps 1 (stays near 'learns neither')", "steps1", "train_loss", _EXPECTED["neither"]),
         ("RNN I", "state 16, num_steps 10 (approaches 'learns both')", "state16_steps10", "train_loss",
          _EXPECTED["both"])]
FIGURES = {"loss": ("RNN I: training loss and the three expected levels",
                    {"state 4, num_steps 5": "steps5", "state 4, num_steps 1": "steps1",
                     "state 16, num_steps 10": "state16_steps10"}, ["train_loss"], LEVELS)}


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.experiment = "rnn_toy"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.series_length = 1_000_000
    c.data.series_seed = 0  # the series of epoch e is a function of (series_seed, e)

    c.model = ml_collections.ConfigDict()
    c.model.cell = "vanilla"
    c.model.state_size = 4
    c.model.num_steps = 5
    c.model.w_init = "glorot_uniform"

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "adagrad"
    c.optimizer.learning_rate = 0.1
    c.optimizer.initial_accumulator_value = 0.1  # TF's Adagrad default

    c.train = train_section(without=("shuffle",),
        batch_size=200,  # rows of the series
        num_epochs=1.0,
        steps=0,  # > 0 overrides num_epochs (a step = one window)
        log_every=100,
        eval_every=0,
        checkpoint_every=0,
        eval_batch_size=1,
        stop_on_nan=True,
        shard_batch="never",
    )

    c.reference = ml_collections.ConfigDict()
    c.reference.train_loss = 0.519166699707  # the post: 0.5192 by step 900 (0.5200 at 900, 0.5192 at 800)
    c.reference.source = "R2RT 2016, Recurrent Neural Networks in Tensorflow I"
    return apply_variant(c, VARIANTS, arg, default="steps5")
