"""Experiments by name: `run(ctx) -> summary`, chosen by a config's `experiment` field.

Most reuse the common trainer (`jaxnets.train.fit`); each module adds only what is special
about its experiment (what to measure, what to plot).
"""

from __future__ import annotations

import dataclasses
import importlib
import pathlib
from typing import Callable

import ml_collections

MODULES = ("classifier", "autoencoder", "gradient_descent", "binary_neurons", "batchnorm",
           "synthetic_gradients", "first_convergence_bias", "deeper_layers",
           "invert", "rnn_toy", "char_rnn")
_REGISTRY: dict[str, Callable] = {}


@dataclasses.dataclass
class RunContext:
    config: ml_collections.ConfigDict
    config_file: str
    workdir: pathlib.Path
    seeds: list[int]
    log: Callable[[str], None] = print


def register(*names: str):
    def decorate(fn):
        for name in names:
            _REGISTRY[name] = fn
        return fn
    return decorate


def validate(config: ml_collections.ConfigDict) -> None:
    """Names in a config that select code must exist, checked before any work starts."""
    from jaxnets.config import ConfigError
    from jaxnets.nn import ACTIVATIONS, INITIALIZERS
    from jaxnets.train.optim import OPTIMIZERS

    choices = {"model.activation": ACTIVATIONS, "model.output_activation": ACTIVATIONS,
               "model.w_init": INITIALIZERS, "model.b_init": INITIALIZERS, "optimizer.name": OPTIMIZERS,
               "model.loss_reduction": ("mean", "sum"), "train.shard_batch": ("auto", "always", "never")}
    for key, valid in choices.items():
        section, name = key.split(".")
        if section in config and name in config[section] and config[section][name] not in valid:
            raise ConfigError(f"{key} = {config[section][name]!r} is not one of {sorted(valid)}")
    get(config.experiment)


def _load_all() -> None:
    for module in MODULES:
        importlib.import_module(f"jaxnets.experiments.{module}")


def names() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def get(name: str) -> Callable:
    _load_all()
    if name not in _REGISTRY:
        from jaxnets.config import ConfigError

        raise ConfigError(f"unknown experiment {name!r}; registered: {sorted(_REGISTRY)}")
    return _REGISTRY[name]
