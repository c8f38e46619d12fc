"""Collect every run's summary.json into one Markdown table: one row per run, its published
metrics beside the measured ones with the gap, its steps, and a flag on runs that trained for
less than their config file says (a `--config.train.steps` check is not a reproduction)."""

from __future__ import annotations

import json
import pathlib

__all__ = ["collect", "shortened", "table", "main"]

HEADER = ["run", "experiment", "metric", "jaxnets (mean ± std)", "published", "gap", "seeds", "steps", "note",
          "wall time (s)"]


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def shortened(run_dir: pathlib.Path) -> str:
    """'' or a note such as 'cut short: train.steps=200 (file: num_epochs=100)' when the run's
    train length is below its config file's."""
    try:
        saved = json.loads((run_dir / "config.json").read_text())
        from jaxnets.config import load

        spec = saved["config_file"]
        path = spec.partition(":")[0]
        if not path or not pathlib.Path(path).is_file():  # config paths are relative to the repository root
            return ""
        file_train = load(spec).train
    except Exception:  # an old, moved or unreadable config: no flag rather than a failed report
        return ""
    run_train = saved["config"]["train"]
    run_steps, file_steps = run_train.get("steps", 0), file_train.get("steps", 0)
    run_epochs, file_epochs = run_train.get("num_epochs", 0), file_train.get("num_epochs", 0)
    if run_steps and (not file_steps or run_steps < file_steps):
        return f"cut short: train.steps={run_steps} (file: " + (
            f"steps={file_steps})" if file_steps else f"num_epochs={file_epochs:g})")
    if not run_steps and not file_steps and run_epochs and file_epochs and run_epochs < file_epochs:
        return f"cut short: num_epochs={run_epochs:g} (file: {file_epochs:g})"
    return ""


def collect(root: str | pathlib.Path) -> list[dict]:
    """One row per summary.json under root: the metrics with a published number (all metrics
    when none has one), each with the gap measured − published."""
    root = pathlib.Path(root)
    rows = []
    for path in sorted(root.rglob("summary.json")):
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        reference = summary.get("reference", {})
        metrics = summary.get("metrics", {})
        shown = [m for m in metrics if isinstance(reference.get(m), (int, float))] or list(metrics)
        cells = {"metric": [], "jaxnets": [], "published": [], "gap": []}
        for metric in shown:
            mean, std = metrics[metric], summary.get("metrics_std", {}).get(metric)
            published = reference.get(metric)
            cells["metric"].append(metric)
            cells["jaxnets"].append(_fmt(mean) + (f" ± {_fmt(std)}" if std is not None else ""))
            cells["published"].append(_fmt(published))
            gap = mean - published if isinstance(published, (int, float)) and isinstance(mean, (int, float)) else None
            cells["gap"].append("—" if gap is None else f"{gap:+.4g}")
        rows.append({
            "run": str(path.parent.relative_to(root)) if path.parent != root else ".",
            "experiment": summary.get("experiment", "?"),
            **{k: "<br>".join(v) for k, v in cells.items()},
            "seeds": len(summary.get("seeds", [])),
            "steps": _fmt(summary.get("steps")),
            "note": shortened(path.parent),
            "wall_time_s": _fmt(summary.get("wall_time_s")),
            "source": reference.get("source", ""),
        })
    return rows


def table(rows: list[dict]) -> str:
    keys = ["run", "experiment", "metric", "jaxnets", "published", "gap", "seeds", "steps", "note", "wall_time_s"]
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    sources = sorted({r["source"] for r in rows if r["source"]})
    if sources:
        lines += ["", "Published numbers: " + "; ".join(sources) + "."]
    return "\n".join(lines) + "\n"


def main(root: str = "runs", output: str | None = None) -> str:
    rows = collect(root)
    text = table(rows) if rows else f"no summary.json under {root}\n"
    print(text, end="")
    out = pathlib.Path(output) if output else pathlib.Path(root) / "results.md"
    if rows:
        out.write_text(text)
        print(f"wrote {out}")
    return text
