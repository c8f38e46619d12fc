"""Which run a config is: what decides "the same run", what a resumed run may change, and the
fingerprint its checkpoints carry. The one definition, for reopening a folder, for a suite's
reuse of a finished run and for the checkpoints."""

from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Any


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out += _diff(old.get(key, "<absent>"), new.get(key, "<absent>"), f"{prefix}{key}.")
        return out
    return [] if old == new else [f"{prefix[:-1]}: {old!r} -> {new!r}"]


# Keys a run may change when it is resumed: they do not change what the steps already taken
# computed (a key, or a whole section: the published numbers, sampling and the analyses of the
# trained net). train.steps / train.num_epochs only when they grow (extending a finished run).
RESUMABLE_KEYS = ("config.train.stop_on_nan", "config.train.eval_batch_size", "config.train.checkpoint_every",
                  "config.train.tensorboard", "config.train.run_axis", "config.reference", "config.sample",
                  "config.analysis")
# (not log_every / eval_every: they change what metrics.jsonl records, hence minima over evaluations)
PROVENANCE_KEYS = ("history", "sessions", "grid")  # how a run was made (`grid`: split from a grid), not which run
EXTENDABLE_KEYS = ("config.train.steps", "config.train.num_epochs")


def result_neutral(dotted: str) -> bool:
    """Whether a change of this key (or of a key inside this section) leaves the run's results as
    they are: the one definition, for resuming a run and for a suite's reuse of a finished one."""
    return any(dotted == key or dotted.startswith(key + ".") for key in RESUMABLE_KEYS)


def result_relevant(run_config: dict) -> dict:
    """A run's config.json without what a rerun may change: what decides "the same run"."""
    fixed = json.loads(json.dumps({k: v for k, v in run_config.items() if k not in PROVENANCE_KEYS},
                                  default=str))
    if isinstance(fixed.get("config_file"), str):  # stored relative to where it ran: its name decides (_same_file)
        path, sep, variant = fixed["config_file"].partition(":")
        fixed["config_file"] = pathlib.Path(path).name + sep + variant
    return _without(fixed, RESUMABLE_KEYS)


def _without(tree: dict, dotted_keys) -> dict:
    """`tree` (changed in place) with each "a.b.c" key removed where present."""
    for dotted in dotted_keys:
        node, *path, leaf = [tree] + dotted.split(".")
        for part in path:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(leaf, None)
    return tree


def _resumable(difference: str) -> bool:
    key, _, change = difference.partition(": ")
    if result_neutral(key):
        return True
    if key in EXTENDABLE_KEYS:
        old, _, new = change.partition(" -> ")
        try:
            return float(new) >= float(old) and float(old) > 0
        except ValueError:
            return False
    return False


def _same_file(old, new) -> bool:
    """The same config file and variant: a path is stored relative to the folder it was run
    from, so a resume from another folder names it differently. The file's name and variant
    decide; the resolved configs themselves are compared key by key anyway."""
    from jaxnets.config import normalize_spec, split_spec

    if not (isinstance(old, str) and isinstance(new, str) and old):
        return False
    (old_path, old_variant), (new_path, new_variant) = split_spec(old), split_spec(new)
    return normalize_spec(old) == normalize_spec(new) or (
        pathlib.Path(old_path).name == pathlib.Path(new_path).name and old_variant == new_variant)


def config_fingerprint(run_config: dict) -> str:
    """SHA-256 of a run's resolved config without the keys a resume may change (what its
    checkpoints are stamped with)."""
    fixed = _without(result_relevant(run_config), EXTENDABLE_KEYS)
    return hashlib.sha256(json.dumps(fixed, sort_keys=True, default=str).encode()).hexdigest()


def differences(saved: dict, new: dict) -> list[str]:
    """'key: old -> new' for each key where a run's config.json and a new run config differ
    (its sessions and history aside; a config file named from another folder is the same file)."""
    saved = {k: v for k, v in saved.items() if k not in PROVENANCE_KEYS}
    if _same_file(saved.get("config_file"), new.get("config_file")):
        saved["config_file"] = new["config_file"]  # ./configs/x.py is configs/x.py
    return _diff(saved, new)


def blocking(changes: list[str]) -> list[str]:
    """The differences that a resume may not make: all but result-neutral keys and grown steps."""
    return [change for change in changes if not _resumable(change)]


def same_results(saved: dict, new: dict) -> bool:
    """Whether a finished run of `saved` stands for a run of `new`: they differ in result-neutral
    keys only (a suite reuses it; grown steps are not the same results, but a resume)."""
    return all(result_neutral(change.partition(": ")[0]) for change in differences(saved, new))
