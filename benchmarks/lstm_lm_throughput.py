"""The initial-state post's language model (configs/initial_states.py: embedding 200 -> 2 × LSTM(200)
-> softmax 10,000, batch 30 × 50, no dropout, Adam, every window from the trained initial state)
in training: jaxnets' trainer chunk vs PyTorch's nn.LSTM on the same machine, taking turns.

    python benchmarks/lstm_lm_throughput.py          # needs torch (Python 3.11 here: pip install -e ".[bench]")

Both sides: random token windows, the loss the per-step batch means summed over the window, one
Adam step per window; PyTorch's initial state is a trained [2, 1, 200] parameter per component
expanded over the batch (as the variable strategy). Printed: tokens/s, the ratio, and the share
of the FLOP limit set by the machine's 2048³ matmul rate (6·H·V + 2 layers · 6·(E + H)·4H FLOP
per token).
"""

from __future__ import annotations

import argparse
from typing import Callable

from lm_pass import language_model_pass
from word_lm_throughput import interleave, matmul_pass, print_rates

VOCAB, BATCH, STEPS, HIDDEN, LAYERS = 10_000, 30, 50, 200, 2


def jaxnets_pass(windows: int, variant: str) -> Callable[[], None]:
    return language_model_pass(f"configs/initial_states.py:{variant}", [], VOCAB, BATCH, windows)


def torch_pass(windows: int) -> Callable[[], None]:
    import torch

    torch.manual_seed(0)
    emb, lstm = torch.nn.Embedding(VOCAB, HIDDEN), torch.nn.LSTM(HIDDEN, HIDDEN, num_layers=LAYERS)
    out = torch.nn.Linear(HIDDEN, VOCAB)
    h0, c0 = (torch.nn.Parameter(torch.zeros(LAYERS, 1, HIDDEN)) for _ in range(2))
    opt = torch.optim.Adam([*emb.parameters(), *lstm.parameters(), *out.parameters(), h0, c0], lr=1e-3)
    x = torch.randint(0, VOCAB, (windows, STEPS, BATCH))
    y = torch.randint(0, VOCAB, (windows, STEPS, BATCH))

    def run():
        for w in range(windows):
            opt.zero_grad()
            h, _ = lstm(emb(x[w]), (h0.expand(-1, BATCH, -1).contiguous(), c0.expand(-1, BATCH, -1).contiguous()))
            losses = torch.nn.functional.cross_entropy(out(h).reshape(-1, VOCAB), y[w].reshape(-1), reduction="none")
            losses.reshape(STEPS, BATCH).mean(dim=1).sum().backward()
            opt.step()

    run()  # warm up
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args()
    import jax

    contenders = {"jaxnets (trainer's chunk, variable initial state)": jaxnets_pass(args.windows, "variable")}
    if not args.no_torch:
        import torch

        contenders[f"PyTorch {torch.__version__} nn.LSTM ({torch.get_num_threads()} threads)"] = torch_pass(args.windows)
    repeats = 3
    best = interleave({**contenders, "matmul": matmul_pass(repeats)}, args.rounds)
    peak = 2 * 2048 ** 3 * repeats / best.pop("matmul")
    limit = peak / (6 * HIDDEN * VOCAB + LAYERS * 6 * (2 * HIDDEN) * 4 * HIDDEN)
    tokens = args.windows * BATCH * STEPS
    print(f"jax {jax.__version__} ({jax.default_backend()}); best of {args.rounds} interleaved rounds of {args.windows} "
          f"windows of {BATCH} × {STEPS}; matmul {peak / 1e9:.0f} GFLOP/s -> FLOP limit {limit:,.0f} tokens/s")
    print_rates({name: tokens / seconds for name, seconds in best.items()}, limit)


if __name__ == "__main__":
    main()
