"""A recurrent classifier of variable-length sequences (R2RT, "RNNs in Tensorflow III"):
embedding → one recurrent layer with a trained initial state → dropout on its outputs → softmax,
read at the last real step of each sequence (`last_output`) or at every real step (`seq2seq`,
the label predicted throughout; loss and accuracy over real steps only).

Padded steps leave the state unchanged (`nn.rnn.masked`), so a sequence's last real output is
also its final state's; the last output is gathered at index length − 1 (no Python loop). In
training, batches come in a few padded lengths (`train.batches.VariableLength`) and the loss
runs on the batch cut to its length class (`by_length_class`): one compilation per class.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxnets.nn.layers import dropout, glorot_uniform
from jaxnets.nn.rnn import get_cell, initial_carries, initial_state_params, masked, unroll
from jaxnets.train.batches import VariableLength, by_length_class
from jaxnets.train.step import Task, mean_of

__all__ = ["READOUTS", "init", "apply", "metrics_of", "sequence_classifier_task"]

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


def metrics_of(logits: jax.Array, batch: dict, readout: str) -> dict[str, tuple[jax.Array, jax.Array]]:
    """(sum, count) loss and accuracy: per sequence (`last_output`), or per real step (`seq2seq`,
    the post's masked mean), with `last_accuracy` (the prediction at the last real step) beside
    it so that both readouts can be compared on the same footing."""
    labels = batch["label"]
    if readout == "last_output":
        correct = jnp.argmax(logits, -1) == labels
        return {"loss": mean_of(optax.softmax_cross_entropy_with_integer_labels(logits, labels)),
                "accuracy": mean_of(correct)}
    steps = logits.shape[1]
    mask = jnp.arange(steps)[None, :] < batch["length"][:, None]  # [B, T]
    per_step = jnp.broadcast_to(labels[:, None], mask.shape)
    correct = jnp.argmax(logits, -1) == per_step
    last_correct = jnp.take_along_axis(correct, (batch["length"] - 1)[:, None], axis=1)[:, 0]
    return {"loss": mean_of(optax.softmax_cross_entropy_with_integer_labels(logits, per_step), mask),
            "accuracy": mean_of(correct, mask), "last_accuracy": mean_of(last_correct)}


def sequence_classifier_task(model: ml_collections.ConfigDict, vocab_size: int, n_classes: int,
                             batches: VariableLength) -> Task:
    """The trainer's task: training batches from `batches` (their length classes), evaluation on
    whole splits padded to the longest length (masks make it exact)."""
    if model.readout not in READOUTS:
        raise ValueError(f"model.readout = {model.readout!r} is not one of {READOUTS}")

    def init_fn(key):
        return init(key, vocab_size, model.n_embed, model.n_hidden, n_classes, model.cell), {}

    def train_loss(params, batch, key):
        logits = apply(params, batch["tokens"], batch["length"], cell=model.cell, readout=model.readout,
                       keep_prob=model.keep_prob, key=key)
        return metrics_of(logits, batch, model.readout)

    at_its_length = by_length_class(train_loss, batches.lengths)

    def loss(params, model_state, batch, key, step):
        sums = at_its_length(params, batch, key)
        means = {name: s / c for name, (s, c) in sums.items()}
        return means["loss"], (model_state, {**{k: v for k, v in means.items() if k != "loss"},
                                             "padding": batch["padding"], "padding_computed": batch["padding_computed"]})

    def evaluate(params, model_state, batch, key, step):
        logits = apply(params, batch["tokens"], batch["length"], cell=model.cell, readout=model.readout)
        return metrics_of(logits, batch, model.readout), model_state

    return Task(init_fn, loss, evaluate, batches=batches)
