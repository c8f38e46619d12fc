"""What a suite writes when its variants are done: `results.md`, every published number beside
the measured mean ± std over seeds (the config file's TABLE), and `figures/`, one comparison
figure per entry of its FIGURES."""

from __future__ import annotations

import pathlib
import statistics

from jaxnets.tables import Figure, Row
from jaxnets.tables.report import SPREAD, gap_in_sigma, measured
from jaxnets.train.progress import fmt_time


def shown_metrics(module, summary: dict) -> set[str]:
    """The metrics a progress line shows: those of the config's TABLE, else those with a
    published reference, else all."""
    table = {Row(*r).metric for r in getattr(module, "TABLE", None) or []}
    chosen = table & set(summary["metrics"]) or set(summary.get("reference", {})) & set(summary["metrics"])
    return chosen or set(summary["metrics"])


def _diverged_note(summary: dict, metric: str) -> str:
    """'; 1 diverged, the other 4: m ± s' when some seeds ended with a non-finite loss."""
    diverged = summary.get("diverged_seeds") or []
    values = summary.get("metrics_per_seed", {}).get(metric)
    if not diverged or not values:
        return ""
    finite = [v for seed, v in zip(summary["seeds"], values) if seed not in diverged]
    if not finite:
        return "; all diverged"
    spread = f" ± {statistics.stdev(finite):.4f}" if len(finite) > 1 else ""
    return f"; {len(diverged)} diverged, the other {len(finite)}: {statistics.mean(finite):.4f}{spread}"


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def results_table(module, summaries: dict[str, dict], root: pathlib.Path | None = None) -> str:
    """Markdown: every published number beside the mean ± std over seeds and the gap in stds."""
    lines = ["| exp | row | published | jaxnets mean ± std (seeds) | gap | gap / std | variant |",
             "|---|---|---|---|---|---|---|"]
    table = getattr(module, "TABLE", None) or [
        Row("", name, name, metric, ref) for name, s in summaries.items()
        for metric, ref in s.get("reference", {}).items() if isinstance(ref, (int, float))]
    from jaxnets.tables.report import shortened

    for exp, row, variant, metric, published, published_sd in map(lambda r: Row(*r), table):
        if isinstance(published, float) and len(repr(published).partition(".")[2]) > 4:
            published = f"{published:.4f}"  # an exact level (0.6615632381579821) shown for people
        summary = summaries.get(variant)
        if summary is not None and metric.startswith(SPREAD):  # the spread over seeds, as one value
            m = measured(summary, metric)
            summary = None if m is None else {**summary, "metrics": {metric: m["mean"]}, "metrics_std": {},
                                              "metrics_per_seed": {}}
        if summary is None or metric not in summary.get("metrics", {}):
            lines.append(f"| {exp} | {row} | {published} | (not run) | | | {variant} |")
            continue
        mean = summary["metrics"][metric]
        std = summary.get("metrics_std", {}).get(metric)
        shown = f"{mean:.4f} ± {std:.4f}" if std is not None else f"{mean:.4f}"
        shown += f" ({len(summary['seeds'])}{_diverged_note(summary, metric)})"
        cut = root and shortened(root / variant)
        if cut:
            shown += f" **{cut}**"
        if published is None or isinstance(published, str) and not _is_number(published):  # a plot, or not comparable
            lines.append(f"| {exp} | {row} | {published or '(plot only)'} | {shown} | | | {variant} |")
            continue
        gap = mean - float(published)
        ratio = gap_in_sigma(gap, std, published_sd)
        lines.append(f"| {exp} | {row} | {published} | {shown} | {gap:+.4f} | {ratio} | {variant} |")
    return "\n".join(lines) + "\n"


def _curve(root: pathlib.Path, summaries: dict[str, dict], label: str, variant: str,
           x: str) -> tuple[str, dict, list]:
    """(label, the variant's curves against `x` (steps, or epochs), the indices of its diverged
    seeds); in results/, with the seeds its seed parts add."""
    from jaxnets.rundir import read_metrics
    from jaxnets.tables.records import record_curves, seed_parts
    from jaxnets.train.curves import Curve

    summary = summaries.get(variant, {})
    drop = [summary["seeds"].index(s) for s in summary.get("diverged_seeds", []) if s in summary.get("seeds", [])]
    records = read_metrics(root / variant / "metrics.jsonl")
    curves = record_curves([root / variant, *seed_parts(root / variant)])
    if x == "epoch" and records and records[-1].get("epoch"):
        steps_per_epoch = records[-1]["step"] / records[-1]["epoch"]
        curves = {k: Curve(c.steps / steps_per_epoch, c.values) for k, c in curves.items()}
    return label, curves, drop


def _summary_vector(summary: dict, path: str) -> list | None:
    """summary.json's value at a dotted path ("a.b"), or None where the run has none."""
    value = summary
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value if isinstance(value, list) and value else None


def write_outputs(module, root: pathlib.Path, summaries: dict[str, dict], wall: float,
                  trained: int | None = None) -> pathlib.Path:
    """results.md (the table and what the suite took) and the figures. `trained`: how many of
    the table's variants this invocation trained; the others were done before it, so its wall
    time is not theirs ("35m26s for 14 variants" was one variant's 35 minutes)."""
    text = results_table(module, summaries, root)
    train_s = sum(s.get("wall_time_s", 0.0) for s in summaries.values())
    trained = len(summaries) if trained is None else trained
    if trained == len(summaries):
        text += (f"\nSuite wall time {fmt_time(wall)} for {len(summaries)} variants "
                 f"(sum of the variants' training times {fmt_time(train_s)}).\n")
    else:
        text += (f"\nThis invocation trained {trained} of the table's {len(summaries)} variants in "
                 f"{fmt_time(wall)} (the others were done before it); the {len(summaries)} variants' "
                 f"training times sum to {fmt_time(train_s)}.\n")
    out = root / "results.md"
    out.write_text(text)
    draw_figures(module, root, summaries)
    return out


def draw_figures(module, root: pathlib.Path, summaries: dict[str, dict]) -> list[pathlib.Path]:
    """The config's FIGURES into root/figures/, from the run folders root/<variant>/ (a suite's,
    or the records under results/<config>/, which have the same layout)."""
    from jaxnets import plots

    drawn = []
    for name, figure in getattr(module, "FIGURES", {}).items():
        title, curves, keys, levels, x = Figure(*figure)
        # {label: variant} is one panel; {panel: {label: variant}} is one panel each.
        groups = curves if all(isinstance(v, dict) for v in curves.values()) else {"": curves}
        if x not in ("step", "epoch"):
            vectors = {key: {label: vector for members in groups.values() for label, variant in members.items()
                             if (vector := _summary_vector(summaries.get(variant, {}), key)) is not None}
                       for key in keys}
            if any(vectors.values()):
                drawn.append(plots.vectors(vectors, root / "figures" / f"{name}.png", xlabel=x, title=title))
            continue
        panels = {panel: [_curve(root, summaries, label, variant, x) for label, variant in members.items()
                          if variant in summaries and _has_metrics(root / variant)]
                  for panel, members in groups.items()}
        if any(panels.values()):
            drawn.append(plots.comparison(panels, keys, root / "figures" / f"{name}.png", title=title,
                                          levels=levels, x=x))
    return drawn


def _has_metrics(folder: pathlib.Path) -> bool:
    return (folder / "metrics.jsonl").exists() or (folder / "metrics.jsonl.gz").exists()  # (a record keeps it packed)
