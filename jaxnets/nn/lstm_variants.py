"""R2RT's "Written Memories": the pseudo LSTM and the three differences that turn it into the
basic LSTM, as one cell with three switches (all 8 architectures of the post's table).

With φ = tanh, σ the logistic function, s the cell state and x the input:

    pseudo LSTM:  i, o, f = σ(W·φ(s_{t−1}) + U·x + b)
                  s̃_t     = φ(W·(o_t ⊙ φ(s_{t−1})) + U·x + b)
                  s_t     = f ⊙ s_{t−1} + i ⊙ s̃_t,            output φ(s_t)

    Diff 1 (read after write): the read gate is applied when the state is written, and the
        shadow state h_{t−1} = o_{t−1} ⊙ φ(s_{t−1}) is carried to the next step, which uses it
        for the candidate (instead of o_t ⊙ φ(s_{t−1}) with the read gate of time t).
    Diff 2: the gates i, f (and o) are computed from the read-gated state — the shadow state
        h_{t−1} with Diff 1; without it, o_t ⊙ φ(s_{t−1}), whose read gate o_t is then computed
        first, from φ(s_{t−1}) (the post: in architectures 5–7 the read gate is computed at t;
        it cannot be computed from the state it gates).
    Diff 3: the output is read-gated, o_t ⊙ φ(s_t), instead of φ(s_t).

All three: i, f, o and the candidate from h_{t−1}, output h_t = o_t ⊙ φ(s_t) — TF's
BasicLSTMCell, which `nn.rnn.lstm_step` is, to the bit (a test). The parameters are the LSTM's,
[x, ·] @ w + b split into (i, j, f, o) with j the candidate; the forget bias 1 is added inside
the gate, the read and write gates start at bias 0. The carry is (s, h) in every architecture
(h, the shadow state, is unused without Diff 1), so the toolkit's stacking, masks and initial
states apply unchanged.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxnets.nn.rnn import CELLS, Carry, Cell, check_carry, lstm_init

__all__ = ["ARCHITECTURES", "variant_step", "variant_name", "variant_cell"]

# The post's table, in its column order: architecture number -> the differences it has.
ARCHITECTURES = {1: (), 2: (1,), 3: (1, 2), 4: (1, 3), 5: (2,), 6: (2, 3), 7: (3,), 8: (1, 2, 3)}


def variant_step(params: dict, carry: Carry, x: jax.Array, diffs: tuple[int, ...] = (),
                 forget_bias: float = 1.0) -> tuple[Carry, jax.Array]:
    check_carry(carry, 2, "lstm variant step")
    s, h = carry
    w, b = params["w"], params["b"]
    _, w_j, _, w_o = jnp.split(w, 4, -1)
    _, b_j, _, b_o = jnp.split(b, 4, -1)

    def affine(state, w_gate, b_gate):  # [x, state] @ w + b, the LSTM's layout
        return jnp.concatenate([x, state], -1) @ w_gate + b_gate

    memory = jnp.tanh(s)  # φ(s_{t−1})
    if 1 in diffs:
        read = h  # the shadow state o_{t−1} ⊙ φ(s_{t−1}), written last step
        o = None  # this step's read gate comes with the others
    else:
        o = jax.nn.sigmoid(affine(memory, w_o, b_o))  # the read gate of time t, from φ(s_{t−1})
        read = o * memory
    gate_in = read if 2 in diffs else memory
    # One product for all four (i, j, f, o) as the LSTM computes them, so that architecture 8 is
    # BasicLSTMCell to the bit; the candidate is recomputed where it reads another state.
    i, j, f, o_new = jnp.split(affine(gate_in, w, b), 4, -1)
    if gate_in is not read:
        j = affine(read, w_j, b_j)
    o = jax.nn.sigmoid(o_new) if o is None else o
    s = s * jax.nn.sigmoid(f + forget_bias) + jax.nn.sigmoid(i) * jnp.tanh(j)
    shadow = jnp.tanh(s) * o
    return (s, shadow), (shadow if 3 in diffs else jnp.tanh(s))


def variant_name(diffs: tuple[int, ...]) -> str:
    """'pseudo_lstm', 'pseudo_lstm_d1', ..., 'pseudo_lstm_d1_d2_d3' (= the basic LSTM)."""
    return "pseudo_lstm" + "".join(f"_d{d}" for d in sorted(diffs))


def variant_cell(diffs: tuple[int, ...]) -> Cell:
    if any(d not in (1, 2, 3) for d in diffs):
        raise ValueError(f"LSTM differences are 1, 2 and 3, not {diffs}")
    return Cell(variant_name(diffs), ("c", "h"), lstm_init,
                functools.partial(variant_step, diffs=tuple(sorted(set(diffs)))))


# Every architecture is a cell of the toolkit, by name (`model.cell = pseudo_lstm_d2`); jaxnets.nn
# imports this module, so the names are there wherever a cell is looked up.
CELLS.update({variant_name(diffs): variant_cell(diffs) for diffs in ARCHITECTURES.values()})
