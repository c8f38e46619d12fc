"""A recurrent classifier of variable-length sequences (R2RT, "RNNs in Tensorflow III"):
embedding → one recurrent layer with a trained initial state → dropout on its outputs → softmax,
read at the last real step of each sequence (`last_output`) or at every real step (`seq2seq`,
the label predicted throughout; loss and accuracy over real steps only).

Padded steps leave the state unchanged (`nn.rnn.masked`), so a sequence's last real output is
also its final state's; the last output is gathered at index length − 1 (no Python loop). The
task that trains it (batches in a few padded lengths, one compilation per length class) is the
variable_length experiment's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnets.nn.layers import dropout, glorot_uniform
from jaxnets.nn.rnn import get_cell, initial_carries, initial_state_params, masked, unroll

__all__ = ["READOUTS", "init", "apply"]

READOUTS = ("last_output", "seq2seq")


def init(key: jax.Array, vocab_size: int, n_embed: int, n_hidden: int, n_classes: int, cell: str = "gru") -> dict:
    """TF's defaults, as the post: Glorot-uniform embedding and softmax weights, the cell's own
    initialization; the initial state a trained vector, zeros at first (`initial_state_params`)."""
    k_embed, k_cell, k_out = jax.random.split(key, 3)
    the_cell = get_cell(cell)
    return {"embedding": glorot_uniform(1.0)(k_embed, (vocab_size, n_embed)),
            "cell": the_cell.init(k_cell, n_embed, n_hidden),
            "initial": initial_state_params(the_cell, 1, n_hidden, "learned"),
            "w": glorot_uniform(1.0)(k_out, (n_hidden, n_classes)), "b": jnp.zeros((n_classes,), jnp.float32)}


def apply(params: dict, tokens: jax.Array, length: jax.Array, *, cell: str = "gru", readout: str = "last_output",
          keep_prob: float = 1.0, key: jax.Array | None = None) -> jax.Array:
    """Logits: [B, classes] at each sequence's last real step (`last_output`), or [B, T, classes]
    at every step (`seq2seq`; padded steps' logits are meaningless, mask them). tokens [B, T]
    int, length [B]; dropout on the recurrent outputs when a key is given."""
    the_cell = get_cell(cell)
    batch, steps = tokens.shape
    xs = jnp.swapaxes(params["embedding"][tokens], 0, 1)  # time-major [T, B, E]
    mask = jnp.arange(steps)[:, None] < length[None, :]  # [T, B]
    (carry,) = initial_carries(the_cell, 1, params["w"].shape[0], batch, "learned", params["initial"])
    _, outputs = unroll(masked(the_cell.step), params["cell"], carry, (xs, mask))  # [T, B, H]
    if key is not None and keep_prob < 1.0:
        outputs = dropout(key, outputs, keep_prob)
    if readout == "last_output":
        last = jnp.take_along_axis(outputs, (length - 1)[None, :, None], axis=0)[0]  # [B, H]
        return last @ params["w"] + params["b"]
    return jnp.swapaxes(outputs, 0, 1) @ params["w"] + params["b"]  # [B, T, classes]
