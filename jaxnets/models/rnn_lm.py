"""The recurrent language model: embedding -> a stack of recurrent layers (any cell of
`jaxnets.nn.rnn`, Zaremba-placed dropout between layers) -> softmax readout, for characters and
words alike, and its sampling. Pure functions of a params pytree, as nanoGPT's model.py.

    params = init(key, model, vocab)
    carries, logits = apply(params, carries, x, model, key)     # x [B, T] ids -> logits [T, B, V]
    carries, hs = features(params, carries, x, model, key)      # the readout's input [T, B, H]
    losses = token_losses(params, hs, y.T)                      # nats [T, B], without the logits
    ids = generate(params, model, prompt_ids, length, key, temperature, top_k)

`model` is the config's model section: cell, num_layers, state_size, embedding_size (-1: one-hot inputs, no embedding; 0: the
state size), keep_prob, w_init (and w_scale, default 1), num_weights (custom_gru), fused_lstm, and the truncation style:
`tf_style` (the window differentiated whole) or `true` (true truncated BPTT with `bptt` steps,
`jaxnets.nn.truncation`; one layer).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from jaxnets.nn import dense, dense_softmax_cross_entropy, dropout, initializer, rnn
from jaxnets.nn.layers import SQUARES_SUFFIX, lookup_with_squares
from jaxnets.nn.truncation import true_bptt_unroll

__all__ = ["TRUNCATIONS", "embedding_size", "one_hot_inputs", "inputs", "init", "initial_state", "start_carries", "zero_carries", "reset_where",
           "readout", "token_losses", "apply", "features", "generate"]

TRUNCATIONS = ("tf_style", "true")


def embedding_size(model: ml_collections.ConfigDict) -> int:
    return model.get("embedding_size", 0) or model.state_size


def one_hot_inputs(model: ml_collections.ConfigDict) -> bool:
    """model.embedding_size = -1: no embedding, the first layer reads one-hot ids (min-char-rnn's
    Wxh·x), so its input weights are the vocabulary's rows."""
    return model.get("embedding_size", 0) == -1


def init(key: jax.Array, model: ml_collections.ConfigDict, vocab: int) -> dict:
    cell = rnn.get_cell(model.cell)
    keys = jax.random.split(key, model.num_layers + 2)
    extra = {"num_weights": model.num_weights} if model.cell == "custom_gru" else {}
    sizes_in = [vocab if one_hot_inputs(model) else embedding_size(model)] + [model.state_size] * (model.num_layers - 1)
    scale = model.get("w_scale", 1.0)
    layers = [cell.init(keys[i], n_in, model.state_size, model.w_init, scale, **extra) for i, n_in in enumerate(sizes_in)]
    params = {**({} if one_hot_inputs(model) else {"embedding": initializer(model.w_init, scale)(
                  keys[-2], (vocab, embedding_size(model)), jnp.float32)}),
              "layers": layers,
              "out": {"w": initializer(model.w_init, scale)(keys[-1], (model.state_size, vocab), jnp.float32),
                      "b": jnp.zeros((vocab,), jnp.float32)}}
    if model.get("tf0_sparse_adam", False) and "embedding" in params:  # Adam as TF <= 1.0 ran it on the embedding
        params["embedding" + SQUARES_SUFFIX] = jnp.zeros_like(params["embedding"])
    learned = rnn.initial_state_params(cell, model.num_layers, model.state_size, initial_state(model))
    if learned:  # a trained initial state, drawn as TF draws a [1, state] variable (model.w_init)
        draw = initializer(model.w_init, scale)
        params["initial"] = {name: draw(jax.random.fold_in(keys[-2], i), (1, model.state_size), jnp.float32)[0]
                             for i, name in enumerate(sorted(learned))}
    return params


def initial_state(model: ml_collections.ConfigDict) -> str:
    """The initial-state strategy of every state component (`rnn.INITIAL_STATES`; zero unless
    the config says)."""
    return model.get("initial_state", "zero")


def start_carries(params: dict, model: ml_collections.ConfigDict, rows: int, key: jax.Array | None = None) -> tuple:
    """The state a sequence starts from: zero, trained, noisy (N(0, initial_noise_std²) added
    when a key is given: training) or trained + noisy (`rnn.initial_carries`)."""
    return rnn.initial_carries(rnn.get_cell(model.cell), model.num_layers, model.state_size, rows,
                               initial_state(model), params.get("initial", {}), key,
                               model.get("initial_noise_std", 0.3))


def zero_carries(model: ml_collections.ConfigDict, rows: int) -> tuple:
    """The stack's state for `rows` sequences: per layer, one [rows, state_size] per component."""
    cell = rnn.get_cell(model.cell)
    return tuple(tuple(jnp.zeros((rows, model.state_size)) for _ in cell.components) for _ in range(model.num_layers))


def reset_where(carries: tuple, reset: jax.Array, start: tuple | None = None) -> tuple:
    """The state `start` (default zero) where `reset` says a new sequence starts (a scalar for
    all rows, or [rows]), the carried state elsewhere."""
    def pick(c, s):
        flag = jnp.reshape(reset, jnp.shape(reset) + (1,) * (c.ndim - jnp.ndim(reset)))
        return jnp.where(flag, s, c)
    return jax.tree.map(pick, carries, jax.tree.map(jnp.zeros_like, carries) if start is None else start)


def readout(params: dict, h: jax.Array) -> jax.Array:
    return dense(params["out"], h)


