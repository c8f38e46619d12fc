"""MLP classifiers on MNIST-like images (the TensorFlow.jl post's basic and advanced nets):
nothing beyond the common trainer and the classifier model."""

from __future__ import annotations

from jaxnets.data import image_classification
from jaxnets.experiments import Context, Outcome
from jaxnets.models.classifier import classifier_task


def run(ctx: Context) -> Outcome:
    data = ctx.config.data
    train_data, eval_data = image_classification(data.name, data.train_split, data.eval_splits.to_dict(),
                                                 data.standardize)
    result = ctx.fit(classifier_task(ctx.config.model), train_data, eval_data)
    return Outcome(result.final_eval, fit=result)
