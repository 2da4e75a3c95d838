"""The sparse-signal patch model of Karp et al. (2021), Section 3.

An input is ``k`` patches of dimension ``d``. The label ``y`` is +1 or -1 with equal
probability; one patch, chosen uniformly, is ``y * w_star`` with ``w_star = (1, ..., 1)/sqrt(d)``;
every other patch is N(0, s^2 I_d) noise with

    s = c * ln(k) / sqrt(k)            (c: the noise level; c = 1 in the paper)

so that the sum of the noise patches has norm ~ c ln(k) sqrt(d) >> 1 (a linear classifier on the
patch sum fails) while every single noise patch projects onto ``w_star`` well below 1 (a
threshold between the two finds the signal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..validation import check_positive_float, check_positive_int


def noise_std(k: int, noise_level: float) -> float:
    """The per-coordinate standard deviation ``s = c ln(k) / sqrt(k)`` of a noise patch."""
    check_positive_int("k", k)
    check_positive_float("noise_level", noise_level, allow_zero=True)
    return noise_level * math.log(k) / math.sqrt(k)


def signal_direction(d: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """``w_star = (1, ..., 1) / sqrt(d)``, shape ``(d,)``."""
    check_positive_int("d", d)
    return torch.full((d,), 1.0 / math.sqrt(d), dtype=dtype, device=device)


@dataclass
class PatchData:
    """``x``: (n, k, d) patches; ``y``: (n,) labels in {-1, +1}; ``signal_position``: (n,)."""

    x: torch.Tensor
    y: torch.Tensor
    signal_position: torch.Tensor

    def patch_sum(self) -> torch.Tensor:
        """The sum of the patches, shape ``(n, d)``: what a linear model of x sees."""
        return self.x.sum(1)


def sample_patch_data(
    n: int, k: int, d: int, noise_level: float = 1.0, generator: torch.Generator | None = None,
    dtype=torch.float32, device=None,
) -> PatchData:
    """Draw ``n`` inputs of the patch model (see the module docstring); all from ``generator``."""
    check_positive_int("n", n)
    if check_positive_int("k", k) < 2:
        raise ValueError(f"k={k} is not allowed; the model needs at least 2 patches")
    s = noise_std(k, noise_level)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    x = s * torch.randn(n, k, d, generator=generator, dtype=dtype)
    y = 2.0 * torch.randint(2, (n,), generator=generator).to(dtype) - 1.0
    position = torch.randint(k, (n,), generator=generator)
    x[torch.arange(n), position] = y[:, None] * signal_direction(d, dtype)
    return PatchData(x.to(device), y.to(device), position.to(device))
