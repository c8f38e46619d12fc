"""First-convergence bias: each phase trains exactly its head's layers, the learning-rate drop
sits where the post put it, and the statistics are the textbook formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.config import load
from jaxnets.experiments.first_convergence_bias import compare, fcb_task, strategy_optimizer
from tests.conftest import ROOT

CONFIG = load(f"{ROOT}/configs/first_convergence_bias.py")
LAYER_WISE = ((1, 200), (2, 200), (3, 1000))


@pytest.mark.parametrize("step,trained", [(0, {"hidden_0", "head_0"}), (199, {"hidden_0", "head_0"}),
                                          (200, {"hidden_0", "hidden_1", "head_1"}),
                                          (400, {"hidden_0", "hidden_1", "hidden_2", "head_2"}),
                                          (5000, {"hidden_0", "hidden_1", "hidden_2", "head_2"})])
def test_each_phase_trains_only_its_heads_path(step, trained):
    task = fcb_task(CONFIG.model, LAYER_WISE, n_in=12)
    params, state = task.init(jax.random.PRNGKey(0))
    batch = {"x": jax.random.normal(jax.random.PRNGKey(1), (50, 12)), "y": jnp.arange(50) % 10}
    grads = jax.grad(lambda p: task.loss(p, state, batch, None, jnp.int32(step))[0])(params)
    nonzero = {name for name, g in grads.items() if any(float(jnp.abs(leaf).max()) > 0 for leaf in jax.tree.leaves(g))}
    assert nonzero == trained


def test_initialization_is_the_posts():
    params, _ = fcb_task(CONFIG.model, LAYER_WISE).init(jax.random.PRNGKey(0))
    w = np.asarray(params["hidden_0"]["w"])
    assert np.abs(w).max() <= 0.2 + 1e-6  # truncated at 2 std
    assert 0.08 < w.std() < 0.09  # a 2-std-truncated N(0, 0.1²) has std 0.088
    np.testing.assert_array_equal(params["head_2"]["b"], np.float32(0.1))


@pytest.mark.parametrize("phases,drop_at", [(((3, 1000),), 750), (LAYER_WISE, 1150)])
def test_learning_rate_drops_750_steps_into_the_final_phase(phases, drop_at):
    optimizer = strategy_optimizer(CONFIG.optimizer, phases)
    params = {"w": jnp.zeros(())}
    state = optimizer.init(params)
    lrs = []
    for _ in range(drop_at + 2):
        _, state = optimizer.update({"w": jnp.ones(())}, state, params)
        lrs.append(float(state.hyperparams["learning_rate"]))
    # hyperparams holds the rate of the update just made: update t used lrs[t]
    assert lrs[drop_at - 1] == pytest.approx(0.01) and lrs[drop_at] == pytest.approx(0.003)


def test_welch_and_ks_are_the_textbook_statistics():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.879, 0.0027, 400), rng.normal(0.8764, 0.0023, 300)
    out = compare(a, b)
    t = (a.mean() - b.mean()) / np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    assert out["welch_t"] == pytest.approx(t, rel=1e-10)
    grid = np.sort(np.concatenate([a, b]))
    d = np.max(np.abs(np.searchsorted(np.sort(a), grid, "right") / len(a) -
                      np.searchsorted(np.sort(b), grid, "right") / len(b)))
    assert out["ks_statistic"] == pytest.approx(d)
    assert out["welch_p"] < 1e-10 and out["difference_of_means"] > 0
