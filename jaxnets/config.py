"""Config files and `--config.key=value` overrides.

A config file is a Python module with `get_config(arg=None) -> ml_collections.ConfigDict`
(big_vision / Flax-examples convention). `configs/x.py:variant` passes "variant" as `arg`,
which is how one file holds the named variants of an experiment. Overrides are checked
against the file's keys and types *before any work starts*: a typo must not cost a run.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import pathlib
from typing import Any, Sequence

import ml_collections

__all__ = ["REQUIRED_SECTIONS", "ConfigError", "flatten", "split_spec", "normalize_spec", "load_module",
           "load_config_file", "valid_keys", "apply_override", "parse_overrides", "load", "apply_overrides",
           "override_text", "to_jsonable", "apply_variant", "TRAIN_KEYS", "OPTIONAL_TRAIN_KEYS", "train_section",
           "base_config"]

REQUIRED_SECTIONS = ("experiment", "seed", "data", "model", "optimizer", "train", "reference")


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message says which key and why."""


def split_spec(spec: str) -> tuple[str, str | None]:
    """'configs/x.py:variant' -> ('configs/x.py', 'variant')."""
    path, sep, arg = spec.partition(":")
    return path, (arg if sep else None)


def normalize_spec(spec: str) -> str:
    """`./configs/x.py:v` and `configs/x.py:v` are one config file: the path relative to the
    working directory when inside it (else absolute), symlinks resolved."""
    path, variant = split_spec(spec)
    real = pathlib.Path(os.path.realpath(path))
    try:
        shown = str(real.relative_to(pathlib.Path.cwd().resolve()))
    except ValueError:
        shown = str(real)
    return shown + (f":{variant}" if variant else "")


def load_module(path: str):
    """The config file as a Python module (for get_config and, in files that hold a suite of
    variants, VARIANTS / TABLE / FIGURES)."""
    file = pathlib.Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {path!r} does not exist (see `python -m jaxnets list`)")
    module_spec = importlib.util.spec_from_file_location(f"jaxnets_config_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except SyntaxError as err:
        raise ConfigError(f"config file {path}, line {err.lineno}: {err.msg} ({(err.text or '').strip()!r})") from None
    except Exception as err:  # the file runs code: any failure there is the config's, said in one line
        raise ConfigError(f"config file {path} failed to load: {type(err).__name__}: {err}") from None
    return module


def load_config_file(spec: str) -> ml_collections.ConfigDict:
    path, arg = split_spec(spec)
    module = load_module(path)
    if not hasattr(module, "get_config"):
        raise ConfigError(f"config file {path!r} defines no get_config()")
    if arg is not None and not getattr(module, "VARIANTS", None):
        raise ConfigError(f"config file {path} has no variants, so ':{arg}' names nothing; drop it (or choose a "
                          f"file with VARIANTS: `python -m jaxnets list`)")
    config = module.get_config(arg) if arg is not None else module.get_config()
    missing = [s for s in REQUIRED_SECTIONS if s not in config]
    if missing:
        raise ConfigError(f"config file {path!r} lacks the sections {missing}")
    config.lock()
    return config


def _parse_value(key: str, text: str, current: Any) -> Any:
    """Parse `text` into the type of the field it replaces; a mismatch is a ConfigError."""
    if isinstance(current, bool):
        lowered = text.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ConfigError(f"--config.{key}: expected a bool (true/false), got {text!r}")
    if isinstance(current, int):
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"--config.{key}: expected an int, got {text!r}") from None
    if isinstance(current, float):
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"--config.{key}: expected a float, got {text!r}") from None
    if isinstance(current, str):
        return text
    if isinstance(current, (tuple, list)) or current is None:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            if current is None:
                return text
            raise ConfigError(f"--config.{key}: expected a {type(current).__name__} literal, got {text!r}") from None
        if current is not None and not isinstance(value, (tuple, list)):
            raise ConfigError(f"--config.{key}: expected a {type(current).__name__}, got {text!r}")
        return type(current)(value) if current is not None else value
    raise ConfigError(f"--config.{key}: cannot override a field of type {type(current).__name__}")


def flatten(config: ml_collections.ConfigDict, prefix: str = "") -> list[tuple[str, Any]]:
    """[(dotted key, value)] of every leaf, in the config's order."""
    items = []
    for name, value in config.items():
        if isinstance(value, ml_collections.ConfigDict):
            items.extend(flatten(value, f"{prefix}{name}."))
        else:
            items.append((f"{prefix}{name}", value))
    return items


