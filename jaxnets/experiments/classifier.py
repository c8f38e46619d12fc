"""MLP classifiers on MNIST-like images (the TensorFlow.jl post's basic and advanced nets): an
MLP with softmax cross-entropy as a trainer task (`classifier_task`, which the experiments that
probe, invert or compare training methods on this net share), and the common trainer."""

from __future__ import annotations

import jax.numpy as jnp
import ml_collections
import optax

from jaxnets.data import image_classification
from jaxnets.experiments import Context, Outcome
from jaxnets.models.mlp import init_mlp, mlp
from jaxnets.train.step import Task, per_example


def classifier_task(model: ml_collections.ConfigDict, n_in: int = 784, n_classes: int = 10) -> Task:
    """The MLP of `model` (hidden_sizes, activation, initializers, keep_prob, loss_reduction)
    with softmax cross-entropy; evaluation reports loss, accuracy and error."""
    sizes = (n_in, *model.hidden_sizes, n_classes)
    reduce = {"mean": jnp.mean, "sum": jnp.sum}[model.loss_reduction]

    def init(key):
        return init_mlp(key, sizes, model.w_init, model.w_scale, model.b_init, model.b_scale), {}

    def loss(params, model_state, batch, key, step):
        logits = mlp(params, batch["x"], model.activation, keep_prob=model.keep_prob, key=key)
        xent = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"])
        accuracy = jnp.mean(jnp.argmax(logits, -1) == batch["y"])
        return reduce(xent), (model_state, {"accuracy": accuracy})

    def evaluate(params, model_state, batch, key, step):
        logits = mlp(params, batch["x"], model.activation)  # evaluation: no dropout
        correct = (jnp.argmax(logits, -1) == batch["y"]).astype(jnp.float32)
        return per_example({"loss": optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]),
                            "accuracy": correct, "error": 1.0 - correct}), model_state

    return Task(init, loss, evaluate)


def run(ctx: Context) -> Outcome:
    data = ctx.config.data
    train_data, eval_data = image_classification(data.name, data.train_split, data.eval_splits.to_dict(),
                                                 data.standardize)
    result = ctx.fit(classifier_task(ctx.config.model), train_data, eval_data)
    return Outcome(result.final_eval, fit=result)
