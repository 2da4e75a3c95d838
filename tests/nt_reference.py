"""neural-tangents (JAX) as the reference implementation, in float64, for the kernel tests."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from neural_tangents import stax  # noqa: E402


def two_layer_relu(x1: np.ndarray, x2: np.ndarray | None, get: str, W_std: float, b_std: float,
                   readout_b_std: float | None) -> np.ndarray:
    """stax.serial(Dense(512, W_std, b_std), Relu(), Dense(1, W_std, readout_b_std)) kernel."""
    _, _, kernel_fn = stax.serial(
        stax.Dense(512, W_std=W_std, b_std=b_std),
        stax.Relu(),
        stax.Dense(1, W_std=W_std, b_std=readout_b_std),
    )
    return np.asarray(kernel_fn(x1, x2, get))
