"""Issue 33.3: the page that shows a char model: the trace it is drawn from equals the model's
own forward pass, interpretable cells are found where they are planted, the page holds one
element per character, and it opens in a real browser without script errors."""

import json
import re
import shutil
import subprocess

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.__main__ import main
from jaxnets.config import load
from jaxnets.models import rnn_lm
from jaxnets.views.cells import correlations, interpretable_cells, text_features, trace
from tests.test_char_rnn import SMALL, toy_corpus  # noqa: F401  (the fixture)


def test_text_features_mark_quotes_brackets_lines_and_words():
    text = 'ab "c(d)"\ne'
    f = text_features(text)
    np.testing.assert_array_equal(f["inside quotes"], [0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(f["inside brackets"], [0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(f["position in line"], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0])
    np.testing.assert_array_equal(f["start of a word"], [1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1])
    np.testing.assert_array_equal(f["after a newline"], [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])


def test_a_planted_cell_is_found_first_with_its_correlation():
    text = ('say "hello there" and (this) then\n' * 30)
    rng = np.random.default_rng(0)
    cells = rng.uniform(-1, 1, (len(text), 2, 16))
    quotes = text_features(text)["inside quotes"]
    cells[:, 1, 7] = np.tanh(2 * quotes - 1) + 0.05 * rng.standard_normal(len(text))
    found = interpretable_cells(cells, text)
    assert found[0]["feature"] == "inside quotes" and (found[0]["layer"], found[0]["unit"]) == (1, 7)
    assert found[0]["r"] > 0.95
    r = correlations(cells, quotes)
    chex.assert_shape(r, (2, 16))
    np.testing.assert_allclose(r[1, 7], np.corrcoef(cells[:, 1, 7], quotes)[0, 1], rtol=1e-12)
    assert correlations(cells, np.zeros(len(text))) is None  # a feature absent from the text


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_trace_is_the_models_own_forward_pass(cell):
    model = load("configs/char_rnn.py", [f"--config.model.cell={cell}", "--config.model.num_layers=2",
                                          "--config.model.state_size=8"]).model
    params = rnn_lm.init(jax.random.PRNGKey(0), model, 11)
    ids = np.asarray(jax.random.randint(jax.random.PRNGKey(1), (30,), 0, 11))
    probs, cells = trace(params, model, ids)
    chex.assert_shape(probs, (30, 11))
    chex.assert_shape(cells, (30, 2, 8))
    final, logits = rnn_lm.apply(params, rnn_lm.start_carries(params, model, 1), jnp.asarray(ids)[None], model)
    np.testing.assert_allclose(probs, np.asarray(jax.nn.softmax(logits[:, 0])), atol=1e-5)
    state = final[-1][0][0]  # the last layer's first component (c for an LSTM), after the last id
    np.testing.assert_allclose(cells[-1, -1], np.tanh(state) if cell == "lstm" else state, atol=1e-5)
    assert np.all(np.abs(cells) <= 1.0)


def _page(toy_corpus, tmp_path, capsys):  # noqa: F811
    workdir = tmp_path / "run"
    argv = ["train", "--config", "configs/char_rnn.py", "--workdir", str(workdir), "--config.data.name=toy",
            "--config.model.cell=lstm", "--config.train.shard_batch=never", *SMALL]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["visualize", str(workdir), "--cells", "1:0,2:11"]) == 0
    out = capsys.readouterr().out
    return workdir / "visualize.html", out


def test_the_page_has_one_element_per_character_and_needs_no_network(toy_corpus, tmp_path, capsys):  # noqa: F811
    path, out = _page(toy_corpus, tmp_path, capsys)
    page = path.read_text()
    validation = 160  # the toy corpus' last 10%
    assert len(re.findall(r'<span class="ch" data-i="\d+"', page)) == validation
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S)
                      .group(1).replace("<\\/", "</"))
    assert len(data["text"]) == validation and all(len(g) == 5 for g in data["guesses"])
    for guesses in data["guesses"]:  # the five likeliest, likeliest first, distinct, a part of the distribution
        probs = [p for _, p in guesses]
        assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.002 and len({c for c, _ in guesses}) == 5
    assert all(len(a) == validation for a in data["activations"])
    assert not re.search(r'(src|href)="(https?:)?//', page)  # self-contained
    assert "layer 1, cell 0" in page and "layer 2, cell 11" in page  # the cells asked for are offered
    assert "r = " in out and "wrote" in out
    assert main(["visualize", str(path.parent), "--cells", "3:0"]) == 2  # a layer the model lacks
    assert "the model has layers 1-2" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="no headless Chromium here (Debian: apt-get install chromium) to open the page in")
def test_the_page_opens_in_chromium_without_script_errors(toy_corpus, tmp_path, capsys):  # noqa: F811
    path, _ = _page(toy_corpus, tmp_path, capsys)
    browser = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--allow-file-access-from-files"]
    dom = subprocess.run([*browser, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert 'data-ready="1"' in dom and "data-error" not in dom  # the script ran to its end, no error raised
    assert len(re.findall(r'<span class="ch" data-i="\d+"', dom)) == 160
    shot = tmp_path / "page.png"
    subprocess.run([*browser, f"--screenshot={shot}", "--window-size=1200,900", path.as_uri()], capture_output=True,
                   timeout=120)
    assert shot.stat().st_size > 10_000  # a rendered page, not an empty one


def test_a_run_that_held_nothing_out_is_shown_over_its_training_text(toy_corpus, tmp_path, capsys):  # noqa: F811
    workdir = tmp_path / "all_text"
    argv = ["train", "--config", "configs/char_rnn.py:gru", "--workdir", str(workdir), "--config.data.name=toy",
            "--config.model.num_layers=1", "--config.train.shard_batch=never", *SMALL,
            "--config.data.validation_fraction=0.0"]  # after SMALL's 0.1: the post's whole-text training
    assert main(argv) == 0
    assert main(["visualize", str(workdir), "--length", "300"]) == 0
    page = (workdir / "visualize.html").read_text(encoding="utf-8")
    assert "300 training characters" in page
