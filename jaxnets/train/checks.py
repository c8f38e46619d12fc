"""The trainer's own config sections, checked before any work: the counts of `train`, the
numbers and names of `optimizer`, and the seed. A value out of range otherwise failed deep in
JAX or orbax (a zero batch size divided by zero), or trained nonsense (a negative learning rate
climbs the loss)."""

from __future__ import annotations

import math

import ml_collections

from jaxnets.config import ConfigError


def integer(low: int, high: int = 2**31 - 1):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def real(low: float, high: float = math.inf, low_open: bool = False):
    return lambda v: (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                      and (v > low if low_open else v >= low) and v <= high)


def check_rules(config: ml_collections.ConfigDict, rules: dict) -> None:
    """{"section.key": (test, what it must be)}: each key present and set must pass its test."""
    for key, (test, must) in rules.items():
        section, _, name = key.rpartition(".")
        node = config.get(section, {}) if section else config
        if name in node and node[name] is not None and not test(node[name]):
            raise ConfigError(f"{key} = {node[name]!r}: {must}")


RULES = {
    "seed": (integer(0, 2**32 - 1), "must be an integer in [0, 2**32)"),
    "train.num_epochs": (real(0, 1e6), "must be a finite number of epochs (> 0 where train.steps is 0)"),
    "optimizer.learning_rate": (real(0), "must be >= 0 and finite (a negative rate climbs the loss)"),
    "optimizer.clip_global_norm": (real(0), "must be a finite norm >= 0 (0 = no clipping)"),
    "optimizer.clip_value": (real(0), "must be a finite bound >= 0 (0 = no clipping)"),
    "optimizer.decay_factor": (real(0, 1, low_open=True), "must be in (0, 1]"),
    "optimizer.decay_after_epochs": (real(0), "must be >= 0"),
    "optimizer.momentum": (real(0, 1), "must be in [0, 1]"),
}
COUNTS = {  # train.<key>: (lowest value, what it means)
    "batch_size": (1, "examples per step"), "steps": (0, "0 = train num_epochs instead"),
    "log_every": (0, "0 = once an epoch"), "eval_every": (0, "0 = every log_every"),
    "checkpoint_every": (-1, "0 = at the end, -1 = every log_every"), "eval_batch_size": (1, "examples per evaluation"),
    "early_stop_patience": (0, "0 = off"),
}


def check_train_sections(config: ml_collections.ConfigDict) -> None:
    from jaxnets.train.optim import OPTIMIZERS

    train = config.get("train", {})
    for key, (low, meaning) in COUNTS.items():
        if key in train and (not isinstance(train[key], int) or train[key] < low):
            raise ConfigError(f"train.{key} = {train[key]!r}: must be an integer >= {low} ({meaning})")
    if train.get("steps", 1) == 0 and "num_epochs" in train and not train.num_epochs > 0:
        raise ConfigError(f"train.num_epochs = {train.num_epochs}: must be > 0 when train.steps is 0 (or set "
                          f"train.steps)")
    if train.get("shard_batch", "auto") not in ("auto", "always", "never"):
        raise ConfigError(f"train.shard_batch = {train.shard_batch!r} is not one of ['always', 'auto', 'never']")
    if train.get("run_axis", "auto") not in ("auto", "vmap", "map"):
        raise ConfigError(f"train.run_axis = {train.run_axis!r} is not one of ['auto', 'map', 'vmap']")
    name = config.get("optimizer", {}).get("name")
    if name is not None and name not in OPTIMIZERS:
        raise ConfigError(f"optimizer.name = {name!r} is not one of {sorted(OPTIMIZERS)}")
    check_rules(config, RULES)
