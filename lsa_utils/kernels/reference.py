"""neural-tangents twins of lsa_utils' kernels, for the tests, the benchmarks and the appendix.

An architecture *spec* is a list of tuples that both libraries can build:

    ("dense", out, W_std, b_std)                      ("relu",)   ("erf",)   ("flatten",)
    ("conv", out, k, stride, padding, W_std, b_std)    ("gap",)    ("gsp",)
    ("avgpool", window, stride, padding)
    ("fanout", n)   ("parallel", spec_1, ..., spec_n)   ("faninsum",)   ("faninconcat",)   ("identity",)
    ("abrelu", a, b)   ("leakyrelu", alpha)   ("abs",)   ("sign",)   ("gelu",)   ("layernorm",)   ("sumpool", window, stride, padding)

``ours(spec)`` gives the ``lsa_utils.kernels`` layers, ``stax_layers(spec)`` neural-tangents'.
Inputs to stax are channels-last (NHWC), ours channels-first (NCHW): ``to_nchw`` converts.
neural-tangents (and JAX) are imported only when a function here needs them.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from .branches import FanInConcat, FanInSum, FanOut, Identity, parallel
from .layers import (
    ABRelu, Abs, AvgPool, Conv, Dense, Erf, Flatten, Gelu, GlobalAvgPool, GlobalSumPool, LayerNorm, LeakyRelu, Relu, Sign,
    SumPool,
)

_SIMPLE = {"relu": Relu, "erf": Erf, "gap": GlobalAvgPool, "gsp": GlobalSumPool, "flatten": Flatten,
           "faninsum": FanInSum, "faninconcat": FanInConcat, "identity": Identity, "abs": Abs, "sign": Sign,
           "layernorm": LayerNorm, "gelu": Gelu}


def ours(spec: list[tuple], parameterization: str = "ntk") -> list:
    """lsa_utils kernel layers of ``spec``."""
    out = []
    for kind, *a in spec:
        if kind == "dense":
            out.append(Dense(a[0], a[1], a[2], parameterization))
        elif kind == "conv":
            out.append(Conv(a[0], a[1], a[2], a[3], a[4], a[5], parameterization))
        elif kind == "avgpool":
            out.append(AvgPool(a[0], a[1], a[2]))
        elif kind == "sumpool":
            out.append(SumPool(a[0], a[1], a[2]))
        elif kind == "fanout":
            out.append(FanOut(a[0]))
        elif kind == "abrelu":
            out.append(ABRelu(a[0], a[1]))
        elif kind == "leakyrelu":
            out.append(LeakyRelu(a[0]))
        elif kind == "parallel":
            out.append(parallel(*[ours(branch, parameterization) for branch in a]))
        else:
            out.append(_SIMPLE[kind]())
    return out


def reference_missing() -> str | None:
    """``None`` where neural-tangents imports; otherwise why not, and how to install it.

    neural-tangents 0.6.5 imports only with jax/jaxlib 0.4.25, tf2jax 0.3.6, TensorFlow and
    numpy < 2, which exist for Python 3.11 only (``pip install 'lsa-utils[reference]'``).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import neural_tangents  # noqa: F401
    except Exception as err:  # ImportError, or a JAX/TensorFlow version clash raised on import
        return (f"neural-tangents cannot be imported here ({type(err).__name__}: {err}); it is installed by "
                "`pip install 'lsa-utils[reference]'` on Python 3.11, as `make book` does")
    return None


def _jax():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from neural_tangents import stax

    return stax


def stax_layers(spec: list[tuple], parameterization: str = "ntk") -> list:
    """neural-tangents ``stax`` layers of ``spec`` (AvgPool strides given explicitly: stax's
    default stride is 1, torch's and ours is the window)."""
    stax = _jax()
    pair = (lambda v: (v, v) if isinstance(v, int) else tuple(v))
    out = []
    for kind, *a in spec:
        if kind == "dense":
            out.append(stax.Dense(a[0], W_std=a[1], b_std=a[2], parameterization=parameterization))
        elif kind == "conv":
            out.append(stax.Conv(a[0], pair(a[1]), pair(a[2]), a[3], W_std=a[4], b_std=a[5],
                                 parameterization=parameterization))
        elif kind == "avgpool":
            out.append(stax.AvgPool(pair(a[0]), pair(a[1]), a[2]))
        elif kind == "sumpool":
            out.append(stax.SumPool(pair(a[0]), pair(a[1]), a[2]))
        elif kind == "layernorm":  # over the channels: the last axis, NHWC or flat
            out.append(stax.LayerNorm(axis=-1))
        elif kind == "fanout":
            out.append(stax.FanOut(a[0]))
        elif kind == "abrelu":
            out.append(stax.ABRelu(a[0], a[1]))
        elif kind == "leakyrelu":
            out.append(stax.LeakyRelu(a[0]))
        elif kind == "parallel":
            out.append(stax.parallel(*[stax.serial(*stax_layers(branch, parameterization)) for branch in a]))
        else:
            out.append({"relu": stax.Relu, "erf": stax.Erf, "gap": stax.GlobalAvgPool,
                        "gsp": stax.GlobalSumPool, "flatten": stax.Flatten, "faninsum": stax.FanInSum,
                        "faninconcat": stax.FanInConcat, "identity": stax.Identity, "abs": stax.Abs,
                        "sign": stax.Sign, "gelu": stax.Gelu}[kind]())
    return out


def stax_kernel_fn(spec: list[tuple], parameterization: str = "ntk"):
    """neural-tangents' ``kernel_fn`` of ``spec``."""
    return _jax().serial(*stax_layers(spec, parameterization))[2]


def to_nchw(x: np.ndarray) -> torch.Tensor:
    """A channels-last numpy batch (or a flat one) as a channels-first torch tensor."""
    return torch.from_numpy(np.moveaxis(x, -1, 1).copy() if x.ndim == 4 else np.array(x))


def max_relative_error(ours_value, reference) -> float:
    """``max |ours - reference| / max |reference|``."""
    ours_value, reference = np.asarray(ours_value), np.asarray(reference)
    return float(np.max(np.abs(ours_value - reference)) / np.max(np.abs(reference)))
