"""MLP training throughput: jaxnets vs PyTorch on the same machine, and the fraction of the
machine's matmul FLOP/s the large model reaches.

    python benchmarks/mlp_throughput.py            # needs torch: pip install -e ".[bench]" (Python 3.11 here)
    python benchmarks/mlp_throughput.py --no-torch # jaxnets and the FLOP/s fraction only

Both sides train the same sigmoid MLP with Adam (lr 1e-3) and softmax cross-entropy on a
60,000 x 784 data set held in memory, drawing shuffled batches; jaxnets runs its real training
chunk (a jitted `lax.scan` of 2000 or 100 steps), PyTorch its usual Python loop. Printed:
examples/s for each and the ratio.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxnets.config import load
from jaxnets.experiments.classifier import classifier_task
from jaxnets.train import Shuffled, init_state, make_chunk, make_optimizer, sharding
from jaxnets.train.loop import sharded_chunk

MODELS = {  # name: (hidden sizes, batch size)
    "784-100-100-10 @ batch 100": ((100, 100), 100),
    "784-1024-10 @ batch 1000": ((1024,), 1000),
}


def train_flops(sizes: tuple[int, ...], batch: int) -> float:
    """Matmul FLOPs of one training step: forward x·W, backward dW for every layer and dX for
    every layer but the first (the input needs no gradient)."""
    layers = list(zip(sizes[:-1], sizes[1:]))
    return sum(2 * batch * i * o * (3 if k else 2) for k, (i, o) in enumerate(layers))


def data(n=60000):
    rng = np.random.default_rng(0)
    return {"x": rng.random((n, 784), dtype=np.float32), "y": rng.integers(0, 10, n).astype(np.int32)}


def time_best(fn, repeats: int) -> float:
    fn()  # warm-up / compile
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def jaxnets_rate(hidden, batch, arrays, steps, repeats, vmapped: bool = True) -> float:
    """Examples/s of the chunk `jaxnets train` runs (vmapped over a 1-seed axis on the trivial
    mesh), or of the bare un-vmapped chunk."""
    config = load("configs/mnist_mlp.py", [f"--config.model.hidden_sizes={tuple(hidden)}",
                                           f"--config.train.batch_size={batch}"])
    task, optimizer = classifier_task(config.model), make_optimizer(config.optimizer)
    state = init_state(task, optimizer, jax.random.PRNGKey(0))
    if vmapped:
        mesh = sharding.make_mesh(1, batch, jax.devices()[:1])
        chunk = sharded_chunk(task, optimizer, Shuffled(batch), mesh, steps)
        state = jax.tree.map(lambda a: a[None], state)
        device_data = sharding.put_replicated(mesh, arrays)
    else:
        chunk = jax.jit(make_chunk(task, optimizer, Shuffled(batch), steps), donate_argnums=0)
        device_data = jax.device_put(arrays)
    holder = {"state": state}

    def run():
        holder["state"], metrics = chunk(holder["state"], device_data)
        jax.block_until_ready(metrics)

    return steps * batch / time_best(run, repeats)


def torch_rate(hidden, batch, arrays, steps, repeats, threads) -> float:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    sizes = (784, *hidden, 10)
    layers = []
    for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(i, o))
        if k < len(sizes) - 2:
            layers.append(torch.nn.Sigmoid())
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["y"]).long()
    loss_fn = torch.nn.CrossEntropyLoss()
    n = len(x)

    def run():
        perm = torch.randperm(n)
        for step in range(steps):
            start = (step * batch) % (n - batch + 1)
            idx = perm[start:start + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
        float(loss)

    return steps * batch / time_best(run, repeats)


def matmul_peak(repeats: int) -> float:
    """Best FLOP/s of a large square float32 matmul: the machine's practical peak."""
    n = 2048
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n))
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n))
    matmul = jax.jit(lambda a, b: a @ b)
    return 2 * n**3 / time_best(lambda: jax.block_until_ready(matmul(a, b)), repeats)


def step_matmuls_rate(sizes: tuple[int, ...], batch: int, steps: int, repeats: int) -> float:
    """FLOP/s of the step's matmuls alone, at the step's shapes (x·W and dW = xᵀ·g per layer,
    dX = g·Wᵀ past the first), in a scan: the ceiling for a step that did nothing else."""
    keys = jax.random.split(jax.random.PRNGKey(0), 3 * len(sizes))
    acts = [jax.random.normal(k, (batch, n)) for k, n in zip(keys, sizes)]
    weights = [jax.random.normal(k, (i, o)) for k, i, o in zip(keys[len(sizes):], sizes[:-1], sizes[1:])]

    def one(carry, _):
        total = carry
        for k, w in enumerate(weights):
            x, g = acts[k] + total, acts[k + 1] + total  # depend on the carry: nothing is hoisted
            total = total + (x @ w).sum() * 1e-9 + (x.T @ g).sum() * 1e-9
            if k:
                total = total + (g @ w.T).sum() * 1e-9
        return total, None

    run = jax.jit(lambda: jax.lax.scan(one, jnp.float32(0), None, length=steps)[0])
    return train_flops(sizes, batch) * steps / time_best(lambda: jax.block_until_ready(run()), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (the machine's cores)")
    args = parser.parse_args()
    arrays = data()
    peak = matmul_peak(10)
    print(f"jax {jax.__version__} on {jax.default_backend()} ({jax.device_count()} device(s)); "
          f"matmul peak {peak / 1e9:.1f} GFLOP/s (2048^3 float32)")
    for name, (hidden, batch) in MODELS.items():
        steps = 2000 if batch <= 100 else 100
        jax_rate = jaxnets_rate(hidden, batch, arrays, steps, args.repeats)
        bare_rate = jaxnets_rate(hidden, batch, arrays, steps, args.repeats, vmapped=False)
        flops = train_flops((784, *hidden, 10), batch)
        ceiling = step_matmuls_rate((784, *hidden, 10), batch, steps, args.repeats)
        achieved = flops * jax_rate / batch
        line = (f"{name}: jaxnets {jax_rate:,.0f} ex/s (un-vmapped chunk {bare_rate:,.0f}), "
                f"{achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.0%} of matmul peak, "
                f"{achieved / ceiling:.0%} of the same matmuls alone ({ceiling / 1e9:.1f} GFLOP/s)")
        if not args.no_torch:
            torch_steps = 500 if batch <= 100 else 50
            t_rate = torch_rate(hidden, batch, arrays, torch_steps, args.repeats, args.threads)
            line += f" | torch {t_rate:,.0f} ex/s | ratio jaxnets/torch {jax_rate / t_rate:.2f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()
