"""Variable-length sequences (R2RT, "RNNs in Tensorflow III"): a GRU classifier of labelled
sentences read to each sentence's last real step, or labelling every step (seq2seq), trained on
padded or bucketed batches. Special here: the sentence data, the batches in a few fixed shapes,
and what the post measured besides accuracy — the padding per batch and the epoch time."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxnets.config import ConfigError
from jaxnets.data.sentences import from_config
from jaxnets.experiments import Context, Outcome
from jaxnets.models import sequence_classifier as model_lib
from jaxnets.train.batches import VariableLength, bucket_lengths, by_length_class
from jaxnets.train.curves import Curves
from jaxnets.train.step import Task, mean_of


def metrics_of(logits: jax.Array, batch: dict, readout: str) -> dict[str, tuple[jax.Array, jax.Array]]:
    """(sum, count) loss and accuracy: per sequence (`last_output`), or per real step (`seq2seq`,
    the post's masked mean), with `last_accuracy` (the prediction at the last real step) beside
    it so that both readouts can be compared on the same footing."""
    labels = batch["label"]
    if readout == "last_output":
        correct = jnp.argmax(logits, -1) == labels
        return {"loss": mean_of(optax.softmax_cross_entropy_with_integer_labels(logits, labels)),
                "accuracy": mean_of(correct)}
    steps = logits.shape[1]
    mask = jnp.arange(steps)[None, :] < batch["length"][:, None]  # [B, T]
    per_step = jnp.broadcast_to(labels[:, None], mask.shape)
    correct = jnp.argmax(logits, -1) == per_step
    last_correct = jnp.take_along_axis(correct, (batch["length"] - 1)[:, None], axis=1)[:, 0]
    return {"loss": mean_of(optax.softmax_cross_entropy_with_integer_labels(logits, per_step), mask),
            "accuracy": mean_of(correct, mask), "last_accuracy": mean_of(last_correct)}


def sequence_classifier_task(model: ml_collections.ConfigDict, vocab_size: int, n_classes: int,
                             batches: VariableLength) -> Task:
    """The trainer's task: training batches from `batches` (their length classes), evaluation on
    whole splits padded to the longest length (masks make it exact)."""
    if model.readout not in model_lib.READOUTS:
        raise ValueError(f"model.readout = {model.readout!r} is not one of {model_lib.READOUTS}")

    def init_fn(key):
        return model_lib.init(key, vocab_size, model.n_embed, model.n_hidden, n_classes, model.cell), {}

    def train_loss(params, batch, key):
        logits = model_lib.apply(params, batch["tokens"], batch["length"], cell=model.cell, readout=model.readout,
                       keep_prob=model.keep_prob, key=key)
        return metrics_of(logits, batch, model.readout)

    at_its_length = by_length_class(train_loss, batches.lengths)

    def loss(params, model_state, batch, key, step):
        sums = at_its_length(params, batch, key)
        means = {name: s / c for name, (s, c) in sums.items()}
        return means["loss"], (model_state, {**{k: v for k, v in means.items() if k != "loss"},
                                             "padding": batch["padding"], "padding_computed": batch["padding_computed"]})

    def evaluate(params, model_state, batch, key, step):
        logits = model_lib.apply(params, batch["tokens"], batch["length"], cell=model.cell, readout=model.readout)
        return metrics_of(logits, batch, model.readout), model_state

    return Task(init_fn, loss, evaluate, batches=batches)


def run(ctx: Context) -> Outcome:
    c = ctx.config
    data = from_config(c.data)
    train, test = data.splits["train"], data.splits["test"]
    rates = data.class_rates("test")
    ctx.log(f"{c.data.name}: {len(train['label']):,} training and {len(test['label']):,} test sentences of "
            f"{c.data.min_len}-{c.data.max_len} tokens, {len(data.vocabulary):,} tokens, {len(data.classes)} classes; "
            f"majority class {rates['majority_class']} {rates['majority_rate']:.4f} of test, chance "
            f"{rates['chance_rate']:.4f}")
    try:
        lengths = bucket_lengths(train["length"], c.data.n_buckets)
    except ValueError as err:  # too few sentences for the buckets asked for
        raise ConfigError(f"data.n_buckets = {c.data.n_buckets}: {err} ({len(train['length'])} training sentences of "
                          f"{c.data.min_len}-{c.data.max_len} tokens); lower data.n_buckets or give more text") from None
    batches = VariableLength(c.train.batch_size, lengths, bucketed=c.data.bucketed, order_seed=c.data.order_seed)
    task = sequence_classifier_task(c.model, len(data.vocabulary), len(data.classes), batches)
    result = ctx.fit(task, train, {"test": test}, show=("test_accuracy",))
    test_accuracy = result.curves["test_accuracy"]
    times = np.diff([0.0, *result.times(test_accuracy.steps)])
    extra = {"data": {"sentences": {"train": int(len(train["label"])), "test": int(len(test["label"]))},
                      "vocabulary": len(data.vocabulary), "classes": len(data.classes),
                      "majority_class": rates["majority_class"], "majority_rate": rates["majority_rate"],
                      "chance_rate": rates["chance_rate"]},
             "length_classes": list(lengths),
             "padding_per_batch": _mean_over(result.curves, "train_padding"),
             "padding_computed_per_batch": _mean_over(result.curves, "train_padding_computed"),
             # the first epoch includes compilation: the epoch time is the later epochs' mean
             "epoch_time_s": float(np.mean(times[1:])) if len(times) > 1 else float(times[0]) if len(times) else None,
             "first_epoch_time_s": float(times[0]) if len(times) else None,
             "curves": {"epoch": list(range(1, len(test_accuracy.steps) + 1)),
                        **{k: _at(result.curves, k, test_accuracy.steps) for k in ("train_accuracy", "test_accuracy")}}}
    per_seed = {k: v for k, v in result.final_eval.items()}
    per_seed.update({k: v for k, v in result.final_train.items() if k == "train_accuracy"})
    return Outcome(per_seed, fit=result, extra=extra)


def _mean_over(curves: Curves, key: str) -> float | None:
    return float(curves[key].mean().mean()) if key in curves else None


def _at(curves: Curves, key: str, steps: np.ndarray) -> list:
    """The mean over seeds of `key` at each of `steps` (None where it was not logged)."""
    at = [curves[key].at(step) if key in curves else None for step in steps]
    return [None if v is None else float(np.mean(v)) for v in at]
