"""Committed records (results/) and the tables rebuilt from them: every number of RESULTS.md's
and README.md's generated tables equals what `report --records` makes of results/, a hand edit
is caught, and a record is written once, whole, small."""

import json
import pathlib
import re
import shutil

import numpy as np
import pytest

from jaxnets.tables import records, report
from jaxnets.__main__ import main

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("document", report.DOCUMENTS)
def test_every_generated_table_equals_what_the_records_give(document):
    text = (ROOT / document).read_text()
    assert text.count(report.BLOCK_START) >= 1, f"{document} has no generated table"
    rebuilt = report.render_blocks(text, records.read_records(ROOT / "results"))
    assert rebuilt == text, (f"{document} differs from results/: run `python -m jaxnets report --records` "
                             f"(never edit a generated table by hand)")


def _a_recorded_number(text: str) -> re.Match:
    """A measured cell of a generated table that comes from a record: '… | 0.5192459 ± …'."""
    match = re.search(r"\| (\d+\.\d{3,}) (± [\d.]+ )?\(\d+ seeds?", text)
    assert match, "no recorded number in the generated tables"
    return match


def test_a_number_edited_by_hand_fails_the_check(tmp_path, monkeypatch, capsys):
    for name in (*report.DOCUMENTS, "results"):
        (shutil.copytree if name == "results" else shutil.copy)(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--records", "--check"]) == 0
    results = (tmp_path / "RESULTS.md").read_text()
    match = _a_recorded_number(results)
    digits = match.group(1)
    edited = digits[:-1] + str((int(digits[-1]) + 1) % 10)  # one digit off
    (tmp_path / "RESULTS.md").write_text(results[:match.start(1)] + edited + results[match.end(1):])
    capsys.readouterr()
    assert main(["report", "--records", "--check"]) == 1
    err = capsys.readouterr().err
    assert "RESULTS.md differ" in err and "report --records" in err
    assert main(["report", "--records"]) == 0  # rewriting restores the recorded number
    assert (tmp_path / "RESULTS.md").read_text() == results


def _fake_run(folder: pathlib.Path, value: float, commit: str | None = "abc123", seeds=(0, 1, 2),
              per_seed=None) -> pathlib.Path:
    folder.mkdir(parents=True)
    per_seed = per_seed or [value, value + 0.01, value - 0.01]
    (folder / "config.json").write_text(json.dumps({
        "config_file": "configs/rnn_toy.py:steps5", "seeds": list(seeds), "config": {"train": {"num_epochs": 1.0}},
        "sessions": [{"git_commit": commit, "command": "python -m jaxnets suite ..."}]}))
    (folder / "summary.json").write_text(json.dumps({
        "seeds": list(seeds), "metrics": {"train_loss": value}, "metrics_per_seed": {"train_loss": per_seed}}))
    (folder / "metrics.jsonl").write_text('{"step": 1, "train_loss": 0.6}\n')
    return folder


def test_a_record_is_written_once_and_whole(tmp_path):
    results = tmp_path / "results"
    run = _fake_run(tmp_path / "run", 0.52)
    dest, new = records.write_record(run, results)
    assert new and dest == results / "rnn_toy" / "steps5"
    assert sorted(p.name for p in dest.iterdir()) == ["config.json", "metrics.jsonl", "record.json", "summary.json"]
    meta = json.loads((dest / "record.json").read_text())
    assert meta["trained_at_commit"] == "abc123" and meta["command"].startswith("python -m jaxnets suite")
    assert records.write_record(run, results) == (dest, False)  # the same run again: nothing to do
    other = _fake_run(tmp_path / "other", 0.60)
    with pytest.raises(records.RecordError, match="already holds the record of another run"):
        records.write_record(other, results)
    assert json.loads((dest / "summary.json").read_text())["metrics"]["train_loss"] == 0.52  # untouched
    assert not [p for p in (results / "rnn_toy").iterdir() if p.name.startswith(".")]  # no temporary left


def test_a_record_refuses_what_it_cannot_vouch_for(tmp_path):
    results = tmp_path / "results"
    unfinished = _fake_run(tmp_path / "unfinished", 0.5)
    (unfinished / "summary.json").unlink()
    with pytest.raises(records.RecordError, match="not a finished run: it has no summary.json"):
        records.write_record(unfinished, results)
    no_commit = _fake_run(tmp_path / "no_commit", 0.5, commit=None)
    with pytest.raises(records.RecordError, match="name it with --commit"):
        records.write_record(no_commit, results)
    dest, _ = records.write_record(no_commit, results, commit="def456")
    meta = json.loads((dest / "record.json").read_text())
    assert meta["trained_at_commit"] == "def456" and "record --commit" in meta["commit_stated"]
    big = _fake_run(tmp_path / "big", 0.5)
    (big / "plots").mkdir()
    (big / "plots" / "curves.png").write_bytes(b"x" * (records.MAX_FILE_BYTES + 1))
    with pytest.raises(records.RecordError, match="over the 1 MiB"):
        records.write_record(big, tmp_path / "results2")
    assert not (tmp_path / "results2" / "rnn_toy" / "steps5").exists()


def test_diverged_seeds_are_counted_and_left_out_of_the_spread():
    summary = {"seeds": [0, 1, 2, 3, 4], "diverged_seeds": [2],
               "metrics_per_seed": {"accuracy": [0.97, 0.968, 0.098, 0.971, 0.969]}}
    m = report.measured(summary, "accuracy")
    assert m["n"] == 4 and m["diverged"] == 1 and m["all"]["n"] == 5
    assert m["mean"] == pytest.approx(0.9695) and m["std"] == pytest.approx(0.0012910, abs=1e-6)
    assert m["all"]["std"] > 0.3  # over all seeds, the diverged one inflates the spread
    shown, gap, sigma = report._measured_cell(m, 0.9698)
    assert shown.startswith("0.9695 ± 0.0013 (4 of 5 seeds; 1 diverged; all 5: 0.7952 ± 0.3897)")
    assert gap == "-0.0003" and sigma == "-0.2"


def test_a_published_spread_over_seeds_is_compared_with_ours():
    """First convergence bias printed its 400 seeds' std: a `std:` row is our std over the
    seeds that did not diverge, a single number (no σ of its own)."""
    summary = {"seeds": [0, 1, 2, 3], "diverged_seeds": [3],
               "metrics_per_seed": {"accuracy": [0.87, 0.88, 0.89, float("nan")]}}
    m = report.measured(summary, "std:accuracy")
    assert m["mean"] == pytest.approx(0.01) and m["std"] is None and m["n"] == 3
    shown, gap, sigma = report._measured_cell(m, 0.0125)
    assert shown.startswith("0.0100 (3 of 4 seeds; 1 diverged") and gap == "-0.0025" and sigma == "—"
    assert report.measured({"seeds": [0], "metrics_per_seed": {"accuracy": [0.9]}}, "std:accuracy") is None


def test_the_records_stay_small():
    files = [p for p in (ROOT / "results").rglob("*") if p.is_file()]
    assert files, "results/ holds no record"
    assert max(p.stat().st_size for p in files) <= records.MAX_FILE_BYTES
    assert sum(p.stat().st_size for p in files) < 20 * 2**20
    assert not any(p.name.startswith("checkpoint") or "checkpoints" in p.parts for p in files)


def test_report_says_which_summary_it_cannot_read(tmp_path, capsys):
    """Issue 35.13: an unreadable summary.json was skipped in silence."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "summary.json").write_text('{"metrics": {"x": 1.0}, "seeds": [0]}')
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "summary.json").write_text('{"metrics": ')
    rows = report.collect(tmp_path)
    assert [r["run"] for r in rows] == ["a"]
    assert f"warning: {tmp_path / 'b' / 'summary.json'} cannot be read" in capsys.readouterr().out


def test_report_marks_a_gradient_descent_run_with_fewer_examples_cut_short(tmp_path):
    """Issue 34.9: train.examples is gradient_descent's length; a smaller one was not flagged,
    and its metric keys held spaces and Greek letters."""
    from jaxnets.config import load, to_jsonable
    from jaxnets.experiments.gradient_descent import metric_name

    config = to_jsonable(load("configs/gradient_descent.py", ["--config.train.examples=1000"]))
    (tmp_path / "config.json").write_text(json.dumps({"config_file": "configs/gradient_descent.py", "config": config}))
    assert report.shortened(tmp_path) == "cut short: examples=1000 (file: 600000)"
    names = [metric_name({"batch_size": b, "momentum": m}) for b, m in ((1, 0.0), (100, 0.0), (100, 0.9))]
    assert names == ["final_loss_batch1", "final_loss_batch100", "final_loss_batch100_momentum0.9"]
    assert all(re.fullmatch(r"[a-z0-9_.]+", n) for n in names)


def test_a_suite_records_itself_when_asked(tmp_path, capsys):
    """`suite --record DIR`: the finished variants and the figures land in DIR, once."""
    from jaxnets.__main__ import main

    results = tmp_path / "results"
    argv = ["suite", "--config", "configs/rnn_toy.py", "--seeds", "1", "--variants", "steps5,steps1",
            "--config.train.steps=20", "--config.train.log_every=10", "--workdir", str(tmp_path / "suite"),
            "--record", str(results)]
    assert main(argv) == 0
    assert sorted(p.name for p in (results / "rnn_toy").iterdir()) == ["figures", "steps1", "steps5"]
    assert (results / "rnn_toy" / "steps5" / "record.json").exists()
    assert main(argv) == 0  # rerun: reused, and recorded already
    assert "already recorded" in capsys.readouterr().out


def test_a_run_records_itself_when_asked(tiny_mnist, tmp_path):
    from jaxnets.__main__ import main

    results = tmp_path / "results"
    assert main(["train", "--config", "configs/mnist_mlp.py", "--config.train.steps=10",
                 "--config.model.hidden_sizes=(8,)", "--config.train.batch_size=20",
                 "--workdir", str(tmp_path / "run"), "--record", str(results)]) == 0
    summary = json.loads((results / "mnist_mlp" / "default" / "summary.json").read_text())
    assert summary["steps"] == 10


def test_a_metric_only_logged_is_read_from_the_records_curve(tmp_path):
    """An older record's summary lacks the final training loss its metrics.jsonl holds (the
    autoencoder post's number is a training loss): the table reads the last logged value."""
    run = _fake_run(tmp_path / "run", 0.5)
    (run / "metrics.jsonl").write_text('{"step": 1, "train_loss": 0.9, "per_seed": {"train_loss": [0.9, 0.9, 0.9]}}\n'
                                       '{"step": 2, "train_loss": 0.6, "per_seed": {"train_loss": [0.5, 0.6, 0.7]}}\n'
                                       '{"step": 2, "test_loss": 0.8, "per_seed": {"test_loss": [0.8, 0.8, 0.8]}}\n')
    dest, _ = records.write_record(run, tmp_path / "results")
    record = records.read_records(tmp_path / "results")[("rnn_toy", "steps5")]
    assert report.measured(record["summary"], "missing") is None
    m = report.last_logged(record, "train_loss")
    assert m["n"] == 3 and m["mean"] == pytest.approx(0.6) and m["std"] == pytest.approx(0.1)
    assert report.last_logged(record, "nowhere") is None


def test_the_readme_row_shows_what_its_configs_table_shows():
    """The README's line per config repeats the first row of that config's table; it read the
    summary alone and said "no record" for the autoencoder's logged training loss."""
    recs = records.read_records(ROOT / "results")
    lines = report.readme_table(recs).splitlines()[2:]
    assert lines
    for line in lines:
        name = line.split("`")[1]
        cell = report.records_table(name, recs).splitlines()[2].split(" | ")[2]
        assert f" → {cell}; " in line, (name, cell, line)


def test_a_one_seed_gap_is_measured_in_the_posts_trial_spread_where_it_gave_one():
    """Written Memories published each cell's 95% CI over 5 trials: a one-seed row's gap is
    then a number of the post's σ, not '—'; our own spread, where there is one, comes first."""
    assert report.gap_in_sigma(0.1, None, 0.05) == "+2.0 (post's σ)"
    assert report.gap_in_sigma(0.1, 0.02, 0.05) == "+5.0"
    assert report.gap_in_sigma(-0.1, None) == "—"
    row = next(r for r in report.table_rows("lstm_variants") if r.variant == "arch1_lr0.003")
    assert row.published_sd == pytest.approx(10.6 * 5 ** 0.5 / 2.776 / 81, abs=1e-4)  # ± 10.6 over 5 trials


@pytest.mark.parametrize("last_epoch, train, said", [
    (11.0, {"num_epochs": 20.0}, "early stop at epoch 11 of 20 epochs"),
    (20.0, {"num_epochs": 20.0}, "20 epochs (no early stop)"),
    (11.0, {"steps": 2000}, "early stop at step 1100 of 2000 steps"),
    (20.0, {"steps": 2000}, "2000 steps (no early stop)")])
def test_a_row_that_stopped_early_says_where(tmp_path, last_epoch, train, said):
    """Written Memories trains up to 20 epochs and stops after 2 without a new minimum: '20
    epochs' alone would claim 9 epochs that arch 1 never trained, and 'early stop at epoch 20 of
    20' would claim a stop that a run at lr 3e-4, still improving, never made."""
    run = _fake_run(tmp_path / "run", 0.5)
    saved = json.loads((run / "config.json").read_text())
    saved["config"]["train"] = {**train, "early_stop_patience": 2}
    (run / "config.json").write_text(json.dumps(saved))
    (run / "metrics.jsonl").write_text('{"step": 100, "epoch": 1.0, "train_loss": 0.6}\n'
                                       f'{{"step": {int(last_epoch * 100)}, "epoch": {last_epoch}, "train_loss": 0.5}}\n')
    records.write_record(run, tmp_path / "results")
    record = records.read_records(tmp_path / "results")[("rnn_toy", "steps5")]
    assert report._trained(record, "rnn_toy", "steps5").startswith(said)


def test_a_claim_is_checked_on_the_records(monkeypatch):
    """A post's conclusion, e.g. 'true BPTT beats TF-style', on its published numbers and on the
    records: the difference min(than) − better, and whether it holds (above −tolerance)."""
    import types

    from jaxnets.tables import Claim

    fake = types.SimpleNamespace(
        TABLE=[("", v, v, "loss", p) for v, p in (("a", 5.0), ("b", 5.1), ("c", 5.02))],
        CLAIMS=[Claim("a beats b", "loss", "a", ("b",)), Claim("c beats a", "loss", "c", ("a",)),
                Claim("c is as good as a", "loss", "c", ("a",), tolerance=0.05),
                Claim("a beats b and c", "loss", "a", ("b", "c")), Claim("a beats d", "loss", "a", ("d",)),
                Claim("b scores higher than a and c", "loss", "b", ("a", "c"), higher=True)])
    monkeypatch.setattr(report, "_config_module", lambda name: fake)
    recs = {("x", v): {"summary": {"seeds": [0, 1], "metrics_per_seed": {"loss": [value - 0.01, value + 0.01]}}}
            for v, value in (("a", 4.9), ("b", 5.0), ("c", 4.93))}
    rows = report.claims_table("x", recs).splitlines()[2:]
    assert rows[0] == "| a beats b | a | lower than b | +0.1000 | +0.1000 | yes |"
    assert rows[1].endswith("| -0.0200 | -0.0300 | **no** |")
    assert rows[2].endswith("| at most 0.05 above a | -0.0200 | -0.0300 | yes |")
    assert rows[3].endswith("| +0.0200 | +0.0300 | yes |")  # against the lower of b and c
    assert rows[4].endswith("| no record (d) |  |")
    assert rows[5] == "| b scores higher than a and c | b | higher than a, c | +0.0800 | +0.0700 | yes |"


@pytest.mark.parametrize("name", ["truncated_bptt", "lstm_variants", "synthetic_gradients"])
def test_every_claim_names_variants_with_a_published_row(name):
    rows = {(r.variant, r.metric) for r in report.table_rows(name)}
    claims = report._config_module(name).CLAIMS
    assert claims
    for claim in claims:
        for variant in (claim.better, *claim.than):
            assert (variant, claim.metric) in rows, (claim.claim, variant)


def test_a_tables_figures_are_drawn_from_its_records(tmp_path):
    """`report --records` redraws each config's FIGURES from results/<config>/ (the records have
    a run folder's layout), so a figure shows exactly the runs the table's numbers come from;
    `--check` draws nothing."""
    shutil.copytree(ROOT / "results" / "lstm_variants", tmp_path / "lstm_variants")
    shutil.rmtree(tmp_path / "lstm_variants" / "figures", ignore_errors=True)
    report.update_documents(tmp_path, results=tmp_path, check=True, log=lambda m: None)
    assert not (tmp_path / "lstm_variants" / "figures").exists()
    drawn = report.record_figures("lstm_variants", records.read_records(tmp_path), tmp_path)
    assert drawn == [tmp_path / "lstm_variants" / "figures" / "validation_loss.png"]
    assert drawn[0].stat().st_size > 10_000


def test_a_long_metrics_log_is_kept_compressed_and_reads_back_the_same(tmp_path):
    from jaxnets.rundir import read_metrics

    run = _fake_run(tmp_path / "run", 0.5)
    lines = [{"step": i, "train_loss": 1.0 / i, "per_seed": {"train_loss": [1.0 / i] * 3}} for i in range(1, 3000)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert (run / "metrics.jsonl").stat().st_size > records.PACK_BYTES
    dest, _ = records.write_record(run, tmp_path / "results")
    assert not (dest / "metrics.jsonl").exists() and (dest / "metrics.jsonl.gz").stat().st_size < records.PACK_BYTES
    assert read_metrics(dest / "metrics.jsonl") == lines
    record = records.read_records(tmp_path / "results")[("rnn_toy", "steps5")]
    assert report.last_logged(record, "train_loss")["n"] == 3


def test_a_published_number_shows_the_posts_digits_and_a_computed_one_seven():
    """rnn_toy's two levels are computed in the config file, and the table printed them as
    0.6615632381579821 (issue 34.7: numbers formatted for people); a post's own digits, as
    RNN II's 2.02813237837, are its claim and stay as written."""
    from jaxnets.tables.report import _published, records_table

    assert _published(2.02813237837) == "2.02813237837"
    assert _published(0.6615632381579821) == "0.6615632"
    assert _published(0.0193) == "0.0193" and _published(433) == "433" and _published(None) == "(plot only)"
    table = records_table("rnn_toy", {})
    assert "| 0.6615632 | no record |" in table and "0.66156323" not in table


def test_a_gap_has_the_decimals_of_the_mean_it_is_taken_from():
    """initial_states' perplexities showed '165.7 (1 seed) | +3.3134': a gap more precise than
    the mean beside it."""
    from jaxnets.tables.report import _measured_cell

    one = {"std": None, "n": 1, "seeds": 1, "diverged": 0}
    assert _measured_cell({**one, "mean": 165.7364}, 162.423)[:2] == ("165.7 (1 seed)", "+3.3")
    assert _measured_cell({**one, "mean": 77.5445}, 73.1628)[:2] == ("77.54 (1 seed)", "+4.38")
    assert _measured_cell({**one, "mean": 42.0}, 42)[:2] == ("42 (1 seed)", "+0")
    assert _measured_cell({**one, "mean": 5.1104}, 5.04)[:2] == ("5.1104 (1 seed)", "+0.0704")
    three = {"n": 3, "seeds": 3, "diverged": 0}  # the spread has its mean's decimals, not its own
    assert _measured_cell({**three, "mean": 156.996, "std": 2.9336}, 154.25)[:2] == ("157.0 ± 2.9 (3 seeds)", "+2.7")
    assert _measured_cell({**three, "mean": 4.76752, "std": 0.00721}, 4.7654)[0] == "4.7675 ± 0.0072 (3 seeds)"


def test_seeds_added_later_join_their_record_as_if_trained_together(tiny_mnist, tmp_path, capsys):
    """3 seeds now and 2 more in a later session: seeds 3-4 (`--config.seed=3 --seeds 2`) are
    recorded beside the record of seeds 0-2, and the table reads one 5-seed row, equal to the
    5 seeds trained as one sweep (on a CPU a seed's run does not depend on its neighbours)."""
    small = ["--config.train.steps=12", "--config.train.log_every=4", "--config.model.hidden_sizes=(8,)",
             "--config.train.batch_size=20"]
    spec = ["--config", "configs/mnist_mlp.py", *small]
    results = tmp_path / "results"
    assert main(["sweep", *spec, "--seeds", "5", "--workdir", str(tmp_path / "all")]) == 0
    assert main(["sweep", *spec, "--seeds", "3", "--workdir", str(tmp_path / "first"), "--record", str(results)]) == 0
    # A key added to jaxnets after the record was trained (here: as if model.loss_reduction were new)
    # is the same setup where the new run keeps the file's value; said in the part's record.json.
    saved = json.loads((results / "mnist_mlp" / "default" / "config.json").read_text())
    del saved["config"]["model"]["loss_reduction"]
    (results / "mnist_mlp" / "default" / "config.json").write_text(json.dumps(saved))
    assert main(["sweep", *spec, "--seeds", "1", "--config.seed=3", "--config.model.loss_reduction=sum",
                 "--workdir", str(tmp_path / "summed")]) == 0
    with pytest.raises(records.RecordError, match=r"another run \(config.model.loss_reduction: '<absent>' -> 'sum'\)"):
        records.write_record(tmp_path / "summed", results)
    assert main(["sweep", *spec, "--seeds", "2", "--config.seed=3", "--workdir", str(tmp_path / "more"),
                 "--record", str(results)]) == 0
    meta = json.loads((results / "mnist_mlp" / "default+seeds3-4" / "record.json").read_text())
    assert meta["keys_added_since_the_record"]["keys"] == {"config.model.loss_reduction": "mean"}
    assert sorted(p.name for p in (results / "mnist_mlp").iterdir()) == ["default", "default+seeds3-4"]
    assert ("default+seeds3-4 (joins default: seeds [0, 1, 2, 3, 4]; keys default predates, at the file's values: "
            "config.model.loss_reduction='mean')") in capsys.readouterr().out
    assert main(["record", str(tmp_path / "more"), "--results", str(results)]) == 0  # again: nothing to do
    assert "already recorded" in capsys.readouterr().out

    record = records.read_records(results)[("mnist_mlp", "default")]
    together = json.loads((tmp_path / "all" / "summary.json").read_text())
    joined = record["summary"]
    assert joined["seeds"] == together["seeds"] == [0, 1, 2, 3, 4]
    for metric, values in together["metrics_per_seed"].items():
        assert joined["metrics_per_seed"][metric] == values, metric  # bitwise: the same runs
        assert joined["metrics"][metric] == pytest.approx(together["metrics"][metric], rel=1e-12)
    assert report.measured(joined, "test_error") == report.measured(together, "test_error")
    curves = records.record_curves(record["parts"])
    from jaxnets.rundir import read_metrics
    from jaxnets.train.curves import from_records

    alone = from_records(read_metrics(tmp_path / "all" / "metrics.jsonl"))
    assert set(curves) == set(alone)
    for metric, curve in alone.items():
        np.testing.assert_array_equal(curves[metric].steps, curve.steps)
        np.testing.assert_array_equal(curves[metric].values, curve.values)
    assert report.last_logged(record, "train_loss")["n"] == 5
    from jaxnets.tables.outputs import _curve

    label, drawn, _ = _curve(results / "mnist_mlp", {"default": joined}, "MLP", "default", "step")
    assert drawn["test_error"].values.shape[1] == 5  # the figures show every seed too

    assert main(["train", *spec, "--config.seed=3", "--config.train.stop_on_nan=false",
                 "--workdir", str(tmp_path / "again")]) == 0  # seed 3 again, a result-neutral key changed
    with pytest.raises(records.RecordError, match=r"another run of seeds \[3\].*--config.seed=5"):
        records.write_record(tmp_path / "again", results)
    assert main(["sweep", *spec, "--seeds", "1", "--config.seed=5", "--config.optimizer.learning_rate=0.5",
                 "--workdir", str(tmp_path / "other")]) == 0
    with pytest.raises(records.RecordError, match="another run .*learning_rate"):
        records.write_record(tmp_path / "other", results)


def test_a_seed_part_without_its_record_is_an_error(tmp_path):
    part = tmp_path / "results" / "rnn_toy" / "steps5+seeds3-4"
    part.mkdir(parents=True)
    (part / "summary.json").write_text(json.dumps({"seeds": [3, 4]}))
    (part / "config.json").write_text("{}")
    with pytest.raises(records.RecordError, match="adds seeds to steps5, which has no record"):
        records.read_records(tmp_path / "results")


def test_extras_made_from_curves_are_made_again_from_every_seed(tmp_path):
    """The initial-state post's by-position figure reads a summary vector (each seed's perplexity
    by position at its best epoch, averaged over seeds): with seeds added later it is computed
    again from all the seeds' curves, not left at the first record's seeds."""
    import math

    def part(name, seeds, validation, by_position):
        folder = tmp_path / "results" / "initial_states" / name
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"config_file": "configs/initial_states.py:zero",
                                                        "seeds": seeds, "config": {"seed": seeds[0]}}))
        (folder / "summary.json").write_text(json.dumps({
            "experiment": "language_model", "seeds": seeds, "metrics_per_seed": {"validation_loss": validation[-1]},
            "perplexity_by_position_at_best_epoch": {"validation_perplexity": [0.0, 0.0]}}))
        lines = [{"step": step, "validation_loss": float(np.mean(v)), "validation_loss_by_position": [1.0, 1.0],
                  "per_seed": {"validation_loss": v, "validation_loss_by_position": p}}
                 for step, v, p in zip((10, 20), validation, by_position)]
        (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    part("zero", [0], [[5.0], [4.0]], [[[1.0, 2.0]], [[3.0, 4.0]]])  # seed 0: best at step 20
    part("zero+seeds1-2", [1, 2], [[3.0, 5.0], [4.0, 4.5]], [[[0.5, 0.5], [2.0, 2.0]], [[9.0, 9.0], [1.0, 3.0]]])
    joined = records.read_records(tmp_path / "results")[("initial_states", "zero")]["summary"]
    at_best = joined["perplexity_by_position_at_best_epoch"]
    assert at_best["best_steps"] == [20, 10, 20]
    expected = [(math.exp(3.0) + math.exp(0.5) + math.exp(1.0)) / 3, (math.exp(4.0) + math.exp(0.5) + math.exp(3.0)) / 3]
    assert at_best["validation_perplexity"] == pytest.approx(expected, abs=1e-4)
    assert "from every seed's curves" in joined["seed_parts_note"]
