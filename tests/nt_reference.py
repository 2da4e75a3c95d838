"""neural-tangents (JAX) as the reference implementation, in float64, for the kernel tests.

Importing this module enables JAX's float64 mode; ``pytest.importorskip("nt_reference")`` skips
a test module cleanly where neural-tangents cannot be imported.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from lsa_utils.kernels.reference import stax_kernel_fn  # noqa: E402


def stax_kernel(spec, x1, x2, get, parameterization="ntk") -> np.ndarray:
    """The stax kernel of ``spec`` on NHWC (or flat) numpy inputs, float64."""
    return np.asarray(stax_kernel_fn(spec, parameterization)(x1, x2, get))


def two_layer_relu(x1, x2, get, W_std, b_std, readout_b_std) -> np.ndarray:
    """stax.serial(Dense(512, W_std, b_std), Relu(), Dense(1, W_std, readout_b_std)) kernel."""
    spec = [("dense", 512, W_std, b_std), ("relu",), ("dense", 1, W_std, readout_b_std)]
    return stax_kernel(spec, x1, x2, get)
