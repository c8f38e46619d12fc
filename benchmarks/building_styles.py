"""RNN II's graph-building styles, in JAX: a 3-layer LSTM (state 100, batch 32, 65 characters)
built as a Python-unrolled loop, as `lax.scan`, and as `lax.scan(unroll=8)`, for num_steps 10,
50, 100, 200 — compile time and training-step time (an Adam step of the mean cross-entropy),
and the loss each computes on the same parameters and batch (equal to float tolerance).

The post (TF, its 3-epoch table): a static list of cells took 25.6 s to build vs 0.53 s for
`dynamic_rnn` and 0.65 s for `scan`, with equal losses, the list fastest per epoch.

    python benchmarks/building_styles.py [--steps 10,50,100,200] [--repeats 20] [--figure PATH]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxnets.models import rnn_lm
from jaxnets.nn import rnn

VOCAB, BATCH, STATE, LAYERS = 65, 32, 100, 3
STYLES = ("python loop", "lax.scan", "lax.scan unroll=8")


def model_config(num_steps: int) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"cell": "lstm", "num_layers": LAYERS, "state_size": STATE, "embedding_size": 0,
                                      "num_steps": num_steps, "keep_prob": 1.0, "w_init": "glorot_uniform",
                                      "num_weights": 1, "fused_lstm": False})


def loss_fn(style: str, model):
    step = rnn.stacked_step(rnn.get_cell("lstm"))

    def loss(params, x, y):
        carries = rnn_lm.zero_carries(model, BATCH)
        emb = params["embedding"][x.T]  # [T, B, H]
        if style == "python loop":  # the graph holds every time step: TF's static list of cells
            hs = []
            for t in range(emb.shape[0]):
                carries, h = step(params["layers"], carries, (emb[t], None))
                hs.append(h)
            hs = jnp.stack(hs)
        else:
            unroll = 8 if style.endswith("unroll=8") else 1
            carries, hs = jax.lax.scan(lambda c, e: step(params["layers"], c, (e, None)), carries, emb,
                                       unroll=unroll)
        return jnp.mean(rnn_lm.token_losses(params, hs, y.T))

    return loss


def measure(style: str, num_steps: int, repeats: int) -> dict:
    model = model_config(num_steps)
    params = rnn_lm.init(jax.random.PRNGKey(0), model, VOCAB)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.integers(0, VOCAB, (BATCH, num_steps)))
    y = jnp.asarray(rng.integers(0, VOCAB, (BATCH, num_steps)))
    optimizer = optax.adam(1e-3)
    loss = loss_fn(style, model)

    def train_step(params, opt_state, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    opt_state = optimizer.init(params)
    start = time.perf_counter()
    compiled = jax.jit(train_step).lower(params, opt_state, x, y).compile()
    compile_s = time.perf_counter() - start
    first_loss = float(jax.jit(loss)(params, x, y))
    p, s, _ = compiled(params, opt_state, x, y)
    jax.block_until_ready(p)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        p, s, value = compiled(p, s, x, y)
        jax.block_until_ready(value)
        times.append(time.perf_counter() - start)
    return {"compile_s": compile_s, "step_ms": 1000 * float(np.median(times)), "loss": first_loss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="10,50,100,200")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--styles", default=",".join(STYLES), help="comma-separated, of: " + ", ".join(STYLES))
    parser.add_argument("--figure", help="also draw compile and step time against num_steps into this PNG")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    styles = [s for s in STYLES if s in args.styles.split(",")]
    results = {}
    print(f"3-layer LSTM, state {STATE}, batch {BATCH}, {VOCAB} characters, Adam step; {jax.default_backend()}, "
          f"{jax.device_count()} device(s), jax {jax.__version__}")
    print("| num_steps | style | compile (s) | step (ms) | loss at init | loss − first style's |")
    print("|---|---|---|---|---|---|")
    for n in steps:
        for style in styles:
            results[(n, style)] = measure(style, n, args.repeats)
        reference = results[(n, styles[0])]["loss"]
        for style in styles:
            r = results[(n, style)]
            print(f"| {n} | {style} | {r['compile_s']:.2f} | {r['step_ms']:.1f} | {r['loss']:.6f} | "
                  f"{r['loss'] - reference:+.1e} |", flush=True)  # (against the first style measured)
            assert abs(r["loss"] - reference) < 1e-4, (n, style, r["loss"], reference)
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for style in styles:
            axes[0].plot(steps, [results[(n, style)]["compile_s"] for n in steps], marker="o", label=style)
            axes[1].plot(steps, [results[(n, style)]["step_ms"] for n in steps], marker="o", label=style)
        axes[0].set(xlabel="num_steps", ylabel="compile time (s)", title="building the program")
        axes[1].set(xlabel="num_steps", ylabel="training step (ms)", title="running it")
        for ax in axes:
            ax.legend()
            ax.grid(alpha=0.3)
        fig.suptitle(f"3-layer LSTM {STATE}, batch {BATCH}: Python loop vs lax.scan ({jax.default_backend()})")
        fig.tight_layout()
        fig.savefig(args.figure, dpi=100)
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
