"""Finding one's way from the command line: list, show, --help."""

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
    assert "variants (5): gru, lstm, ln_lstm, custom_steps30, gru_steps30" in out
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
