"""MLP classifiers on MNIST-like images (the TensorFlow.jl post's basic and advanced nets)."""

from __future__ import annotations

import jax.numpy as jnp
import ml_collections
import optax

from jaxnets.data import image_classification
from jaxnets.experiments import RunContext, register
from jaxnets.experiments.common import finish, train_task
from jaxnets.models import init_mlp, mlp
from jaxnets.train import Task


def classifier_task(model: ml_collections.ConfigDict, n_in: int = 784, n_classes: int = 10) -> Task:
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
        return {"loss": optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]),
                "accuracy": correct, "error": 1.0 - correct}

    return Task(init, loss, evaluate)


@register("mnist_mlp", "mnist_advanced")
def run(ctx: RunContext) -> dict:
    data = ctx.config.data
    train_data, eval_data = image_classification(data.name, data.train_split, data.eval_splits.to_dict(),
                                                 data.standardize)
    result, per_seed = train_task(ctx, classifier_task(ctx.config.model), train_data, eval_data)
    return finish(ctx, result, per_seed)
