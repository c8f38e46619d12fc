"""R2RT, "Synthetic Gradients with Tensorflow" (2018), CIFAR-10 experiment.

Conv 128 5×5 same -> BN -> ReLU -> max-pool 3×3 stride 3 (10×10) -> conv 128 5×5 same -> BN ->
ReLU -> avg-pool 3×3 stride 3 (3×3) -> flatten (1152) -> dense 10. Modules: 2 × [conv 128 5×5
-> BN -> ReLU] -> conv 5×5 to the block's channels, zero kernel. Adam 3e-5, batch 256, 25k
iterations = 128 epochs. Published test accuracy: SG 0.6483, backprop 0.7524.

CIFAR-10 is read from $JAXNETS_DATA_DIR/cifar10/ (the "python version" batches) or through
tensorflow-datasets, which needs network access; where neither is possible the run stops at
once with a message that says so.

    python -m jaxnets train --config configs/synthetic_gradients_cifar10.py:sg
"""


from jaxnets.config import apply_variant, base_config

PUBLISHED = {"sg": 0.6483, "backprop": 0.7524}
VARIANTS = {"sg": {"model.method": "synthetic_gradient", "reference.test_accuracy": PUBLISHED["sg"]},
            "backprop": {"model.method": "backprop", "reference.test_accuracy": PUBLISHED["backprop"]}}
SUITE = tuple(VARIANTS)
TABLE = [("CIFAR-10", name, name, "test_accuracy", p) for name, p in PUBLISHED.items()]


def get_config(arg=None):
    c = base_config(__file__, "synthetic_gradients", "sg")
    c.data.name = "cifar10"
    c.model.arch = "cnn"
    c.model.hidden_sizes = (128, 128)
    c.model.pools = ("max", "avg")
    c.model.module_width = 128
    c.model.conditioned = False
    c.train.num_epochs = 128.0  # 25,000 // 195 batches
    c.train.log_every = 195
    c.train.eval_every = 195
    c.train.checkpoint_every = 195 * 10
    c.reference.source = "R2RT 2018, Synthetic Gradients with Tensorflow (CIFAR-10)"
    return apply_variant(c, VARIANTS, arg, default="sg")