def valid_keys(config: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
    return [key for key, _ in flatten(config, prefix)]


def apply_override(config: ml_collections.ConfigDict, key: str, text: str) -> None:
    *parents, leaf = key.split(".")
    node = config
    for depth, part in enumerate(parents):
        if part not in node or not isinstance(node[part], ml_collections.ConfigDict):
            where = ".".join(parents[:depth]) or "the top level"
            options = sorted(k for k, v in node.items() if isinstance(v, ml_collections.ConfigDict))
            raise ConfigError(f"unknown config section {key!r}: {where} has the sections {options}")
        node = node[part]
    if leaf not in node:
        raise ConfigError(
            f"unknown config key {key!r}; valid keys here: {sorted(valid_keys(node, '.'.join(parents) + '.' if parents else ''))}")
    if isinstance(node[leaf], ml_collections.ConfigDict):
        raise ConfigError(f"{key!r} is a section; set one of {valid_keys(node[leaf], key + '.')}")
    value = _parse_value(key, text, node[leaf])
    with node.unlocked():
        node[leaf] = value


def parse_overrides(args: Sequence[str]) -> list[tuple[str, str]]:
    """['--config.a.b=1', '--config.c', '2'] -> [('a.b', '1'), ('c', '2')]."""
    pairs, i = [], 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--config."):
            raise ConfigError(f"unrecognised argument {arg!r} (overrides look like --config.section.key=value)")
        body = arg[len("--config."):]
        if "=" in body:
            key, text = body.split("=", 1)
        else:
            if i + 1 >= len(args):
                raise ConfigError(f"{arg} has no value")
            key, text = body, args[i + 1]
            i += 1
        pairs.append((key, text))
        i += 1
    return pairs


def load(spec: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
    """Load a config file and apply command-line overrides; all errors come before any work."""
    return apply_overrides(load_config_file(spec), overrides)


def apply_overrides(config: ml_collections.ConfigDict, overrides: Sequence[str]) -> ml_collections.ConfigDict:
    """`--config.k=v` overrides applied to `config` in place (and returned)."""
    for key, text in parse_overrides(overrides):
        apply_override(config, key, text)
    return config


def override_text(value: Any) -> str:
    """A Python value as the override text that parses back to it (for the Python API's dicts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value)


def to_jsonable(config: ml_collections.ConfigDict) -> dict:
    """A plain dict that survives a JSON round trip unchanged (tuples become lists)."""
    return json.loads(json.dumps(config.to_dict(), default=str))


def apply_variant(config: ml_collections.ConfigDict, variants: dict[str, dict], name: str | None,
                  default: str | None = None) -> ml_collections.ConfigDict:
    """Apply the dotted-key overrides {"model.neuron": "tanh", ...} of the named variant."""
    name = default if name is None else name
    if name is None:
        return config
    if name not in variants:
        raise ConfigError(f"unknown variant {name!r}; this file has: {', '.join(variants)}")
    for key, value in variants[name].items():
        node = config
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        if leaf not in node:
            raise ConfigError(f"variant {name!r} sets {key!r}, which the base config lacks")
        node[leaf] = value
    return config


TRAIN_KEYS = {  # key: (default, meaning); the README's config-key table says more
    "batch_size": (None, "examples (rows of a text) per step"),
    "num_epochs": (1.0, "epochs to train when steps is 0"),
    "steps": (0, "> 0: train exactly this many steps instead of num_epochs"),
    "shuffle": (True, "reshuffle the examples every epoch (false: consecutive batches)"),
    "log_every": (0, "steps per jitted chunk and per metrics.jsonl line; 0 = one epoch"),
    "eval_every": (0, "a multiple of log_every; 0 = every log_every"),
    "checkpoint_every": (0, "a multiple of log_every; 0 = only at the end; -1 = every log_every"),
    "eval_batch_size": (10_000, "evaluation batch (memory only, not results)"),
    "stop_on_nan": (True, "stop at a non-finite training loss"),
    "shard_batch": ("auto", "split each batch over devices: always / never / auto (= not on CPU)"),
    "tensorboard": (True, "also write the metrics as TensorBoard events in <workdir>/tensorboard/"),
    "run_axis": ("auto", "how a device executes a sweep's runs: vmap / map (one after another in one program) / "
                         "auto (= map on CPU)"),
}
OPTIONAL_TRAIN_KEYS = {  # present only in configs that set them
    "early_stop_patience": (0, "stop after this many evaluations without a new minimum of early_stop_metric "
                               "(every seed); 0 = off"),
    "early_stop_metric": ("validation_loss", "the metric early stopping watches (lower is better)"),
}


def train_section(*, without: Sequence[str] = (), **values: Any) -> ml_collections.ConfigDict:
    """The `train` block every config shares: TRAIN_KEYS' defaults with `values` set. A key that
    is not a train key is an error (a typo must not pass silently); `without` drops keys that
    mean nothing for an experiment (windows read in order have no `shuffle`)."""
    known = {**TRAIN_KEYS, **OPTIONAL_TRAIN_KEYS}
    unknown = sorted(set(values) - set(known)) + sorted(set(without) - set(TRAIN_KEYS))
    if unknown:
        raise ConfigError(f"train_section: unknown key(s) {unknown}; the train keys are {sorted(known)}")
    if "batch_size" not in values:
        raise ConfigError("train_section needs batch_size")
    section = ml_collections.ConfigDict()
    for key, (default, _) in TRAIN_KEYS.items():
        if key not in without:
            section[key] = values.get(key, default)
    for key, (default, _) in OPTIONAL_TRAIN_KEYS.items():
        if key in values or (key == "early_stop_metric" and "early_stop_patience" in values):
            section[key] = values.get(key, default)
    return section


def base_config(this_file: str, name: str, arg: str | None = None) -> ml_collections.ConfigDict:
    """get_config() of the sibling config file `name`, for variants that change a few fields."""
    module = load_module(str(pathlib.Path(this_file).with_name(f"{name}.py")))
    return module.get_config(arg) if arg is not None else module.get_config()
