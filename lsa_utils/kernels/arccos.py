"""Closed-form infinite-width kernels of fully connected ReLU networks (arc-cosine kernels).

Notation follows neural-tangents' ``stax`` in NTK parameterization: a Dense layer computes
``z = W_std / sqrt(fan_in) * W @ h + b_std * b`` with ``W, b ~ N(0, 1)``. For inputs
``x1`` (shape ``(n1, d)``) and ``x2`` (shape ``(n2, d)``) the first Dense layer has the covariance

    Sigma_1(x, x') = W_std**2 * <x, x'> / d + b_std**2,            Theta_1 = Sigma_1,

and each ReLU followed by a Dense layer maps (Sigma, Theta) to (Jacot et al. 2018, eq. 6)

    Sigma'  = W_std**2 * kappa_1(Sigma) + b_std**2,
    Theta'  = Sigma' + W_std**2 * kappa_0(Sigma) * Theta,

with the arc-cosine kernels of Cho and Saul (2009), for u, v jointly Gaussian with variances
q11, q22 and covariance q12, cos(theta) = q12 / sqrt(q11 * q22):

    kappa_1 = E[relu(u) relu(v)]   = sqrt(q11 * q22) / (2 pi) * (sin theta + (pi - theta) cos theta)
    kappa_0 = E[relu'(u) relu'(v)] = (pi - theta) / (2 pi).
"""

from __future__ import annotations

import math

import torch

from ..validation import check_choice, check_positive_float
from .fusion import CPU_BLOCK_BYTES, fused, keep_freed_memory, use_compiled

KERNEL_CHOICES = ("nngp", "ntk")


def relu_expectations(
    q11: torch.Tensor, q22: torch.Tensor, q12: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Arc-cosine kernels of degree 1 and 0 (Cho and Saul 2009, eq. 6).

    Args:
        q11: variances of u, broadcastable to ``q12``'s shape.
        q22: variances of v, broadcastable to ``q12``'s shape.
        q12: covariances of (u, v).

    Returns:
        ``(kappa_1, kappa_0)`` = (E[relu(u) relu(v)], E[relu'(u) relu'(v)]), each of ``q12``'s shape.

    Cost: a few elementwise operations per entry.
    """
    norm = torch.sqrt(q11 * q22)
    # a zero variance (e.g. a black pixel without bias) means q12 = 0 too: take cos = 0, as
    # neural-tangents does, instead of 0 / 0
    cos = torch.clamp(q12 / torch.clamp(norm, min=torch.finfo(norm.dtype).tiny), -1.0, 1.0)
    # identical inputs: the self pass and the cross pass round differently, and arccos turns a
    # cos of 1 - eps into theta ~ sqrt(2 eps) (1e-4 relative in float32); within 16 rounding
    # units of 1, cos is 1
    cos = torch.where(cos > 1 - 16 * torch.finfo(cos.dtype).eps, torch.ones_like(cos), cos)
    theta = torch.arccos(cos)
    sin = torch.sqrt(torch.clamp(1.0 - cos * cos, min=0.0))
    kappa1 = norm / (2 * math.pi) * (sin + (math.pi - theta) * cos)
    kappa0 = (math.pi - theta) / (2 * math.pi)
    return kappa1, kappa0


def two_layer_relu_kernel(
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    get: str = "ntk",
    W_std: float = 1.0,
    b_std: float = 0.0,
    readout_b_std: float | None = None,
) -> torch.Tensor:
    """NNGP or NTK Gram matrix of Dense-ReLU-Dense at infinite width (NTK parameterization).

    The network is ``stax.serial(Dense(m, W_std, b_std), Relu(), Dense(1, W_std, readout_b_std))``
    with m -> infinity; see the module docstring for the recursion.

    Args:
        x1: inputs, shape ``(n1, d)``.
        x2: inputs, shape ``(n2, d)``; ``None`` means ``x1`` (a symmetric Gram matrix).
        get: ``"ntk"`` or ``"nngp"``.
        W_std, b_std: weight and bias standard deviations, as in neural-tangents.
        readout_b_std: bias standard deviation of the readout layer (``None``: ``b_std``;
            0: a readout without bias).

    Returns:
        The Gram matrix, shape ``(n1, n2)``, in ``x1``'s dtype and on its device.

    Cost: O(n1 * n2 * d) time for the inner products, O(n1 * n2) memory.
    """
    check_choice("get", get, KERNEL_CHOICES)
    check_positive_float("W_std", W_std)
    check_positive_float("b_std", b_std, allow_zero=True)
    readout_b_std = b_std if readout_b_std is None else readout_b_std
    check_positive_float("readout_b_std", readout_b_std, allow_zero=True)
    if x1.ndim != 2:
        raise ValueError(f"x1 must have shape (n, d); got shape {tuple(x1.shape)}")
    x2 = x1 if x2 is None else x2
    if x2.ndim != 2 or x2.shape[1] != x1.shape[1]:
        raise ValueError(
            f"x2 must have shape (n2, {x1.shape[1]}) to match x1; got shape {tuple(x2.shape)}"
        )
    d = x1.shape[1]
    w2, b2 = W_std**2, b_std**2
    sigma22 = w2 * (x2 * x2).sum(1) / d + b2
    out = torch.empty(x1.shape[0], x2.shape[0], dtype=x1.dtype, device=x1.device)
    # row blocks: on CPU each temporary stays below glibc's mmap threshold (see fusion.py), which
    # made a 50,000 x 4,096 Gram matrix 4x faster than one pass; fused when it is large
    rows = x1.shape[0]
    if x1.device.type == "cpu":
        keep_freed_memory()
        rows = max(1, CPU_BLOCK_BYTES // (x1.element_size() * max(1, x2.shape[0])))
    tail = fused(_two_layer_tail, use_compiled(x1.shape[0] * x2.shape[0]))
    for start in range(0, x1.shape[0], rows):
        block = x1[start:start + rows]
        sigma12 = w2 * (block @ x2.T) / d + b2
        sigma11 = w2 * (block * block).sum(1) / d + b2
        out[start:start + rows] = tail(sigma12, sigma11[:, None], sigma22[None, :], w2,
                                       readout_b_std**2, get == "ntk")
    return out


def _two_layer_tail(sigma12, sigma11, sigma22, w2: float, readout_b2: float, ntk: bool):
    """The ReLU layer and readout of ``two_layer_relu_kernel`` on one block of pairs."""
    kappa1, kappa0 = relu_expectations(sigma11, sigma22, sigma12)
    nngp = w2 * kappa1 + readout_b2
    return nngp + w2 * kappa0 * sigma12 if ntk else nngp


def _relu_step_eager(q12, var1, var2, ntk):
    kappa1, kappa0 = relu_expectations(var1, var2, q12)
    return kappa1, None if ntk is None else ntk * kappa0


def relu_step(
    q12: torch.Tensor, var1: torch.Tensor, var2: torch.Tensor, ntk: torch.Tensor | None,
    fuse: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One ReLU layer of the kernel recursion: ``(kappa_1(Sigma), Theta * kappa_0(Sigma))``.

    ``q12`` is the covariance Sigma_12 (any shape), ``var1``/``var2`` the variances broadcastable
    to it, ``ntk`` the tangent kernel of the same shape (or ``None`` for a zero NTK). With
    ``fuse`` the arithmetic is one pass over memory compiled by ``torch.compile`` (see
    ``lsa_utils.kernels.fusion``), with the shapes as constants until they change (1.4x faster
    than symbolic shapes on benchmark (b)).
    """
    return fused(_relu_step_eager, fuse, dynamic=None)(q12, var1, var2, ntk)
