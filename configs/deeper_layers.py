"""R2RT, "Representational Power of Deeper Layers" (2016).

MNIST 784 -> 100 -> 100 -> 100 tanh -> softmax; weights truncated normal (std 0.1), biases 0.1;
summed cross-entropy, SGD 0.01, 10,000 steps of batch 50 in order (batch i = images
[50i mod 54950, +50) of input_data's training set, train[5000:]); test accuracy every 100 steps
(published 0.971; the notebook's rerun 0.9709).

Probes: scikit-learn's `LogisticRegression()` of 2016 (L2, C = 1, one-vs-rest liblinear with a
penalized intercept; probe.multi_class=multinomial gives today's default) on the first 1,000
training examples' representations, tested on the first 1,000 test examples: pixels / hidden
1 / 2 / 3 published 0.828 / 0.931 / 0.953 / 0.966 (rerun 0.828 / 0.925 / 0.953 / 0.972).
PCA figure: first 3 components of each layer on those 1,000 test examples, digits 0–3.
"Failed experiment": a fresh net that also regresses, from hidden layer 1, the top 3 principal
components of the trained net's last hidden layer (loss CE + 0.1 · L1), published 0.9707.

    python -m jaxnets sweep --config configs/deeper_layers.py --seeds 5
"""

import ml_collections

from jaxnets.config import train_section

SOURCE = "R2RT 2016, Representational Power of Deeper Layers"


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.experiment = "deeper_layers"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "mnist"
    c.data.train_split = "train[5000:59950]"  # input_data's mnist.train[:54950]: batches of 50 cycle it exactly
    c.data.eval_splits = ml_collections.ConfigDict({"test": "test"})

    c.model = ml_collections.ConfigDict()
    c.model.hidden_sizes = (100, 100, 100)
    c.model.activation = "tanh"
    c.model.keep_prob = 1.0
    c.model.w_init = "truncated_normal"
    c.model.w_scale = 0.1
    c.model.b_init = "constant"
    c.model.b_scale = 0.1
    c.model.loss_reduction = "sum"
    c.model.aux_components = 3  # the failed experiment's PCA targets; 0 skips it
    c.model.aux_weight = 0.1

    c.probe = ml_collections.ConfigDict()
    c.probe.C = 1.0  # inverse L2 strength, scikit-learn's default
    c.probe.multi_class = "ovr"  # ovr (scikit-learn < 0.22, liblinear) or multinomial (≥ 0.22, lbfgs)
    c.probe.iterations = 300  # L-BFGS iterations (the objective is strongly convex)
    c.probe.n_train = 1000
    c.probe.n_test = 1000
    c.pca_digits = (0, 1, 2, 3)

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.01

    c.train = train_section(
        batch_size=50,
        num_epochs=0.0,
        steps=10_000,
        shuffle=False,
        log_every=100,
        eval_every=100,
        checkpoint_every=0,
        eval_batch_size=10_000,
        stop_on_nan=True,
        shard_batch="never",
    )

    c.reference = ml_collections.ConfigDict()
    c.reference.test_accuracy = 0.971
    c.reference.probe_pixels_accuracy = 0.828
    c.reference.probe_hidden1_accuracy = 0.931
    c.reference.probe_hidden2_accuracy = 0.953
    c.reference.probe_hidden3_accuracy = 0.966
    c.reference.aux_pca_test_accuracy = 0.9707
    c.reference.source = SOURCE
    return c
