"""Word-level LM training throughput (R2RT's truncated-BPTT model): jaxnets vs PyTorch on the
same machine, the fraction of the machine's matmul FLOP/s reached, and true vs TF-style BPTT.

    python benchmarks/word_lm_throughput.py              # needs torch: pip install -e ".[bench]" (Python 3.11 here)
    python benchmarks/word_lm_throughput.py --no-torch --profile   # + where a step's time goes

Model (configs/truncated_bptt.py): embedding [10,000, 50] -> vanilla tanh RNN 100 -> softmax
10,000, batch 32 × num_steps, Adam, dropout keep 0.8 on the RNN's input and output, the state
carried between windows without gradient, on random token windows. jaxnets runs the trainer's
jitted chunk (a `lax.scan` over windows, `sharded_chunk` as `fit` builds it), PyTorch its usual
Python loop (nn.RNN, tanh). The contenders take turns, one pass each per round; best round
counts. The FLOP limit: the softmax layer's three matmuls (forward, and the two of the backward)
are 6·H·V FLOP per token, the recurrence's about 6·(E + H)·H; at the machine's 2048³ matmul
rate (measured in every round, best kept, as its own rate drifts with the machine's load) that
bounds tokens/s. --profile traces one pass of the jaxnets chunk (`jax.profiler`) and prints the
compiled program's operations by time per step. Printed: tokens/s, ratio to PyTorch, fraction of the limit; then
the time of one gradient step for TF-style (num_steps L) vs true BPTT (k, L) at the same L.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Callable

from lm_pass import language_model_pass

VOCAB, BATCH, EMBED, HIDDEN = 10_000, 32, 50, 100


def jaxnets_pass(windows: int, num_steps: int, truncation: str = "tf_style", bptt: int = 0) -> Callable[[], None]:
    return language_model_pass("configs/truncated_bptt.py", [f"--config.model.num_steps={num_steps}",
                                                             f"--config.model.truncation={truncation}",
                                                             f"--config.model.bptt={bptt}"], VOCAB, BATCH, windows)


def torch_pass(windows: int, num_steps: int) -> Callable[[], None]:
    import torch

    torch.manual_seed(0)
    emb, rnn = torch.nn.Embedding(VOCAB, EMBED), torch.nn.RNN(EMBED, HIDDEN, nonlinearity="tanh")
    out, drop = torch.nn.Linear(HIDDEN, VOCAB), torch.nn.Dropout(0.2)
    params = [*emb.parameters(), *rnn.parameters(), *out.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    x = torch.randint(0, VOCAB, (windows, num_steps, BATCH))
    y = torch.randint(0, VOCAB, (windows, num_steps, BATCH))
    loss_fn = torch.nn.CrossEntropyLoss()

    def run():
        state = None
        for w in range(windows):
            opt.zero_grad()
            h, state = rnn(drop(emb(x[w])), state)
            state = state.detach()
            loss = loss_fn(out(drop(h)).reshape(-1, VOCAB), y[w].reshape(-1))
            loss.backward()
            opt.step()

    run()  # warm up
    return run


def matmul_pass(repeats: int = 3) -> Callable[[], None]:
    """`repeats` 2048³ float32 matmuls: timed beside the contenders, 2·2048³·repeats FLOP."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((2048, 2048), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()

    def run():
        for _ in range(repeats):
            f(a).block_until_ready()

    return run


def profile(run: Callable[[], None], steps: int, top: int = 12) -> None:
    """Trace one pass and print the compiled program's operations by time per step (thunks on
    XLA:CPU's worker threads; a loop counts its body's time too, and a matmul that runs on the
    Eigen pool shows only its launch)."""
    import collections
    import glob
    import tempfile

    import jax
    from jax.profiler import ProfileData

    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder):
            run()
        trace = ProfileData.from_file(glob.glob(f"{folder}/**/*.xplane.pb", recursive=True)[0])
    spent, calls = collections.Counter(), collections.Counter()
    for plane in trace.planes:
        for line in plane.lines:
            if "XLAEigen" in line.name:
                for event in line.events:
                    if not event.name.startswith(("ThunkExecutor", "SlinkyThreadPool")):
                        spent[event.name] += event.duration_ns
                        calls[event.name] += 1
    print(f"profile of one pass, per training step (all worker threads): {sum(spent.values()) / 1e6 / steps:.1f} ms")
    for name, ns in spent.most_common(top):
        print(f"  {ns / 1e6 / steps:7.2f} ms  {calls[name] / steps:5.1f}×  {name}")


def interleave(contenders: dict[str, Callable], rounds: int) -> dict[str, float]:
    best = {name: float("inf") for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def print_rates(rates: dict[str, float], limit: float) -> None:
    """Each contender's tokens/s, its share of the FLOP limit and its ratio to PyTorch's."""
    torch_rate = next((r for n, r in rates.items() if n.startswith("PyTorch")), None)
    for name, rate in rates.items():
        ratio = f", {rate / torch_rate:.2f}× PyTorch" if torch_rate and not name.startswith("PyTorch") else ""
        print(f"{name}: {rate:,.0f} tokens/s ({rate / limit:.0%} of the FLOP limit{ratio})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--profile", action="store_true", help="print where a step's time goes")
    args = parser.parse_args()
    import jax

    steps = 20
    contenders = {"jaxnets (trainer's chunk, TF-style num_steps 20)": jaxnets_pass(args.windows, steps)}
    if not args.no_torch:
        import torch

        contenders[f"PyTorch {torch.__version__} nn.RNN ({torch.get_num_threads()} threads)"] = \
            torch_pass(args.windows, steps)
    repeats = 3
    best = interleave({**contenders, "matmul": matmul_pass(repeats)}, args.rounds)
    peak = 2 * 2048 ** 3 * repeats / best.pop("matmul")
    tokens = args.windows * BATCH * steps
    limit = peak / (6 * HIDDEN * VOCAB + 6 * (EMBED + HIDDEN) * HIDDEN)
    flags = os.environ.get("XLA_FLAGS", "")
    print(f"jax {jax.__version__} ({jax.default_backend()}{', XLA_FLAGS=' + flags if flags else ''}); best of {args.rounds} interleaved rounds of "
          f"{args.windows} windows of {BATCH} × {steps}; matmul {peak / 1e9:.0f} GFLOP/s -> FLOP limit "
          f"{limit:,.0f} tokens/s")
    print_rates({name: tokens / seconds for name, seconds in best.items()}, limit)
    if args.profile:
        profile(next(iter(contenders.values())), args.windows)

    length, k = 40, 20  # the post's timing: num_steps 40, bptt 20
    styles = {f"TF-style num_steps {length}": jaxnets_pass(args.windows // 2, length),
              f"true BPTT k {k}, L {length}": jaxnets_pass(args.windows // 2, length, "true", k)}
    best = interleave(styles, args.rounds)
    per_step = {name: 1e3 * seconds / (args.windows // 2) for name, seconds in best.items()}
    (tf_name, tf_ms), (true_name, true_ms) = per_step.items()
    print(f"one training step (gradient + Adam) per window of {BATCH} × {length}: {tf_name} {tf_ms:.1f} ms, "
          f"{true_name} {true_ms:.1f} ms: ratio {true_ms / tf_ms:.2f} (published, TF 0.x: 173 / 80.2 ms = 2.16)")


if __name__ == "__main__":
    main()
