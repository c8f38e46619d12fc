"""The README's two set-up commands are what CI runs and what a user types."""

import pathlib
import re

from tests.conftest import ROOT


def commands():
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick)


def test_two_commands_and_ci_runs_the_test_one_verbatim():
    run_cmd, test_cmd = commands()
    assert "pip install -e ." in run_cmd and "configs/mnist_mlp.py" in run_cmd
    assert 'pip install -e ".[test]"' in test_cmd and "pytest" in test_cmd
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines()


def test_add_an_experiment_example_trains_as_written(tmp_path, monkeypatch):
    """The README's worked example — a config and an experiment module, nothing registered —
    built in a temporary directory and trained as the README says."""
    import json

    from jaxnets.__main__ import main

    text = (ROOT / "README.md").read_text()
    section = text.split("## Adding an experiment", 1)[1].split("\n## ", 1)[0]
    config, module = re.findall(r"```python\n(.+?)\n```", section, re.S)
    assert 'c.experiment = "softmax_regression"' in config and "def run(ctx: Context) -> Outcome" in module
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "softmax_regression.py").write_text(config)
    (tmp_path / "softmax_regression.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path))  # "a module softmax_regression anywhere importable"
    workdir = tmp_path / "runs" / "softmax_regression"
    assert main(["train", "--config", str(tmp_path / "configs" / "softmax_regression.py"),
                 "--workdir", str(workdir)]) == 0
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["experiment"] == "softmax_regression" and summary["reference"]["test_accuracy"] == 0.92
    assert summary["metrics"]["test_accuracy"] > 0.90  # softmax regression: ≈ 0.92 after 1000 steps
    assert (workdir / "plots" / "curves.png").stat().st_size > 0 and (workdir / "metrics.jsonl").exists()


def test_python_api_example_runs_as_written(tmp_path, monkeypatch, capsys):
    """The README's `jaxnets.run` block, executed verbatim in a scratch folder (configs/ linked)."""
    from tests.conftest import mnist_dir

    if mnist_dir() is None:
        import pytest

        pytest.skip("MNIST not under $JAXNETS_DATA_DIR")
    text = (ROOT / "README.md").read_text()
    block = text.split("From Python, `jaxnets.run`", 1)[1]
    code = re.findall(r"```python\n(.+?)\n```", block, re.S)[0]
    assert len(code.splitlines()) <= 12 and "jaxnets.run(" in code
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    exec(compile(code, "README.md", "exec"), {})
    printed = [line for line in capsys.readouterr().out.splitlines() if line[:1].isdigit()]  # not the run logs
    first, second = printed
    assert first.endswith("published: 0.0193") and float(first.split()[0]) < 0.12
    assert " ± " in second and float(second.split()[0]) < 0.2
    import json

    summary = json.loads((tmp_path / "runs" / "mnist_advanced_200steps" / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and summary["steps"] == 200


def test_using_it_commands_work_as_written(tmp_path, monkeypatch, capsys):
    """The README's command block: every line parses, names configs and variants that exist,
    `list` and `show` run, and `sample` reads the folder the preceding `train` writes."""
    import shlex

    from jaxnets.__main__ import _parser
    from jaxnets.config import load
    from jaxnets.runner import default_workdir

    text = (ROOT / "README.md").read_text()
    block = re.findall(r"```bash\n(.+?)\n```", text.split("## Using it", 1)[1], re.S)[0]
    lines = [line.split("  #")[0].strip() for line in block.splitlines()]
    assert lines[0] == ". .venv/bin/activate" and lines[1] == "export JAXNETS_DATA_DIR=../shared/data"
    trained = None
    for line in lines[2:]:
        argv = shlex.split(line)
        assert argv[:3] == ["python", "-m", "jaxnets"], line
        args, rest = _parser().parse_known_args(argv[3:])
        if args.command in ("train", "sweep", "suite"):
            load(args.config, rest)  # the file, the variant and every override exist
        if args.command == "train":
            trained = default_workdir(args.config, None, rest)
        if args.command == "sample":
            assert pathlib.Path(args.workdir) == trained  # sample reads what train wrote
        if args.command in ("list", "show"):
            from jaxnets.__main__ import main

            assert main(argv[3:]) == 0
    assert "variants: gru, lstm" in capsys.readouterr().out


def test_the_readme_is_short_and_says_what_ci_does():
    """Issue 34.10 / 31: at most 200 lines, and its statement about CI is what .ci/run does."""
    text = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert len(text.splitlines()) <= 200
    assert "puts a Python ≥ 3.12 first on `PATH`" in text and "python3 -m venv" in ci and ".ci/bin" in ci
    assert "JAXNETS_DATA_DIR" in text and 'export JAXNETS_DATA_DIR="$(cd ../shared/data' in ci
    assert "installs\nChromium where it can" in text and "apt-get install -y -qq chromium" in ci
