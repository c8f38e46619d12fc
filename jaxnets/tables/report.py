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
    if run_steps and (not file_steps or run_steps < file_steps):
        return f"cut short: train.steps={run_steps} (file: " + (
            f"steps={file_steps})" if file_steps else f"num_epochs={file_train.get('num_epochs', 0):g})")
    for key in ("num_epochs", "examples"):  # any other length a config counts its training in
        run_value, file_value = run_train.get(key, 0), file_train.get(key, 0)
        if not run_steps and isinstance(run_value, (int, float)) and run_value and file_value and run_value < file_value:
            return f"cut short: {key}={run_value:g} (file: {file_value:g})"
    return ""


def collect(root: str | pathlib.Path) -> list[dict]:
    """One row per summary.json under root: the metrics with a published number (all metrics
    when none has one), each with the gap measured − published."""
    root = pathlib.Path(root)
    rows = []
    for path in sorted(root.rglob("summary.json")):
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError) as err:  # said, not skipped: a damaged run must not vanish from the table
            print(f"warning: {path} cannot be read ({type(err).__name__}: {err}); its run is not in the table")
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


# ---- RESULTS.md and README.md from the committed records (results/) ----------------------------
#
# Each generated table sits in a Markdown file between `<!-- report:<name> -->` and
# `<!-- /report -->`; `report --records` rewrites what is between them, `report --records --check`
# (and tests/test_records.py) fails when a hand edit made them differ. Prose stays hand-written.

BLOCK_START, BLOCK_END = "<!-- report:", "<!-- /report -->"
DOCUMENTS = ("RESULTS.md", "README.md")


def _decimals(like) -> int:
    """As many decimals as the published number has, 4 to 7 (0 for an integer)."""
    if isinstance(like, int) and not isinstance(like, bool):
        return 0
    if isinstance(like, float) and like == like and abs(like) < 10:
        return min(7, max(4, len(repr(like).partition(".")[2])))
    return 4


def _published(value) -> str:
    """A published number as the post wrote it (its digits are the claim), except a float no
    one typed: a level computed in the config file (0.6615632381579821) shows 7 decimals, as
    many as a measured number ever gets."""
    if value is None:
        return "(plot only)"
    if isinstance(value, float) and len(repr(value).partition(".")[2]) > 12:
        return f"{value:.7f}"
    return str(value)


def _shown_decimals(value: float, like: float | None = None) -> int:
    """How many decimals a measured number gets: as many as its published counterpart has (4
    to 7), 2 from 10 on, 1 from 100 on; none where both are integers."""
    if isinstance(like, int) and not isinstance(like, bool) and float(value).is_integer():
        return 0
    return 1 if abs(value) >= 100 else 2 if abs(value) >= 10 else _decimals(like)


def _num(value: float, like: float | None = None) -> str:
    """A measured number with `_shown_decimals`."""
    if not isinstance(value, (int, float)) or value != value:
        return "NaN" if isinstance(value, float) else str(value)
    decimals = _shown_decimals(value, like)
    return str(int(value)) if decimals == 0 else f"{value:.{decimals}f}"


def _config_module(name: str):
    from jaxnets import catalog
    from jaxnets import config as config_lib

    return config_lib.load_module(str(catalog.configs_dir() / f"{name}.py"))


def table_rows(name: str) -> list:
    """The config file's TABLE (as `Row`s), else one row per published number of its default config."""
    from jaxnets import catalog
    from jaxnets import config as config_lib
    from jaxnets.tables import Row

    module = _config_module(name)
    if getattr(module, "TABLE", None):
        return [Row(*r) for r in module.TABLE]
    reference = config_lib.load_config_file(str(catalog.configs_dir() / f"{name}.py")).reference.to_dict()
    rows = [Row("", metric, "default", metric, value) for metric, value in reference.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)]
    return sorted(rows, key=lambda r: not r.metric.startswith("test_"))  # the headline (README) first


def gap_in_sigma(gap: float, std: float | None, published_sd: float | None = None) -> str:
    """The gap over our std across seeds; with one seed, over the spread of the post's own
    trials where it published one (marked); else '—'."""
    if std:
        return f"{gap / std:+.1f}"
    if published_sd:
        return f"{gap / published_sd:+.1f} (post's σ)"
    return "—"


