"""`python -m jaxnets visualize <run>`: one self-contained HTML page over a stretch of a
character model's validation text, as Karpathy's post shows a model. Each character is coloured
by a chosen cell's activation (red +1, blue -1), the cells that track quotes, brackets or the
position in a line are found and listed first, and hovering a character shows the model's
five likeliest next characters. No network, no external script: the page opens anywhere.
"""

from __future__ import annotations

import html
import json
import pathlib

import numpy as np

from jaxnets.config import ConfigError
from jaxnets.views.cells import interpretable_cells, trace

PAGE_FILE = "visualize.html"


def colour(value: float) -> str:
    """A cell's activation in [-1, 1] as a background: red for positive, blue for negative."""
    v = float(np.clip(value, -1.0, 1.0))
    return f"rgba(220,40,30,{v:.2f})" if v >= 0 else f"rgba(30,90,220,{-v:.2f})"


def shown_char(ch: str) -> str:
    return "↵\n" if ch == "\n" else ch


def render(text: str, probs: np.ndarray, cells: np.ndarray, vocabulary_tokens: list[str], found: list[dict],
           extra: list[tuple[int, int]], title: str, top: int = 5) -> str:
    """The page: `text` one <span> per character, coloured by the first listed cell; a list of
    cells (the interpretable ones, then `extra`) to colour by; the top-`top` guesses per character."""
    chosen = [(c["layer"], c["unit"], f'{c["feature"]}: r = {c["r"]:+.2f}') for c in found]
    seen = {(layer, unit) for layer, unit, _ in chosen}
    chosen += [(layer, unit, "chosen") for layer, unit in extra if (layer, unit) not in seen]
    if not chosen:
        chosen = [(0, 0, "first cell")]
    activations = [np.round(cells[:, layer, unit], 2).tolist() for layer, unit, _ in chosen]
    order = np.argsort(-probs, axis=1)[:, :top]
    guesses = [[[vocabulary_tokens[i], round(float(p[i]), 3)] for i in row] for row, p in zip(order, probs)]
    spans = "".join(f'<span class="ch" data-i="{i}" style="background:{colour(activations[0][i])}">'
                    f"{html.escape(shown_char(ch))}</span>" for i, ch in enumerate(text))
    buttons = "".join(f'<li><button data-k="{k}"{" class=on" if k == 0 else ""}>layer {layer + 1}, cell {unit}'
                      f"</button> {html.escape(why)}</li>" for k, (layer, unit, why) in enumerate(chosen))
    data = json.dumps({"activations": activations, "guesses": guesses, "text": text}, ensure_ascii=False)
    return PAGE.format(title=html.escape(title), spans=spans, buttons=buttons, n=len(text),
                       data=data.replace("</", "<\\/"))


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
#text {{ font-family: monospace; font-size: 15px; white-space: pre-wrap; line-height: 1.5; max-width: 62em;
        border: 1px solid #ccc; padding: 0.8em; }}
.ch {{ cursor: default; }}
.ch:hover {{ outline: 1px solid #000; }}
#cells {{ columns: 2; list-style: none; padding: 0; font-size: 13px; }}
#cells button {{ font-size: 12px; }} #cells button.on {{ font-weight: bold; background: #ffd; }}
#guess {{ position: fixed; right: 1em; top: 1em; background: #fff; border: 1px solid #888; padding: 0.5em;
         font-family: monospace; font-size: 13px; min-width: 12em; }}
