"""MNIST, 784 -> 1024 sigmoid -> 10, Adam, batch 1000, 100 epochs (the default experiment).

Reproduces: Lyndon White, "Intro to Machine Learning with TensorFlow.jl" (2017), the basic
classifier: test error 1.93%. As there: pixels in [0, 1], weights and biases N(0, 0.01²),
mean softmax cross-entropy, Adam (lr 1e-3, β 0.9/0.999, ε 1e-8). Unlike there: batches are
reshuffled each epoch (the post iterated over the data in order; --config.train.shuffle=false
restores that).

    python -m jaxnets train --config configs/mnist_mlp.py
    python -m jaxnets sweep --config configs/mnist_mlp.py --seeds 3
"""

import ml_collections

from jaxnets.config import train_section


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.experiment = "classifier"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "mnist"  # or fashion_mnist
    c.data.train_split = "train"
    c.data.eval_splits = ml_collections.ConfigDict({"test": "test"})  # eval name -> TFDS split
    c.data.standardize = False  # per-feature z-score with training statistics

    c.model = ml_collections.ConfigDict()
    c.model.hidden_sizes = (1024,)
    c.model.activation = "sigmoid"
    c.model.keep_prob = 1.0  # dropout keep probability after each hidden layer
    c.model.w_init = "normal"  # TensorFlow.jl's default initializer: N(0, 0.01²) for weights...
    c.model.w_scale = 0.01
    c.model.b_init = "normal"  # ...and for biases
    c.model.b_scale = 0.01
    c.model.loss_reduction = "mean"  # mean or sum of the per-example cross-entropy over the batch

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-3

    c.train = train_section(
        batch_size=1000,
        num_epochs=100.0,
        steps=0,  # > 0 overrides num_epochs
        shuffle=True,
        log_every=0,  # steps per jitted chunk / metrics line; 0 = one epoch
        eval_every=0,  # a multiple of log_every; 0 = every log_every
        checkpoint_every=600,  # a multiple of log_every; 0 = only at the end
        eval_batch_size=10000,
        stop_on_nan=True,
        shard_batch="auto",  # split each batch over devices: always / never / auto (= not on CPU)
    )

    c.reference = ml_collections.ConfigDict()
    c.reference.test_error = 0.0193
    c.reference.source = "White 2017, Intro to Machine Learning with TensorFlow.jl, basic classifier"
    return c
