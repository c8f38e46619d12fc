"""Variable-length sequences (R2RT, "RNNs in Tensorflow III"): a GRU classifier of labelled
sentences read to each sentence's last real step, or labelling every step (seq2seq), trained on
padded or bucketed batches. Special here: the sentence data, the batches in a few fixed shapes,
and what the post measured besides accuracy — the padding per batch and the epoch time."""

from __future__ import annotations

import numpy as np

from jaxnets.data.sentences import from_config
from jaxnets.experiments import Context, Outcome
from jaxnets.models.sequence_classifier import sequence_classifier_task
from jaxnets.config import ConfigError
from jaxnets.train.batches import VariableLength, bucket_lengths
from jaxnets.train.curves import Curves


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
