"""What most experiments share: train with the common loop, evaluate every seed, write
summary.json and the training-curve plot."""

from __future__ import annotations

import numpy as np

from jaxnets import plots, rundir
from jaxnets.experiments import RunContext
from jaxnets.train import FitResult, Task, fit, make_optimizer
from jaxnets.train.sharding import is_primary


def reference_of(ctx: RunContext) -> dict:
    return {k: v for k, v in ctx.config.reference.to_dict().items() if v is not None}


def train_task(ctx: RunContext, task: Task, train_data: dict, eval_data: dict) -> tuple[FitResult, dict]:
    """Fit all seeds and return the result with the final per-seed eval metrics."""
    optimizer = make_optimizer(ctx.config.optimizer)
    result = fit(task, optimizer, train_data, eval_data, ctx.config.train, ctx.workdir, ctx.seeds, ctx.log)
    return result, result.final_eval


def finish(ctx: RunContext, result: FitResult, per_seed: dict[str, np.ndarray], extra: dict | None = None) -> dict:
    if is_primary():
        plots.training_curves(result.history, ctx.workdir / "plots" / "curves.png",
                              title=f"{ctx.config.experiment} ({len(ctx.seeds)} seed{'s' * (len(ctx.seeds) > 1)})")
    summary = rundir.write_summary(
        ctx.workdir, experiment=ctx.config.experiment, config_file=ctx.config_file, seeds=ctx.seeds,
        per_seed=per_seed, reference=reference_of(ctx), steps=result.steps, wall_time_s=result.wall_time_s,
        examples_per_s=result.examples_per_s, extra=extra)
    shown = ", ".join(f"{k} {v:.4f}" + (f" ± {summary['metrics_std'][k]:.4f}" if k in summary["metrics_std"] else "")
                      for k, v in summary["metrics"].items())
    ctx.log(f"done: {shown} (published: {summary['reference']}); wrote {ctx.workdir / 'summary.json'}")
    return summary
