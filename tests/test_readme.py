"""The README's two set-up commands are what CI runs and what a user types."""

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