def _trained(record: dict, name: str, variant: str) -> str:
    """'20 epochs', '10000 steps', with 'cut short (file: …)' where the run trained less than
    its config file says."""
    from jaxnets import catalog
    from jaxnets import config as config_lib

    train = record["config"]["config"].get("train", {})
    steps, epochs = train.get("steps", 0), train.get("num_epochs", 0)
    shown = f"{steps} steps" if steps else f"{epochs:g} epochs" if epochs else f"{record['summary'].get('steps')} steps"
    if train.get("early_stop_patience", 0):  # the setup's length is an upper bound: say where the run stopped
        stopped = _stopped_at(record, steps, epochs)
        shown = f"early stop at {stopped} of {shown}" if stopped else f"{shown} (no early stop)"
    spec = str(catalog.configs_dir() / f"{name}.py") + ("" if variant == "default" else f":{variant}")
    try:
        file_train = config_lib.load(spec).train
    except config_lib.ConfigError:
        return shown
    file_steps, file_epochs = file_train.get("steps", 0), file_train.get("num_epochs", 0)
    if (steps and (not file_steps or steps < file_steps)) or (not steps and not file_steps and epochs < file_epochs):
        return f"{shown}, **cut short** (file: " + (f"{file_steps} steps)" if file_steps else f"{file_epochs:g} epochs)")
    return shown


def _stopped_at(record: dict, steps: int, epochs: float) -> str | None:
    """'epoch 11' (or 'step 1100'): where a run with early stopping ended, from its last logged
    line; None where it ran its whole schedule (the patience never ran out)."""
    from jaxnets.rundir import read_metrics

    # A sweep logs until its last seed has stopped; a record with seed parts, until its last part has.
    last = max((read_metrics(part / "metrics.jsonl")[-1] for part in record.get("parts", [record["path"]])),
               key=lambda line: line["step"])
    if steps or "epoch" not in last:
        return None if steps and last["step"] >= steps else f"step {last['step']}"
    return None if epochs and last["epoch"] >= epochs else f"epoch {last['epoch']:g}"


SPREAD = "std:"  # a TABLE metric "std:test_accuracy": the std over seeds of test_accuracy


def measured(summary: dict, metric: str, published=None) -> dict | None:
    """mean, std (ddof 1), n over the seeds that did not diverge, and over all seeds, of one metric.
    `std:<metric>` is the spread over seeds itself, for a post that published its seeds' std."""
    import numpy as np

    if metric.startswith(SPREAD):
        m = measured(summary, metric[len(SPREAD):])
        if m is None or m["std"] is None:
            return None
        return {**m, "mean": m["std"], "std": None, "all": {**m["all"], "mean": m["all"]["std"], "std": None}}

    per_seed = summary.get("metrics_per_seed", {}).get(metric)
    if per_seed is None:
        value = summary.get("metrics", {}).get(metric)
        if not isinstance(value, (int, float)):
            return None
        per_seed = [value]
    values = np.asarray(per_seed, dtype=np.float64).reshape(len(per_seed), -1)[:, 0]
    seeds = summary.get("seeds") or list(range(len(values)))
    lost = set(summary.get("diverged_seeds") or []) | {s for s, v in zip(seeds, values) if not np.isfinite(v)}
    keep = np.array([s not in lost for s in seeds[:len(values)]])

    def stats(v):
        return {"mean": float(v.mean()) if v.size else float("nan"),
                "std": float(v.std(ddof=1)) if v.size > 1 else None, "n": int(v.size)}

    return {**stats(values[keep]), "all": stats(values), "diverged": len(lost), "seeds": len(values)}


def last_logged(record: dict, metric: str) -> dict | None:
    """The metric as the record's metrics.jsonl last logged it (per seed), for a number the
    summary of an older run does not carry (e.g. a final training loss); None where it is not."""
    from jaxnets.rundir import read_metrics
    from jaxnets.train.curves import from_records

    curves = [from_records(read_metrics(part / "metrics.jsonl")).get(metric)
              for part in record.get("parts", [record["path"]])]  # each part's own last line
    if any(curve is None for curve in curves):
        return None
    values = [v for curve in curves for v in curve.values[-1].tolist()]
    return measured({"seeds": record["summary"].get("seeds"), "diverged_seeds": record["summary"].get("diverged_seeds"),
                     "metrics_per_seed": {metric: values}}, metric)


