"""jaxnets: classic neural-network experiments as pure, jitted, vmapped JAX functions.

From Python, one call does what `python -m jaxnets train|sweep` does:

    import jaxnets
    summary = jaxnets.run("configs/mnist_mlp.py", {"train.steps": 200}, workdir="runs/try")
    summary["metrics"]["test_error"]

and `jaxnets.load_run(workdir)` reads a run back: its config, summary and trained parameters.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["run", "load_run", "__version__"]


def run(config, overrides: dict | None = None, workdir=None, seeds: int = 1, *, overwrite: bool = False,
        log=print, learning_rates=None) -> dict:
    """Train `config` — a path `configs/x.py[:variant]` or an `ml_collections.ConfigDict` — with
    `overrides` ({"train.steps": 200, "model.cell": "gru"}, checked like `--config.k=v`) for
    `seeds` seeds (config.seed, config.seed + 1, ...; more than one is a vmapped sweep) in
    `workdir` (default: the CLI's, `runs/<name>[_<overrides>][_seeds<N>]`; for a ConfigDict,
    `runs/<experiment>_<hash of the config>[_seeds<N>]`, so two different configs never share a
    folder), and return the summary that `summary.json` holds. `learning_rates` ([0.01, 0.1]):
    every seed at each rate, one program, each metric per rate as `<metric>@lr<rate>` (as
    `sweep --learning-rates`). Like the CLI it gives JAX one CPU device per core when
    called before JAX has started, and a rerun resumes."""
    import pathlib

    import ml_collections

    from jaxnets.train.sharding import cpu_devices_per_core

    cpu_devices_per_core()  # before anything touches a device; a no-op once JAX has started
    from jaxnets import config as config_lib
    from jaxnets import runner

    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise config_lib.ConfigError(f"seeds must be a positive int, not {seeds!r}")
    texts = [f"--config.{key}={config_lib.override_text(value)}" for key, value in (overrides or {}).items()]
    n_seeds = seeds if seeds > 1 else None
    from jaxnets.rundir import RunDirError, config_fingerprint

    try:
        if isinstance(config, (str, pathlib.Path)):
            return runner.run_spec(str(config), texts, n_seeds, workdir, overwrite, log, learning_rates=learning_rates)
        if not isinstance(config, ml_collections.ConfigDict):
            raise config_lib.ConfigError(f"config must be a path or a ConfigDict, not {type(config).__name__}")
        config = config_lib.apply_overrides(config.copy_and_resolve_references(), texts)
        if workdir is None:
            digest = config_fingerprint({"config": config_lib.to_jsonable(config)})[:8]
            workdir = pathlib.Path("runs") / (f"{config.experiment}_{digest}{runner.grid_suffix(learning_rates)}"
                                              + (f"_seeds{n_seeds}" if n_seeds else ""))
        return runner.run(config, workdir, [config.seed + i for i in range(seeds)], overwrite=overwrite, log=log,
                          learning_rates=learning_rates)
    except RunDirError as err:  # the CLI's words in the API's: overwrite=True, workdir=
        text = str(err).replace("pass --overwrite", "pass overwrite=True").replace("--overwrite", "overwrite=True")
        raise RunDirError(text.replace("another --workdir", "another workdir=").replace("--workdir", "workdir=")) from None


def load_run(workdir, warn=print) -> dict:
    """A run folder read back: {"config": ConfigDict, "seeds": [...], "summary": dict or None
    (None while it trains), "step": the checkpoint's step, "params": the parameters with a
    leading seed axis (nested dicts and lists of NumPy arrays), "learning_rates": a grid's
    rates, else None (a grid's leading axis is rate-major: every seed at the first rate, ...)}. The checkpoint is verified as
    training verifies it; a damaged newest one is skipped for the one before (said via `warn`).

        run = jaxnets.load_run("runs/mnist_mlp")
        first_seed = jax.tree.map(lambda a: a[0], run["params"])
    """
    import json
    import pathlib

    import ml_collections

    from jaxnets.train.checkpoint import read_run_state

    workdir = pathlib.Path(workdir)
    step, state = read_run_state(workdir, warn)
    saved = json.loads((workdir / "config.json").read_text())
    try:
        summary = json.loads((workdir / "summary.json").read_text())
    except (OSError, ValueError):
        summary = None
    return {"config": ml_collections.ConfigDict(saved["config"]), "seeds": saved["seeds"], "summary": summary,
            "step": step, "params": state["params"], "learning_rates": saved.get("learning_rates")}
