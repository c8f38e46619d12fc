"""The networks the experiments train, built from jaxnets.nn."""

from jaxnets.models import logistic
from jaxnets.models.mlp import init_mlp, mlp, mlp_activations

__all__ = ["init_mlp", "logistic", "mlp", "mlp_activations"]
