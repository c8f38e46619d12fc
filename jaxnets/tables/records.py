"""Committed records: the files that every number in RESULTS.md and README.md is rebuilt from.

`runs/` is scratch and gone by the next session; `results/<config>/<variant>/` is kept in git.
A record holds a finished run's `config.json` (with its sessions: commit, command, versions),
`summary.json`, `metrics.jsonl` and its curves figure, plus `record.json` (which commit trained
it, which recorded it, from where). No checkpoints. A record is written once and as a whole: it
is assembled in a hidden folder beside its place and renamed into it (a rename within one
folder is atomic on POSIX), so a reader sees all of it or none. `report --records` reads them.

More seeds come later as a record of their own beside it: a run that differs from a record only
in its seeds (`--config.seed=3 --seeds 2`: seeds 3 and 4) is recorded as
`results/<config>/<variant>+seeds3-4/`, and `read_records` gives the variant all its seeds at once.
A seed's run does not depend on the other seeds trained beside it (on a CPU a sweep's seed is
bitwise that seed trained alone, on one machine: another CPU rounds differently), so a table's
3 seeds can become 5 in a later session.

    python -m jaxnets record runs/truncated_bptt_seeds1            # a suite's folder: every variant
    python -m jaxnets record runs/mnist_mlp_seeds3                  # one run
    python -m jaxnets record runs/mnist_mlp_seed3_seeds2            # seeds 3, 4: results/mnist_mlp/default+seeds3-4
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import shutil

__all__ = ["RESULTS", "RecordError", "record_place", "write_record", "record_folder", "read_records", "seed_parts",
           "record_curves"]

RESULTS = pathlib.Path("results")
RUN_FILES = ("config.json", "summary.json", "metrics.jsonl")
FIGURES = (("plots/curves.png", "curves.png"),  # (in the run folder, in the record), where the run has them:
           ("samples.md", "samples.md"),  # samples through training
           ("visualize.png", "visualize.png"))  # a screenshot of `jaxnets visualize`'s page
MAX_FILE_BYTES = 1 << 20  # the results/ folder stays small enough to clone with the code
PACK_BYTES = 128 << 10  # a longer metrics.jsonl is kept as metrics.jsonl.gz (read back by rundir.read_metrics)
SEEDS_PART = "+seeds"  # results/<config>/<variant>+seeds3-4/: more seeds of the record <variant>/


class RecordError(RuntimeError):
    """A record that cannot be written: the message names the folder and why."""


def record_place(config_file: str, results: pathlib.Path = RESULTS) -> pathlib.Path:
    """results/<config file stem>/<variant or 'default'>."""
    path, _, variant = config_file.partition(":")
    return pathlib.Path(results) / pathlib.Path(path).stem / (variant or "default")


def _read_json(path: pathlib.Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RecordError(f"{path.parent} is not a finished run: it has no {path.name}") from None
    except (OSError, ValueError) as err:
        raise RecordError(f"{path} cannot be read ({err})") from None


def _same(a: pathlib.Path, b: pathlib.Path) -> bool:
    return a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes()


def write_record(run_dir: str | pathlib.Path, results: str | pathlib.Path = RESULTS,
                 commit: str | None = None) -> tuple[pathlib.Path, bool]:
    """Copy a finished run into its record; (the record's folder, whether it was written now).
    The same run recorded again is a no-op; a different run where a record exists is an error.
    `commit` names the code of a run that was trained outside a git checkout (its config.json
    then has none); the record says that it was stated, not found."""
    from jaxnets.rundir import git_commit

    run_dir = pathlib.Path(run_dir)
    summary = _read_json(run_dir / "summary.json")
    saved = _read_json(run_dir / "config.json")
    if saved.get("learning_rates"):
        raise RecordError(f"{run_dir} is a learning-rate grid ({len(saved['learning_rates'])} rates): a record is one "
                          f"table row, a run of one setup; train each rate's row as its own run (suite variants)")
    dest = record_place(saved.get("config_file") or summary.get("config_file", ""), pathlib.Path(results))
    added = {}
    if dest.exists():
        for folder in (dest, *seed_parts(dest)):
            if _same(run_dir / "summary.json", folder / "summary.json"):
                return folder, False
        dest, added = _more_seeds_place(dest, saved)
    copies = [(run_dir / name, name) for name in RUN_FILES
              if name != "metrics.jsonl" or (run_dir / name).is_file()]  # (an experiment may log no curve)
    copies += [(run_dir / src, name) for src, name in FIGURES if (run_dir / src).is_file()]
    for src, _ in copies:
        if not src.is_file():
            raise RecordError(f"{run_dir} is not a whole run: it has no {src.name}")
        limit = 8 * MAX_FILE_BYTES if src.name == "metrics.jsonl" else MAX_FILE_BYTES  # (kept compressed)
        if src.stat().st_size > limit:
            raise RecordError(f"{src} weighs {src.stat().st_size / 2**20:.1f} MiB, over the {limit >> 20} MiB such a "
                              f"recorded file may weigh (log less often: train.log_every)")
    sessions = saved.get("sessions") or [{}]
    meta = {"trained_at_commit": sessions[0].get("git_commit"),
            "last_session_commit": sessions[-1].get("git_commit"),
            "recorded_at_commit": git_commit(),
            "recorded": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "from": str(run_dir.resolve()), "command": sessions[0].get("command")}
    if added:
        meta["keys_added_since_the_record"] = {
            "keys": added, "why": f"{dest.name.split(SEEDS_PART)[0]}'s config has no such keys: they were added to "
                                  f"jaxnets after it was trained, and this run keeps the config file's value"}
    if meta["trained_at_commit"] is None:
        if not commit:
            raise RecordError(f"{run_dir} does not say which commit trained it (it ran outside a git checkout): "
                              f"name it with --commit")
        meta.update(trained_at_commit=commit, last_session_commit=commit,
                    commit_stated="by `record --commit`: the run ran outside a git checkout")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    try:
        tmp.mkdir()
        for src, name in copies:
            if name == "metrics.jsonl" and src.stat().st_size > PACK_BYTES:
                import gzip

                (tmp / "metrics.jsonl.gz").write_bytes(gzip.compress(src.read_bytes(), mtime=0))
            else:
                shutil.copyfile(src, tmp / name)
        (tmp / "record.json").write_text(json.dumps(meta, indent=2) + "\n")
        os.rename(tmp, dest)  # fails if dest appeared meanwhile: nothing is replaced
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return dest, True


def _seeds_label(seeds: list[int]) -> str:
    """'3-4' for seeds 3, 4; '3' for one; '3_7_9' where they are not a range."""
    if len(seeds) == 1:
        return str(seeds[0])
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return "_".join(map(str, seeds))


def _leaves(tree: dict, prefix: str = "") -> dict:
    """{dotted key: value} of a nested dict's leaves."""
    out = {}
    for key, value in tree.items():
        out.update(_leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


def _file_defaults(config_file: str) -> dict:
    """{'config.<dotted key>': value} of the config file as it reads now ({} where it cannot be read)."""
    from jaxnets import config as config_lib

    try:
        return _leaves({"config": config_lib.to_jsonable(config_lib.load(config_file))})
    except config_lib.ConfigError:
        return {}


def _more_seeds_place(base: pathlib.Path, saved: dict) -> tuple[pathlib.Path, dict]:
    """Where a run that adds seeds to the record `base` goes (`<variant>+seeds<…>`), and the keys
    it has that the record's config lacks; or why it cannot: it must be the same setup (up to
    its seeds and result-neutral keys) and bring seeds that the record and its parts do not
    have yet. A key added to jaxnets after the record was trained is the same setup where the
    run keeps the config file's value for it (new keys default to the old behaviour)."""
    from jaxnets.rundir import result_relevant

    old, new = _leaves(result_relevant(_read_json(base / "config.json"))), _leaves(result_relevant(saved))
    changed = [key for key in sorted(set(old) | set(new))
               if old.get(key, "<absent>") != new.get(key, "<absent>") and key not in ("seeds", "config.seed")]
    defaults = _file_defaults(saved.get("config_file", "")) if any(key not in old for key in changed) else {}
    added = {key: new[key] for key in changed if key not in old and key in defaults and new[key] == defaults[key]}
    changes = [f"{key}: {old.get(key, '<absent>')!r} -> {new.get(key, '<absent>')!r}" for key in changed
               if key not in added]
    if changes:
        shown = "; ".join(changes[:3]) + (f"; and {len(changes) - 3} more" if len(changes) > 3 else "")
        raise RecordError(f"{base} already holds the record of another run ({shown}); records are written once "
                          f"(to replace it: git rm -r {base}, then record again)")
    taken = [seed for folder in (base, *seed_parts(base)) for seed in _read_json(folder / "summary.json")["seeds"]]
    seeds = [int(seed) for seed in saved["seeds"]]
    again = sorted(set(seeds) & set(taken))
    if again:
        raise RecordError(f"{base} already holds the record of another run of seeds {again}; records are written "
                          f"once (to replace it: git rm -r {base}{'*' if seed_parts(base) else ''}, then record "
                          f"again; to add seeds, train new ones: --config.seed={max(taken) + 1} --seeds N)")
    return base.parent / f"{base.name}{SEEDS_PART}{_seeds_label(seeds)}", added


def seed_parts(folder: pathlib.Path) -> list[pathlib.Path]:
    """The records that add seeds to the record `folder` (`<variant>+seeds…`), in seed order."""
    import glob

    parts = [p for p in folder.parent.glob(glob.escape(folder.name) + SEEDS_PART + "*") if p.is_dir()]
    return sorted(parts, key=lambda p: int(p.name[len(folder.name) + len(SEEDS_PART):].split("-")[0].split("_")[0]))


def merge_seed_parts(summaries: list[dict], folders: list[pathlib.Path]) -> dict:
    """One summary of a record and its seed parts: the seeds, each metric's per-seed values
    (those every part has) and the seeds that diverged, joined; means and stds over them. The
    rest — an experiment's own extras, the throughput — is the first record's, which
    `seed_parts_note` says, except the extras an experiment computes from the curves alone
    (its `extras_from_curves`), which are computed again from all the seeds' curves."""
    from jaxnets.rundir.summary import stats_without_diverged

    first = summaries[0]
    seeds = [seed for s in summaries for seed in s["seeds"]]
    per_seed = {key: [v for s in summaries for v in s["metrics_per_seed"][key]]
                for key in first.get("metrics_per_seed", {}) if all(key in s.get("metrics_per_seed", {}) for s in summaries)}
    diverged, means, stds = stats_without_diverged(seeds, per_seed,  # as a run's own summary computes them
                                                   {seed for s in summaries for seed in s.get("diverged_seeds") or []})
    recomputed = _extras_from_curves(first.get("experiment"), folders)
    return {**first, **recomputed, "seeds": seeds, "metrics": means, "metrics_std": stds, "metrics_per_seed": per_seed,
            "diverged_seeds": diverged, "wall_time_s": sum(s.get("wall_time_s") or 0.0 for s in summaries),
            "seed_parts": [{"folder": folder.name, "seeds": s["seeds"]} for folder, s in zip(folders, summaries)],
            "seed_parts_note": f"the seeds of {len(folders)} records joined; what is not per seed (an "
                               f"experiment's extras, throughput) is {folders[0].name}'s, seeds {first['seeds']}"
                               + (f", except {', '.join(recomputed)}: from every seed's curves" if recomputed else "")}


def _extras_from_curves(experiment: str | None, folders: list[pathlib.Path]) -> dict:
    """The extras experiment `experiment` derives from curves alone, over the joined records' seeds."""
    from jaxnets import experiments
    from jaxnets.config import ConfigError

    if not experiment:
        return {}
    try:
        module = experiments.get(experiment)
    except ConfigError:  # an experiment of another checkout: its extras stay the first record's
        return {}
    derive = getattr(module, "extras_from_curves", None)
    return derive(record_curves(folders)) if derive else {}


def record_curves(folders: list[pathlib.Path]):
    """The curves of a record and its seed parts (`Curves`, seeds side by side in the parts'
    order); a part that logged no step that another did has NaN there (a seed that stopped
    early), so a mean over seeds ends where the shortest part ends."""
    import numpy as np

    from jaxnets.rundir import read_metrics
    from jaxnets.train.curves import Curve, from_records

    parts = [from_records(read_metrics(folder / "metrics.jsonl")) for folder in folders]
    if len(parts) == 1:
        return parts[0]
    joined = {}
    for key in parts[0]:
        if not all(key in part for part in parts):
            continue
        steps = np.unique(np.concatenate([part[key].steps for part in parts]))
        blocks = []
        for part in parts:
            curve = part[key]
            block = np.full((len(steps), *curve.values.shape[1:]), np.nan)
            block[np.searchsorted(steps, curve.steps)] = curve.values
            blocks.append(block)
        joined[key] = Curve(steps, np.concatenate(blocks, axis=1))
    return joined


def _joined(dest: pathlib.Path) -> str:
    """' (joins <variant>: seeds [0, 1, 2, 3, 4])' for a seed part, else ''."""
    if SEEDS_PART not in dest.name:
        return ""
    base = dest.with_name(dest.name.split(SEEDS_PART)[0])
    seeds = [seed for folder in (base, *seed_parts(base)) for seed in _read_json(folder / "summary.json")["seeds"]]
    added = _read_json(dest / "record.json").get("keys_added_since_the_record", {}).get("keys", {})
    return f" (joins {base.name}: seeds {seeds}" + (f"; keys {base.name} predates, at the file's values: "
                                                     f"{', '.join(f'{k}={v!r}' for k, v in added.items())}" if added
                                                     else "") + ")"


def record_folder(folder: str | pathlib.Path, results: str | pathlib.Path = RESULTS, log=print,
                  commit: str | None = None) -> list[pathlib.Path]:
    """Record one run, or every finished variant of a suite's folder (and its figures, which are
    replaced as the table fills)."""
    folder = pathlib.Path(folder)
    if (folder / "summary.json").exists():
        dest, new = write_record(folder, results, commit)
        log(f"{'recorded' if new else 'already recorded'}: {folder} -> {dest}{_joined(dest)}")
        return [dest]
    runs = sorted(p.parent for p in folder.glob("*/summary.json"))
    if not runs:
        raise RecordError(f"{folder} holds no finished run (no summary.json in it or in its subfolders)")
    written = []
    for run in runs:
        dest, new = write_record(run, results, commit)
        log(f"{'recorded' if new else 'already recorded'}: {run} -> {dest}{_joined(dest)}")
        written.append(dest)
    figures = sorted((folder / "figures").glob("*.png"))
    if any(SEEDS_PART in dest.name for dest in written):  # they show these seeds alone: `report --records` redraws
        log(f"figures not copied: {folder} adds seeds to records; `python -m jaxnets report --records` draws "
            f"the figures from all their seeds")
        figures = []
    for figure in figures:
        if figure.stat().st_size > MAX_FILE_BYTES:
            log(f"not recorded: {figure} weighs over 1 MiB")
            continue
        target = written[0].parent / "figures" / figure.name
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(figure, target.with_name(f".{figure.name}.tmp"))
        os.replace(target.with_name(f".{figure.name}.tmp"), target)
        log(f"figure: {figure} -> {target}")
    return written


def read_records(results: str | pathlib.Path = RESULTS) -> dict[tuple[str, str], dict]:
    """{(config, variant): {"summary": ..., "config": ..., "path": ..., "parts": [...]}} for every
    record; a variant with seed parts has their seeds joined into its summary, and `parts` names
    its folders (the record's own first)."""
    out = {}
    found = sorted(p.parent for p in pathlib.Path(results).glob("*/*/summary.json"))
    for folder in found:
        if SEEDS_PART in folder.name:
            base = folder.with_name(folder.name.split(SEEDS_PART)[0])
            if base not in found:
                raise RecordError(f"{folder} adds seeds to {base.name}, which has no record")
            continue
        parts = [folder, *seed_parts(folder)]
        summaries = [_read_json(part / "summary.json") for part in parts]
        out[(folder.parent.name, folder.name)] = {
            "summary": summaries[0] if len(parts) == 1 else merge_seed_parts(summaries, parts),
            "config": _read_json(folder / "config.json"), "path": folder, "parts": parts}
    return out
