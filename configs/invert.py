"""R2RT, "Inverting a Neural Net" (2016).

MNIST 784 -> 100 -> 100 sigmoid -> softmax(10); weights truncated normal (std 0.1), biases 0.1;
summed cross-entropy, Adagrad 0.01, 2,000 steps of batch 1,000 (published test accuracy
0.9521). Then the inverse maps (w2_inv [100×100], w1_inv [100×784], initialized like the
weights): Adagrad 0.01, 1,000 steps of batch 1,000, only examples with max softmax > 0.8.
Generation: a free 9 × 100 layer-2 pre-activation, from 0, SGD lr 1.0 for 1,000 steps on the L1
distance of the softmax to one-hot digits 1–9 (published confidences 0.9961–0.9976). Features:
the inverse of 1e8 · I (each layer-2 unit alone). Figures in plots/.

    python -m jaxnets sweep --config configs/invert.py --seeds 5
"""

import ml_collections

from jaxnets.config import train_section

SOURCE = "R2RT 2016, Inverting a Neural Net"


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.experiment = "invert"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "mnist"
    c.data.train_split = "train[5000:]"  # TF input_data's mnist.train
    c.data.eval_splits = ml_collections.ConfigDict({"test": "test"})

    c.model = ml_collections.ConfigDict()
    c.model.hidden_sizes = (100, 100)
    c.model.activation = "sigmoid"
    c.model.keep_prob = 1.0
    c.model.w_init = "truncated_normal"
    c.model.w_scale = 0.1
    c.model.b_init = "constant"
    c.model.b_scale = 0.1
    c.model.loss_reduction = "sum"

    c.inverse = ml_collections.ConfigDict()
    c.inverse.learning_rate = 0.01  # Adagrad
    c.inverse.steps = 1000
    c.inverse.batch_size = 1000
    c.inverse.confidence = 0.8  # train the inverse on examples with max softmax above this

    c.generate = ml_collections.ConfigDict()
    c.generate.digits = (1, 2, 3, 4, 5, 6, 7, 8, 9)
    c.generate.learning_rate = 1.0  # SGD on the free layer-2 pre-activation
    c.generate.steps = 1000
    c.feature_scale = 1e8  # the features figure inverts feature_scale · I
    c.n_show = 36  # test digits in the inverse-projection figure

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "adagrad"
    c.optimizer.learning_rate = 0.01
    c.optimizer.initial_accumulator_value = 0.1  # TF's AdagradOptimizer default

    c.train = train_section(
        batch_size=1000,
        num_epochs=0.0,
        steps=2000,
        shuffle=True,  # input_data's next_batch
        log_every=100,
        eval_every=100,
        checkpoint_every=0,
        eval_batch_size=10_000,
        stop_on_nan=True,
        shard_batch="never",
    )

    c.reference = ml_collections.ConfigDict()
    c.reference.test_accuracy = 0.9521
    c.reference.generated_confidence_min = 0.99607605
    c.reference.generated_confidence_mean = 0.9969240
    c.reference.source = SOURCE
    return c
