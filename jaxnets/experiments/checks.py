"""Config keys that several experiments share (model widths and names, sampling, analyses):
checked wherever present, before any work. What only one experiment has, its module's own
`check(config)` checks."""

from __future__ import annotations

import ml_collections

from jaxnets.config import ConfigError
from jaxnets.train.checks import check_rules, integer, real

RULES = {
    "model.num_steps": (integer(1, 100_000), "must be an integer >= 1 (the window length)"),
    "model.state_size": (integer(1, 100_000), "must be an integer >= 1"),
    "model.num_layers": (integer(1, 1_000), "must be an integer >= 1"),
    "model.embedding_size": (integer(-1, 100_000), "must be an integer >= -1 (0 = the state size, -1 = one-hot)"),
    "model.hidden_sizes": (lambda v: isinstance(v, (tuple, list)) and all(integer(1, 1_000_000)(h) for h in v),
                           "must be a tuple of layer widths, integers in [1, 1,000,000]"),
    "model.keep_prob": (real(0, 1, low_open=True), "the probability of keeping a unit must be in (0, 1] "
                                                    "(1 = no dropout)"),
    "sample.length": (integer(0, 10_000_000), "must be an integer >= 0"),
    "sample.top_k": (integer(0, 10_000_000), "must be an integer >= 0 (0 = all tokens)"),
    "sample.temperatures": (lambda v: isinstance(v, (tuple, list)) and all(real(0)(t) for t in v),
                            "must be a tuple of finite temperatures >= 0 (0 = argmax)"),
    "sample.at_steps": (lambda v: isinstance(v, (tuple, list)) and all(integer(1, 10**12)(t) for t in v),
                        "must be a tuple of steps >= 1 (samples.md during training)"),
    "sample.carried_state": (lambda v: isinstance(v, bool), "must be true or false"),
    "analysis.gradient_distances": (integer(0, 1_000), "must be an integer in [0, 1000] (0 = off)"),
}


def check_shared_keys(config: ml_collections.ConfigDict) -> None:
    from jaxnets.nn import ACTIVATIONS, INITIALIZERS

    choices = {"activation": ACTIVATIONS, "output_activation": ACTIVATIONS, "w_init": INITIALIZERS,
               "b_init": INITIALIZERS, "loss_reduction": ("mean", "sum")}
    model = config.get("model", {})
    for key, valid in choices.items():
        if key in model and model[key] not in valid:
            raise ConfigError(f"model.{key} = {model[key]!r} is not one of {sorted(valid)}")
    check_rules(config, RULES)
