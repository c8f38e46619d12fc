"""How much a PTB language model's validation loss moves between the window layout jaxnets used
before issue 34 ((n − 1) // B tokens a row, rows // num_steps windows) and TF's `ptb_iterator`
(n // B a row, (row − 1) // num_steps windows), for a trained run's final checkpoint.

    python benchmarks/ptb_layout_shift.py <language-model run folder> [--split valid]

The state is carried through the split from the run's initial state, as the trainer's
evaluation does; the first line checks the old layout against the run's own last logged loss.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import jaxnets
from jaxnets.data.text import text_rows, word_corpus
from jaxnets.models import rnn_lm


def old_rows(series: np.ndarray, batch_size: int, num_steps: int) -> dict[str, np.ndarray]:
    """The layout before issue 34 (its text_rows), kept here only to measure the difference."""
    n_rows = (len(series) - 1) // batch_size
    n_windows = n_rows // num_steps
    x = series[: batch_size * n_rows].reshape(batch_size, n_rows)
    y = series[1: batch_size * n_rows + 1].reshape(batch_size, n_rows)
    return {"x": x[:, : n_windows * num_steps], "y": y[:, : n_windows * num_steps]}


def mean_loss(params, model, rows: dict[str, np.ndarray]) -> float:
    """Nats per token over every window, the state carried from window to window."""
    batch, steps = rows["x"].shape[0], model.num_steps
    xs = jnp.asarray(rows["x"]).reshape(batch, -1, steps).transpose(1, 0, 2)
    ys = jnp.asarray(rows["y"]).reshape(batch, -1, steps).transpose(1, 0, 2)

    @jax.jit
    def run(params):
        def window(carries, xy):
            x, y = xy
            final, hs = rnn_lm.features(params, carries, x, model)
            return final, jnp.mean(rnn_lm.token_losses(params, hs, y.T))

        _, losses = jax.lax.scan(window, rnn_lm.start_carries(params, model, batch), (xs, ys))
        return jnp.mean(losses)

    return float(run(params))


def read(workdir: pathlib.Path) -> dict:
    """`jaxnets.load_run`, or for a run checkpointed before the checksum became path-canonical
    (issue 35), the newest checkpoint read unverified by orbax: this script measures old runs."""
    try:
        return jaxnets.load_run(workdir)
    except Exception:  # noqa: BLE001
        import ml_collections
        import orbax.checkpoint as ocp

        from jaxnets.train.checkpoint import _lists, open_manager

        manager = open_manager((workdir / "checkpoints").absolute(), create=False)
        step = manager.latest_step()
        state = _lists(manager.restore(step, args=ocp.args.StandardRestore()))
        manager.close()
        saved = json.loads((workdir / "config.json").read_text())
        return {"config": ml_collections.ConfigDict(saved["config"]), "step": step, "params": state["params"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir")
    parser.add_argument("--split", default="valid")
    args = parser.parse_args()
    run = read(pathlib.Path(args.workdir))
    model, batch = run["config"].model, run["config"].train.batch_size
    params = jax.tree.map(lambda a: jnp.asarray(a[0]), run["params"])
    series = word_corpus(run["config"].data.name).splits[args.split]
    old = mean_loss(params, model, old_rows(series, batch, model.num_steps))
    new = mean_loss(params, model, text_rows(series, batch, model.num_steps))
    logged = [json.loads(line) for line in pathlib.Path(args.workdir, "metrics.jsonl").read_text().splitlines()]
    name = {"valid": "validation", "test": "test"}[args.split]
    last = [r for r in logged if r.get("step") == run["step"] and f"{name}_loss" in r]
    print(f"{args.workdir} at step {run['step']}, {args.split}: old layout {old:.4f} "
          f"(logged {last[0][f'{name}_loss']:.4f})" if last else f"old layout {old:.4f}")
    print(f"TF ptb_iterator layout {new:.4f}; shift {new - old:+.4f} nats")


if __name__ == "__main__":
    main()
