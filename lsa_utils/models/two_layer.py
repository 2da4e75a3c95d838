"""A two-layer ReLU network in NTK or mean-field parameterization.

    f(x) = (W_std / m**alpha) * sum_j a_j relu(W_std / sqrt(d) * <w_j, x> + b_std * b_j),

with all of ``a, w, b ~ N(0, 1)`` and ``alpha = 1/2`` (NTK parameterization, Jacot et al. 2018)
or ``alpha = 1`` (mean-field, Mei, Montanari and Nguyen 2018; Chizat and Bach 2018). The
readout has no bias, so the NTK-parameterized network's infinite-width kernel is
``two_layer_relu_kernel(..., readout_b_std=0)``.

With a symmetric initialisation the second half of the neurons copies the first with ``a``
negated, so f = 0 at initialisation for every width and the network's kernel predictor starts
from zero too.

Gradient descent with learning rate ``lr * model.lr_multiplier`` gives, in both
parameterizations, the same tangent kernel at initialisation (``m * m**(-2 alpha) * lr`` is
width-independent), so at equal ``lr`` both follow the same kernel predictor to first order; they
differ only in how far the weights move.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..validation import check_choice, check_positive_float, check_positive_int

PARAMETERIZATIONS = ("ntk", "mean_field")


class TwoLayerReLU(nn.Module):
    """Two-layer ReLU network ``R^d -> R`` (see the module docstring for the formula).

    Args:
        d: input dimension. width: number of hidden neurons m (even when ``symmetric``).
        parameterization: ``"ntk"`` (output scale m^-1/2) or ``"mean_field"`` (m^-1).
        W_std, b_std: as in neural-tangents' ``Dense``.
        symmetric: pair each neuron with a copy whose output weight is negated (f = 0 at init).
        generator: the ``torch.Generator`` that draws the initial weights.
        dtype: parameter dtype.

    Shapes: ``forward(x)`` maps ``(n, d)`` to ``(n,)``.
    """

    def __init__(
        self,
        d: int,
        width: int,
        parameterization: str = "ntk",
        W_std: float = 1.0,
        b_std: float = 1.0,
        symmetric: bool = True,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        check_positive_int("d", d)
        check_positive_int("width", width)
        check_choice("parameterization", parameterization, PARAMETERIZATIONS)
        check_positive_float("W_std", W_std)
        check_positive_float("b_std", b_std, allow_zero=True)
        if symmetric and width % 2:
            raise ValueError(f"width={width} is not allowed with symmetric=True; it must be even")
        self.d, self.width, self.parameterization = d, width, parameterization
        self.W_std, self.b_std = W_std, b_std
        half = width // 2 if symmetric else width
        w = torch.randn(half, d, generator=generator, dtype=dtype)
        b = torch.randn(half, generator=generator, dtype=dtype)
        a = torch.randn(half, generator=generator, dtype=dtype)
        if symmetric:
            w, b, a = torch.cat([w, w]), torch.cat([b, b]), torch.cat([a, -a])
        self.w, self.b, self.a = nn.Parameter(w), nn.Parameter(b), nn.Parameter(a)

    @property
    def output_scale(self) -> float:
        """``W_std / sqrt(m)`` (NTK) or ``W_std / m`` (mean-field)."""
        power = 0.5 if self.parameterization == "ntk" else 1.0
        return self.W_std / self.width**power

    @property
    def lr_multiplier(self) -> float:
        """Factor on the learning rate that makes the function-space dynamics width-independent."""
        return 1.0 if self.parameterization == "ntk" else float(self.width)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """Post-activations ``relu(W_std/sqrt(d) w x + b_std b)``, shape ``(n, m)``."""
        if x.ndim != 2 or x.shape[1] != self.d:
            raise ValueError(f"x must have shape (n, {self.d}); got shape {tuple(x.shape)}")
        pre = (self.W_std / math.sqrt(self.d)) * x @ self.w.T + self.b_std * self.b
        return torch.relu(pre)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_scale * (self.hidden(x) @ self.a)
