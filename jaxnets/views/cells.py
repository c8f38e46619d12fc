"""What a character model's cells follow: its state and its guesses at every character of a text,
and the cells whose activation tracks simple features of that text (Karpathy 2015 found cells
for quotes, brackets and the position in a line by looking; here they are found by correlation).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxnets.models import rnn_lm
from jaxnets.nn import rnn


def trace(params: dict, model: ml_collections.ConfigDict, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Read `ids` [T] one at a time from the model's start state. Returns the next-token
    distribution after each (probs [T, V]) and the activation of every cell after each
    (cells [T, layers, units]): tanh of the cell state for cells that have one (the LSTMs: the
    post's colouring), the state itself otherwise (already in [-1, 1])."""
    cell = rnn.get_cell(model.cell)
    has_c = "c" in cell.components
    which = cell.components.index("c") if has_c else 0
    step = rnn.stacked_step(cell)

    def read(carries, token):
        carries, h = step(params["layers"], carries, (rnn_lm.inputs(params, token[None]), None))
        state = jnp.stack([layer[which][0] for layer in carries])
        return carries, (jax.nn.softmax(rnn_lm.readout(params, h)[0]), jnp.tanh(state) if has_c else state)

    run = jax.jit(lambda p, x: jax.lax.scan(read, rnn_lm.start_carries(p, model, 1), x)[1])
    probs, cells = run(params, jnp.asarray(ids, jnp.int32))
    return np.asarray(probs, np.float64), np.asarray(cells, np.float64)


OPENING, CLOSING = "([{", ")]}"


def text_features(text: str) -> dict[str, np.ndarray]:
    """Simple features of a text, one value per character (the state after reading it):
    inside double quotes, inside brackets or parentheses (any depth), its position in the line
    (0 for a line's first character), the first letter of a word, the first character after a
    newline."""
    inside_quotes, inside_brackets, column, word_start, after_newline = [], [], [], [], []
    quoted, depth, col, previous = False, 0, 0, "\n"
    for ch in text:
        quoted ^= ch == '"'
        depth = depth + 1 if ch in OPENING else max(depth - 1, 0) if ch in CLOSING else depth
        inside_quotes.append(quoted)
        inside_brackets.append(depth > 0)
        column.append(col)
        word_start.append(ch.isalpha() and not previous.isalpha())
        after_newline.append(previous == "\n")
        col = 0 if ch == "\n" else col + 1
        previous = ch
    return {name: np.asarray(values, np.float64) for name, values in (
        ("inside quotes", inside_quotes), ("inside brackets", inside_brackets), ("position in line", column),
        ("start of a word", word_start), ("after a newline", after_newline))}


def correlations(cells: np.ndarray, feature: np.ndarray) -> np.ndarray | None:
    """Pearson correlation of each cell's activation (cells [T, ...]) with `feature` [T], shaped
    as one step of `cells`; None where the feature never varies in this text (no quote in it)."""
    f = feature - feature.mean()
    a = cells.reshape(len(cells), -1)
    a = a - a.mean(axis=0)
    scale = np.sqrt((f ** 2).sum() * (a ** 2).sum(axis=0))
    if not (f ** 2).sum() > 0:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(scale > 0, (f @ a) / scale, 0.0)
    return r.reshape(cells.shape[1:])


def interpretable_cells(cells: np.ndarray, text: str, per_feature: int = 3) -> list[dict]:
    """For each feature of `text_features`, the `per_feature` cells whose activation correlates
    most (by |r|) with it: [{"feature", "layer", "unit", "r"}], strongest first overall."""
    found = []
    for name, feature in text_features(text).items():
        r = correlations(cells, feature)
        if r is None:
            continue
        flat = np.abs(r).reshape(-1)
        for index in np.argsort(-flat, kind="stable")[:per_feature]:
            layer, unit = np.unravel_index(index, r.shape)
            found.append({"feature": name, "layer": int(layer), "unit": int(unit), "r": float(r[layer, unit])})
    return sorted(found, key=lambda c: -abs(c["r"]))
