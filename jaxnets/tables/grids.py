"""One setup at each of a table's learning rates, as one program (`suite --grids`).

Variants of a config file that differ only in their learning rate (and their published numbers)
train as one learning-rate grid (`runner.run(..., learning_rates=)`: every seed at every rate,
one compile, on a GPU one batched program), and the grid is then split into the run folder each
variant would have had alone, so that the suite's table, `record` and `report` read them as
any other run:

- config.json: the variant's own config, seeds and config file (what decides "the same run"),
  the grid's sessions, and `grid` (where it was trained, with which rates);
- summary.json: that rate's metrics, equal to the variant's own sweep (bit for bit where runs
  are mapped, as on CPU; to rounding where they are vmapped); wall time and throughput are the
  grid's, throughput shared out over its rates;
- metrics.jsonl and plots/curves.png: that rate's seeds, ending where the variant alone would
  have stopped early (the grid trains on until its last run stops).

What a grid leaves out — an experiment's own figures and analyses, which pool its runs or read
the first — these folders lack too (`grid.left_out` says so), and they hold no checkpoint: train
a variant alone to sample from it or to draw those figures.
"""

from __future__ import annotations

import json
import pathlib

import ml_collections
import numpy as np

from jaxnets import config as config_lib
from jaxnets.train import curves as curves_lib

LEFT_OUT = ("the experiment's own figures and analyses (they pool the grid's runs), and checkpoints: "
            "train this variant alone for them")


def rate_groups(configs: dict[str, ml_collections.ConfigDict]) -> list[list[str]]:
    """The variants grouped by everything but `optimizer.learning_rate` and `reference`, in the
    order given: each group with more than one member is one setup at several rates."""
    groups: dict[str, list[str]] = {}
    for name, config in configs.items():
        rest = {key: value for key, value in config_lib.flatten(config)
                if key != "optimizer.learning_rate" and not key.startswith("reference.")}
        groups.setdefault(json.dumps(rest, sort_keys=True, default=str), []).append(name)
    return list(groups.values())


def grid_folder(root: pathlib.Path, names: list[str]) -> pathlib.Path:
    """<root>/grids/<the group's variants>: out of the way of `record <root>`, which takes
    the suite's variant folders (a grid is several table rows in one run)."""
    import hashlib

    name = "-".join(names)
    if len(name) > 100:
        name = f"{names[0]}-and-{len(names) - 1}-more-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return pathlib.Path(root) / "grids" / name


def part_of_line(line: dict, index: int, n_seeds: int) -> dict:
    """One rate's share of a grid's metrics.jsonl line: its seeds' values (the runs are
    rate-major), their means recomputed, the line's other fields (step, epoch, time) kept."""
    per_run = line.get("per_seed", {})
    values = {key: np.asarray(per_run[key], np.float64)[index * n_seeds:(index + 1) * n_seeds]
              for key in line if curves_lib.is_metric(key) and key in per_run}
    kept = {key: value for key, value in line.items() if key != "per_seed" and key not in values}
    return {**kept, **curves_lib.to_record(values)} if values else kept


def until_own_stop(lines: list[dict], train: ml_collections.ConfigDict) -> list[dict]:
    """The lines the variant alone would have logged: with early stopping, up to the first step
    at which each of its seeds had stopped (`jaxnets.train.loop.early_stop`, the trainer's own rule)."""
    from jaxnets.train.loop import early_stop

    patience = train.get("early_stop_patience", 0)
    if not patience:
        return lines
    metric = train.get("early_stop_metric", "validation_loss")
    for end in range(1, len(lines) + 1):
        stop = early_stop(curves_lib.from_records(lines[:end]).get(metric), patience)
        if stop is not None:
            return [line for line in lines if line["step"] <= stop]
    return lines


