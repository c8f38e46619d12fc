"""L2-regularized logistic regression, as scikit-learn's `LogisticRegression()` defines it, solved
to convergence with L-BFGS in a `lax.scan` (so probes vmap over seeds and layers and jit whole).

Objective (C = inverse regularization strength):
  'multinomial'  ½‖W‖² + C Σᵢ CE(softmax(xᵢW + b), yᵢ), intercept not penalized
                 (scikit-learn ≥ 0.22's default, lbfgs)
  'ovr'          one binary problem per class, ½(‖w‖² + b²) + C Σᵢ log(1 + exp(−sᵢ(xᵢ·w + b))),
                 sᵢ = ±1, the intercept penalized like a weight (liblinear, with intercept_scaling
                 1; scikit-learn's default before 0.22, i.e. in 2016); predict argmax of the scores
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

MULTI_CLASS = ("ovr", "multinomial")


def _minimize(objective, params, iterations: int):
    solver = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(objective)

    def step(carry, _):
        params, state = carry
        value, grad = value_and_grad(params, state=state)
        updates, state = solver.update(grad, state, params, value=value, grad=grad, value_fn=objective)
        return (optax.apply_updates(params, updates), state), value

    (params, _), values = jax.lax.scan(step, (params, solver.init(params)), None, length=iterations)
    return params, values


def multinomial_objective(params: dict, x: jax.Array, y: jax.Array, c: float) -> jax.Array:
    logits = x @ params["w"] + params["b"]
    return 0.5 * jnp.sum(params["w"] ** 2) + c * jnp.sum(optax.softmax_cross_entropy_with_integer_labels(logits, y))


def ovr_objective(params: dict, x: jax.Array, signs: jax.Array, c: float) -> jax.Array:
    """One class's binary problem, liblinear's form (the intercept is penalized)."""
    margin = signs * (x @ params["w"] + params["b"])
    return 0.5 * (jnp.sum(params["w"] ** 2) + params["b"] ** 2) + c * jnp.sum(jax.nn.softplus(-margin))


def fit(x: jax.Array, y: jax.Array, n_classes: int, c: float = 1.0, multi_class: str = "ovr",
        iterations: int = 300) -> tuple[dict, jax.Array]:
    """(params {'w': [D, K], 'b': [K]}, objective per iteration)."""
    if multi_class not in MULTI_CLASS:
        raise ValueError(f"multi_class must be one of {MULTI_CLASS}, not {multi_class!r}")
    d = x.shape[-1]
    if multi_class == "multinomial":
        init = {"w": jnp.zeros((d, n_classes)), "b": jnp.zeros(n_classes)}
        return _minimize(lambda p: multinomial_objective(p, x, y, c), init, iterations)

    def one_class(k):
        signs = jnp.where(y == k, 1.0, -1.0)
        return _minimize(lambda p: ovr_objective(p, x, signs, c), {"w": jnp.zeros(d), "b": jnp.zeros(())},
                         iterations)

    params, values = jax.vmap(one_class)(jnp.arange(n_classes))
    return {"w": params["w"].T, "b": params["b"]}, values.sum(axis=0)


def accuracy(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean(jnp.argmax(x @ params["w"] + params["b"], -1) == y)
