"""jaxnets: classic neural-network experiments as pure, jitted, vmapped JAX functions."""

__version__ = "0.1.0"
