"""Backprop basics: gradient descent on f(x) = x⁴ − 3x³ + 2, the FAQ's momentum rule, and
stochastic vs mini-batch vs full-batch gradient descent on MNIST.

Reproduces: Brandon Brown, "Beginning Tutorial: Backpropagation and Gradient Descent" (2015):
from x = 4 with η = 0.001 the trace reads 4 → 3.888 → 3.7890 and converges to the minimum
x = 9/4 (the tutorial's script, η = 0.01, prints 2.2500325268933734 after 42 updates, in
float64; jaxnets runs float32). The momentum rule Δw(t+1) = (1 − α)·η·δ·o + α·Δw(t) of the
Wikipedia/backprop FAQ is `jaxnets.train.dampened_momentum`, an Optax transformation.
The MNIST comparison trains one hidden sigmoid layer with batch 1, 100 and 60,000 for the
same number of examples and plots training loss vs examples seen and vs wall time.

    python -m jaxnets train --config configs/gradient_descent.py
"""

import ml_collections

from jaxnets.config import base_config


def get_config(arg=None):
    c = base_config(__file__, "mnist_mlp")
    c.experiment = "gradient_descent"
    c.function = ml_collections.ConfigDict()
    c.function.x0 = 4.0
    c.function.learning_rate = 0.001
    c.function.fast_learning_rate = 0.01  # the tutorial script's γ
    c.function.precision = 1e-5  # stop when |x_new − x_old| ≤ precision
    c.function.max_steps = 5000
    c.function.momentum = 0.9  # α of the FAQ rule, for the third path

    c.model.hidden_sizes = (100,)
    c.model.activation = "sigmoid"
    c.model.w_init = "lecun_normal"
    c.model.w_scale = 1.0
    c.model.b_init = "zeros"

    c.optimizer = ml_collections.ConfigDict({"name": "dampened_momentum", "learning_rate": 0.5, "momentum": 0.0})

    c.train = ml_collections.ConfigDict()
    c.train.labels = ("stochastic (batch 1)", "mini-batch 100", "mini-batch 100 + FAQ momentum α=0.9",
                      "full batch 60,000")
    c.train.batch_sizes = (1, 100, 100, 60000)
    c.train.learning_rates = (0.05, 0.5, 0.5, 0.5)
    c.train.momenta = (0.0, 0.0, 0.9, 0.0)
    c.train.examples = 600_000  # the budget each method gets (10 epochs)
    c.train.points = 30  # loss evaluations per method
    c.train.eval_examples = 10_000  # training-loss probe: the first 10,000 training images
    c.train.steps = 0  # > 0 caps each method's steps (for smoke tests)

    c.reference = ml_collections.ConfigDict()
    c.reference.x_1 = 3.888
    c.reference.x_2 = 3.789
    c.reference.x_final = 2.25
    c.reference.x_final_fast = 2.2500325268933734
    c.reference.updates_fast = 42
    c.reference.source = "Brown 2015, Beginning Tutorial: Backpropagation and Gradient Descent; minimum 9/4"
    return c
