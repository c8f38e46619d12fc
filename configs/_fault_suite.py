
from jaxnets.config import apply_variant, base_config

VARIANTS = {f"lr{lr}": {"optimizer.learning_rate": lr} for lr in (1e-3, 3e-4, 1e-4)}


def get_config(arg=None):
    c = base_config(__file__, "mnist_mlp")
    c.train.steps, c.train.batch_size, c.train.log_every, c.train.checkpoint_every = 300, 100, 10, 100
    c.train.tensorboard = False
    return apply_variant(c, VARIANTS, arg, default="lr0.001")
