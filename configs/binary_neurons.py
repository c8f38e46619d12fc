"""R2RT, "Binary Stochastic Neurons in Tensorflow" (2016): experiments 0-7, one variant per row.

MNIST 784 -> [100] -> softmax(10); hidden units are binary stochastic neurons b = ceil(sigmoid(
slope·a) - U) trained with straight-through (pass-through or sigmoid-adjusted) or REINFORCE
estimators, or plain sigmoid units. As in the post: TF's `input_data` split — mnist.validation is
the *first* 5,000 images of the training file (train[:5000]) and mnist.train the other 55,000
(train[5000:]); the post's diverged runs score 0.0958, the share of zeros in train[:5000] (it is
0.0978 in train[55000:]) — plain SGD, batch
50, an "epoch" = 1,000 steps (the post's loop ran 1,001), the loss = per-example CE/10 (the
post's -mean(y·log p) over the 10 classes) *summed* over the batch (TF summed the vector it was
given), computed as the post did, -y·log(softmax) (model.loss_form=posts: NaN once a wrong
class's probability underflows to 0, which is how its failing rows fail; `*_stable_loss`
variants use log_softmax), TF 0.12's default initializer (uniform unit scaling, weights and
biases).
Stochastic training and stochastic evaluation unless a row says otherwise.

Slope annealing (slope ← slope × 1.1 after each epoch): `annealed_*` variants anneal the slope
used in training, as the post meant; `annealed_posts_code_*` reproduce the post's code, which
fed the annealed slope only to evaluation (model.anneal_in_training=false).

    python -m jaxnets sweep --config configs/binary_neurons.py:annealed_lr0.3 --seeds 5
    python -m jaxnets suite --config configs/binary_neurons.py --seeds 5 --jobs 2   # every row
"""

import ml_collections

from jaxnets.config import apply_variant, train_section

SOURCE = "R2RT 2016, Binary Stochastic Neurons in Tensorflow"
EPOCH = 1000  # steps


def _row(**kw):
    """Dotted-key overrides for one variant; lr/steps/hidden are shorthands."""
    out = {}
    for key, value in kw.items():
        key = {"lr": "optimizer.learning_rate", "steps": "train.steps", "hidden": "model.hidden_sizes"}.get(key, key)
        out[key if "." in key else f"model.{key}"] = value
    return out


