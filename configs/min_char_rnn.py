"""Karpathy's min-char-rnn (2015, the gist beside "The Unreasonable Effectiveness of Recurrent
Neural Networks"): a one-layer vanilla tanh RNN, hidden 100, on windows of 25 characters, through
jaxnets' ordinary trainer.

The gist's model exactly: one-hot characters straight into the recurrence (h = tanh(Wxh·x +
Whh·h + bh), no embedding: model.embedding_size = -1), y = Why·h + by, weights N(0, 0.01²) and
biases 0, the loss summed over the window's 25 steps (model.loss = sum_over_steps), one stream
of text (batch 1) read in consecutive windows with the state carried and reset when the text
starts over, Adagrad at 0.1 with its memory starting at 0 and 1e-8 inside the square root, every
gradient entry clipped into [−5, 5] first. tests/test_min_char_rnn.py checks its gradient against
a NumPy transcription of the gist's lossFun. Readings: the gist trains on the whole file forever;
here on Tiny Shakespeare's first 90% for one pass (44,615 updates), the last 10% held out; the
gist prints smooth_loss (an exponential average with 0.999 per update, ≈ the last 1,000), here
train_loss is the mean summed window loss over each 1,000 updates (log_every), the same quantity
without the exponential weighting. No number is published beyond the starting loss
−log(1/65)·25 = 104.4 nats a window.

    python -m jaxnets train --config configs/min_char_rnn.py
"""

import ml_collections

from jaxnets.config import train_section


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.experiment = "language_model"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "tinyshakespeare"
    c.data.validation_fraction = 0.1

    c.model = ml_collections.ConfigDict()
    c.model.cell = "vanilla"
    c.model.num_layers = 1
    c.model.state_size = 100  # hidden_size
    c.model.embedding_size = -1  # one-hot inputs: the gist's Wxh
    c.model.num_steps = 25  # seq_length
    c.model.truncation = "tf_style"
    c.model.bptt = 0
    c.model.num_weights = 1
    c.model.keep_prob = 1.0
    c.model.w_init = "normal"
    c.model.w_scale = 0.01  # np.random.randn(...) * 0.01
    c.model.fused_lstm = False
    c.model.loss = "sum_over_steps"  # the gist's loss: the window's 25 cross-entropies summed

    c.sample = ml_collections.ConfigDict()
    c.sample.prompt = "T"
    c.sample.length = 200  # the gist samples 200 characters
    c.sample.top_k = 0
    c.sample.temperatures = (1.0,)
    c.sample.at_steps = (100, 300, 500, 700, 1200, 2000, 10_000, 40_000)  # samples.md, as the post shows them
    c.sample.carried_state = True  # samples.md from hprev, the state training carried, as the gist

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "adagrad"
    c.optimizer.learning_rate = 0.1
    c.optimizer.initial_accumulator_value = 0.0  # mem = np.zeros_like(param)
    c.optimizer.eps = 1e-8  # np.sqrt(mem + 1e-8)
    c.optimizer.clip_value = 5.0  # np.clip(dparam, -5, 5)

    c.train = train_section(
        without=("shuffle",),
        batch_size=1,  # one stream of text
        num_epochs=1.0,
        log_every=1000,
        eval_every=10_000,
        checkpoint_every=-1,
        eval_batch_size=1,
        shard_batch="never",
    )

    c.reference = ml_collections.ConfigDict()
    c.reference.source = "Karpathy 2015, min-char-rnn.py (gist)"
    return c
