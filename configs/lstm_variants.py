"""R2RT, "Written Memories: Understanding, Deriving and Extending the LSTM" (2016): the pseudo LSTM,
its three differences from the basic LSTM in all 8 combinations, on Penn Treebank word models.

PTB (TF ptb_reader ids, 10,000 words); embedding -> one recurrent layer of state 250 -> softmax, no
dropout; weights as TF 0.x's get_variable drew them (uniform unit scaling), biases 0; TF-style
windows of 30, the state carried across windows; batch 30; Adam at lr 3e-3, 1e-3, 3e-4, 1e-4; up to
20 epochs, stopped after 2 epochs without a new minimum of the validation loss; the post ran 5
trials. Metric: the minimum epoch validation loss, here in nats per token (and its perplexity). The
embedding width is not stated: 250, the state size. The cells are `jaxnets/nn/lstm_variants.py`
(architecture 8 is BasicLSTMCell, bit for bit).

The published table's unit is not stated (386.0–433.7). Read here as the validation loss summed over
the epoch's windows — the RNN posts' loop over TF's ptb_iterator accumulates exactly that sum of
each window's mean per-token loss before dividing by the count — and PTB's validation file (73,760
tokens) in 30 rows of windows of 30 is 81 windows, so 386.0 is 4.765 nats per token (perplexity
117); per token, per window (386 / 30 = 12.9 nats) or per row it would be worse than a uniform guess
(ln 10,000 = 9.2), and as a perplexity worse than the post's own vanilla RNN. TABLE compares nats
per token with published / 81; PUBLISHED keeps the post's values. Variants: arch<N>_lr<lr>, N as the
post's column order (1 pseudo, 2 +D1, 3 +D1+2, 4 +D1+3, 5 +D2, 6 +D2+3, 7 +D3, 8 basic LSTM).

    python -m jaxnets suite --config configs/lstm_variants.py --seeds 1            # the lr 1e-3 column
    python -m jaxnets suite --config configs/lstm_variants.py --seeds 5 --variants all   # the table
    python -m jaxnets suite --config configs/lstm_variants.py --seeds 5 --variants all --grids   # on a GPU: a row's rates, one program
"""

import ml_collections

from jaxnets.config import apply_variant, train_section
from jaxnets.nn.lstm_variants import ARCHITECTURES, variant_name
from jaxnets.tables import Claim, Figure

SOURCE = "R2RT 2016, Written Memories: Understanding, Deriving and Extending the LSTM"
LRS = {"0.003": 3e-3, "0.001": 1e-3, "0.0003": 3e-4, "0.0001": 1e-4}
PUBLISHED = {  # lr -> the 8 architectures' best-epoch validation losses (mean ± 95% CI, 5 trials; unit unstated)
    "0.003": (433.7, 430.6, 390.3, 424.5, 389.0, 399.1, 425.7, 396.2),
    "0.001": (387.2, 388.6, 388.7, 414.3, 386.0, 396.3, 413.9, 396.6),
    "0.0003": (389.2, 391.1, 391.3, 407.9, 388.8, 397.7, 408.7, 398.8),
    "0.0001": (403.9, 403.9, 404.2, 419.7, 403.1, 416.8, 419.9, 418.1),
}
CI95 = {  # lr -> the 8 half-widths of those 95% confidence intervals
    "0.003": (10.6, 6.1, 1.2, 3.5, 1.4, 2.4, 1.4, 1.6),
    "0.001": (0.8, 1.0, 0.6, 2.5, 0.8, 1.9, 2.4, 0.9),
    "0.0003": (0.6, 0.8, 0.8, 4.3, 0.6, 1.5, 1.7, 2.1),
    "0.0001": (1.0, 0.8, 1.3, 0.4, 1.2, 1.4, 1.4, 1.2),
}
# Read as t-intervals of a mean of 5 trials (t(0.975, 4) = 2.776): a trial's std is CI·√5 / 2.776,
# the spread a one-seed row here is measured against (0.4–8.5 units, 0.005–0.105 nats per token).
TRIAL_SD = {lr: tuple(ci * 5 ** 0.5 / 2.776 for ci in cis) for lr, cis in CI95.items()}
# Architecture 8 runs as `lstm`: the same function as pseudo_lstm_d1_d2_d3, on the fused path.
VARIANTS = {f"arch{n}_lr{lr}": {"model.cell": "lstm" if n == 8 else variant_name(diffs), "optimizer.learning_rate": value}
            for lr, value in LRS.items() for n, diffs in ARCHITECTURES.items()}