LRS = (0.1, 0.3, 1.0)
VARIANTS = {
    "exp0_sigmoid": _row(neuron="sigmoid", lr=1.0),
    # REINFORCE, 3 epochs at lr 0.3: the post prints the accuracy after each epoch.
    "exp1_reinforce_lr0.3_3ep": _row(estimator="reinforce", lr=0.3, steps=3 * EPOCH),
    "exp1_reinforce_no_baseline_lr0.3_3ep": _row(estimator="reinforce", baseline="none", lr=0.3, steps=3 * EPOCH),
    "exp1_reinforce_lr0.05": _row(estimator="reinforce", lr=0.05),
    "exp1_reinforce_no_baseline_lr0.05": _row(estimator="reinforce", baseline="none", lr=0.05),
    **{f"exp2_pass_through_lr{lr}": _row(estimator="pass_through", lr=lr)
       for lr in LRS},
    # The two published failures again with a numerically stable loss: do they still fail?
    "exp1_reinforce_no_baseline_lr0.3_3ep_stable_loss": _row(estimator="reinforce", baseline="none", lr=0.3,
                                                             steps=3 * EPOCH, loss_form="stable"),
    "exp2_pass_through_lr1.0_stable_loss": _row(estimator="pass_through", lr=1.0, loss_form="stable"),
    # Issue 32: the rows whose seeds diverge (or mostly fail), again with the stable loss
    "exp0_sigmoid_stable_loss": _row(neuron="sigmoid", lr=1.0, loss_form="stable"),
    "exp1_reinforce_lr0.3_3ep_stable_loss": _row(estimator="reinforce", lr=0.3, steps=3 * EPOCH, loss_form="stable"),
    "exp6_reinforce_depth3_stable_loss": _row(estimator="reinforce", lr=0.05, hidden=(100,) * 3, loss_form="stable"),
    **{f"sigmoid_adjusted_lr{lr}": _row(lr=lr) for lr in LRS},
    **{f"annealed_lr{lr}": _row(lr=lr, slope_rate=1.1) for lr in LRS},
    **{f"annealed_posts_code_lr{lr}": _row(lr=lr, slope_rate=1.1, anneal_in_training=False)
       for lr in LRS},
    # Experiments 4-7 ran the post's code, whose annealed slope never reached training.
    "exp5_det_train_det_eval": _row(lr=0.3, slope_rate=1.1, anneal_in_training=False, train_mode="deterministic",
                                    eval_mode="deterministic"),
    **{f"exp6_st_depth{d}": _row(lr=0.3, slope_rate=1.1, anneal_in_training=False, hidden=(100,) * d)
       for d in (2, 3)},
    **{f"exp6_reinforce_depth{d}": _row(estimator="reinforce", lr=0.05, hidden=(100,) * d)
       for d in (2, 3)},
    # "REINFORCE (LR=0.002)", 50 epochs: the printed code passes non_binary=True (a sigmoid net),
    # the text says REINFORCE. Both readings:
    **{f"exp6_sigmoid_lr0.002_depth{d}": _row(neuron="sigmoid", lr=0.002, steps=50 * EPOCH, hidden=(100,) * d)
       for d in (1, 2, 3)},
    **{f"exp6_reinforce_lr0.002_depth{d}": _row(estimator="reinforce", lr=0.002, steps=50 * EPOCH, hidden=(100,) * d)
       for d in (1, 2, 3)},
    # Regularizer: train on the 5k validation images, test on the 10k test set, hidden 200.
    "exp7_sigmoid": _row(neuron="sigmoid", lr=0.03, hidden=(200,)),
    "exp7_binary": _row(lr=0.3, slope_rate=1.1, anneal_in_training=False, eval_mode="deterministic", hidden=(200,)),
}
for name in ("exp7_sigmoid", "exp7_binary"):
    VARIANTS[name].update({"data.train_split": "train[:5000]", "data.eval_splits": {"test": "test"},
                           "reference.validation_accuracy": None})