def split(grid_dir: pathlib.Path, members: list[tuple[str, str, ml_collections.ConfigDict]],
          root: pathlib.Path) -> dict[str, dict]:
    """Write each member's run folder, <root>/<name>, from the finished grid in `grid_dir`;
    members = [(name, config spec, config)]. Returns {name: summary}."""
    from jaxnets import experiments, rundir
    from jaxnets.runner import reference_note

    grid_summary = json.loads((grid_dir / "summary.json").read_text())
    grid_config = json.loads((grid_dir / "config.json").read_text())
    rates, seeds = grid_summary["learning_rates"], grid_summary["seeds"]
    lines = rundir.read_metrics(grid_dir / "metrics.jsonl")
    unit = next((key[:-len("_per_s")] for key, value in grid_summary.items()
                 if key.endswith("_per_s") and value is not None), "examples")
    throughput = grid_summary.get(f"{unit}_per_s")
    grid = {"folder": str(grid_dir.relative_to(root)) if grid_dir.is_relative_to(root) else str(grid_dir),
            "learning_rates": rates, "variants": [name for name, _, _ in members], "left_out": LEFT_OUT,
            "note": "trained as one program with the other rates of its setup; wall time is the grid's, "
                    "throughput the grid's shared out over its rates"}
    summaries = {}
    for name, spec, config in members:
        rate = float(config.optimizer.learning_rate)
        index = rates.index(rate)
        part = until_own_stop([part_of_line(line, index, len(seeds)) for line in lines], config.train)
        suffix = f"@lr{rate:g}"
        per_seed = {key[:-len(suffix)]: np.asarray(values, np.float64)
                    for key, values in grid_summary["metrics_per_seed"].items() if key.endswith(suffix)}
        diverged_at = grid_summary.get("diverged_at_step_by_learning_rate", {}).get(f"{rate:g}", {})
        note = reference_note(config, spec)  # as a run alone: no published number of another data set
        summary = rundir.make_summary(
            experiment=config.experiment, config_file=config_lib.split_spec(spec)[0], seeds=seeds, per_seed=per_seed,
            reference={} if note else experiments.reference_of(config),
            steps=part[-1]["step"] if part else grid_summary["steps"], wall_time_s=grid_summary["wall_time_s"],
            throughput=None if throughput is None else throughput / len(rates), unit=unit,
            sessions=grid_config.get("sessions"),
            extra={**({"diverged_at_step": diverged_at} if diverged_at else {}),
                   **({"reference_note": note} if note else {}), "grid": grid})
        run_config = {"config_file": config_lib.normalize_spec(spec), "seeds": seeds,
                      "config": config_lib.to_jsonable(config), "sessions": grid_config.get("sessions", []),
                      "grid": grid}
        _write_run(root / name, run_config, part, summary, len(seeds))
        summaries[name] = summary
    return summaries


def _write_run(workdir: pathlib.Path, run_config: dict, lines: list[dict], summary: dict, n_seeds: int) -> None:
    """A run folder as `runner` leaves one, written file by file atomically, summary.json last
    (a folder without it is not a finished run, and the next split rewrites it)."""
    from jaxnets import plots, rundir

    workdir.mkdir(parents=True, exist_ok=True)
    with rundir.exclusive(workdir):
        (workdir / rundir.MARKER).write_text("a jaxnets run folder: `--overwrite` may empty it\n")
        rundir.write_json_atomic(workdir / "config.json", run_config)
        rundir.write_atomic(workdir / "metrics.jsonl",
                            lambda tmp: tmp.write_text("".join(json.dumps(line) + "\n" for line in lines)))
        curves = curves_lib.from_records(lines, n_seeds)
        if curves:
            (workdir / "plots").mkdir(exist_ok=True)
            title = f"{summary['experiment']} ({n_seeds} seed{'s' * (n_seeds > 1)}; from a learning-rate grid)"
            plots.training_curves(curves, workdir / "plots" / "curves.png", title=title,
                                  reference=summary.get("reference"))
        rundir.write_json_atomic(workdir / "summary.json", summary)
