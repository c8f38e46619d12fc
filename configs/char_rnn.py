"""R2RT, "Recurrent Neural Networks in Tensorflow II": character-level language models on Tiny
Shakespeare (1,115,394 characters, 65-character vocabulary).

Embedding [vocab, 100] -> 3 recurrent layers of 100 -> softmax (b = 0); TF-style truncated
windows (the text as 32 rows, consecutive windows of num_steps, the state carried and reset
each epoch); mean cross-entropy; Adam 1e-4, batch 32, num_steps 80, 20 epochs, no dropout.
Published final-epoch *training* loss (the post had no held-out text): GRU 1.7532, LSTM 2.0281,
LN-LSTM 1.7185; custom cell vs GRU at num_steps 30, 5 epochs: 2.2017 vs 2.0504.

Readings (issue 32's A/B runs, RESULTS.md): the post ran TF 0.9 (July 2016), so every weight is
drawn as its `tf.get_variable` did (uniform unit scaling), the custom cell's K input matrices as
the one [K, n_in, n] variable the post declared (TF's fan-in K·n_in); it trained on all of the
text, so the default holds nothing out (`data.validation_fraction = 0.1` holds out the last 10%
and reports its loss, as the `*_held_out` variants do). Glorot (TF ≥ 1.0) and a held-out tail
each left the LSTM 0.03–0.04 nats above the post. TF 0.9's Adam on the embedding (each lookup's
squared gradient summed into the second moment: `model.tf0_sparse_adam`) was tried on the 5-epoch
GRU: it takes a quarter off the first epoch's gap and moves the row 0.005 of its 0.026 toward the
post (5 seeds); the default keeps optax's Adam, as the recorded rows were trained.
Samples: 750 characters after the prompt, top-5, at the temperatures listed.

    python -m jaxnets train --config configs/char_rnn.py:ln_lstm
    python -m jaxnets suite --config configs/char_rnn.py --seeds 1 --jobs 2
"""

import ml_collections

from jaxnets.config import apply_variant, train_section

PUBLISHED = {"gru": 1.75318197903, "lstm": 2.02813237837, "ln_lstm": 1.71850851623,
             "custom_steps30": 2.20167231745, "gru_steps30": 2.05038544733}
VARIANTS = {
    "gru": {"model.cell": "gru", "reference.train_loss": PUBLISHED["gru"]},
    "lstm": {"model.cell": "lstm", "reference.train_loss": PUBLISHED["lstm"]},
    "ln_lstm": {"model.cell": "ln_lstm", "reference.train_loss": PUBLISHED["ln_lstm"]},
    "custom_steps30": {"model.cell": "custom_gru", "model.num_steps": 30, "train.num_epochs": 5.0,
                       "reference.train_loss": PUBLISHED["custom_steps30"]},
    "gru_steps30": {"model.cell": "gru", "model.num_steps": 30, "train.num_epochs": 5.0,
                    "reference.train_loss": PUBLISHED["gru_steps30"]},
}
# Issue 32's A/B arms: one change each from the post's setup
VARIANTS.update({f"{name}_held_out": {**VARIANTS[name], "data.validation_fraction": 0.1}
                 for name in ("lstm", "custom_steps30", "gru_steps30")})
VARIANTS["lstm_glorot"] = {**VARIANTS["lstm"], "model.w_init": "glorot_uniform"}
# TF 0.9's Adam on the embedding: each occurrence's gradient squared before the sum (model.tf0_sparse_adam)
VARIANTS["gru_steps30_tf0_adam"] = {**VARIANTS["gru_steps30"], "model.tf0_sparse_adam": True}
SUITE = ("gru", "lstm", "ln_lstm", "custom_steps30", "gru_steps30")
TABLE = [("RNN II", name, name, "train_loss", p) for name, p in PUBLISHED.items()] + [
    ("RNN II", f"{name}, the last 10% held out", f"{name}_held_out", "train_loss", PUBLISHED[name])
    for name in ("lstm", "custom_steps30", "gru_steps30")] + [
    ("RNN II", "lstm, Glorot's initializer (TF >= 1.0)", "lstm_glorot", "train_loss", PUBLISHED["lstm"]),
    ("RNN II", "gru_steps30, TF 0.9's sparse Adam on the embedding", "gru_steps30_tf0_adam", "train_loss",
     PUBLISHED["gru_steps30"])]
FIGURES = {"loss": ("Char-RNN on Tiny Shakespeare", {"GRU": "gru", "LSTM": "lstm", "LN-LSTM": "ln_lstm"},
                    ["train_loss", "validation_loss"])}


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.experiment = "language_model"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "tinyshakespeare"  # $JAXNETS_DATA_DIR/<name>/input.txt
    c.data.validation_fraction = 0.0  # the post trained on all of the text; 0.1: hold out the last 10%

    c.model = ml_collections.ConfigDict()
    c.model.cell = "ln_lstm"  # vanilla, gru, lstm, ln_lstm, custom_gru
    c.model.num_layers = 3
    c.model.state_size = 100
    c.model.embedding_size = 0  # 0: the state size
    c.model.num_steps = 80
    c.model.truncation = "tf_style"  # the window differentiated whole; "true": errors flow back bptt steps
    c.model.bptt = 0  # truncation = true: steps each error flows back
    c.model.num_weights = 5  # custom_gru: input matrices mixed by the softmax weights λ
    c.model.keep_prob = 1.0  # dropout between layers (Zaremba placement); 1 = none, as the post's runs
    c.model.w_init = "uniform_unit_scaling"  # TF 0.9's get_variable default; glorot_uniform: TF >= 1.0
    c.model.fused_lstm = True  # LSTM: layer-at-a-time with hand-written BPTT (same function, faster)
    # Adam's second moment of the embedding as TF <= 1.0 computed it: the sum of each lookup's
    # squared gradient (IndexedSlices with repeated ids), not the square of the row's gradient
    c.model.tf0_sparse_adam = False

    c.sample = ml_collections.ConfigDict()
    c.sample.prompt = "A"
    c.sample.length = 750
    c.sample.top_k = 5
    c.sample.temperatures = (1.0, 0.5)
    c.sample.at_steps = ()  # also sample at these steps into samples.md (Karpathy: 100, 300, 500, 700, 1200, 2000)
    c.sample.carried_state = False  # samples.md from the model's start state

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-4

    c.train = train_section(without=("shuffle",),
        batch_size=32,  # rows of the text: a step trains all rows of one window
        num_epochs=20.0,
        steps=0,  # > 0 overrides num_epochs (a step = one window)
        log_every=0,  # one epoch: train_loss is the epoch's average, as the post printed
        eval_every=0,
        checkpoint_every=0,
        eval_batch_size=1,  # unused: the validation tail is read window by window
        stop_on_nan=True,
        # The window's rows split over the devices — the CPU's cores too: each core runs the whole
        # recurrence on 16 rows and the gradients meet once per step (1.4× a single 2-core device).
        # A sweep whose seeds fill the devices does not split.
        shard_batch="always",
    )

    c.reference = ml_collections.ConfigDict()
    c.reference.train_loss = None
    c.reference.source = "R2RT 2016, Recurrent Neural Networks in Tensorflow II"
    return apply_variant(c, VARIANTS, arg, default="ln_lstm")