# Every printed number of the post, once: (experiment, row, variant, metric, published). Rows that
# are the same setting share one run (e.g. Exp 4's two curves are Exp 1's and Exp 3's runs); a
# variant's published numbers (its `reference`) are the first row's for each of its metrics.
ACC, DET = "validation_accuracy", "validation_accuracy_deterministic_eval"
ANNEALED = (0.974, 0.9764, 0.9624)  # Exp 3, slope annealing 1.1, lr 0.1 / 0.3 / 1.0: one printed row, two readings
LR0002 = ((1, 0.931), (2, 0.9294), (3, 0.9096))  # Exp 6, "REINFORCE (LR=0.002)": one printed row, two readings
TABLE = [
    ("0", "sigmoid, lr 1.0", "exp0_sigmoid", ACC, 0.9698),
    ("0", "sigmoid, lr 1.0, stable loss", "exp0_sigmoid_stable_loss", ACC, 0.9698),
    ("1", "REINFORCE var-adj, lr 0.3, epoch 1", "exp1_reinforce_lr0.3_3ep", f"{ACC}_step1000", 0.4466),
    ("1", "REINFORCE var-adj, lr 0.3, epoch 2", "exp1_reinforce_lr0.3_3ep", f"{ACC}_step2000", 0.511),
    ("1", "REINFORCE var-adj, lr 0.3, epoch 3", "exp1_reinforce_lr0.3_3ep", ACC, 0.575),
    ("1", "REINFORCE no baseline, lr 0.3, epoch 1", "exp1_reinforce_no_baseline_lr0.3_3ep", f"{ACC}_step1000", 0.0958),
    ("1", "REINFORCE no baseline, lr 0.3, epoch 2", "exp1_reinforce_no_baseline_lr0.3_3ep", f"{ACC}_step2000", 0.0958),
    ("1", "REINFORCE no baseline, lr 0.3, epoch 3", "exp1_reinforce_no_baseline_lr0.3_3ep", ACC, 0.0958),
    ("1", "same, stable loss (log_softmax)", "exp1_reinforce_no_baseline_lr0.3_3ep_stable_loss", ACC, 0.0958),
    ("1", "REINFORCE var-adj, lr 0.3, epoch 3, stable loss", "exp1_reinforce_lr0.3_3ep_stable_loss", ACC, 0.575),
    ("1", "REINFORCE var-adj, lr 0.05", "exp1_reinforce_lr0.05", ACC, 0.9274),
    ("1", "REINFORCE no baseline, lr 0.05", "exp1_reinforce_no_baseline_lr0.05", ACC, 0.923),
    *[("2", f"pass-through ST, lr {lr}", f"exp2_pass_through_lr{lr}", ACC, p) for lr, p in zip(LRS, (0.8334, 0.8828, 0.0958))],
    ("2", "pass-through ST, lr 1.0, stable loss (log_softmax)", "exp2_pass_through_lr1.0_stable_loss", ACC, 0.0958),
    *[("2", f"sigmoid-adjusted ST, lr {lr}", f"sigmoid_adjusted_lr{lr}", ACC, p) for lr, p in zip(LRS, (0.9566, 0.9668, 0.9572))],
    *[("3", f"sigmoid-adjusted (rate 1.0), lr {lr}", f"sigmoid_adjusted_lr{lr}", ACC, p) for lr, p in zip(LRS, (0.9548, 0.9704, 0.9608))],
    *[("3", f"slope-annealed 1.1 (in training), lr {lr}", f"annealed_lr{lr}", ACC, p) for lr, p in zip(LRS, ANNEALED)],
    *[("3", f"slope-annealed 1.1 (posts' code: eval only), lr {lr}", f"annealed_posts_code_lr{lr}", ACC, p)
      for lr, p in zip(LRS, ANNEALED)],
    ("4", "REINFORCE var-adj, lr 0.05", "exp1_reinforce_lr0.05", ACC, 0.926),
    ("4", "slope-annealed ST, lr 0.3 (posts' code)", "annealed_posts_code_lr0.3", ACC, 0.9782),
    ("4", "slope-annealed ST, lr 0.3 (annealed in training)", "annealed_lr0.3", ACC, 0.9782),
    ("5", "stochastic train / stochastic eval", "annealed_posts_code_lr0.3", ACC, 0.9776),
    ("5", "stochastic train / deterministic eval", "annealed_posts_code_lr0.3", DET, 0.977),
    ("5", "deterministic train / deterministic eval", "exp5_det_train_det_eval", ACC, 0.9704),
    ("6", "slope-annealed ST, 1 layer", "annealed_posts_code_lr0.3", ACC, 0.9774),
    ("6", "slope-annealed ST, 2 layers", "exp6_st_depth2", ACC, 0.9738),
    ("6", "slope-annealed ST, 3 layers", "exp6_st_depth3", ACC, 0.9728),
    ("6", "REINFORCE lr 0.05, 1 layer", "exp1_reinforce_lr0.05", ACC, 0.9302),
    ("6", "REINFORCE lr 0.05, 2 layers", "exp6_reinforce_depth2", ACC, 0.8788),
    ("6", "REINFORCE lr 0.05, 3 layers", "exp6_reinforce_depth3", ACC, 0.2904),
    ("6", "REINFORCE lr 0.05, 3 layers, stable loss", "exp6_reinforce_depth3_stable_loss", ACC, 0.2904),
    *[("6", f"'REINFORCE (LR=0.002)' as coded (sigmoid net), {d} layer{'s' * (d > 1)}", f"exp6_sigmoid_lr0.002_depth{d}",
       ACC, p) for d, p in LR0002],
    *[("6", f"'REINFORCE (LR=0.002)' as written (REINFORCE), {d} layer{'s' * (d > 1)}",
       f"exp6_reinforce_lr0.002_depth{d}", ACC, p) for d, p in LR0002],
    ("7", "sigmoid, lr 0.03 (5k train, 10k test)", "exp7_sigmoid", "test_accuracy", 0.9276),
    ("7", "binary ST annealed, lr 0.3, deterministic eval", "exp7_binary", "test_accuracy", 0.941),
]
for _, _, variant, metric, published in TABLE:
    VARIANTS[variant].setdefault(f"reference.{metric}", published)

