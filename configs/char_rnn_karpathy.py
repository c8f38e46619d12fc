"""Karpathy 2015, "The Unreasonable Effectiveness of Recurrent Neural Networks", with char-rnn's
training: a character-level LSTM language model on Tiny Shakespeare, sampled as it trains.

As char-rnn (train.lua's defaults): one-hot characters into the first layer (no embedding),
LSTM layers, softmax readout; the text as 50 rows read in consecutive windows of 50 characters
(the state carried between windows); RMSprop, learning rate 2e-3, its average of squares decaying
0.95, every gradient entry clipped into [-5, 5], the rate × 0.97 each epoch after the 10th; the
last 10% of the text held out (char-rnn holds out 5% for validation, 0% for test); every
parameter drawn from U(-0.08, 0.08) as char-rnn, the forget gate's bias +1 inside the gate (TF's
BasicLSTMCell; char-rnn sets that bias to 1 instead). Samples at
iterations 100, 300, 500, 700, 1200 and 2000 go to samples.md, as the post shows them, and the
final ones at temperatures 1.0, 0.5 and 0.1.

Variants: `shakespeare` is the post's Shakespeare model (3 layers of 512; dropout 0.5, char-rnn's
advice for a model this size: the post does not say; 50 epochs). On these 2 CPU cores it trains
~2,100 characters a second beside other runs, about 8 minutes an epoch and 7 hours for the 50, so
`small` (char-rnn's default size, 2 layers of 128, 10 epochs: 4 minutes at ~40,000 characters a
second) is the default here.

    python -m jaxnets train --config configs/char_rnn_karpathy.py
    python -m jaxnets sample runs/char_rnn_karpathy --temperature 1.0,0.5,0.1
    python -m jaxnets visualize runs/char_rnn_karpathy
"""

import ml_collections

from jaxnets.config import apply_variant, train_section

VARIANTS = {
    "small": {},
    "shakespeare": {"model.num_layers": 3, "model.state_size": 512, "model.keep_prob": 0.5,
                    "train.num_epochs": 50.0},
}


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.experiment = "language_model"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "tinyshakespeare"
    c.data.validation_fraction = 0.1

    c.model = ml_collections.ConfigDict()
    c.model.cell = "lstm"
    c.model.num_layers = 2
    c.model.state_size = 128  # rnn_size
    c.model.embedding_size = -1  # one-hot characters (char-rnn's OneHot)
    c.model.num_steps = 50  # seq_length
    c.model.truncation = "tf_style"
    c.model.bptt = 0
    c.model.num_weights = 1
    c.model.keep_prob = 1.0
    c.model.w_init = "uniform"  # every parameter U(-0.08, 0.08), as char-rnn
    c.model.w_scale = 0.08
    c.model.fused_lstm = True

    c.sample = ml_collections.ConfigDict()
    c.sample.prompt = "A"
    c.sample.length = 500
    c.sample.top_k = 0
    c.sample.temperatures = (1.0, 0.5, 0.1)
    c.sample.at_steps = (100, 300, 500, 700, 1200, 2000)
    c.sample.carried_state = False  # samples.md from the model's start state

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "rmsprop"
    c.optimizer.learning_rate = 2e-3
    c.optimizer.rms_decay = 0.95  # decay_rate
    c.optimizer.eps = 1e-8
    c.optimizer.clip_value = 5.0  # grad_clip: clamped entry by entry
    c.optimizer.decay_after_epochs = 10  # learning_rate_decay_after
    c.optimizer.decay_factor = 0.97  # learning_rate_decay

    c.train = train_section(without=("shuffle",),
        batch_size=50,  # rows of the text
        num_epochs=10.0,
        steps=0,
        log_every=100,
        eval_every=400,  # about an epoch (401 windows)
        checkpoint_every=-1,
        eval_batch_size=1,
        stop_on_nan=True,
        shard_batch="never",
    )

    c.reference = ml_collections.ConfigDict()
    c.reference.source = "Karpathy 2015, The Unreasonable Effectiveness of Recurrent Neural Networks (char-rnn)"
    return apply_variant(c, VARIANTS, arg, default="small")
