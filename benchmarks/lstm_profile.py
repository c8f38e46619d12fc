"""Where one LSTM layer's time goes: µs per time step of the pieces, for batch 32 × 100 units ×
80 steps (the char_rnn shapes). Run on a quiet machine.

    python benchmarks/lstm_profile.py
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from jaxnets.nn import rnn

T, B, H = 80, 32, 100


def per_step_us(fn, *args, repeats=20) -> float:
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best / T * 1e6


def main() -> None:
    key = jax.random.PRNGKey(0)
    params = rnn.lstm_init(key, H, H)
    xs = jax.random.normal(key, (T, B, H))
    carry = (jnp.zeros((B, H)), jnp.zeros((B, H)))
    w_h = params["w"][H:]

    def loss(fn):
        return lambda p, x: jnp.sum(fn(p, carry, x)[1])

    naive = lambda p, c, x: rnn.unroll(rnn.lstm_step, p, c, x)  # noqa: E731
    rows = {
        "matmul only: scan of tanh(h @ W_h) [32x100]x[100x400]": jax.jit(
            lambda h0: jax.lax.scan(lambda h, _: (jnp.tanh(h @ w_h)[:, :H], None), h0, None, length=T)[0]),
        "naive cell, forward": jax.jit(naive),
        "naive cell, forward + autodiff backward": jax.jit(jax.grad(loss(naive))),
        "fused layer, forward": jax.jit(rnn.lstm_sequence),
        "fused layer, forward + hand-written backward": jax.jit(jax.grad(loss(rnn.lstm_sequence))),
    }
    flops = 2 * B * H * 4 * H
    for name, fn in rows.items():
        args = (carry[1],) if name.startswith("matmul") else (params, carry, xs) if "backward" not in name else (params, xs)
        us = per_step_us(fn, *args)
        print(f"{name:60s} {us:8.1f} µs/step" + (f"  ({flops / us / 1e3:.1f} GFLOP/s)" if name.startswith("matmul") else ""))


if __name__ == "__main__":
    main()
