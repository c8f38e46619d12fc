"""Finding one's way from the command line: list, show, --help."""

import json
import os
import re

import pytest

from jaxnets.__main__ import main


def test_list_shows_variants_and_whole_first_sentences_from_any_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no configs/ here: the checkout's are listed
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "char_rnn.py  [language_model]  R2RT, \"Recurrent Neural Networks in Tensorflow II\": character-level " \
           "language models on Tiny Shakespeare (1,115,394 characters, 65-character vocabulary)." in out
    assert "    variants: gru, lstm, ln_lstm, custom_steps30, gru_steps30" in out
    assert "... (21 in all)" in out  # truncated_bptt's table
    assert "<error" not in out


def test_show_prints_keys_values_and_what_a_variant_changes(capsys):
    assert main(["show", "char_rnn:gru", "--config.model.state_size=7"]) == 0
    out = capsys.readouterr().out
    assert "model.cell               = 'gru'  # file default: 'ln_lstm'" in out
    assert "model.state_size         = 7  # file default: 100" in out
    assert "variants (10): gru, lstm, ln_lstm, custom_steps30, gru_steps30, lstm_held_out, custom_steps30_held_out" in out
    assert main(["show", "configs/mnist_mlp.py"]) == 0
    out = capsys.readouterr().out
    assert "train.num_epochs" in out and "# file default" not in out and "variants" not in out


def test_show_names_what_is_wrong(capsys):
    assert main(["show", "mnsit_mlp"]) == 2
    assert "config file 'mnsit_mlp' does not exist (see `python -m jaxnets list`)" in capsys.readouterr().err
    assert main(["show", "char_rnn:grux"]) == 2
    assert "unknown variant 'grux'" in capsys.readouterr().err


