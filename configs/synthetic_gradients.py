"""R2RT, "Synthetic Gradients with Tensorflow" (2018), MNIST experiment.

784 -> [dense 256 -> BN -> ReLU] × 2 -> dense 10 (tf.layers: Glorot-uniform kernels, zero
biases; BN momentum 0.99, ε 1e-3). A synthetic-gradient module after each hidden layer: 2 ×
[dense 1024 -> BN (batch statistics) -> ReLU] -> dense 256 with a zero kernel; `conditioned`
concatenates the one-hot label to its input. Loss: per-example sparse cross-entropy, summed (TF
summed the vector); modules: mean squared error. Adam 3e-5, batch 256, "25k iterations" = 106
epochs of 234 batches (tf.keras MNIST: 60k train / 10k test). Test accuracy per epoch with BN
in inference mode.

Variants (`configs/synthetic_gradients.py:<name>`; default `sg`), published test accuracy after
epoch 105/106: backprop 0.9801, no_bprop 0.8890, synthetic_loss 0.8429, sg 0.9777,
sg_conditioned 0.9801.

    python -m jaxnets train --config configs/synthetic_gradients.py:sg
    python -m jaxnets suite --config configs/synthetic_gradients.py --seeds 1 --jobs 2

Cost: a module is 1.6M multiply-adds per example against 0.27M for the whole net, so an SG
step is ~8× a backprop step (the post: 116 s vs 55 s on a GPU).
"""

import ml_collections

from jaxnets.config import apply_variant, train_section
from jaxnets.tables import Claim

SOURCE = "R2RT 2018, Synthetic Gradients with Tensorflow (MNIST)"
PUBLISHED = {"backprop": 0.9801, "no_bprop": 0.8890, "synthetic_loss": 0.8429, "sg": 0.9777, "sg_conditioned": 0.9801}
METHOD = {"backprop": "backprop", "no_bprop": "no_bprop", "synthetic_loss": "synthetic_loss",
          "sg": "synthetic_gradient", "sg_conditioned": "synthetic_gradient"}
VARIANTS = {name: {"model.method": METHOD[name], "model.conditioned": name == "sg_conditioned",
                   "reference.test_accuracy": PUBLISHED[name]} for name in PUBLISHED}
SUITE = tuple(VARIANTS)
TABLE = [("MNIST", name, name, "test_accuracy", p) for name, p in PUBLISHED.items()]
CLAIMS = [Claim("synthetic loss fails: it is worse than no bprop", "test_accuracy", "no_bprop", ("synthetic_loss",),
                higher=True)]
FIGURES = {"test_accuracy": ("Synthetic gradients, MNIST: test accuracy per epoch", {n: n for n in PUBLISHED},
                             ["test_accuracy"])}


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.experiment = "synthetic_gradients"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "mnist"
    c.data.train_split = "train"  # tf.keras.datasets: all 60k
    c.data.eval_splits = ml_collections.ConfigDict({"test": "test"})

    c.model = ml_collections.ConfigDict()
    c.model.arch = "mlp"  # mlp (dense blocks) or cnn (5×5 conv blocks)
    c.model.hidden_sizes = (256, 256)  # units (mlp) or channels (cnn) per hidden block
    c.model.method = "synthetic_gradient"  # backprop, no_bprop, synthetic_gradient, synthetic_loss
    c.model.conditioned = False  # modules also see the one-hot label (cDNI)
    c.model.module_layers = 2  # hidden layers of each synthetic-gradient module
    c.model.module_width = 1024  # their units (mlp) or channels (cnn)
    c.model.bn_decay = 0.99  # tf.layers.batch_normalization's momentum
    c.model.bn_eps = 1e-3
    c.model.loss_reduction = "sum"  # of the per-example cross-entropy (TF summed the vector)
    c.model.kernel_size = 5  # cnn only
    c.model.pools = ("none", "none")  # cnn only: per block 'max', 'avg' or 'none'
    c.model.pool_size = 3
    c.model.pool_stride = 3

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 3e-5

    c.train = train_section(
        batch_size=256,
        num_epochs=106.0,  # 25,000 // 234 batches
        steps=0,
        shuffle=True,
        log_every=234,  # one epoch
        eval_every=234,
        checkpoint_every=234 * 10,
        eval_batch_size=1000,  # the post tested in 10 chunks of 1,000
        stop_on_nan=True,
        shard_batch="auto",
    )

    c.reference = ml_collections.ConfigDict()
    c.reference.test_accuracy = None
    c.reference.source = SOURCE
    return apply_variant(c, VARIANTS, arg, default="sg")
