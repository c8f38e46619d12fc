"""R2RT, "Beyond Binary: Ternary and One-hot Neurons" (2017): the post's table, one variant per row.

The harness of "Binary Stochastic Neurons" (configs/binary_neurons.py: MNIST 784 -> [100] ->
softmax(10), SGD, batch 50, epoch = 1,000 steps, summed CE/10, TF 0.12 initializers) with all
runs at lr 0.1 for 20 epochs, stochastic training and deterministic evaluation. Ternary neurons:
f(a) = 1.5 tanh(a) + 0.5 tanh(-3a), stochastically rounded, straight-through backward with f'.
One-hot neurons: a layer of width n·d is n neurons of d choices; the forward pass emits a one-hot
sample of softmax(logits / temperature), the backward pass goes through the softmax.

Temperature annealing (temperature = 1 / slope, slope × rate after each epoch) is applied in
training here, as the post meant; in the post's code it reached only the deterministic evaluation,
where argmax ignores it, so the post's three annealing rows are three runs of one setting
(`model.anneal_in_training=false` reproduces that: it equals `one_hot_dim5`).

    python -m jaxnets sweep --config configs/beyond_binary.py:ternary --seeds 5
    python -m jaxnets suite --config configs/beyond_binary.py --seeds 5 --jobs 2   # the whole table
"""

from jaxnets.config import apply_variant, base_config

SOURCE = "R2RT 2017, Beyond Binary: Ternary and One-hot Neurons"


def _row(**model):
    return {f"model.{k}": v for k, v in model.items()}


VARIANTS = {
    "tanh": _row(neuron="tanh"),
    "binary": _row(neuron="binary", slope_rate=1.1),
    "binary_posts_code": _row(neuron="binary", slope_rate=1.1, anneal_in_training=False),
    "ternary": _row(neuron="ternary"),
    "one_hot_dim5": _row(neuron="one_hot", one_hot_dim=5, hidden_sizes=(500,)),
    "one_hot_dim5_anneal1.2": _row(neuron="one_hot", one_hot_dim=5, hidden_sizes=(500,), slope_rate=1.2),
    "one_hot_dim5_anneal1.5": _row(neuron="one_hot", one_hot_dim=5, hidden_sizes=(500,), slope_rate=1.5),
    **{f"one_hot_dim{d}": _row(neuron="one_hot", one_hot_dim=d, hidden_sizes=(100 * d,)) for d in (3, 7, 10)},
    # For comparison, TF 1.0's default initializer (Glorot-uniform, biases ±sqrt(3/n)) instead
    # of TF 0.12's (uniform unit scaling, biases ±1.73). TF 1.0 came out a week after the post.
    "one_hot_dim5_glorot": _row(neuron="one_hot", one_hot_dim=5, hidden_sizes=(500,),
                                w_init="glorot_uniform", b_init="glorot_uniform"),
}

# Every printed number of the post, once; a variant's `reference` is its first row's.
ACC = "validation_accuracy"
TABLE = [
    ("BB", "tanh baseline, [100]", "tanh", ACC, 0.9772),
    ("BB", "binary stochastic, slope annealing 1.1 (in training)", "binary", ACC, 0.9732),
    ("BB", "binary stochastic, slope annealing as the posts' code (none in training)", "binary_posts_code", ACC, 0.9732),
    ("BB", "ternary, [100]", "ternary", ACC, 0.9764),
    ("BB", "one-hot 100 × 5-dim [500]", "one_hot_dim5", ACC, 0.9794),
    ("BB", "one-hot 100 × 5-dim [500], TF 1.0 initializer (Glorot)", "one_hot_dim5_glorot", ACC, 0.9794),
    ("BB anneal", "5-dim, no temperature annealing", "one_hot_dim5", ACC, 0.981),
    # As the post's code ran them, the annealing rows are the no-annealing setting: training never
    # sees the temperature and the argmax evaluation ignores it (tests/test_stochastic.py).
    ("BB anneal", "5-dim, rate 1.2 as the posts' code ran it (= no annealing)", "one_hot_dim5", ACC, 0.9796),
    ("BB anneal", "5-dim, rate 1.5 as the posts' code ran it (= no annealing)", "one_hot_dim5", ACC, 0.9798),
    ("BB anneal", "5-dim, temperature annealed in training, rate 1.2", "one_hot_dim5_anneal1.2", ACC, 0.9796),
    ("BB anneal", "5-dim, temperature annealed in training, rate 1.5", "one_hot_dim5_anneal1.5", ACC, 0.9798),
    ("BB dims", "one-hot 100 × 3-dim [300]", "one_hot_dim3", ACC, 0.9772),
    ("BB dims", "one-hot 100 × 5-dim [500]", "one_hot_dim5", ACC, 0.98),
    ("BB dims", "one-hot 100 × 7-dim [700]", "one_hot_dim7", ACC, 0.981),
    ("BB dims", "one-hot 100 × 10-dim [1000]", "one_hot_dim10", ACC, 0.9754),
]

for _, _, variant, metric, published in TABLE:
    VARIANTS[variant].setdefault(f"reference.{metric}", published)

TRAIN = ["train_accuracy", "validation_accuracy"]
FIGURES = {
    "tanh": ("tanh baseline", {"tanh": "tanh"}, TRAIN),
    "binary": ("binary stochastic neurons", {"annealed in training": "binary", "posts' code": "binary_posts_code"},
               TRAIN),
    "ternary": ("ternary neurons", {"ternary": "ternary"}, TRAIN),
    "temperature_annealing": ("one-hot 5-dim: temperature annealing",
                              {"none": "one_hot_dim5", "rate 1.2": "one_hot_dim5_anneal1.2",
                               "rate 1.5": "one_hot_dim5_anneal1.5"}, ["validation_accuracy"]),
    "dimensions": ("one-hot: number of dimensions",
                   {f"{d}-dim": f"one_hot_dim{d}" for d in (3, 5, 7, 10)}, ["validation_accuracy"]),
}


def COST(config) -> float:
    """The suite's estimate, for scheduling the longest rows first: steps × batch × MLP weights."""
    sizes = [784, *config.model.hidden_sizes, 10]
    return config.train.steps * config.train.batch_size * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def get_config(arg=None):
    c = base_config(__file__, "binary_neurons")  # its default variant anneals: undo what it set
    c.experiment = "binary_neurons"
    c.model.slope_rate = 1.0  # no slope / temperature annealing unless a row says so
    c.model.neuron = "ternary"
    c.model.eval_mode = "deterministic"  # every run of the post: stochastic training, deterministic evaluation
    c.optimizer.learning_rate = 0.1
    c.reference.validation_accuracy = 0.9764
    c.reference.source = SOURCE
    return apply_variant(c, VARIANTS, arg)
