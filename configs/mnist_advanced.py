"""MNIST, standardized inputs, 784 -> 512 ReLU + dropout -> 512 ReLU + dropout -> 10, Adam, 100 epochs.

Reproduces: Lyndon White, "Intro to Machine Learning with TensorFlow.jl" (2017), the "advanced"
classifier: test error 1.77%. Inputs z-scored per pixel with training-set statistics (sample
std, constant pixels divided by 1); dropout keep probability 0.5 in training, none at test.
Deviation on purpose: the post's code made the output layer 512 wide (only the first 10 logits
meant anything, an accident its diagram does not show); this config uses 10 outputs.

    python -m jaxnets train --config configs/mnist_advanced.py
"""

from jaxnets.config import base_config


def get_config(arg=None):
    c = base_config(__file__, "mnist_mlp")
    c.experiment = "classifier"
    c.data.standardize = True
    c.model.hidden_sizes = (512, 512)
    c.model.activation = "relu"
    c.model.keep_prob = 0.5
    c.reference.test_error = 0.0177
    c.reference.source = "White 2017, Intro to Machine Learning with TensorFlow.jl, advanced classifier"
    return c
