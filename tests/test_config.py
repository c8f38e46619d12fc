import json
import pathlib

import pytest

from jaxnets import config as config_lib
from jaxnets.__main__ import main


def test_overrides_are_typed():
    c = config_lib.load("configs/mnist_mlp.py", ["--config.train.steps=7", "--config.optimizer.learning_rate=0.01",
                                                 "--config.train.shuffle=false", "--config.model.hidden_sizes=(8, 4)",
                                                 "--config.data.name", "fashion_mnist"])
    assert c.train.steps == 7 and isinstance(c.train.steps, int)
    assert c.optimizer.learning_rate == 0.01
    assert c.train.shuffle is False
    assert tuple(c.model.hidden_sizes) == (8, 4)
    assert c.data.name == "fashion_mnist"


def test_unknown_key_names_key_and_valid_ones():
    with pytest.raises(config_lib.ConfigError) as err:
        config_lib.load("configs/mnist_mlp.py", ["--config.train.stepz=3"])
    message = str(err.value)
    assert "train.stepz" in message and "train.steps" in message and "train.batch_size" in message


def test_unknown_section_and_wrong_type():
    with pytest.raises(config_lib.ConfigError, match="unknown config section 'trian.steps'"):
        config_lib.load("configs/mnist_mlp.py", ["--config.trian.steps=3"])
    with pytest.raises(config_lib.ConfigError, match="train.steps: expected an int"):
        config_lib.load("configs/mnist_mlp.py", ["--config.train.steps=abc"])
    with pytest.raises(config_lib.ConfigError, match="expected a bool"):
        config_lib.load("configs/mnist_mlp.py", ["--config.train.shuffle=maybe"])
    with pytest.raises(config_lib.ConfigError, match="is a section"):
        config_lib.load("configs/mnist_mlp.py", ["--config.train=3"])


def test_missing_config_file():
    with pytest.raises(config_lib.ConfigError, match="does not exist"):
        config_lib.load("configs/nope.py")


def test_cli_rejects_bad_key_before_any_work(tmp_path, capsys):
    workdir = tmp_path / "run"
    assert main(["train", "--config", "configs/mnist_mlp.py", "--config.model.hiden_sizes=(3,)",
                 "--workdir", str(workdir)]) == 2
    assert "model.hiden_sizes" in capsys.readouterr().err
    assert not workdir.exists()  # nothing was created: the error came first


def test_every_config_file_loads_and_is_json_clean():
    import pathlib

    for path in sorted(pathlib.Path("configs").glob("*.py")):
        c = config_lib.load(str(path))
        as_json = config_lib.to_jsonable(c)
        assert json.loads(json.dumps(as_json)) == as_json
        assert set(config_lib.REQUIRED_SECTIONS) <= set(as_json)


def test_list_shows_every_config(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.splitlines() if line.endswith(".") and ".py  [" in line]
    assert listed == sorted(p.name for p in pathlib.Path("configs").glob("*.py"))


def test_unknown_experiment_is_a_config_error(tmp_path, capsys):
    assert main(["train", "--config", "configs/mnist_mlp.py", "--config.experiment=mnist_mpl",
                 "--workdir", str(tmp_path / "run")]) == 2
    assert "unknown experiment 'mnist_mpl'" in capsys.readouterr().err


def test_unknown_names_fail_before_any_work(tmp_path, capsys):
    for override, message in (("--config.model.activation=sigmoidd", "model.activation = 'sigmoidd'"),
                              ("--config.optimizer.name=adamw2", "optimizer.name = 'adamw2'"),
                              ("--config.model.w_init=xavier", "model.w_init = 'xavier'"),
                              ("--config.data.name=mnsit", "data.name = 'mnsit' is not one of"),
                              ("--config.data.train_split=trian", "data.train_split: split 'trian': MNIST has"),
                              ("--config.data.eval_splits.test=tset[:10]", "data.eval_splits.test: split 'tset[:10]'")):
        workdir = tmp_path / "run"
        assert main(["train", "--config", "configs/mnist_mlp.py", override, "--workdir", str(workdir)]) == 2
        assert message in capsys.readouterr().err
        assert not workdir.exists()


def test_every_config_file_and_variant_passes_its_checks_as_written():
    """The integration runs override train.steps, so a file whose own values fail the checks
    (first_convergence_bias's num_epochs = 0 did) would pass them and fail its real run."""
    from jaxnets import experiments
    from jaxnets.config import load, load_module

    checked = 0
    for path in sorted(pathlib.Path("configs").glob("*.py")):
        variants = list(getattr(load_module(str(path)), "VARIANTS", {}) or {}) or [None]
        for variant in variants:
            experiments.validate(load(str(path) + (f":{variant}" if variant else "")))
            checked += 1
    assert checked > 100
