"""R2RT, "Synthetic Gradients with Tensorflow" (after Jaderberg et al. 2017, decoupled neural
interfaces): each hidden layer learns from a module's *prediction* of its gradient.

Net: input -> L hidden blocks [linear (dense or 5×5 conv) -> BN -> ReLU (-> pool)] -> dense 10.
After each hidden block k sits a module M_k (2 × [linear 1024 / conv 128 -> BN (always batch
statistics) -> ReLU] -> linear with a zero kernel, so it starts by predicting 0), optionally
conditioned on the one-hot label. Methods (`model.method`):

  backprop            the true gradient everywhere
  no_bprop            only the output layer learns; the hidden blocks stay as initialized
  synthetic_gradient  block k is updated with M_k(h_k) as dL/dh_k; M_L regresses the true
                      dL/dh_L, M_k (k < L) regresses the bootstrapped ∂h_{k+1}/∂h_kᵀ M_{k+1}(h_{k+1})
  synthetic_loss      M_k outputs a scalar (square activation) whose gradient trains block k;
                      M_L regresses the per-example loss, M_k regresses M_{k+1}'s output

Every update is applied in one synchronous jitted step. How: the step differentiates one
*surrogate* scalar whose terms are coupled only through `stop_gradient`, so each parameter's
gradient is exactly its intended update: Σ stop(M_k(h_k))·h_k gives block k the synthetic
gradient (its input stopped, so nothing leaks into block k−1), CE(output(stop(h_L))) trains the
output layer, and each module's MSE to its stopped target trains the module. Optax's Adam is
elementwise, so one optimizer over all parameters equals TF's separate optimizers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxnets.config import ConfigError
from jaxnets.data import image_classification
from jaxnets.experiments import Context, Outcome
from jaxnets.models.sg_net import ARCHS, METHODS, forward, init_net, surrogate_loss
from jaxnets.train import Task
from jaxnets.train.step import make_evaluate, per_example


def check(config: ml_collections.ConfigDict) -> None:
    check_model(config.model)


def check_model(model: ml_collections.ConfigDict) -> None:
    if model.method not in METHODS:
        raise ConfigError(f"model.method = {model.method!r} is not one of {list(METHODS)}")
    if model.arch not in ARCHS:
        raise ConfigError(f"model.arch = {model.arch!r} is not one of {list(ARCHS)}")
    if model.arch == "cnn" and len(model.pools) != len(model.hidden_sizes):
        raise ConfigError(f"model.pools {tuple(model.pools)} needs one entry ('max', 'avg' or 'none') per hidden "
                          f"block {tuple(model.hidden_sizes)}")


def sg_task(model: ml_collections.ConfigDict, input_shape: tuple, n_classes: int = 10) -> Task:
    check_model(model)

    def init(key):
        return init_net(key, model, input_shape, n_classes)

    def loss(params, stats, batch, key, step):
        return surrogate_loss(params, stats, batch["x"], batch["y"], model, n_classes)

    def evaluate(params, stats, batch, key, step):
        _, logits, _ = forward(params, stats, batch["x"], model, False, False)  # BN population statistics
        return per_example({"loss": optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]),
                            "accuracy": (jnp.argmax(logits, -1) == batch["y"]).astype(jnp.float32)}), stats

    return Task(init, loss, evaluate)


def run(ctx: Context) -> Outcome:
    config = ctx.config
    train_data, eval_data = image_classification(config.data.name, config.data.train_split,
                                                 config.data.eval_splits.to_dict(), flatten=config.model.arch == "mlp")
    task = sg_task(config.model, train_data["x"].shape[1:])
    result = ctx.fit(task, train_data, eval_data)
    per_seed = dict(result.final_eval)
    # Final accuracy on the training set too (the post's "train" column), BN in inference mode.
    evaluate = jax.jit(jax.vmap(make_evaluate(task, config.train.eval_batch_size), in_axes=(0, None)))
    per_seed["train_accuracy"] = np.asarray(evaluate(result.state, jax.tree.map(jnp.asarray, train_data))["accuracy"])
    return Outcome(per_seed, fit=result)