SUITE = [name for name in VARIANTS if name.endswith("_lr0.001")]
# ptb_iterator's windows per epoch of the validation file: (73,760 // 30 rows - 1) // 30 steps
VALIDATION_WINDOWS = (73_760 // 30 - 1) // 30  # = 81
TABLE = [("lstm variants", f"arch {n} ({variant_name(ARCHITECTURES[n])}), lr {lr}: min validation nats/token "
          f"(published {PUBLISHED[lr][n - 1]} / {VALIDATION_WINDOWS} windows)",
          f"arch{n}_lr{lr}", "min_validation_loss", round(PUBLISHED[lr][n - 1] / VALIDATION_WINDOWS, 4),
          round(TRIAL_SD[lr][n - 1] / VALIDATION_WINDOWS, 4))
         for lr in LRS for n in ARCHITECTURES]
# The post's conclusions, per rate: Diff 3 hurts (each architecture against itself + Diff 3),
# Diff 2 recovers it (+D2+D3 against +D3, with and without D1), Pseudo LSTM + Diff 2 wins.
_D3 = ((1, 7), (2, 4), (5, 6), (3, 8))  # (without Diff 3, with it)
CLAIMS = [Claim(f"Diff 3 hurts (lr {lr})", "min_validation_loss", f"arch{a}_lr{lr}", (f"arch{b}_lr{lr}",))
          for lr in LRS for a, b in _D3] + \
         [Claim(f"Diff 2 recovers what Diff 3 loses (lr {lr})", "min_validation_loss", f"arch{a}_lr{lr}",
                (f"arch{b}_lr{lr}",)) for lr in LRS for a, b in ((6, 7), (8, 4))] + \
         [Claim(f"Pseudo LSTM + Diff 2 wins (lr {lr})", "min_validation_loss", f"arch5_lr{lr}",
                tuple(f"arch{n}_lr{lr}" for n in ARCHITECTURES if n != 5)) for lr in LRS]
FIGURES = {"validation_loss": Figure("LSTM variants on PTB: validation loss per epoch",
                                      {f"lr {lr}": {f"arch {n}": f"arch{n}_lr{lr}" for n in ARCHITECTURES}
                                       for lr in LRS},
                                      ["validation_loss"], x="epoch")}


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.experiment = "language_model"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "ptb"
    c.data.validation_fraction = 0.0  # unused: PTB has its own validation and test files

    c.model = ml_collections.ConfigDict()
    c.model.cell = "pseudo_lstm_d2"  # pseudo_lstm[_d1][_d2][_d3]; pseudo_lstm_d1_d2_d3 = lstm
    c.model.num_layers = 1
    c.model.state_size = 250
    c.model.embedding_size = 0  # not stated in the post: the state size
    c.model.num_steps = 30  # TF-style windows
    c.model.truncation = "tf_style"
    c.model.bptt = 0
    c.model.num_weights = 1  # (custom_gru only)
    c.model.keep_prob = 1.0  # no dropout
    c.model.w_init = "uniform_unit_scaling"  # tf.get_variable's default before TF 1.0 (Jul 2016: TF 0.9); biases 0
    c.model.fused_lstm = True  # (cell = lstm only)

    c.analysis = ml_collections.ConfigDict()
    c.analysis.gradient_distances = 0

    c.sample = ml_collections.ConfigDict()
    c.sample.prompt = "the"
    c.sample.length = 30
    c.sample.top_k = 0
    c.sample.temperatures = ()

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-3

    c.train = train_section(
        without=("shuffle",),
        batch_size=30,
        num_epochs=20.0,  # at most: early stopping
        log_every=0,  # one epoch per chunk and per metrics line
        eval_every=0,
        checkpoint_every=-1,
        eval_batch_size=1,  # unused: splits are read window by window
        shard_batch="never",
        early_stop_patience=2,  # epochs without a new minimum of the validation loss
    )

    c.reference = ml_collections.ConfigDict()
    c.reference.source = SOURCE
    return apply_variant(c, VARIANTS, arg, default="arch5_lr0.001")
