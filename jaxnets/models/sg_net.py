"""The synthetic-gradient net (R2RT after Jaderberg et al.): hidden blocks [linear (dense or
conv) -> BN -> ReLU (-> pool)] -> dense output, a gradient- or loss-predicting module after
each block, and the surrogate loss whose gradient is every parameter's update (see
`jaxnets.experiments.synthetic_gradients` for the methods)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnets.nn import batch_norm, batch_norm_init, conv, conv_init, dense, dense_init, initializer, pool
from jaxnets.nn.normalization import batch_moments, normalize


METHODS = ("backprop", "no_bprop", "synthetic_gradient", "synthetic_loss")


ARCHS = ("mlp", "cnn")


stop = jax.lax.stop_gradient


def linear_init(key, arch: str, shape_in: tuple, n_out: int, model, w_init: str = "glorot_uniform") -> dict:
    w, b = initializer(w_init, 1.0), initializer("zeros", 0.0)
    if arch == "mlp":
        return dense_init(key, shape_in[-1], n_out, w, b)
    return conv_init(key, model.kernel_size, shape_in[-1], n_out, w, b)


def linear(params: dict, x: jax.Array) -> jax.Array:
    return dense(params, x) if params["w"].ndim == 2 else conv(params, x)


def pooled_shape(shape: tuple, kind: str, size: int, stride: int) -> tuple:
    if kind == "none" or len(shape) == 1:
        return shape
    h, w, c = shape
    return ((h - size) // stride + 1, (w - size) // stride + 1, c)


def block_apply(p: dict, s: dict, x: jax.Array, pool_kind: str, model, train: bool = True):
    """linear -> BN -> ReLU (-> pool): (h, new BN stats)."""
    z, s = batch_norm(p["bn"], s, linear(p["linear"], x), train, model.bn_decay, model.bn_eps)
    h = jax.nn.relu(z)
    if pool_kind != "none" and h.ndim == 4:
        h = pool(h, pool_kind, model.pool_size, model.pool_stride)
    return h, s


def module_apply(p: dict, h: jax.Array, label_one_hot: jax.Array | None, scalar: bool, eps: float = 1e-3
                 ) -> jax.Array:
    """M(h[, label]): hidden layers with BN in batch-statistics mode, then the output layer;
    a synthetic gradient shaped like h, or (scalar=True) a per-example synthetic loss ≥ 0."""
    x = h
    if label_one_hot is not None:
        extra = label_one_hot if h.ndim == 2 else jnp.broadcast_to(
            label_one_hot[:, None, None, :], (*h.shape[:-1], label_one_hot.shape[-1]))
        x = jnp.concatenate([h, extra], axis=-1)
    for i in range(len(p) - 1):
        layer = p[f"hidden_{i}"]
        z = linear(layer["linear"], x)
        x = jax.nn.relu(normalize(layer["bn"], z, *batch_moments(z), eps))
    if scalar:
        return jnp.square(dense(p["out"], x.reshape(len(x), -1))[:, 0])
    return linear(p["out"], x)


def init_net(key: jax.Array, model, input_shape: tuple, n_classes: int) -> tuple[dict, dict]:
    """(params {'block_k', 'out', 'module_k'}, BN stats {'block_k'})."""
    keys = iter(jax.random.split(key, 64))
    params, stats, shapes = {}, {}, []
    shape = tuple(input_shape)
    pools = tuple(model.pools) if model.arch == "cnn" else ("none",) * len(model.hidden_sizes)
    for k, (n, pool_kind) in enumerate(zip(model.hidden_sizes, pools)):
        bn, stats[f"block_{k}"] = batch_norm_init(n)
        params[f"block_{k}"] = {"linear": linear_init(next(keys), model.arch, shape, n, model), "bn": bn}
        shape = pooled_shape((*shape[:-1], n), pool_kind, model.pool_size, model.pool_stride)
        shapes.append(shape)
    params["out"] = dense_init(next(keys), int(np.prod(shape)), n_classes, initializer("glorot_uniform", 1.0),
                               initializer("zeros", 0.0))
    if model.method in ("synthetic_gradient", "synthetic_loss"):
        for k, h_shape in enumerate(shapes):
            module, m_shape = {}, (*h_shape[:-1], h_shape[-1] + (n_classes if model.conditioned else 0))
            for i in range(model.module_layers):
                module[f"hidden_{i}"] = {"linear": linear_init(next(keys), model.arch, m_shape, model.module_width, model),
                                         "bn": batch_norm_init(model.module_width)[0]}
                m_shape = (*m_shape[:-1], model.module_width)
            if model.method == "synthetic_gradient":  # zero kernel: the first predictions are 0
                module["out"] = linear_init(next(keys), model.arch, m_shape, h_shape[-1], model, "zeros")
            else:
                module["out"] = dense_init(next(keys), int(np.prod(m_shape)), 1, initializer("glorot_uniform", 1.0),
                                           initializer("zeros", 0.0))
            params[f"module_{k}"] = module
    return params, stats


def forward(params: dict, stats: dict, x: jax.Array, model, train: bool, stop_between: bool
            ) -> tuple[list[jax.Array], jax.Array, dict]:
    """(hidden outputs, logits, new stats). stop_between cuts the gradient between blocks (and
    into the output layer): each block then learns only from what its surrogate term gives it."""
    pools = tuple(model.pools) if model.arch == "cnn" else ("none",) * len(model.hidden_sizes)
    hs, new_stats, h = [], {}, x
    for k, pool_kind in enumerate(pools):
        h, new_stats[f"block_{k}"] = block_apply(params[f"block_{k}"], stats[f"block_{k}"],
                                                 stop(h) if stop_between else h, pool_kind, model, train)
        hs.append(h)
    last = stop(h) if stop_between else h
    return hs, dense(params["out"], last.reshape(len(last), -1)), new_stats


def module_targets(params: dict, stats: dict, hs: list[jax.Array], per_example: jax.Array,
                   used: list[jax.Array], y: jax.Array, model) -> list[jax.Array]:
    """What each module regresses, all without gradient. Synthetic gradients: the last module the
    true dL/dh_L, module k the bootstrapped ∂h_{k+1}/∂h_kᵀ·ĝ_{k+1} (a VJP through block k+1 in
    training mode). Synthetic loss: the last the per-example loss, module k module k+1's output."""
    n = len(hs)
    if model.method == "synthetic_loss":
        return [stop(used[k + 1]) for k in range(n - 1)] + [stop(per_example)]

    def loss_of_last(h):
        logits = dense(stop(params["out"]), h.reshape(len(h), -1))
        pe = optax.softmax_cross_entropy_with_integer_labels(logits, y)
        return jnp.sum(pe) if model.loss_reduction == "sum" else jnp.mean(pe)

    pools = tuple(model.pools) if model.arch == "cnn" else ("none",) * n
    targets = []
    for k in range(n - 1):
        nxt = stop(params[f"block_{k + 1}"])
        _, vjp = jax.vjp(lambda h: block_apply(nxt, stats[f"block_{k + 1}"], h, pools[k + 1], model)[0], stop(hs[k]))
        targets.append(stop(vjp(stop(used[k + 1]))[0]))
    return targets + [stop(jax.grad(loss_of_last)(stop(hs[-1])))]


