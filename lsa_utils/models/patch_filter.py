"""The one-filter convolutional model of Karp et al. (2021), Section 3.

    f(x) = sum_{i=1..k} phi_b(<w, x_i>),    phi_b(z) = ReLU(z + b) - ReLU(-z + b)

with one shared filter ``w`` in R^d and a scalar bias ``b``. For ``b < 0``, ``phi_b`` is the
soft-thresholding z -> sign(z) max(|z| - |b|, 0): patches whose projection on ``w`` is below
``|b|`` are ignored. For ``b = 0`` the model is linear, ``f(x) = <w, sum_i x_i>``.

``PatchFilter`` holds ``M`` independent models at once (``w``: (M, d), ``b``: (M,)), so that a
sweep over noise levels and seeds is one tensor computation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..validation import check_positive_int


def soft_threshold_pair(z: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``phi_b(z) = ReLU(z + b) - ReLU(-z + b)``, elementwise (``b`` broadcast against ``z``)."""
    return torch.relu(z + b) - torch.relu(b - z)


def soft_threshold_pair_grads(z: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(d phi / dz, d phi / db)``: ``1[z+b>0] + 1[b-z>0]`` and ``1[z+b>0] - 1[b-z>0]``."""
    up, down = (z + b > 0).to(z.dtype), (b - z > 0).to(z.dtype)
    return up + down, up - down


class PatchFilter(nn.Module):
    """``M`` one-filter models (module docstring). ``forward``: x (n, k, d) or (M, n, k, d) ->
    (M, n).

    Initialisation as in the paper's code: ``w`` in a uniformly random direction with norm
    ``init_norm`` (1e-6), ``b = 0``.
    """

    def __init__(self, d: int, models: int = 1, init_norm: float = 1e-6,
                 generator: torch.Generator | None = None, dtype=torch.float32) -> None:
        super().__init__()
        check_positive_int("d", d)
        check_positive_int("models", models)
        w = torch.randn(models, d, generator=generator, dtype=dtype)
        self.w = nn.Parameter(init_norm * w / w.norm(dim=1, keepdim=True))
        self.b = nn.Parameter(torch.zeros(models, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            z = torch.einsum("nkd,md->mnk", x, self.w)
        else:
            z = torch.einsum("mnkd,md->mnk", x, self.w)
        return soft_threshold_pair(z, self.b[:, None, None]).sum(-1)

    def cosine_to(self, direction: torch.Tensor) -> torch.Tensor:
        """cos(w, direction) for each model, shape (M,)."""
        return (self.w @ direction) / (self.w.norm(dim=1) * direction.norm())


def noise_pass_fraction(w: torch.Tensor, b: torch.Tensor, s: torch.Tensor | float) -> torch.Tensor:
    """The fraction of N(0, s^2 I) noise patches whose projection passes the threshold,
    ``P(|<w, xi>| > -b) = erfc(-b / (sqrt(2) s ||w||))`` for ``b < 0`` and 1 for ``b >= 0``.

    Shapes: ``w`` (M, d), ``b`` (M,), ``s`` scalar or (M,) -> (M,).
    """
    scale = torch.as_tensor(s, dtype=w.dtype, device=w.device) * w.norm(dim=1)
    return torch.where(b < 0, torch.erfc(-b / (math.sqrt(2.0) * scale)), torch.ones_like(b))
