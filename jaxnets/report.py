"""Collect every run's summary.json into one Markdown table beside the published numbers."""

from __future__ import annotations

import json
import pathlib


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def collect(root: str | pathlib.Path) -> list[dict]:
    rows = []
    for path in sorted(pathlib.Path(root).rglob("summary.json")):
        summary = json.loads(path.read_text())
        reference = summary.get("reference", {})
        for metric, mean in summary.get("metrics", {}).items():
            std = summary.get("metrics_std", {}).get(metric)
            rows.append({
                "run": str(path.parent.relative_to(root)) if path.parent != pathlib.Path(root) else ".",
                "experiment": summary.get("experiment", "?"),
                "metric": metric,
                "jaxnets": _fmt(mean) + (f" ± {_fmt(std)}" if std is not None else ""),
                "seeds": len(summary.get("seeds", [])),
                "published": _fmt(reference.get(metric)),
                "source": reference.get("source", "") if metric in reference else "",
                "wall_time_s": _fmt(summary.get("wall_time_s")),
            })
    return rows


def table(rows: list[dict]) -> str:
    header = ["run", "experiment", "metric", "jaxnets (mean ± std)", "seeds", "published", "source", "wall time (s)"]
    keys = ["run", "experiment", "metric", "jaxnets", "seeds", "published", "source", "wall_time_s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
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