def row_measure(record: dict | None, metric: str, published=None) -> dict | None:
    """What a table row shows of its record: the summary's metric, else its last logged value
    (a final training loss). The one place both tables, RESULTS.md's and the README's, read it."""
    return record and (measured(record["summary"], metric, published) or last_logged(record, metric))


def _measured_cell(m: dict, published, published_sd: float | None = None) -> tuple[str, str, str]:
    """(mean ± std (seeds …), gap, gap / σ)."""
    like = published if isinstance(published, (int, float)) else None
    def spread(std: float, mean: float) -> str:  # with its mean's decimals: 157.0 ± 2.9, not ± 2.9336
        decimals = _shown_decimals(mean, like)
        return f" ± {std:.{decimals}f}" if std == std and decimals else f" ± {_num(std, like)}"

    shown = _num(m["mean"], like) + (spread(m["std"], m["mean"]) if m["std"] is not None else "")
    if m["diverged"]:
        a = m["all"]
        whole = _num(a["mean"], like) + (spread(a["std"], a["mean"]) if a["std"] is not None else "")
        shown += f" ({m['n']} of {m['seeds']} seeds; {m['diverged']} diverged; all {m['seeds']}: {whole})"
    else:
        shown += f" ({m['n']} seed{'s' if m['n'] != 1 else ''})"
    if not isinstance(published, (int, float)) or isinstance(published, bool) or m["n"] == 0:
        return shown, "", ""
    gap = m["mean"] - published
    sigma = gap_in_sigma(gap, m["std"], published_sd)
    decimals = _shown_decimals(m["mean"], like)  # as the mean beside it: 165.7 and +3.3, not +3.3134
    return shown, f"{gap:+.{decimals if abs(gap) < 10 else 1}f}", sigma


def records_table(name: str, records: dict) -> str:
    """Markdown: every published number of configs/<name>.py beside its record."""
    lines = ["| row | published | jaxnets mean ± std (seeds) | gap | gap / σ | trained | record |",
             "|---|---|---|---|---|---|---|"]
    for exp, row, variant, metric, published, published_sd in table_rows(name):
        label = f"{exp}: {row}" if exp else row
        shown_published = _published(published)
        record = records.get((name, variant))
        m = row_measure(record, metric, published)
        if not m:
            lines.append(f"| {label} | {shown_published} | no record | | | | |")
            continue
        shown, gap, sigma = _measured_cell(m, published, published_sd)
        where = " + ".join([f"[{variant}](results/{name}/{variant}/)"] +  # and the seeds added later
                           [f"[{part.name[len(variant):]}](results/{name}/{part.name}/)" for part in record.get("parts", [])[1:]])
        lines.append(f"| {label} | {shown_published} | {shown} | {gap} | {sigma} | "
                     f"{_trained(record, name, variant)} | {where} |")
    return "\n".join(lines) + "\n"


def claims_table(name: str, records: dict) -> str:
    """Markdown: each of configs/<name>.py's CLAIMS on the post's numbers and on the records —
    the difference min(than) − better (positive: `better` is lower; for a `higher` metric
    better − max(than)) and whether it holds here (above −tolerance); 'no record' while a
    variant of it has none."""
    published = {(r.variant, r.metric): r.published for r in table_rows(name)}
    lines = ["| claim | this row | against | post: difference | jaxnets: difference | holds here |",
             "|---|---|---|---|---|---|"]

    def difference(values: dict, claim) -> float | None:
        if any(values.get(v) is None for v in (claim.better, *claim.than)):
            return None
        if claim.higher:
            return values[claim.better] - max(values[v] for v in claim.than)
        return min(values[v] for v in claim.than) - values[claim.better]

    for claim in getattr(_config_module(name), "CLAIMS", []):
        variants = (claim.better, *claim.than)
        post = difference({v: published.get((v, claim.metric)) for v in variants}, claim)
        ours = {}
        for v in variants:
            m = row_measure(records.get((name, v)), claim.metric)
            ours[v] = m["mean"] if m and m["n"] else None
        mine = difference(ours, claim)
        if mine is None:
            missing = [v for v in variants if ours[v] is None]
            shown, verdict = f"no record ({', '.join(missing)})", ""
        else:
            holds = mine > 0 if not claim.tolerance else mine >= -claim.tolerance
            shown, verdict = f"{mine:+.4f}", "yes" if holds else "**no**"
        kind = (f"at most {claim.tolerance:g} {'below' if claim.higher else 'above'}" if claim.tolerance
                else "higher than" if claim.higher else "lower than")
        against = (", ".join(claim.than) if len(claim.than) <= 3
                   else f"each of {len(claim.than)} rows ({claim.than[0]} … {claim.than[-1]})")
        lines.append(f"| {claim.claim} | {claim.better} | {kind} {against} | "
                     f"{'' if post is None else f'{post:+.4f}'} | {shown} | {verdict} |")
    return "\n".join(lines) + "\n"