# `suite` runs these unless --variants says otherwise; the text's reading of Exp 6's last row
# (REINFORCE at lr 0.002, which cannot have printed the post's numbers: see the README) is extra.
SUITE = [name for name in VARIANTS if not name.startswith("exp6_reinforce_lr0.002")]

# One figure per experiment of the post: {name: (title, {label: variant}, metric keys)}.
VAL, TRAIN = ["validation_accuracy"], ["train_accuracy", "validation_accuracy"]
FIGURES = {
    "exp0": ("Exp 0: sigmoid baseline", {"sigmoid lr 1.0": "exp0_sigmoid"}, TRAIN),
    "exp1": ("Exp 1: REINFORCE, variance-adjusted vs no baseline",
             {"lr 0.3, 3 epochs": {"variance-adjusted": "exp1_reinforce_lr0.3_3ep",
                                   "no baseline": "exp1_reinforce_no_baseline_lr0.3_3ep",
                                   "no baseline, stable loss": "exp1_reinforce_no_baseline_lr0.3_3ep_stable_loss"},
              "lr 0.05": {"variance-adjusted": "exp1_reinforce_lr0.05", "no baseline": "exp1_reinforce_no_baseline_lr0.05"}},
             VAL),
    "exp2": ("Exp 2: pass-through vs sigmoid-adjusted ST",
             {f"lr {lr}": {"pass-through": f"exp2_pass_through_lr{lr}", "sigmoid-adjusted": f"sigmoid_adjusted_lr{lr}"}
              for lr in LRS}, VAL),
    "exp3": ("Exp 3: slope annealing (rate 1.1) vs none",
             {f"lr {lr}": {"rate 1.0": f"sigmoid_adjusted_lr{lr}", "annealed in training": f"annealed_lr{lr}",
                           "annealed as the posts' code (eval only)": f"annealed_posts_code_lr{lr}"}
              for lr in LRS}, VAL),
    "exp4": ("Exp 4: REINFORCE vs slope-annealed ST",
             {"REINFORCE lr 0.05": "exp1_reinforce_lr0.05", "annealed ST lr 0.3 (posts' code)": "annealed_posts_code_lr0.3",
              "annealed ST lr 0.3 (in training)": "annealed_lr0.3"}, VAL),
    "exp5": ("Exp 5: stochastic vs deterministic training",
             {"stochastic train": "annealed_posts_code_lr0.3", "deterministic train": "exp5_det_train_det_eval"}, TRAIN),
    "exp6_st": ("Exp 6: depth, slope-annealed ST (posts' code)",
                {f"{d} layer(s)": v for d, v in ((1, "annealed_posts_code_lr0.3"), (2, "exp6_st_depth2"),
                                                 (3, "exp6_st_depth3"))}, VAL),
    "exp6_reinforce": ("Exp 6: depth, REINFORCE lr 0.05",
                       {f"{d} layer(s)": v for d, v in ((1, "exp1_reinforce_lr0.05"), (2, "exp6_reinforce_depth2"),
                                                        (3, "exp6_reinforce_depth3"))}, VAL),
    "exp6_lr0.002": ("Exp 6: 'REINFORCE (LR=0.002)', 50 epochs, both readings",
                     {**{f"sigmoid (as coded) {d}": f"exp6_sigmoid_lr0.002_depth{d}" for d in (1, 2, 3)},
                      **{f"REINFORCE (as written) {d}": f"exp6_reinforce_lr0.002_depth{d}" for d in (1, 2, 3)}}, VAL),
    "exp7": ("Exp 7: binary neurons as a regularizer (train on 5k)",
             {"sigmoid": "exp7_sigmoid", "binary ST, deterministic eval": "exp7_binary"},
             ["train_accuracy", "test_accuracy"]),
}


