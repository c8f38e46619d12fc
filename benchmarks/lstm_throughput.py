"""Char-RNN training throughput: jaxnets vs PyTorch (`torch.nn.LSTM`) on the same machine.

    python benchmarks/lstm_throughput.py             # needs torch: pip install -e ".[bench]" (Python 3.11 here)
    python benchmarks/lstm_throughput.py --no-torch  # jaxnets only
    python benchmarks/lstm_throughput.py --cell gru  # any jaxnets cell (torch side: LSTM/GRU)

Both sides train the char_rnn config's model — embedding [65, 100] -> 3 recurrent layers of 100
-> linear 65, batch 32 × 80 steps, Adam 1e-4, mean cross-entropy, state carried between windows
without gradient — on random token windows. jaxnets runs the trainer's own jitted chunk (a
`lax.scan` over windows, built by `sharded_chunk` as `fit` builds it), PyTorch its usual Python
loop. The contenders take turns, one pass over the windows each per round, so that the machine's
background load falls on all of them alike; each one's best round counts. Printed: tokens/s
for each and the ratio to PyTorch.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

from lm_pass import language_model_pass  # benchmarks/: the trainer's chunk

VOCAB, BATCH, STEPS, HIDDEN, LAYERS = 65, 32, 80, 100, 3


def jaxnets_pass(cell: str, windows: int, fused: bool = True, shard_batch: str = "always") -> Callable[[], None]:
    """The char_rnn config's trainer chunk; the window's rows split over the CPU devices (one per
    core) when shard_batch = 'always'."""
    return language_model_pass("configs/char_rnn.py", [f"--config.model.cell={cell}",
                                                       f"--config.model.fused_lstm={fused}"],
                               VOCAB, BATCH, windows, shard_batch)


def torch_pass(cell: str, windows: int) -> Callable[[], None]:
    import torch

    torch.manual_seed(0)
    rnn_cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(cell, torch.nn.LSTM)
    emb, rnn, out = torch.nn.Embedding(VOCAB, HIDDEN), rnn_cls(HIDDEN, HIDDEN, LAYERS), torch.nn.Linear(HIDDEN, VOCAB)
    params = [*emb.parameters(), *rnn.parameters(), *out.parameters()]
    opt = torch.optim.Adam(params, lr=1e-4)
    x = torch.randint(0, VOCAB, (windows, STEPS, BATCH))
    y = torch.randint(0, VOCAB, (windows, STEPS, BATCH))
    loss_fn = torch.nn.CrossEntropyLoss()

    def run():
        state = None
        for w in range(windows):
            opt.zero_grad()
            h, state = rnn(emb(x[w]), state)
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
            loss = loss_fn(out(h).reshape(-1, VOCAB), y[w].reshape(-1))
            loss.backward()
            opt.step()

    run()  # warm up
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--windows", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--variants", default="fused_1dev,fused",
                        help="comma-separated jaxnets contenders: fused (fused LSTM layers, rows split over the "
                             "devices: the char_rnn config), fused_1dev (one device), plain (autodiff through the "
                             "scanned cell, rows split); other cells: 'fused' = the config's path")
    args = parser.parse_args()
    from jaxnets.train.sharding import cpu_devices_per_core

    cpu_devices_per_core()  # as the CLI does: one CPU device per core
    import jax

    labels = {"plain": ("all layers per scan step, autodiff BPTT, rows split over devices", False, "always"),
              "fused_1dev": ("fused layers, hand-written BPTT, one device", True, "never"),
              "fused": ("fused layers, hand-written BPTT, rows split over devices", True, "always")}
    if args.cell != "lstm":
        labels = {"fused": ("rows split over devices", True, "always"),
                  "fused_1dev": ("one device", True, "never")}
    contenders = {}
    for name in args.variants.split(","):
        label, fused, shard = labels[name]
        contenders[f"jaxnets {args.cell} ({label})"] = jaxnets_pass(args.cell, args.windows, fused, shard)
    if not args.no_torch:
        import torch

        contenders[f"PyTorch {torch.__version__} nn.{args.cell.upper()} ({torch.get_num_threads()} threads)"] = \
            torch_pass(args.cell, args.windows)
    best = {name: float("inf") for name in contenders}
    for _ in range(args.rounds):
        for name, run in contenders.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    tokens = args.windows * BATCH * STEPS
    print(f"jax {jax.__version__} ({jax.default_backend()}, {jax.device_count()} devices); "
          f"best of {args.rounds} interleaved rounds of {args.windows} windows")
    rates = {name: tokens / seconds for name, seconds in best.items()}
    torch_rate = next((r for n, r in rates.items() if n.startswith("PyTorch")), None)
    for name, rate in rates.items():
        ratio = f"  ({rate / torch_rate:.2f}× PyTorch)" if torch_rate and not name.startswith("PyTorch") else ""
        print(f"{name}: {rate:,.0f} tokens/s{ratio}")


if __name__ == "__main__":
    main()
