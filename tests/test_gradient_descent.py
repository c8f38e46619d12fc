import numpy as np
import optax

from jaxnets.experiments.gradient_descent import descend
from jaxnets.train import dampened_momentum


def test_tutorial_trace_and_minimum():
    trace = np.asarray(descend(4.0, optax.sgd(0.001), precision=1e-5, max_steps=1000))
    np.testing.assert_allclose(trace[:3], [4.0, 3.888, 3.7889564], rtol=1e-6)  # 3.888 − 0.001·99.0436
    steps = int(np.count_nonzero(~np.isnan(trace))) - 1
    assert 345 <= steps <= 355  # float64 stops after 350 updates
    assert abs(trace[steps] - 2.25) < 1e-3


def test_tutorial_script_fast_rate():
    trace = np.asarray(descend(4.0, optax.sgd(0.01), precision=1e-5, max_steps=1000))
    steps = int(np.count_nonzero(~np.isnan(trace))) - 1
    np.testing.assert_allclose(trace[1], 2.88, rtol=1e-6)
    assert steps == 42
    assert abs(trace[steps] - 2.2500325268933734) < 1e-5


def test_momentum_path_converges_to_the_same_minimum():
    trace = np.asarray(descend(4.0, dampened_momentum(0.001, 0.9), precision=1e-5, max_steps=5000))
    np.testing.assert_allclose(trace[1], 4.0 - 0.1 * 0.001 * 112, rtol=1e-6)  # (1 − α)·η·f'(4)
    final = trace[~np.isnan(trace)][-1]
    assert abs(final - 2.25) < 1e-3
