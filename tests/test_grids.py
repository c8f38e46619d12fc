"""`suite --grids`: one setup at each of a table's learning rates trained as one program and split into the
variants' own run folders, which must read as if each variant had run alone."""

import json

import numpy as np
import pytest

from jaxnets.__main__ import main
from jaxnets.rundir import read_metrics
from jaxnets.tables import grids, records
from tests.conftest import ROOT, needs_mnist
from tests.test_language_model import SMALL

CONFIG = f'''
import importlib.util

from jaxnets.config import apply_variant

_spec = importlib.util.spec_from_file_location("mnist_mlp_base", r"{ROOT / "configs" / "mnist_mlp.py"}")
_base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_base)
VARIANTS = {{"slow": {{"optimizer.learning_rate": 0.05, "reference.test_error": 0.5}},
            "fast": {{"optimizer.learning_rate": 0.5}},
            "wide": {{"model.hidden_sizes": (48,)}}}}


def get_config(arg=None):
    c = _base.get_config()
    c.model.hidden_sizes = (32,)
    c.optimizer.name = "sgd"
    c.train.batch_size, c.train.eval_batch_size, c.train.steps, c.train.log_every = 20, 50, 20, 10
    return apply_variant(c, VARIANTS, arg, default="slow")
'''


@needs_mnist
def test_a_rate_group_trains_as_one_grid_and_each_variant_reads_as_its_own_run(tiny_mnist, tmp_path, capsys):
    config = tmp_path / "rates.py"
    config.write_text(CONFIG)
    grouped, alone, results = tmp_path / "grouped", tmp_path / "alone", tmp_path / "results"
    common = ["suite", "--config", str(config), "--seeds", "2"]
    assert main([*common, "--variants", "slow,fast,wide", "--grids", "--workdir", str(grouped)]) == 0
    assert "3 to run (2 of them as 1 learning-rate grid(s))" in capsys.readouterr().out
    grid = json.loads((grouped / "grids" / "slow-fast" / "summary.json").read_text())
    assert grid["learning_rates"] == [0.05, 0.5]  # one program: both rates × both seeds
    assert main([*common, "--variants", "slow,fast", "--workdir", str(alone)]) == 0
    for name in ("slow", "fast"):
        split, own = (json.loads((d / name / "summary.json").read_text()) for d in (grouped, alone))
        assert split["metrics_per_seed"].keys() == own["metrics_per_seed"].keys()
        for key, values in own["metrics_per_seed"].items():
            np.testing.assert_allclose(split["metrics_per_seed"][key], values, rtol=1e-6, err_msg=f"{name} {key}")
        assert split["reference"] == own["reference"] and split["steps"] == own["steps"] == 20
        assert split["grid"]["folder"] == "grids/slow-fast" and "checkpoints" in split["grid"]["left_out"]
        lines, own_lines = read_metrics(grouped / name / "metrics.jsonl"), read_metrics(alone / name / "metrics.jsonl")
        assert [line["step"] for line in lines] == [line["step"] for line in own_lines]
        for line, own_line in zip(lines, own_lines):
            np.testing.assert_allclose(line["per_seed"]["test_loss"], own_line["per_seed"]["test_loss"], rtol=1e-6)
            assert line["test_loss"] == pytest.approx(own_line["test_loss"], rel=1e-6)
        assert (grouped / name / "plots" / "curves.png").is_file()
        assert not (grouped / name / "checkpoints").exists()
    assert json.loads((grouped / "slow" / "summary.json").read_text())["reference"]["test_error"] == 0.5
    assert "grid" not in json.loads((grouped / "wide" / "summary.json").read_text())  # another shape: alone
    # the split folders are finished runs of their variants: a rerun trains nothing, record takes them
    assert main([*common, "--variants", "slow,fast,wide", "--grids", "--workdir", str(grouped)]) == 0
    assert "3 already done, 0 to run" in capsys.readouterr().out
    written = records.record_folder(grouped, results, log=lambda m: None)
    assert sorted(p.name for p in written) == ["fast", "slow", "wide"]  # the grid itself is no table row
    assert json.loads((results / "rates" / "fast" / "config.json").read_text())["grid"]["learning_rates"] == [0.05, 0.5]


