"""Char-RNN training throughput: jaxnets vs PyTorch (`torch.nn.LSTM`) on the same machine.

    python benchmarks/lstm_throughput.py             # needs torch: pip install -e ".[bench]" (Python 3.11 here)
    python benchmarks/lstm_throughput.py --no-torch  # jaxnets only
    python benchmarks/lstm_throughput.py --cell gru  # any jaxnets cell (torch side: LSTM/GRU)

Both sides train the char_rnn config's model — embedding [65, 100] -> 3 recurrent layers of 100
-> linear 65, batch 32 × 80 steps, Adam 1e-4, mean cross-entropy, state carried between windows
without gradient — on random token windows. jaxnets runs its real training chunk (a jitted
`lax.scan` over windows, the trainer's step inside), PyTorch its usual Python loop. Printed:
tokens/s for each and the ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def jaxnets_rate(cell: str, windows: int, repeats: int, vocab=65, batch=32, steps=80, fused: bool = True,
                 shard_batch: str = "always") -> float:
    """Tokens/s of the trainer's own jitted chunk (`sharded_chunk`, as `fit` builds it): one seed,
    the window's rows split over the CPU devices (one per core) when shard_batch = 'always'."""
    import jax

    from jaxnets.config import load
    from jaxnets.experiments.char_rnn import char_rnn_task
    from jaxnets.train import init_state, make_optimizer, sharding
    from jaxnets.train.loop import sharded_chunk

    config = load("configs/char_rnn.py", [f"--config.model.cell={cell}", f"--config.model.fused_lstm={fused}",
                                          f"--config.train.shard_batch={shard_batch}"])
    rng = np.random.default_rng(0)
    data = {"x": rng.integers(0, vocab, (windows * batch, steps)).astype(np.int32),  # rows of windows, window-major
            "y": rng.integers(0, vocab, (windows * batch, steps)).astype(np.int32)}
    task = char_rnn_task(config.model, vocab, batch, windows)
    optimizer = make_optimizer(config.optimizer)
    mesh = sharding.make_mesh(1, batch, shard_batch=shard_batch)
    chunk = sharded_chunk(task, optimizer, config.train, mesh, windows)
    state = jax.jit(jax.vmap(lambda k: init_state(task, optimizer, k)),
                    out_shardings=sharding.per_seed(mesh))(jax.random.PRNGKey(0)[None])
    data = sharding.put_replicated(mesh, data)
    state, _ = chunk(state, data)  # compile
    jax.block_until_ready(state)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        state, metrics = chunk(state, data)
        jax.block_until_ready(metrics)
        best = min(best, time.perf_counter() - start)
    return windows * batch * steps / best


def torch_rate(cell: str, windows: int, repeats: int, vocab=65, batch=32, steps=80, hidden=100, layers=3) -> float:
    import torch

    torch.manual_seed(0)
    rnn_cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(cell, torch.nn.LSTM)
    emb, rnn, out = torch.nn.Embedding(vocab, hidden), rnn_cls(hidden, hidden, layers), torch.nn.Linear(hidden, vocab)
    params = [*emb.parameters(), *rnn.parameters(), *out.parameters()]
    opt = torch.optim.Adam(params, lr=1e-4)
    x = torch.randint(0, vocab, (windows, steps, batch))
    y = torch.randint(0, vocab, (windows, steps, batch))
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch():
        state = None
        for w in range(windows):
            opt.zero_grad()
            h, state = rnn(emb(x[w]), state)
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
            loss = loss_fn(out(h).reshape(-1, vocab), y[w].reshape(-1))
            loss.backward()
            opt.step()

    epoch()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        epoch()
        best = min(best, time.perf_counter() - start)
    return windows * batch * steps / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--windows", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--variants", default="all",
                        help="comma-separated: plain (autodiff, all layers per step), fused, fused_1dev "
                             "(fused on one device); default all for lstm")
    args = parser.parse_args()
    from jaxnets.train.sharding import cpu_devices_per_core

    cpu_devices_per_core()  # as the CLI does: one CPU device per core
    import jax

    runs = {"plain": ("all layers per scan step, autodiff BPTT, rows split over devices", False, "always"),
            "fused_1dev": ("fused layers, hand-written BPTT, one device", True, "never"),
            "fused": ("fused layers, hand-written BPTT, rows split over devices", True, "always")}
    chosen = list(runs) if args.variants == "all" else args.variants.split(",")
    if args.cell != "lstm":
        runs = {"fused": ("rows split over devices", True, "always")}
        chosen = ["fused"]
    print(f"jax {jax.__version__}, {jax.default_backend()}, {jax.device_count()} devices")
    for name in chosen:
        label, fused, shard = runs[name]
        rate = jaxnets_rate(args.cell, args.windows, args.repeats, fused=fused, shard_batch=shard)
        print(f"jaxnets {args.cell} ({label}): {rate:,.0f} tokens/s")
    ours = rate
    if not args.no_torch:
        import torch

        theirs = torch_rate(args.cell, args.windows, args.repeats)
        print(f"PyTorch {torch.__version__} nn.{args.cell.upper()}: {theirs:,.0f} tokens/s "
              f"({torch.get_num_threads()} threads)")
        print(f"ratio jaxnets / PyTorch: {ours / theirs:.2f}×")


if __name__ == "__main__":
    main()
