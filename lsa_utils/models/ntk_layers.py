"""Finite layers in NTK parameterization with neural-tangents' weight layouts.

They let a torch network carry exactly the weights of a ``stax`` network (for tests and
benchmarks that compare the two on the same function), and they are the finite-width
counterparts of ``lsa_utils.kernels.Dense`` and ``Conv``:

    Dense: y = W_std / sqrt(fan_in) * x @ W + b_std * b,          W: (in, out)
    Conv:  y = W_std / sqrt(C k_h k_w) * conv(x, W) + b_std * b,   W: (k_h, k_w, in, out) (HWIO)

Inputs are channels-first, ``(n, C, H, W)``; SAME padding follows XLA (extra padding at the end).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..kernels.spatial import same_padding


def _parameter(value) -> nn.Parameter:
    return nn.Parameter(torch.as_tensor(np.array(value)))


class NTKDense(nn.Module):
    """Dense layer in NTK parameterization; ``W`` of shape (in, out), ``b`` of shape (out,)."""

    def __init__(self, W, b=None, W_std: float = 1.0, b_std: float = 1.0) -> None:
        super().__init__()
        self.W = _parameter(W)
        self.b = None if b is None else _parameter(np.reshape(b, -1))
        self.W_std, self.b_std = W_std, b_std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.W_std / math.sqrt(self.W.shape[0]) * x @ self.W
        return y if self.b is None else y + self.b_std * self.b


class NTKConv(nn.Module):
    """2-d convolution in NTK parameterization; ``W`` in HWIO layout, ``b`` of shape (out,)."""

    def __init__(self, W, b=None, stride: int = 1, padding: str = "SAME", W_std: float = 1.0,
                 b_std: float = 1.0) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.as_tensor(np.array(W)).permute(3, 2, 0, 1).contiguous())  # OIHW
        self.b = None if b is None else _parameter(np.reshape(b, -1))
        self.stride, self.padding = stride, padding
        self.W_std, self.b_std = W_std, b_std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, c, kh, kw = self.W.shape
        if self.padding == "SAME":
            (ph0, ph1), (pw0, pw1) = (same_padding(s, k, self.stride) for s, k in zip(x.shape[2:], (kh, kw)))
            x = F.pad(x, (pw0, pw1, ph0, ph1))
        y = self.W_std / math.sqrt(c * kh * kw) * F.conv2d(x, self.W, stride=self.stride)
        return y if self.b is None else y + self.b_std * self.b[None, :, None, None]


class NHWCFlatten(nn.Module):
    """Flatten ``(n, C, H, W)`` in (H, W, C) order, as stax flattens its NHWC arrays."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
