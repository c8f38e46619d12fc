import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnets.train import Task, batch_indices, init_state, make_chunk, make_evaluate, make_step


def linear_task() -> Task:
    """Least squares y = x·w; the optimum is known in closed form."""

    def init(key):
        return {"w": jnp.zeros((3,))}, {}

    def loss(params, model_state, batch, key, step):
        return jnp.mean((batch["x"] @ params["w"] - batch["y"]) ** 2), (model_state, {})

    def evaluate(params, model_state, batch, key, step):
        return {"sq_error": (batch["x"] @ params["w"] - batch["y"]) ** 2}

    return Task(init, loss, evaluate)


def linear_data(n=96):
    x = jax.random.normal(jax.random.PRNGKey(0), (n, 3))
    return {"x": x, "y": x @ jnp.array([1.0, -2.0, 0.5])}


def test_batch_indices_visit_each_example_once_per_epoch():
    key = jax.random.PRNGKey(3)
    idx = np.asarray(batch_indices(key, 0, 30, n_examples=100, batch_size=10))
    chex.assert_shape(idx, (30, 10))
    for epoch in range(3):
        np.testing.assert_array_equal(np.sort(idx[10 * epoch: 10 * epoch + 10].ravel()), np.arange(100))
    assert not np.array_equal(idx[:10], idx[10:20])  # a fresh permutation each epoch


def test_batch_indices_depend_only_on_step():
    key = jax.random.PRNGKey(3)
    full = np.asarray(batch_indices(key, 0, 37, n_examples=50, batch_size=7))  # 7 steps/epoch, remainder dropped
    for start in (5, 7, 20):
        np.testing.assert_array_equal(batch_indices(key, start, 37 - start, 50, 7), full[start:])


def test_batch_indices_sequential_without_shuffle():
    idx = np.asarray(batch_indices(jax.random.PRNGKey(0), 4, 3, n_examples=10, batch_size=3, shuffle=False))
    np.testing.assert_array_equal(idx, [[3, 4, 5], [6, 7, 8], [0, 1, 2]])


def test_step_is_one_optax_update():
    task, opt = linear_task(), optax.sgd(0.1)
    state = init_state(task, opt, jax.random.PRNGKey(0))
    batch = jax.tree.map(lambda a: a[:8], linear_data())
    new, metrics = make_step(task, opt)(state, batch)
    grad = jax.grad(lambda p: task.loss(p, {}, batch, None, 0)[0])(state.params)
    np.testing.assert_allclose(new.params["w"], -0.1 * grad["w"], rtol=1e-6)
    assert int(new.step) == 1
    chex.assert_shape(metrics["loss"], ())


def test_chunk_scans_steps_never_retraces_and_converges():
    task, opt = linear_task(), optax.sgd(0.1)
    data = linear_data()
    chunk = make_chunk(task, opt, batch_size=16, num_steps=50)
    traced = chex.assert_max_traces(chunk, n=1)
    jitted = jax.jit(traced)
    state = init_state(task, opt, jax.random.PRNGKey(0))
    for _ in range(4):
        state, metrics = jitted(state, data)
    chex.assert_shape(metrics["loss"], (50,))
    assert int(state.step) == 200
    np.testing.assert_allclose(state.params["w"], [1.0, -2.0, 0.5], atol=1e-4)


def test_chunk_equals_python_loop_of_steps():
    task, opt = linear_task(), optax.adam(0.05)
    data = linear_data()
    state0 = init_state(task, opt, jax.random.PRNGKey(1))
    scanned, _ = jax.jit(make_chunk(task, opt, batch_size=16, num_steps=9))(state0, data)
    step = jax.jit(make_step(task, opt))
    idx = batch_indices(jax.random.fold_in(state0.key, 1), 0, 9, 96, 16)
    state = state0
    for t in range(9):
        state, _ = step(state, jax.tree.map(lambda a: a[idx[t]], data))
    np.testing.assert_allclose(scanned.params["w"], state.params["w"], rtol=1e-5)


def test_evaluate_in_batches_equals_one_batch():
    task, opt = linear_task(), optax.sgd(0.1)
    state = init_state(task, opt, jax.random.PRNGKey(0))
    state = state._replace(params={"w": jnp.array([0.3, 0.1, -0.2])})
    data = linear_data(103)  # not a multiple of the batch size
    whole = make_evaluate(task, 103)(state, data)["sq_error"]
    batched = jax.jit(make_evaluate(task, 10))(state, data)["sq_error"]
    np.testing.assert_allclose(batched, whole, rtol=1e-5)
    np.testing.assert_allclose(whole, np.mean((np.asarray(data["x"]) @ [0.3, 0.1, -0.2] - data["y"]) ** 2), rtol=1e-5)