def token_losses(params: dict, features: jax.Array, targets: jax.Array) -> jax.Array:
    """Cross-entropy in nats [T, B] of the next ids `targets` [T, B] under the readout of
    `features` [T, B, H] (`dense_softmax_cross_entropy`: the fast form for a 10,000-word softmax)."""
    return dense_softmax_cross_entropy(params["out"], features, targets)


def apply(params: dict, carries: tuple, x: jax.Array, model: ml_collections.ConfigDict,
          key: jax.Array | None = None) -> tuple[tuple, jax.Array]:
    """(final carries, logits [T, B, V]) of a window x [B, T] of ids; key=None: no dropout."""
    final, hs = features(params, carries, x, model, key)
    return final, readout(params, hs)


def features(params: dict, carries: tuple, x: jax.Array, model: ml_collections.ConfigDict,
             key: jax.Array | None = None) -> tuple[tuple, jax.Array]:
    """(final carries, the readout's input [T, B, H], dropout applied) of a window x [B, T] of
    ids; key=None: no dropout.

    LSTMs take the fused layer-at-a-time path (`rnn.lstm_recurrence`, hand-written BPTT) unless
    model.fused_lstm is false; the other cells advance all layers one time step at a time. Both
    compute the same function (dropout masks aside, which come from different keys)."""
    key = key if model.keep_prob < 1.0 else None
    emb = inputs(params, x.T)  # [T, B, H]
    if model.get("truncation", "tf_style") == "true":
        return _true_bptt(params, carries, emb, model, key)
    if model.cell == "lstm" and model.fused_lstm:
        return _fused_lstm(params, carries, x, emb, model, key)
    step = rnn.stacked_step(rnn.get_cell(model.cell), model.keep_prob)
    keys = None if key is None else jax.random.split(key, x.shape[1])
    return jax.lax.scan(lambda c, inp: step(params["layers"], c, inp), carries, (emb, keys))


def inputs(params: dict, ids: jax.Array) -> jax.Array:
    """The first layer's inputs for ids [...]: embedded, or one-hot (no embedding)."""
    if "embedding" + SQUARES_SUFFIX in params:  # the lookup's backward also sums each row's squared gradients
        return lookup_with_squares(params["embedding"], params["embedding" + SQUARES_SUFFIX], ids)
    if "embedding" in params:
        return params["embedding"][ids]
    return jax.nn.one_hot(ids, params["out"]["w"].shape[1], dtype=params["out"]["w"].dtype)


def _fused_lstm(params, carries, x, emb, model, key):
    hs, final = emb, []
    vocab, tokens = params["out"]["w"].shape[1], x.size
    for layer, (p, carry) in enumerate(zip(params["layers"], carries)):
        n_in = hs.shape[-1]
        if layer == 0 and key is None and vocab < tokens and "embedding" in params \
                and "embedding" + SQUARES_SUFFIX not in params:
            # Fewer words than tokens in the window (65 characters vs 2,560 tokens): project the
            # embedding once [vocab, 4H] and look the tokens up in it, a scatter-add in the
            # backward, instead of projecting every token. A 10,000-word vocabulary is the
            # other way round, and projects the tokens.
            zx = (params["embedding"] @ p["w"][:n_in] + p["b"])[x.T]
        else:
            zx = rnn.lstm_input_projection(p["w"][:n_in], p["b"], _dropout(key, hs, 2 * layer, model.keep_prob))
        carry, hs = rnn.lstm_recurrence(p["w"][n_in:], carry, zx)
        hs = _dropout(key, hs, 2 * layer + 1, model.keep_prob)
        final.append(carry)
    return tuple(final), hs


def _true_bptt(params, carries, emb, model, key):
    """One layer, dropout on its input and output, the recurrence with true truncated BPTT: each
    step's error flows back `bptt` steps, scaled by num_steps / bptt as R2RT's post divided the
    summed per-step gradients by batch·k (Adam is blind to the factor; tests/test_truncation)."""
    cell = rnn.get_cell(model.cell)
    length = emb.shape[0]
    final, hs = true_bptt_unroll(cell.step, params["layers"][0], carries[0], _dropout(key, emb, 0, model.keep_prob),
                                 model.bptt, length / model.bptt)
    return (final,), _dropout(key, hs, 1, model.keep_prob)


def _dropout(key: jax.Array | None, v: jax.Array, i: int, keep_prob: float) -> jax.Array:
    return v if key is None or keep_prob >= 1.0 else dropout(jax.random.fold_in(key, i), v, keep_prob)


def generate(params: dict, model: ml_collections.ConfigDict, prompt_ids: jax.Array, length: int, key: jax.Array,
             temperature: float = 1.0, top_k: int = 0, start: tuple | None = None) -> jax.Array:
    """ids [length] drawn after reading `prompt_ids` (batch 1, one step at a time inside a
    `lax.scan`; jit it whole) from the model's start state, or from `start` (a state of one
    row: min-char-rnn samples from the state its training carried). temperature 0: argmax."""
    step = rnn.stacked_step(rnn.get_cell(model.cell))

    def one(p, c, token):
        return step(p["layers"], c, (inputs(p, token), None))

    begin = start_carries(params, model, 1) if start is None else start
    carries, _ = jax.lax.scan(lambda c, token: one(params, c, token[None]), begin, prompt_ids[:-1])
    if temperature == 0:
        def greedy(state, _):
            c, token = state
            c, h = one(params, c, token)
            nxt = jnp.argmax(readout(params, h), axis=-1)
            return (c, nxt), nxt[0]
        return jax.lax.scan(greedy, (carries, prompt_ids[-1:]), None, length=length)[1]
    return rnn.sample_sequence(one, readout, params, carries, prompt_ids[-1:], key, length, temperature, top_k)
