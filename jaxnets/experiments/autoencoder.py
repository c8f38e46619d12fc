"""The 2-unit bottleneck autoencoder on MNIST (TensorFlow.jl post): codes, dead units, pictures."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxnets.data import image_classification
from jaxnets.experiments import Context, Outcome
from jaxnets.models import init_mlp, mlp_activations
from jaxnets.plots import plt, save_figure
from jaxnets.train import Task
from jaxnets.train.sharding import to_host
from jaxnets.train.step import per_example


def code_layer(hidden_sizes) -> int:
    """Index of the narrowest hidden layer: the code."""
    return int(np.argmin(hidden_sizes))


def encode_decode(params: dict, x: jax.Array, model: ml_collections.ConfigDict) -> tuple[jax.Array, jax.Array]:
    """(code, reconstruction) of a batch."""
    outputs = mlp_activations(params, x, model.activation, model.output_activation)
    return outputs[code_layer(model.hidden_sizes)], outputs[-1]


def autoencoder_task(model: ml_collections.ConfigDict, n_in: int = 784) -> Task:
    sizes = (n_in, *model.hidden_sizes, n_in)

    def forward(params, x):
        return encode_decode(params, x, model)

    def init(key):
        return init_mlp(key, sizes, model.w_init, model.w_scale, model.b_init, model.b_scale), {}

    def loss(params, model_state, batch, key, step):
        _, recon = forward(params, batch["x"])
        return jnp.mean(0.5 * (recon - batch["x"]) ** 2), (model_state, {})

    def evaluate(params, model_state, batch, key, step):
        code, recon = forward(params, batch["x"])
        out = {"reconstruction_loss": jnp.mean(0.5 * (recon - batch["x"]) ** 2, axis=-1)}
        for unit in range(code.shape[-1]):  # mean over the data = 1 exactly when the unit is dead
            out[f"code{unit}_zero_fraction"] = (code[:, unit] == 0).astype(jnp.float32)
        return per_example(out), model_state

    return Task(init, loss, evaluate)


def dead_units(codes: np.ndarray) -> list[int]:
    """Code units that are exactly 0 for every example: they carry no information."""
    return [int(u) for u in np.flatnonzero(np.all(codes == 0, axis=0))]


def thumbnail_canvas(codes: np.ndarray, images: np.ndarray, size: int = 700, thumb: int = 30) -> np.ndarray:
    """The post's "visualising similarity" picture: codes min-max scaled jointly (one min and
    max over both dimensions) to the canvas; each digit drawn as a framed thumbnail at its code,
    skipping any that would overlap one already drawn."""
    lo, hi = codes.min(), codes.max()
    pos = ((codes - lo) / max(hi - lo, 1e-12) * (size - thumb)).astype(int)
    canvas = np.ones((size, size))
    taken = np.zeros((size, size), dtype=bool)
    for (cx, cy), image in zip(pos, images):
        row, col = size - thumb - cy, cx  # y grows upwards
        if taken[row:row + thumb, col:col + thumb].any():
            continue
        framed = np.zeros((thumb, thumb))
        pad = (thumb - 28) // 2
        framed[pad:pad + 28, pad:pad + 28] = 1.0 - image.reshape(28, 28)
        canvas[row:row + thumb, col:col + thumb] = framed
        taken[row:row + thumb, col:col + thumb] = True
    return canvas


def thumbnails(codes, images, path) -> None:
    plt.imsave(path, thumbnail_canvas(codes, images), cmap="gray", vmin=0, vmax=1)


def code_scatter(codes, labels, path) -> None:
    fig, ax = plt.subplots(figsize=(6, 5.5))
    sc = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=2, alpha=0.6)
    fig.colorbar(sc, ax=ax, ticks=range(10), label="digit")
    ax.set(xlabel="code unit 0", ylabel="code unit 1", title="2-D codes of the test set")
    save_figure(fig, path)


def reconstructions(labels, images, recons, path) -> None:
    picks = [int(np.flatnonzero(labels == d)[0]) for d in range(10)]
    fig, axes = plt.subplots(2, 10, figsize=(12, 2.8))
    for col, i in enumerate(picks):
        for row, img in enumerate((images[i], recons[i])):
            axes[row, col].imshow(img.reshape(28, 28), cmap="gray", vmin=0, vmax=1)
            axes[row, col].axis("off")
    axes[0, 0].set_title("original", loc="left", fontsize=9)
    axes[1, 0].set_title("reconstruction", loc="left", fontsize=9)
    save_figure(fig, path)


def run(ctx: Context) -> Outcome:
    config = ctx.config
    train_data, eval_data = image_classification(config.data.name, config.data.train_split,
                                                 config.data.eval_splits.to_dict())
    task = autoencoder_task(config.model)
    result = ctx.fit(task, train_data, eval_data)

    forward = jax.jit(jax.vmap(lambda p, x: encode_decode(p, x, config.model), in_axes=(0, None)))
    dead = {}
    for name, data in {"train": train_data, **eval_data}.items():
        codes, _ = to_host(forward(result.state.params, data["x"]))
        dead[name] = [dead_units(c) for c in codes]  # per seed
    any_dead = sorted({u for per_split in dead.values() for units in per_split for u in units})
    if any_dead:
        ctx.log(f"WARNING: dead code unit(s) {any_dead}: exactly 0 for every example of a split "
                f"(per split and seed: {dead}); the 2-D picture is degenerate")
    else:
        ctx.log("no dead code unit: both code units are non-zero somewhere on every split, for every seed")

    first = next(iter(eval_data))
    seed0 = jax.tree.map(lambda a: a[:1], result.state.params)
    codes, recons = to_host(forward(seed0, eval_data[first]["x"]))
    labels, images = eval_data[first]["y"], eval_data[first]["x"]
    figures = {"code_thumbnails.png": lambda path: thumbnails(codes[0], images, path),
               "code_scatter.png": lambda path: code_scatter(codes[0], labels, path),
               "reconstructions.png": lambda path: reconstructions(labels, images, recons[0], path)}
    per_seed = {**{k: v for k, v in result.final_eval.items() if "zero_fraction" not in k},
                "train_loss": result.final_train["train_loss"]}  # the post's curve: the last epoch's training loss
    return Outcome(per_seed, fit=result, extra={"dead_code_units": dead}, figures=figures)
