"""Synthetic regression and classification tasks."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..validation import check_positive_float, check_positive_int


@dataclass
class RegressionTask:
    """Training pairs and a test set; ``x_*`` have shape ``(n, d)``, ``y_*`` shape ``(n,)``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def wavy_target_1d(x: torch.Tensor) -> torch.Tensor:
    """The target ``f*(x) = sin(pi x / 2) + 0.5 cos(pi x)`` of the 1-d toy task; ``(n, 1) -> (n,)``."""
    t = x[:, 0]
    return torch.sin(math.pi * t / 2) + 0.5 * torch.cos(math.pi * t)


def toy_regression_1d(
    n_train: int,
    n_test: int = 200,
    noise_std: float = 0.0,
    half_width: float = 2.0,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> RegressionTask:
    """A one-dimensional regression task small enough to draw.

    Training inputs are stratified on ``[-half_width, half_width]``: one uniform draw in each of
    ``n_train`` equal bins (so no stretch of the curve goes unsampled), sorted, with targets
    ``wavy_target_1d(x) + noise_std * N(0, 1)``; test inputs are an even grid on
    ``[-1.25 half_width, 1.25 half_width]`` with noiseless targets, so plots show extrapolation.
    """
    check_positive_int("n_train", n_train)
    check_positive_int("n_test", n_test)
    check_positive_float("noise_std", noise_std, allow_zero=True)
    check_positive_float("half_width", half_width)
    u = torch.rand(n_train, 1, generator=generator, dtype=dtype)
    bins = torch.arange(n_train, dtype=dtype)[:, None]
    x_train = -half_width + (bins + u) * (2 * half_width / n_train)
    noise = noise_std * torch.randn(n_train, generator=generator, dtype=dtype)
    x_test = torch.linspace(-1.25 * half_width, 1.25 * half_width, n_test, dtype=dtype)[:, None]
    return RegressionTask(x_train, wavy_target_1d(x_train) + noise, x_test, wavy_target_1d(x_test))