def COST(config) -> float:
    """The suite's estimate, for scheduling the longest rows first: steps × batch × MLP weights."""
    sizes = [784, *config.model.hidden_sizes, 10]
    return config.train.steps * config.train.batch_size * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.experiment = "binary_neurons"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "mnist"
    c.data.train_split = "train[5000:]"  # TF's mnist.train
    c.data.eval_splits = ml_collections.ConfigDict({"validation": "train[:5000]"})  # TF's mnist.validation
    c.data.standardize = False

    c.model = ml_collections.ConfigDict()
    c.model.hidden_sizes = (100,)
    c.model.neuron = "binary"  # binary, ternary, one_hot, or the real-valued sigmoid / tanh
    c.model.estimator = "sigmoid_adjusted"  # binary: pass_through, sigmoid_adjusted, reinforce
    c.model.baseline = "variance_adjusted"  # reinforce: variance_adjusted or none
    c.model.baseline_decay = 0.95  # reinforce: EMA decay of the baseline's numerator and denominator
    c.model.slope_rate = 1.0  # slope (binary) or 1/temperature (one-hot) × rate every anneal_every steps
    c.model.anneal_every = EPOCH
    c.model.anneal_in_training = True  # false = the posts' code: the annealed slope reaches evaluation only
    c.model.one_hot_dim = 5  # one_hot: choices per neuron (a layer of width w has w / dim neurons)
    c.model.train_mode = "stochastic"  # or deterministic (round / argmax)
    c.model.eval_mode = "stochastic"
    c.model.w_init = "uniform_unit_scaling"  # TF 0.12's get_variable default, weights and biases
    c.model.w_scale = 1.0
    c.model.b_init = "uniform_unit_scaling"
    c.model.b_scale = 1.0
    c.model.loss_scale = 0.1  # the posts' per-example loss: CE / 10 (a mean over the 10 classes)
    c.model.loss_reduction = "sum"  # TF summed the per-example loss vector
    c.model.loss_form = "posts"  # -y·log(softmax) as the posts (NaN once a probability underflows); or "stable"

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.1

    c.train = train_section(
        batch_size=50,
        num_epochs=0.0,
        steps=20 * EPOCH,
        shuffle=True,
        log_every=EPOCH,  # steps per jitted chunk and metrics line
        eval_every=EPOCH,  # the post evaluated every 100 steps; once an epoch costs ~6% of the time
        checkpoint_every=0,  # at the end
        eval_batch_size=5000,
        stop_on_nan=False,  # some published rows diverge (accuracy 0.0958 = argmax of NaN = class 0)
        shard_batch="auto",
    )

    c.reference = ml_collections.ConfigDict()
    c.reference.validation_accuracy = 0.9782  # Exp 4, slope-annealed ST, lr 0.3
    c.reference.source = SOURCE
    c.reference.test_accuracy = None
    c.reference.validation_accuracy_step1000 = None
    c.reference.validation_accuracy_step2000 = None
    c.reference.validation_accuracy_deterministic_eval = None  # Exp 5
    return apply_variant(c, VARIANTS, arg, default="annealed_lr0.3")