.bar {{ display: inline-block; height: 0.8em; background: #4a4; vertical-align: middle; }}
</style></head>
<body>
<h2>{title}</h2>
<p>Each character is coloured by the chosen cell's activation after reading it (red +1, blue &minus;1;
tanh of the cell state for LSTMs). Hover a character: the model's five likeliest next characters.
Cells found by correlation with features of this text come first.</p>
<ul id="cells">{buttons}</ul>
<div id="guess">hover a character</div>
<div id="text" data-n="{n}">{spans}</div>
<script id="data" type="application/json">{data}</script>
<script>
window.onerror = function (message) {{ document.body.dataset.error = String(message); }};
(function () {{
  var data = JSON.parse(document.getElementById("data").textContent);
  var spans = document.querySelectorAll("#text .ch");
  function colour(v) {{
    v = Math.max(-1, Math.min(1, v));
    return v >= 0 ? "rgba(220,40,30," + v.toFixed(2) + ")" : "rgba(30,90,220," + (-v).toFixed(2) + ")";
  }}
  function show(k) {{
    var a = data.activations[k];
    for (var i = 0; i < spans.length; i++) spans[i].style.background = colour(a[i]);
    document.querySelectorAll("#cells button").forEach(function (b) {{
      b.className = Number(b.dataset.k) === k ? "on" : "";
    }});
  }}
  function label(ch) {{ return ch === "\\n" ? "\\u21b5" : ch === " " ? "\\u2423" : ch; }}
  document.querySelectorAll("#cells button").forEach(function (b) {{
    b.addEventListener("click", function () {{ show(Number(b.dataset.k)); }});
  }});
  var panel = document.getElementById("guess");
  document.getElementById("text").addEventListener("mouseover", function (e) {{
    var t = e.target;
    if (!t.classList || !t.classList.contains("ch")) return;
    var i = Number(t.dataset.i), next = data.text[i + 1];
    var lines = data.guesses[i].map(function (g) {{
      var mark = g[0] === next ? " &larr; next" : "";
      return label(g[0]).replace("<", "&lt;") + " <span class=bar style='width:" + (60 * g[1]).toFixed(0) +
        "px'></span> " + g[1].toFixed(3) + mark;
    }});
    panel.innerHTML = "after '" + label(data.text[i]).replace("<", "&lt;") + "':<br>" + lines.join("<br>");
  }});
  document.body.dataset.ready = "1";
}})();
</script>
</body></html>
"""


def visualize(workdir, output: str | None = None, length: int = 2000, start: int = 0, seed_index: int = 0,
              cells: tuple[tuple[int, int], ...] = (), per_feature: int = 3, log=print) -> tuple[pathlib.Path, list]:
    """Write the page for a character-model run over `length` characters of its validation text
    (its training text when it held none out) from `start`; returns (its path, the interpretable
    cells found)."""
    from jaxnets.data.text import language_corpus
    from jaxnets.views.sample import read_run, restore_params, run_vocabulary, runs_of

    workdir = pathlib.Path(workdir)
    saved, config = read_run(workdir)
    vocabulary = run_vocabulary(workdir, config)
    if vocabulary.words:
        raise ConfigError(f"{workdir} is a word model; the page shows character models")
    corpus, splits = language_corpus(config.data.name, config.data.get("validation_fraction", 0.1))
    if list(corpus.vocabulary.tokens) != list(vocabulary.tokens):
        raise ConfigError(f"{config.data.name}'s characters are not those {workdir} was trained on: its data changed")
    split = "validation" if len(splits["validation"]) else "train"  # a run that held nothing out: its own text
    ids = np.asarray(splits[split][start:start + length])
    if length < 2 or len(ids) < 2:
        raise ConfigError(f"--length {length} from --start {start}: the {split} text has {len(splits[split])} "
                          f"characters; give at least 2")
    params = restore_params(workdir, seed_index, runs_of(saved))
    layers, units = config.model.num_layers, config.model.state_size
    for layer, unit in cells:
        if not (0 <= layer < layers and 0 <= unit < units):
            raise ConfigError(f"--cells {layer + 1}:{unit}: the model has layers 1-{layers} of cells 0-{units - 1}")
    text = "".join(vocabulary.tokens[i] for i in ids)
    probs, activations = trace(params, config.model, ids)
    found = interpretable_cells(activations, text, per_feature)
    title = (f"{workdir.name}: {config.model.num_layers}-layer {config.model.cell} {config.model.state_size}, "
             f"{len(text):,} {'training' if split == 'train' else split} characters")
    path = pathlib.Path(output) if output else workdir / PAGE_FILE
    path.write_text(render(text, probs, activations, list(vocabulary.tokens), found, list(cells), title),
                    encoding="utf-8")
    return path, found


def describe(found: list[dict]) -> str:
    """The interpretable cells as lines: 'layer 2, cell 17  inside quotes  r = +0.71'."""
    return "\n".join(f"  layer {c['layer'] + 1}, cell {c['unit']:<5d} {c['feature']:<18s} r = {c['r']:+.3f}"
                     for c in found)


def parse_cells(text: str | None) -> tuple[tuple[int, int], ...]:
    """'2:317,1:5' (layer from 1, cell from 0) -> ((1, 317), (0, 5))."""
    if not text:
        return ()
    try:
        return tuple((int(layer) - 1, int(unit)) for layer, unit in (item.split(":") for item in text.split(",")))
    except ValueError:
        raise ConfigError(f"--cells {text!r}: give layer:cell pairs, e.g. 2:317,1:5 (layers from 1)") from None
