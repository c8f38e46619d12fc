"""Recurrent cells as pure functions, unrolled with `jax.lax.scan`.

A cell is a pair of functions: `init(key, n_in, n_hidden) -> params` and
`step(params, carry, x) -> (carry, y)`. The carry is a tuple of state components, all
[batch, n_hidden]: (h,) for the vanilla RNN and the GRUs, (c, h) for the LSTMs; y is the new h.
Everything else — stacking, dropout between layers, masks for padded steps, initial-state
strategies — composes around `step` without knowing which cell it is. The equations and
initial biases are TensorFlow's (`BasicRNNCell`, `GRUCell`, `BasicLSTMCell`), as the R2RT posts
used them; the layer-normalized LSTM and the "custom" GRU are the posts' own.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from jaxnets.nn.layers import dropout, initializer

__all__ = ["Cell", "check_carry", "vanilla_init", "vanilla_step", "gru_init", "gru_step", "lstm_init",
           "lstm_step", "ln_lstm_init", "ln_lstm_step", "custom_gru_init", "custom_gru_step", "CELLS",
           "get_cell", "masked", "unroll", "check_time_major", "stacked_step", "INITIAL_STATES",
           "initial_state_params", "initial_carries", "sample_logits", "sample_sequence", "lstm_sequence",
           "lstm_input_projection", "LSTM_UNROLL", "lstm_recurrence"]

Carry = tuple[jax.Array, ...]


@dataclasses.dataclass(frozen=True)
class Cell:
    name: str
    components: tuple[str, ...]  # names of the carry's state components
    init: Callable[..., dict]
    step: Callable[[dict, Carry, jax.Array], tuple[Carry, jax.Array]]


def check_carry(carry: Any, components: int, cell: str) -> None:
    """A carry is a tuple of `components` arrays [batch, n_hidden]; a bare array would be
    unpacked along its batch axis without a word (`c, h = carry` with batch 2), so say so."""
    if not isinstance(carry, (tuple, list)) or len(carry) != components:
        got = f"an array of shape {carry.shape}" if hasattr(carry, "shape") else f"{type(carry).__name__}"
        if isinstance(carry, (tuple, list)):
            got = f"a tuple of {len(carry)}"
        names = {1: "(h,)", 2: "(c, h)"}.get(components, f"{components} arrays")
        raise TypeError(f"{cell}: the carry must be a tuple {names} of [batch, n_hidden] arrays, got {got}")


def _w(key, n_in, n_out, w_init: str, w_scale: float):
    return initializer(w_init, w_scale)(key, (n_in, n_out), jnp.float32)


def _layer_norm(params: dict, v: jax.Array, eps: float = 1e-5) -> jax.Array:
    """scale · (v − mean) / sqrt(var + eps) + shift, per example over the features (the post's ln)."""
    mean = jnp.mean(v, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(v - mean), axis=-1, keepdims=True)
    return params["scale"] * (v - mean) * jax.lax.rsqrt(var + eps) + params["shift"]


def _ln_init(n: int) -> dict:
    return {"scale": jnp.ones((n,), jnp.float32), "shift": jnp.zeros((n,), jnp.float32)}


# --- vanilla tanh RNN: h' = tanh([x, h] W + b) -----------------------------------------------

def vanilla_init(key, n_in: int, n: int, w_init: str = "glorot_uniform", w_scale: float = 1.0) -> dict:
    return {"w": _w(key, n_in + n, n, w_init, w_scale), "b": jnp.zeros((n,), jnp.float32)}


def vanilla_step(params: dict, carry: Carry, x: jax.Array) -> tuple[Carry, jax.Array]:
    check_carry(carry, 1, "vanilla_step")
    (h,) = carry
    h = jnp.tanh(jnp.concatenate([x, h], -1) @ params["w"] + params["b"])
    return (h,), h


# --- GRU (TF GRUCell): gates start at bias 1.0 ("not reset, not update") -------------------------

def gru_init(key, n_in: int, n: int, w_init: str = "glorot_uniform", w_scale: float = 1.0,
             gate_bias: float = 1.0) -> dict:
    k1, k2 = jax.random.split(key)
    return {"w_gates": _w(k1, n_in + n, 2 * n, w_init, w_scale), "b_gates": jnp.full((2 * n,), gate_bias, jnp.float32),
            "w_candidate": _w(k2, n_in + n, n, w_init, w_scale), "b_candidate": jnp.zeros((n,), jnp.float32)}


def gru_step(params: dict, carry: Carry, x: jax.Array) -> tuple[Carry, jax.Array]:
    check_carry(carry, 1, "gru_step")
    (h,) = carry
    r, u = jnp.split(jax.nn.sigmoid(jnp.concatenate([x, h], -1) @ params["w_gates"] + params["b_gates"]), 2, -1)
    c = jnp.tanh(jnp.concatenate([x, r * h], -1) @ params["w_candidate"] + params["b_candidate"])
    h = u * h + (1.0 - u) * c
    return (h,), h


# --- LSTM (TF BasicLSTMCell): forget bias 1.0 added inside the gate -----------------------------

def lstm_init(key, n_in: int, n: int, w_init: str = "glorot_uniform", w_scale: float = 1.0) -> dict:
    return {"w": _w(key, n_in + n, 4 * n, w_init, w_scale), "b": jnp.zeros((4 * n,), jnp.float32)}


def lstm_step(params: dict, carry: Carry, x: jax.Array, forget_bias: float = 1.0) -> tuple[Carry, jax.Array]:
    check_carry(carry, 2, "lstm_step")
    c, h = carry
    i, j, f, o = jnp.split(jnp.concatenate([x, h], -1) @ params["w"] + params["b"], 4, -1)
    c = c * jax.nn.sigmoid(f + forget_bias) + jax.nn.sigmoid(i) * jnp.tanh(j)
    h = jnp.tanh(c) * jax.nn.sigmoid(o)
    return (c, h), h


# --- layer-normalized LSTM (the post's): LN on each of i, j, f, o (no gate bias) and on c -------

def ln_lstm_init(key, n_in: int, n: int, w_init: str = "glorot_uniform", w_scale: float = 1.0) -> dict:
    return {"w": _w(key, n_in + n, 4 * n, w_init, w_scale),
            **{f"ln_{g}": _ln_init(n) for g in ("i", "j", "f", "o", "c")}}


def ln_lstm_step(params: dict, carry: Carry, x: jax.Array, forget_bias: float = 1.0) -> tuple[Carry, jax.Array]:
    check_carry(carry, 2, "ln_lstm_step")
    c, h = carry
    gates = jnp.split(jnp.concatenate([x, h], -1) @ params["w"], 4, -1)
    i, j, f, o = (_layer_norm(params[f"ln_{g}"], v) for g, v in zip(("i", "j", "f", "o"), gates))
    c = c * jax.nn.sigmoid(f + forget_bias) + jax.nn.sigmoid(i) * jnp.tanh(j)
    h = jnp.tanh(_layer_norm(params["ln_c"], c)) * jax.nn.sigmoid(o)
    return (c, h), h


# --- the post's custom GRU: the candidate mixes num_weights input matrices with softmax weights λ --

def custom_gru_init(key, n_in: int, n: int, w_init: str = "glorot_uniform", w_scale: float = 1.0,
                    num_weights: int = 5, gate_bias: float = 1.0) -> dict:
    """The K input matrices are one variable [K, n_in, n], as the post's `tf.get_variable("Ws",
    [num_weights, n_in, n])`: TF's initializers count a 3-D variable's fan-in as K·n_in (uniform
    unit scaling: all dimensions but the last; Glorot: n_in times the leading K), so each W_k
    starts sqrt(K) smaller than a matrix drawn alone."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    ws = initializer(w_init, w_scale)(k3, (num_weights, n_in, n), jnp.float32)
    return {"w_gates": _w(k1, n_in + n, 2 * n, w_init, w_scale), "b_gates": jnp.full((2 * n,), gate_bias, jnp.float32),
            "w_lambda": _w(k2, n_in + n, num_weights, w_init, w_scale), "b_lambda": jnp.zeros((num_weights,), jnp.float32),
            "ws": ws, "w_state": _w(k4, n, n, w_init, w_scale), "b_state": jnp.zeros((n,), jnp.float32)}


def custom_gru_step(params: dict, carry: Carry, x: jax.Array) -> tuple[Carry, jax.Array]:
    check_carry(carry, 1, "custom_gru_step")
    (h,) = carry
    xh = jnp.concatenate([x, h], -1)
    r, u = jnp.split(jax.nn.sigmoid(xh @ params["w_gates"] + params["b_gates"]), 2, -1)
    lam = jax.nn.softmax(xh @ params["w_lambda"] + params["b_lambda"], axis=-1)  # [B, K]
    wx = jnp.einsum("bk,bi,kio->bo", lam, x, params["ws"])  # Σ_k λ_k (x W_k)
    c = jnp.tanh(wx + (r * h) @ params["w_state"] + params["b_state"])
    h = u * h + (1.0 - u) * c
    return (h,), h


CELLS = {
    "vanilla": Cell("vanilla", ("h",), vanilla_init, vanilla_step),
    "gru": Cell("gru", ("h",), gru_init, gru_step),
    "lstm": Cell("lstm", ("c", "h"), lstm_init, lstm_step),
    "ln_lstm": Cell("ln_lstm", ("c", "h"), ln_lstm_init, ln_lstm_step),
    "custom_gru": Cell("custom_gru", ("h",), custom_gru_init, custom_gru_step),
}


# (+ the 8 architectures of R2RT's "Written Memories", `pseudo_lstm[_d1][_d2][_d3]`, added by
# jaxnets.nn.lstm_variants)


def get_cell(name: str) -> Cell:
    if name not in CELLS:
        raise ValueError(f"unknown cell {name!r}; have {sorted(CELLS)}")
    return CELLS[name]


# --- unrolling, masks, stacking ------------------------------------------------------------------

def masked(step: Callable) -> Callable:
    """step'(params, carry, (x, mask)): where mask is 0 (a padded step) the carry passes through
    unchanged and the output is 0, so a padded sequence ends in the state of its last real step."""

    def step_with_mask(params, carry, inputs):
        x, mask = inputs
        new_carry, y = step(params, carry, x)
        keep = mask[:, None].astype(bool)
        carry = tuple(jnp.where(keep, n, o) for n, o in zip(new_carry, carry))
        return carry, jnp.where(keep, y, 0.0)

    return step_with_mask


def unroll(step: Callable, params: Any, carry: Carry, xs: Any, unroll_steps: int = 1) -> tuple[Carry, jax.Array]:
    """(final carry, outputs [T, B, H]) of `step` over time-major inputs xs [T, B, ...]."""
    check_time_major(carry, xs)
    return jax.lax.scan(lambda c, x: step(params, c, x), carry, xs, unroll=unroll_steps)


def check_time_major(carry: Any, xs: Any) -> None:
    """xs must be [T, B, ...] with B the carry's batch: batch-major input [B, T, ...] would scan
    over the batch and treat time steps as examples, silently."""
    if not isinstance(carry, (tuple, list)):
        shape = getattr(carry, "shape", None)
        raise TypeError(f"unroll: the carry must be a tuple of state components ((h,), or (c, h) for an LSTM), "
                        f"got {'an array of shape ' + str(shape) if shape is not None else type(carry).__name__}")
    leaves = jax.tree.leaves(xs)
    states = jax.tree.leaves(carry)
    if not leaves or not states:
        return
    x, batch = leaves[0], states[0].shape[0] if states[0].ndim else None
    if batch is None or x.ndim < 2 or x.shape[1] == batch:
        return
    hint = " (it looks batch-major: use jnp.swapaxes(xs, 0, 1))" if x.shape[0] == batch else ""
    raise ValueError(f"unroll: inputs must be time-major [T, B, ...] with B = the carry's batch {batch}; "
                     f"got shape {x.shape}{hint}")


def stacked_step(cell: Cell, keep_prob: float = 1.0) -> Callable:
    """One time step of a stack of layers: step(params_list, carries, (x, key)) -> (carries, y).
    Dropout (Zaremba et al. 2014 placement, as TF's DropoutWrapper on inputs and outputs) acts on
    each layer's input and output — between layers, never on the recurrent path. key=None: none."""

    def drop(key, v, i):
        return v if key is None or keep_prob >= 1.0 else dropout(jax.random.fold_in(key, i), v, keep_prob)

    def step(params_list, carries, inputs):
        x, key = inputs
        new = []
        for layer, (p, carry) in enumerate(zip(params_list, carries)):
            carry, x = cell.step(p, carry, drop(key, x, 2 * layer))
            x = drop(key, x, 2 * layer + 1)
            new.append(carry)
        return tuple(new), x

    return step


# --- initial states -------------------------------------------------------------------------------

INITIAL_STATES = ("zero", "learned", "noisy", "learned_noisy")


def initial_state_params(cell: Cell, n_layers: int, n_hidden: int, strategies: Sequence[str] | str) -> dict:
    """Trainable initial values for the components whose strategy is learned (zeros to start,
    so training decides). `strategies`: one name for all, or one per (layer, component)."""
    names = _strategies(cell, n_layers, strategies)
    return {f"{layer}_{comp}": jnp.zeros((n_hidden,), jnp.float32)
            for (layer, comp), s in names.items() if s in ("learned", "learned_noisy")}


def _strategies(cell: Cell, n_layers: int, strategies) -> dict[tuple[int, str], str]:
    pairs = [(layer, comp) for layer in range(n_layers) for comp in cell.components]
    if isinstance(strategies, str):
        strategies = [strategies] * len(pairs)
    if len(strategies) != len(pairs):
        raise ValueError(f"{len(strategies)} initial-state strategies for {len(pairs)} state components "
                         f"({n_layers} layers × {cell.components})")
    for s in strategies:
        if s not in INITIAL_STATES:
            raise ValueError(f"unknown initial-state strategy {s!r}; have {INITIAL_STATES}")
    return dict(zip(pairs, strategies))


def initial_carries(cell: Cell, n_layers: int, n_hidden: int, batch: int, strategies, params: dict,
                    key: jax.Array | None = None, noise_std: float = 0.3) -> tuple[Carry, ...]:
    """Per-layer carries for a batch: zero, the learned vector broadcast over the batch, plus
    N(0, noise_std²) noise for the noisy strategies when a key is given (training; pass
    key=None at evaluation to switch the noise off)."""
    names = _strategies(cell, n_layers, strategies)
    carries = []
    for layer in range(n_layers):
        comps = []
        for i, comp in enumerate(cell.components):
            s = names[(layer, comp)]
            v = jnp.zeros((batch, n_hidden), jnp.float32)
            if s in ("learned", "learned_noisy"):
                v = v + params[f"{layer}_{comp}"]
            if s in ("noisy", "learned_noisy") and key is not None:
                v = v + noise_std * jax.random.normal(jax.random.fold_in(key, layer * 16 + i), v.shape)
            comps.append(v)
        carries.append(tuple(comps))
    return tuple(carries)


# --- sampling --------------------------------------------------------------------------------------

def sample_logits(key: jax.Array, logits: jax.Array, temperature: float = 1.0, top_k: int = 0) -> jax.Array:
    """One draw per row from softmax(logits / temperature), restricted to the top_k most likely
    classes when top_k > 0 (the post's `pick_top_chars`). temperature → 0 approaches argmax."""
    logits = logits / temperature
    if top_k:
        kth = jax.lax.top_k(logits, top_k)[0][..., -1:]
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    return jax.random.categorical(key, logits, axis=-1)


def sample_sequence(step: Callable, readout: Callable, params: Any, carry: Any, first: jax.Array, key: jax.Array,
                    length: int, temperature: float = 1.0, top_k: int = 0) -> jax.Array:
    """ids [length] generated one step at a time inside a `lax.scan` (jit it whole): `step(params,
    carry, token) -> (carry, features)` advances the model by one token (batch 1), `readout(params,
    features) -> logits` scores the next one, which is drawn and fed back."""

    def body(state, t):
        carry, token = state
        carry, features = step(params, carry, token)
        nxt = sample_logits(jax.random.fold_in(key, t), readout(params, features), temperature, top_k)
        return (carry, nxt), nxt[0]

    _, ids = jax.lax.scan(body, (carry, first), jnp.arange(length))
    return ids


# --- a fused LSTM layer: whole sequences, hand-written backpropagation through time ------------------

def lstm_sequence(params: dict, carry: Carry, xs: jax.Array, forget_bias: float = 1.0) -> tuple[Carry, jax.Array]:
    """(final (c, h), hs [T, B, H]) of one `lstm_step` layer over xs [T, B, I] — the same function
    as `unroll(lstm_step, ...)`, computed the way cuDNN does: the input projection of every step
    is one large matmul before the loop (`lstm_input_projection`), the loop does only h·W_h and
    the gates (`lstm_recurrence`, whose backward pass is written by hand)."""
    n_in = xs.shape[-1]
    zx = lstm_input_projection(params["w"][:n_in], params["b"], xs)
    return lstm_recurrence(params["w"][n_in:], carry, zx, forget_bias)


def lstm_input_projection(w_x: jax.Array, b: jax.Array, xs: jax.Array) -> jax.Array:
    """xs [T, B, I] @ w_x + b for all steps at once, as a 2-D matmul (so that its gradients are
    2-D matmuls too: contracting over (T, B) as an einsum ran ~25% slower on XLA:CPU)."""
    return (xs.reshape(-1, xs.shape[-1]) @ w_x + b).reshape(*xs.shape[:-1], w_x.shape[-1])


LSTM_UNROLL = 1  # time steps per loop iteration of the recurrence (2 and 4 measured no faster)


@jax.custom_vjp
def lstm_recurrence(w_h: jax.Array, carry: Carry, zx: jax.Array, forget_bias: float = 1.0) -> tuple[Carry, jax.Array]:
    """(final (c, h), hs) of an LSTM layer whose input projections zx [T, B, 4H] (bias included)
    are given: z_t = zx_t + h_{t−1}·w_h, then the gates as in `lstm_step`.

    The backward pass is a hand-written reverse loop that carries (dh, dc) and emits each step's
    gate gradient dz = dL/dz_t, which is also the gradient of zx; the gradient of w_h is then one
    large matmul (instead of one small matmul per step that autodiff of `scan` accumulates)."""
    (c, h), hs, _ = _lstm_forward(w_h, carry, zx, forget_bias)
    return (c, h), hs


def _lstm_forward(w_h, carry, zx, forget_bias):
    """(final (c, h), hs, (gate activations [T, B, 4H], cs [T, B, H])): the residuals are the
    activated gates and the cell states only; everything else is rebuilt from them.

    Per step the loop runs one matmul and one tanh over all four gates: sigmoid(z) =
    ½ + ½·tanh(z/2), with the ½ folded into w_h and zx beforehand (XLA's sigmoid is an exp and a
    divide, and slicing the gates before activating them split the step into several kernels:
    the forward pass got ~30% faster)."""
    n = w_h.shape[0]
    sigmoid_gate = jnp.arange(4 * n) // n != 1  # i, f, o; j (the candidate) takes a plain tanh
    scale = jnp.where(sigmoid_gate, 0.5, 1.0)
    offset = jnp.where(sigmoid_gate, 0.5, 0.0)
    shift = jnp.where(jnp.arange(4 * n) // n == 2, forget_bias, 0.0)
    w_h = w_h * scale
    zx = (zx + shift) * scale

    def step(carry, z_in):
        c, h = carry
        acts = jnp.tanh(z_in + h @ w_h) * scale + offset
        i, j, f, o = jnp.split(acts, 4, -1)
        c = c * f + i * j
        h = jnp.tanh(c) * o
        return (c, h), (h, acts, c)

    (c, h), (hs, acts, cs) = jax.lax.scan(step, carry, zx, unroll=LSTM_UNROLL)
    return (c, h), hs, (acts, cs)


def _lstm_recurrence_fwd(w_h, carry, zx, forget_bias=1.0):
    final, hs, saved = _lstm_forward(w_h, carry, zx, forget_bias)
    return (final, hs), (w_h, carry, hs, saved)


def _lstm_recurrence_bwd(residuals, cotangents):
    w_h, (c0, h0), hs, (acts, cs) = residuals
    (dc_last, dh_last), dhs = cotangents
    # Transposed once, here: left to XLA, the transpose was folded into the loop's matmul and
    # then re-materialized in every iteration (a 400 × 100 copy per step, ~5% of the step).
    w_h_t = jax.lax.optimization_barrier(w_h.T)
    c_prev = jnp.concatenate([c0[None], cs[:-1]], 0)
    h_prev = jnp.concatenate([h0[None], hs[:-1]], 0)
    # Everything that does not depend on the incoming gradients, for all steps at once (large
    # vectorized kernels) — the loop is left with two multiply-adds, one product and the matmul:
    # dz = [dc, dc, dc, dh] * gate_slopes, with gate_slopes the local derivatives of z ↦ (c, h).
    i, j, f, o = jnp.split(acts, 4, -1)
    tanh_c = jnp.tanh(cs)
    dc_dh = o * (1.0 - tanh_c * tanh_c)  # ∂c-path of h = o·tanh(c)
    gate_slopes = jnp.concatenate([j * i * (1.0 - i), i * (1.0 - j * j), c_prev * f * (1.0 - f),
                                   tanh_c * o * (1.0 - o)], -1)

    def step(carry, t_inputs):
        dc_next, dh_next = carry
        dh_out, slopes, dc_dh, f = t_inputs
        dh = dh_out + dh_next
        dc = dc_next + dh * dc_dh
        dz = jnp.concatenate([dc, dc, dc, dh], -1) * slopes
        return (dc * f, dz @ w_h_t), dz

    (dc0, dh0), dz = jax.lax.scan(step, (dc_last, dh_last), (dhs, gate_slopes, dc_dh, f), reverse=True,
                                  unroll=LSTM_UNROLL)
    dw_h = h_prev.reshape(-1, h_prev.shape[-1]).T @ dz.reshape(-1, dz.shape[-1])  # all steps, one matmul
    return dw_h, (dc0, dh0), dz, None


lstm_recurrence.defvjp(_lstm_recurrence_fwd, _lstm_recurrence_bwd)