def test_a_rates_share_of_a_grid_line_and_its_own_early_stop():
    line = {"step": 10, "epoch": 1.0, "time": 3.0, "examples_per_s": 9.0, "validation_loss": 2.5,
            "per_seed": {"validation_loss": [1.0, 2.0, 3.0, 4.0]}}  # rates a, b × seeds 0, 1
    part = grids.part_of_line(line, 1, 2)
    assert part == {"step": 10, "epoch": 1.0, "time": 3.0, "examples_per_s": 9.0, "validation_loss": 3.5,
                    "per_seed": {"validation_loss": [3.0, 4.0]}}
    one_seed = grids.part_of_line(line, 3, 1)
    assert one_seed["validation_loss"] == 4.0 and "per_seed" not in one_seed  # as a one-seed run logs it

    seed_a = [3.0, 2.0, 2.5, 2.6, 1.0, 0.5]  # its minimum at the 2nd evaluation: stops at the 4th
    seed_b = [3.0, 2.9, 2.0, 2.1, 2.2, 0.1]  # its minimum at the 3rd: stops at the 5th
    lines = [{"step": s, "validation_loss": (a + b) / 2, "per_seed": {"validation_loss": [a, b]}}
             for s, a, b in zip(range(1, 7), seed_a, seed_b)]
    train = {"early_stop_patience": 2, "early_stop_metric": "validation_loss"}
    assert [line["step"] for line in grids.until_own_stop(lines, train)] == [1, 2, 3, 4, 5]
    assert len(grids.until_own_stop(lines, {"early_stop_patience": 0})) == 6  # no early stopping: every line


def test_rate_groups_are_what_differs_only_in_the_rate_and_the_published_numbers():
    from jaxnets import config as config_lib

    spec = str(ROOT / "configs" / "truncated_bptt.py")
    configs = {name: config_lib.load(f"{spec}:{name}") for name in
               ("tf5_lr0.003", "tf5_lr0.001", "tf10_lr0.003", "true5_20_lr0.0003", "tf5_lr0.0003")}
    assert grids.rate_groups(configs) == [["tf5_lr0.003", "tf5_lr0.001", "tf5_lr0.0003"], ["tf10_lr0.003"],
                                        ["true5_20_lr0.0003"]]
    assert grids.grid_folder(ROOT, ["a"] * 60).name.startswith("a-and-59-more-")


def test_a_split_variant_ends_where_it_alone_stopped_early(toy_ptb, capsys):
    """The grid trains on until its last run stops; the variant that stopped first must read as
    it did alone: the same evaluations, the same minimum."""
    text = (ROOT / "configs" / "truncated_bptt.py").read_text()
    text = text.replace('LRS = {"0.003": 0.003, "0.001": 0.001, "0.0003": 0.0003}',
                        'LRS = {"0.3": 0.3, "0.1": 0.1, "0.01": 0.01}')  # 0.3 overfits 11 words within epochs
    text = text.replace('shard_batch="never",', 'shard_batch="never",\n        early_stop_patience=2,')
    config = toy_ptb / "tb_rates.py"
    config.write_text(text)
    overrides = [o for o in SMALL if "learning_rate" not in o] + ["--config.train.num_epochs=30"]
    common = ["suite", "--config", str(config), "--seeds", "2", "--variants", "tf5_lr0.3,tf5_lr0.01", *overrides]
    assert main([*common, "--grids", "--workdir", str(toy_ptb / "grouped")]) == 0
    assert main([*common, "--workdir", str(toy_ptb / "alone")]) == 0
    grid_lines = read_metrics(toy_ptb / "grouped" / "grids" / "tf5_lr0.3-tf5_lr0.01" / "metrics.jsonl")
    for name in ("tf5_lr0.3", "tf5_lr0.01"):
        split, own = (read_metrics(toy_ptb / d / name / "metrics.jsonl") for d in ("grouped", "alone"))
        assert [line["step"] for line in split] == [line["step"] for line in own], name
        summaries = [json.loads((toy_ptb / d / name / "summary.json").read_text()) for d in ("grouped", "alone")]
        assert summaries[0]["steps"] == summaries[1]["steps"] == own[-1]["step"]
        for key in ("min_validation_loss", "test_loss_at_min_validation"):
            np.testing.assert_allclose(summaries[0]["metrics_per_seed"][key], summaries[1]["metrics_per_seed"][key],
                                       rtol=1e-6)
    stopped = read_metrics(toy_ptb / "grouped" / "tf5_lr0.3" / "metrics.jsonl")
    assert len(stopped) < len(grid_lines)  # the grid trained past this variant's stop; the split cut it there
