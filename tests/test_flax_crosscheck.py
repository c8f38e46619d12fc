"""jaxnets' cells against flax.linen's, the reference implementation a JAX user knows: the LSTM
step equals `flax.linen.LSTMCell` once its parameters are laid into jaxnets' single [x, h]
matrix (gate order i, j, f, o; TF's forget bias of 1 moved into flax's hidden bias). flax's
GRUCell applies the reset gate after the hidden matmul (r ⊙ (W_hn h + b)), TF's and the posts'
before it (W (r ⊙ h)): the two GRUs are different functions, so jaxnets keeps its own."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from jaxnets.nn import rnn


def test_lstm_step_equals_flax_lstm_cell():
    n_in, n, batch = 5, 7, 3
    cell = nn.LSTMCell(features=n)
    x = jax.random.normal(jax.random.PRNGKey(1), (batch, n_in))
    carry = (jax.random.normal(jax.random.PRNGKey(2), (batch, n)), jax.random.normal(jax.random.PRNGKey(3), (batch, n)))
    variables = cell.init(jax.random.PRNGKey(0), carry, x)
    p = jax.tree.map(lambda a: a + 0.1 * jax.random.normal(jax.random.PRNGKey(4), a.shape), variables["params"])
    (c_flax, h_flax), y_flax = cell.apply({"params": p}, carry, x)

    def block(gate):
        return jnp.concatenate([p[f"i{gate}"]["kernel"], p[f"h{gate}"]["kernel"]], axis=0)  # [n_in + n, n]

    w = jnp.concatenate([block("i"), block("g"), block("f"), block("o")], axis=1)
    b = jnp.concatenate([p["hi"]["bias"], p["hg"]["bias"], p["hf"]["bias"] - 1.0, p["ho"]["bias"]])
    (c, h), y = rnn.lstm_step({"w": w, "b": b}, carry, x)  # forget_bias 1.0 inside, as TF's BasicLSTMCell
    np.testing.assert_allclose(c, c_flax, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, h_flax, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, y_flax, rtol=1e-5, atol=1e-6)


def test_flax_gru_is_the_reset_after_variant_not_the_posts():
    """The difference the module docstring states, measured: same weights, other outputs."""
    n_in, n, batch = 4, 6, 2
    cell = nn.GRUCell(features=n)
    x = jax.random.normal(jax.random.PRNGKey(1), (batch, n_in))
    h0 = jax.random.normal(jax.random.PRNGKey(2), (batch, n))
    p = cell.init(jax.random.PRNGKey(0), h0, x)["params"]
    p = jax.tree.map(lambda a: a + 0.3 * jax.random.normal(jax.random.PRNGKey(5), a.shape), p)

    def both(p):
        h_flax, _ = cell.apply({"params": p}, h0, x)
        zeros = jnp.zeros((n,))
        k = lambda name: p[name]["kernel"]  # noqa: E731
        bias = lambda name: p[name].get("bias", zeros)  # noqa: E731
        gates_w = jnp.concatenate([jnp.concatenate([k("ir"), k("hr")], 0), jnp.concatenate([k("iz"), k("hz")], 0)], 1)
        gates_b = jnp.concatenate([bias("ir") + bias("hr"), bias("iz") + bias("hz")])
        cand_w = jnp.concatenate([k("in"), k("hn")], 0)
        (h,), _ = rnn.gru_step({"w_gates": gates_w, "b_gates": gates_b, "w_candidate": cand_w,
                                "b_candidate": bias("in") + bias("hn")}, (h0,), x)
        return h, h_flax

    h, h_flax = both(p)
    assert float(jnp.max(jnp.abs(h - h_flax))) > 1e-3  # the reset gate's place matters
    p["ir"]["bias"] = p["ir"]["bias"] + 100.0  # r = 1: no reset, so its place cannot matter
    h, h_flax = both(p)
    np.testing.assert_allclose(h, h_flax, rtol=1e-5, atol=1e-6)  # the same cell otherwise