def readme_table(records: dict) -> str:
    """One line per config file: what it reproduces, its first published number and ours."""
    from jaxnets import catalog

    lines = ["| config | reproduces | published → jaxnets (seeds), first row of its table |", "|---|---|---|"]
    for path in sorted(catalog.configs_dir().glob("*.py")):
        rows = table_rows(path.stem)
        if not rows:
            continue
        first = rows[0]
        row, published = first.row, first.published
        m = row_measure(records.get((path.stem, first.variant)), first.metric, published)
        result = "no record" if not m else _measured_cell(m, published)[0]
        recorded = sum(1 for r in rows if (path.stem, r.variant) in records)
        title = catalog.first_sentence(path)
        title = title if len(title) <= 110 else title[:110].rsplit(" ", 1)[0] + " …"
        lines.append(f"| `{path.stem}` | {title} | {row}: {_published(published)} → {result}; "
                     f"{recorded} of {len(rows)} rows recorded |")
    return "\n".join(lines) + "\n"


def render_blocks(text: str, records: dict) -> str:
    """The document with every generated block rebuilt: `<!-- report:table NAME -->` holds the
    table of configs/NAME.py, `<!-- report:claims NAME -->` its CLAIMS checked on the records,
    `<!-- report:readme -->` the README's one-line-per-config table."""
    out, rest = [], text
    while BLOCK_START in rest:
        head, _, tail = rest.partition(BLOCK_START)
        tag, _, tail = tail.partition("-->")
        if BLOCK_END not in tail:
            raise ValueError(f"generated block '{tag.strip()}' has no closing {BLOCK_END}")
        _, _, rest = tail.partition(BLOCK_END)
        kind, _, arg = tag.strip().partition(" ")
        body = (readme_table(records) if kind == "readme" else claims_table(arg.strip(), records) if kind == "claims"
                else records_table(arg.strip(), records))
        out.append(f"{head}{BLOCK_START}{tag}-->\n{body}{BLOCK_END}")
    return "".join(out) + rest


def record_figures(name: str, records: dict, results: pathlib.Path) -> list[pathlib.Path]:
    """configs/<name>.py's FIGURES drawn from its records into results/<name>/figures/: the
    figures a table refers to show exactly the runs its numbers come from."""
    from jaxnets.tables.outputs import draw_figures

    module = _config_module(name)
    summaries = {variant: record["summary"] for (config, variant), record in records.items() if config == name}
    if not getattr(module, "FIGURES", None) or not summaries:
        return []
    return draw_figures(module, results / name, summaries)


def update_documents(root: str | pathlib.Path = ".", results: str | pathlib.Path | None = None,
                     check: bool = False, log=print) -> list[str]:
    """Rewrite (or, with check, compare) the generated blocks of RESULTS.md and README.md, and
    (not with check) redraw each config's figures from its records; the names of the documents
    that differed."""
    from jaxnets.tables.records import read_records

    root = pathlib.Path(root)
    results = pathlib.Path(results) if results else root / "results"
    records = read_records(results)
    differing = []
    if not check:
        for name in sorted({config for config, _ in records}):
            for path in record_figures(name, records, results):
                log(f"figure: {path}")
    for name in DOCUMENTS:
        path = root / name
        if not path.exists():
            continue
        text = path.read_text()
        new = render_blocks(text, records)
        if new != text:
            differing.append(name)
            if not check:
                path.write_text(new)
        log(f"{name}: " + ("differs from the records" if check and new != text else
                           "rewritten from the records" if new != text else "matches the records"))
    return differing