def test_help_has_examples_and_the_data_folder(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "python -m jaxnets show configs/char_rnn.py:gru" in out
    assert "$JAXNETS_DATA_DIR/<name>/ (default ~/.cache/jaxnets)" in out and "JAXNETS_NO_DOWNLOAD=1" in out


BAD_INPUTS = [  # (overrides, the start of the one line a user sees)
    (["--config.train.batch_size=-1"], "error: train.batch_size = -1: must be an integer >= 1"),
    (["--config.train.batch_size=0"], "error: train.batch_size = 0: must be an integer >= 1"),
    (["--config.train.batch_size=500"], "error: batch size 500 exceeds the 200 training examples"),
    (["--config.train.steps=0", "--config.train.num_epochs=0"], "error: train.num_epochs = 0.0: must be > 0 when train.steps is 0"),
    (["--config.train.log_every=-3"], "error: train.log_every = -3: must be an integer >= 0"),
    (["--config.optimizer.learning_rate=-1"], "error: optimizer.learning_rate = -1.0: must be >= 0"),
    (["--config.data.train_split=train[:300]"], "error: MNIST: split 'train[:300]': train has 200 examples"),
    (["--config.data.train_split=tran"], "error: data.train_split: split 'tran': MNIST has the splits"),
    (["--config.train.stepz=3"], "error: unknown config key 'train.stepz'"),
    (["--config.train.steps=ten"], "error: --config.train.steps: expected an int, got 'ten'"),
]


BASE = ["train", "--config", "configs/mnist_mlp.py", "--config.model.hidden_sizes=(8,)", "--config.train.batch_size=20",
        "--config.train.steps=10"]


@pytest.mark.parametrize("overrides, message", BAD_INPUTS, ids=[o[-1] for o, _ in BAD_INPUTS])
def test_bad_input_is_one_line(overrides, message, tiny_mnist, tmp_path, capsys):
    """Each bad input: exit 2, one line naming the problem, no traceback, no run folder."""
    assert main([*BASE, *overrides, "--workdir", str(tmp_path / "fresh")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message), err


def test_bad_input_pointed_at_a_finished_run_loses_nothing(tiny_mnist, tmp_path, capsys):
    workdir = tmp_path / "run"
    assert main([*BASE, "--workdir", str(workdir)]) == 0
    before = {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file() and p.name != ".lock"}
    for overrides, _ in BAD_INPUTS:
        capsys.readouterr()
        assert main([*BASE, *overrides, "--workdir", str(workdir)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), (overrides, err)
        assert {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file() and p.name != ".lock"} == before


def test_a_broken_config_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "broken.py"
    path.write_text("def get_config(:\n    pass\n")
    assert main(["train", "--config", str(path), "--workdir", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip() == f"error: config file {path}, line 1: invalid syntax ('def get_config(:')"
    path.write_text("import nonexistent_module_xyz\n")
    assert main(["show", str(path)]) == 2
    assert "failed to load: ModuleNotFoundError: No module named 'nonexistent_module_xyz'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", [["train", "--config", "configs/mnist_mlp.py:foo"], ["show", "mnist_mlp.py:foo"],
                                     ["sweep", "--seeds", "2", "--config", "mnist_mlp:foo"]])
def test_a_variant_of_a_file_without_variants_is_an_error(command, tmp_path, capsys):
    """Issue 34.1: ':foo' on a file without VARIANTS named nothing and trained the full default."""
    assert main([*command, "--workdir", str(tmp_path / "run")] if command[0] != "show" else command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no variants, so ':foo' names nothing" in err
    assert not (tmp_path / "run").exists()


def test_a_short_config_name_works_for_train_as_for_show(tiny_mnist, tmp_path, capsys):
    """Issue 34.9: `show mnist_mlp` worked, `train --config mnist_mlp` did not."""
    assert main(["train", "--config", "mnist_mlp", "--config.train.steps=5", "--config.model.hidden_sizes=(8,)",
                 "--config.train.batch_size=20", "--workdir", str(tmp_path / "run")]) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["config_file"] == "configs/mnist_mlp.py"


def test_a_suite_with_overrides_has_its_own_folder_and_says_cut_short(tmp_path, monkeypatch, capsys):
    """Issue 34.2: overrides name the suite's folder as they name a run's, and every row of a
    shortened run says so."""
    import pathlib

    config = str(pathlib.Path("configs/rnn_toy.py").resolve())
    monkeypatch.chdir(tmp_path)
    assert main(["suite", "--config", config, "--seeds", "1", "--variants", "steps5",
                 "--config.train.steps=30", "--config.train.log_every=10"]) == 0
    root = tmp_path / "runs" / "rnn_toy_steps30_log_every10_seeds1"
    assert (root / "steps5" / "summary.json").exists() and not (tmp_path / "runs" / "rnn_toy_seeds1").exists()
    row = [line for line in (root / "results.md").read_text().splitlines() if "| steps5 |" in line][0]
    assert "**cut short: train.steps=30 (file: num_epochs=1)**" in row
    assert "0.519166699707" not in row and "| 0.5192 |" in row  # the published number, for people


@pytest.mark.parametrize("config, override, message", [
    ("mnist_mlp", "--config.train.num_epochs=inf", "train.num_epochs = inf: must be a finite number of epochs"),
    ("mnist_mlp", f"--config.seed={2**64}", "seed = 18446744073709551616: must be an integer in [0, 2**32)"),
    ("mnist_mlp", "--config.model.hidden_sizes=(0,)", "model.hidden_sizes = (0,): must be a tuple of layer widths"),
    ("mnist_mlp", "--config.model.hidden_sizes=(-3,)", "model.hidden_sizes = (-3,)"),
    ("mnist_mlp", "--config.model.hidden_sizes=(1.5,)", "model.hidden_sizes = (1.5,)"),
    ("mnist_mlp", "--config.model.hidden_sizes=(100000000,)", "model.hidden_sizes = (100000000,)"),
    ("mnist_mlp", "--config.optimizer.learning_rate=nan", "optimizer.learning_rate = nan: must be >= 0 and finite"),
    ("mnist_mlp", "--config.optimizer.learning_rate=inf", "optimizer.learning_rate = inf"),
    ("truncated_bptt", "--config.model.num_steps=0", "model.num_steps = 0: must be an integer >= 1"),
    ("truncated_bptt", "--config.model.state_size=0", "model.state_size = 0"),
    ("truncated_bptt", "--config.model.num_layers=0", "model.num_layers = 0"),
    ("truncated_bptt", "--config.sample.temperatures=(-1.0,)", "sample.temperatures = (-1.0,)"),
    ("truncated_bptt", "--config.analysis.gradient_distances=100000", "analysis.gradient_distances = 100000"),
    ("initial_states:carried_zaremba_training", "--config.optimizer.clip_global_norm=-1.0",
     "optimizer.clip_global_norm = -1.0: must be a finite norm >= 0"),
    ("initial_states:carried_zaremba_training", "--config.optimizer.decay_factor=2.0",
     "optimizer.decay_factor = 2.0: must be in (0, 1]"),
])
def test_out_of_range_values_are_one_line_before_any_work(config, override, message, tmp_path, capsys):
    """Issues 35.3 and 35.12: each of these was a traceback, a hang, or an error after training."""
    workdir = tmp_path / "run"
    assert main(["train", "--config", config, override, "--workdir", str(workdir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {message}"), err
    assert not workdir.exists()


def test_top_k_over_the_vocabulary_is_refused_before_training(tmp_path, capsys):
    workdir = tmp_path / "run"
    assert main(["train", "--config", "truncated_bptt", "--config.sample.top_k=20000", "--workdir", str(workdir)]) == 2
    err = capsys.readouterr().err
    assert err == "error: sample.top_k = 20000: the vocabulary has 10000 tokens (0 = all of them)\n"
    assert not workdir.exists()


def test_a_suite_shows_its_variants_progress_live(tmp_path, capsys, monkeypatch):
    """Issue 34.8: a suite printed one line per finished variant; its workers' progress went
    only to logs/*.log, also with --jobs 1. Now the progress lines reach the terminal, named."""
    from jaxnets.tables import suite

    monkeypatch.setattr(suite.LogWatcher, "__init__", _fast_watcher(suite.LogWatcher.__init__))
    assert main(["suite", "--config", "configs/rnn_toy.py", "--seeds", "1", "--variants", "steps5,steps1",
                 "--workdir", str(tmp_path / "suite"), "--config.train.steps=40", "--config.train.log_every=10"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  \[steps5\] step \d+/40", out, re.M) and re.search(r"^  \[steps1\] step \d+/40", out, re.M)
    assert re.search(r"\[1/2\] steps\w+: .* ETA \d+m\d+s", out)  # from the measured time of the first


def _fast_watcher(init):
    def fast(self, folder, out, every=10.0):
        init(self, folder, out, every=0.0)
    return fast


def test_an_interrupt_swallowed_on_the_way_out_is_not_a_success(monkeypatch, capsys):
    """Issue 35.11: a Ctrl-C that lands in a finalizer (Python prints 'Exception ignored' and goes
    on) ended a finishing run with exit 0."""
    import gc
    import os
    import signal

    from jaxnets import catalog

    class Finalizer:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)  # arrives while Python runs a __del__

    def listing():
        Finalizer()
        gc.collect()
        return "configs"

    monkeypatch.setattr(catalog, "list_configs", listing)
    # Python's own handler, also when the tests run in the background: a shell starts background
    # jobs with SIGINT ignored, and jaxnets keeps an ignored signal ignored (as nohup's SIGHUP)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert main(["list"]) == 130
    finally:
        signal.signal(signal.SIGINT, previous)
    assert "interrupted (SIGINT) while finishing" in capsys.readouterr().err


def test_wrong_image_shapes_and_too_few_sentences_are_one_line(tmp_path, monkeypatch, capsys):
    """Issue 35.12: 20×20 IDX images under mnist/ and a 3-sentence TSV were tracebacks."""
    import numpy as np

    from jaxnets.data import write_idx

    rng = np.random.default_rng(0)
    (tmp_path / "mnist").mkdir()
    for split, n in (("train", 100), ("t10k", 50)):
        write_idx(tmp_path / "mnist" / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 20, 20)).astype(np.uint8))
        write_idx(tmp_path / "mnist" / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n).astype(np.uint8))
    monkeypatch.setenv("JAXNETS_DATA_DIR", str(tmp_path))
    assert main(["train", "--config", "mnist_mlp", "--config.train.steps=5", "--config.train.batch_size=10",
                 "--workdir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mnist images are 28×28, these are 20×20" in err
    tsv = tmp_path / "three.tsv"
    tsv.write_text("a\tthe cat sat on a mat today\nb\tthe dog ran in the park now\nc\ta bird flew over the tall tree\n")
    assert main(["train", "--config", "variable_length", "--config.data.name=tsv", f"--config.data.path={tsv}",
                 "--config.train.steps=5", "--workdir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot fill 5 buckets" in err and "lower data.n_buckets" in err
    assert not (tmp_path / "run").exists()


def test_a_signal_stops_the_command_at_once_not_after_the_chunk_in_flight(tmp_path):
    """A chunk is one compiled program (an epoch of PTB: minutes on a CPU). SIGTERM reached the
    run, which said "interrupted" — then the process lived on until the device finished the
    chunk nobody would keep (`kill` looked ignored)."""
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "input.txt").write_text("the quick brown fox jumps over the lazy dog. " * 40)
    env = {**os.environ, "JAXNETS_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    # one chunk of 10^6 GRU steps: far longer than the test waits
    argv = [sys.executable, "-m", "jaxnets", "train", "--config", "configs/char_rnn.py:gru", "--workdir",
            str(tmp_path / "run"), "--config.data.name=toy", "--config.model.num_layers=1",
            "--config.model.state_size=64", "--config.model.num_steps=8", "--config.train.batch_size=4",
            "--config.train.steps=1000000", "--config.train.log_every=1000000", "--config.sample.prompt=th"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in proc.stdout:  # training starts after the data line
            lines.append(line)
            if "windows of 4 × 8" in line:
                break
        else:
            raise AssertionError("the run ended before training: " + "".join(lines))
        time.sleep(5.0)  # compiled and into the chunk
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, "".join(lines) + out
    assert "interrupted at step 0" in out
