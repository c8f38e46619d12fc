"""MNIST bottleneck autoencoder 784-512-128-64-2-64-128-512-784, leaky ReLU6, sigmoid output.

Reproduces: Lyndon White, "Intro to Machine Learning with TensorFlow.jl" (2017), the
"hour-glass" autoencoder. Hidden activation f(x) = 0.01·x + min(max(x, 0), 6), loss
mean(0.5·(x̂ − x)²) over pixels and batch, Adam defaults, batch 1000, 75 epochs, weights and
biases N(0, 0.01²). The post printed no final loss; its curve ends near 0.0189 (read off the
plot). Dead code units (exactly 0 over a whole split) are detected and reported. Plots: the
test codes as digit thumbnails, a scatter coloured by label, originals beside reconstructions.

    python -m jaxnets train --config configs/autoencoder.py
"""

import ml_collections

from jaxnets.config import base_config


def get_config(arg=None):
    c = base_config(__file__, "mnist_mlp")
    c.experiment = "autoencoder"
    c.model.hidden_sizes = (512, 128, 64, 2, 64, 128, 512)
    c.model.activation = "leaky_relu6"
    c.model.output_activation = "sigmoid"
    del c.model["keep_prob"], c.model["loss_reduction"]
    c.train.num_epochs = 75.0
    c.train.checkpoint_every = 600
    c.reference = ml_collections.ConfigDict()
    c.reference.train_loss = 0.0189  # the post's curve is the training loss (issue 32: not the test loss)
    c.reference.source = ("White 2017, TensorFlow.jl post, autoencoder: training-loss curve at epoch 75 "
                          "(read off the plot; no number printed)")
    return c
