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


def stax_layers(spec: list[tuple], parameterization: str = "ntk") -> list:
    """neural-tangents layers for a spec shared with ``ours_layers`` in the kernel tests.

    Spec entries: ("dense", out, W_std, b_std), ("conv", out, k, stride, padding, W_std, b_std),
    ("relu",), ("erf",), ("avgpool", window, stride, padding), ("gap",), ("gsp",), ("flatten",).
    """
    out = []
    for kind, *a in spec:
        if kind == "dense":
            out.append(stax.Dense(a[0], W_std=a[1], b_std=a[2], parameterization=parameterization))
        elif kind == "conv":
            k, s = (a[1], a[1]) if isinstance(a[1], int) else a[1], (a[2], a[2]) if isinstance(a[2], int) else a[2]
            out.append(stax.Conv(a[0], k, s, a[3], W_std=a[4], b_std=a[5], parameterization=parameterization))
        elif kind == "relu":
            out.append(stax.Relu())
        elif kind == "erf":
            out.append(stax.Erf())
        elif kind == "avgpool":
            out.append(stax.AvgPool((a[0], a[0]), (a[1], a[1]), a[2]))
        elif kind == "gap":
            out.append(stax.GlobalAvgPool())
        elif kind == "gsp":
            out.append(stax.GlobalSumPool())
        elif kind == "flatten":
            out.append(stax.Flatten())
    return out


def stax_kernel(spec, x1, x2, get, parameterization="ntk"):
    """The stax kernel of ``spec`` on NHWC (or flat) numpy inputs, float64."""
    _, _, kernel_fn = stax.serial(*stax_layers(spec, parameterization))
    return np.asarray(kernel_fn(x1, x2, get))
