"""Committed records: the files that every number in RESULTS.md and README.md is rebuilt from.

`runs/` is scratch and gone by the next session; `results/<config>/<variant>/` is kept in git.
A record holds a finished run's `config.json` (with its sessions: commit, command, versions),
`summary.json`, `metrics.jsonl` and its curves figure, plus `record.json` (which commit trained
it, which recorded it, from where). No checkpoints. A record is written once and as a whole: it
is assembled in a hidden folder beside its place and renamed into it (a rename within one
folder is atomic on POSIX), so a reader sees all of it or none. `report --records` reads them.

    python -m jaxnets record runs/truncated_bptt_seeds1            # a suite's folder: every variant
    python -m jaxnets record runs/mnist_mlp_seeds3                  # one run
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import shutil

__all__ = ["RESULTS", "RecordError", "record_place", "write_record", "record_folder", "read_records"]

RESULTS = pathlib.Path("results")
RUN_FILES = ("config.json", "summary.json", "metrics.jsonl")
FIGURES = (("plots/curves.png", "curves.png"),  # (in the run folder, in the record), where the run has them:
           ("samples.md", "samples.md"),  # samples through training
           ("visualize.png", "visualize.png"))  # a screenshot of `jaxnets visualize`'s page
MAX_FILE_BYTES = 1 << 20  # the results/ folder stays small enough to clone with the code
PACK_BYTES = 128 << 10  # a longer metrics.jsonl is kept as metrics.jsonl.gz (read back by rundir.read_metrics)


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
    if dest.exists():
        if _same(run_dir / "summary.json", dest / "summary.json"):
            return dest, False
        raise RecordError(f"{dest} already holds the record of another run; records are written once "
                          f"(to replace it: git rm -r {dest}, then record again)")
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


def record_folder(folder: str | pathlib.Path, results: str | pathlib.Path = RESULTS, log=print,
                  commit: str | None = None) -> list[pathlib.Path]:
    """Record one run, or every finished variant of a suite's folder (and its figures, which are
    replaced as the table fills)."""
    folder = pathlib.Path(folder)
    if (folder / "summary.json").exists():
        dest, new = write_record(folder, results, commit)
        log(f"{'recorded' if new else 'already recorded'}: {folder} -> {dest}")
        return [dest]
    runs = sorted(p.parent for p in folder.glob("*/summary.json"))
    if not runs:
        raise RecordError(f"{folder} holds no finished run (no summary.json in it or in its subfolders)")
    written = []
    for run in runs:
        dest, new = write_record(run, results, commit)
        log(f"{'recorded' if new else 'already recorded'}: {run} -> {dest}")
        written.append(dest)
    figures = sorted((folder / "figures").glob("*.png"))
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
    """{(config, variant): {"summary": ..., "config": ..., "path": ...}} for every record."""
    out = {}
    for summary_path in sorted(pathlib.Path(results).glob("*/*/summary.json")):
        folder = summary_path.parent
        out[(folder.parent.name, folder.name)] = {
            "summary": _read_json(summary_path), "config": _read_json(folder / "config.json"), "path": folder}
    return out