def surrogate_loss(params: dict, stats: dict, x: jax.Array, y: jax.Array, model, n_classes: int,
                   injected: list[jax.Array] | None = None) -> tuple[jax.Array, tuple[dict, dict]]:
    """The scalar whose gradient is every parameter's update for `model.method` (see the module
    docstring), with the mean cross-entropy as the metric `loss` (the log's training loss: the
    surrogate's own value means nothing and goes negative, so it is logged as `surrogate`) and
    the module losses as metrics. `injected` replaces the modules' predictions where the blocks
    use them (tests inject the true gradient)."""
    method = model.method
    hs, logits, new_stats = forward(params, stats, x, model, True, stop_between=method != "backprop")
    per_example = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    xent = jnp.sum(per_example) if model.loss_reduction == "sum" else jnp.mean(per_example)
    metrics = {"loss": jnp.mean(per_example), "accuracy": jnp.mean(jnp.argmax(logits, -1) == y)}
    total = xent
    if method in ("backprop", "no_bprop"):
        return total, (new_stats, metrics)

    label = jax.nn.one_hot(y, n_classes) if model.conditioned else None
    n = len(hs)
    modules = [params[f"module_{k}"] for k in range(n)]
    scalar = method == "synthetic_loss"
    predictions = [module_apply(modules[k], stop(hs[k]), label, scalar, model.bn_eps)  # trains the modules
                   for k in range(n)]
    used = predictions if injected is None else list(injected)

    targets = module_targets(params, stats, hs, per_example, used, y, model)
    for k in range(n):
        module_loss = jnp.mean(jnp.square(predictions[k] - targets[k]))  # tf.losses.mean_squared_error
        metrics[f"module_{k}_loss"] = module_loss
        if scalar:  # the block follows the gradient of its module's (frozen) loss prediction
            layer_term = jnp.sum(module_apply(stop(modules[k]), hs[k], label, True, model.bn_eps))
        else:  # the block follows the synthetic gradient: d/dθ Σ stop(ĝ)·h = ĝᵀ ∂h/∂θ
            layer_term = jnp.sum(stop(used[k]) * hs[k])
        total = total + layer_term + module_loss
    return total, (new_stats, metrics | {"surrogate": total})
