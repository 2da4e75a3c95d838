"""The two small binary classifiers of Ortiz-Jimenez, Moosavi-Dezfooli and Frossard (2021), in torch.

Both end in one logit, returned with shape ``(n,)``, and are initialised as the paper's Flax code
is by default: every weight LeCun-normal (a normal truncated at two standard deviations, rescaled
so that the variance is ``1 / fan_in``), every bias zero.

- ``MLP``: Flatten - Dense(100) - ReLU - Dense(100) - ReLU - Dense(1).
- ``LeNet``: Conv(6, 5x5, SAME) - ReLU - AvgPool(2) - Conv(16, 5x5, SAME) - ReLU - AvgPool(2) -
  Flatten - Dense(120) - ReLU - Dense(84) - ReLU - Dense(1).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..validation import check_positive_int

# std of a standard normal truncated to [-2, 2]; dividing by it restores unit variance
_TRUNCATED_NORMAL_STD = 0.87962566103423978


def lecun_normal_(weight: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill ``weight`` (out, in, *kernel) in place with a truncated normal of variance 1 / fan_in,
    fan_in = in * prod(kernel) (Flax's ``lecun_normal``)."""
    fan_in = weight[0].numel()
    std = 1.0 / math.sqrt(fan_in) / _TRUNCATED_NORMAL_STD
    with torch.no_grad():
        weight.copy_(torch.nn.init.trunc_normal_(torch.empty_like(weight), 0.0, 1.0, -2.0, 2.0,
                                                 generator=generator) * std)
    return weight


def _init(model: nn.Module, generator: torch.Generator | None) -> None:
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            lecun_normal_(module.weight, generator)
            nn.init.zeros_(module.bias)


class _OneLogit(nn.Sequential):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).reshape(-1)


class MLP(_OneLogit):
    """Input ``(n, C, H, W)`` or ``(n, d)`` with ``in_features = C*H*W`` -> logits ``(n,)``."""

    def __init__(self, in_features: int, hidden: tuple[int, ...] = (100, 100),
                 generator: torch.Generator | None = None) -> None:
        check_positive_int("in_features", in_features)
        widths = [in_features, *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        super().__init__(*layers, nn.Linear(widths[-1], 1))
        _init(self, generator)


class LeNet(_OneLogit):
    """Input ``(n, in_channels, image_size, image_size)`` -> logits ``(n,)``."""

    def __init__(self, in_channels: int, image_size: int, generator: torch.Generator | None = None) -> None:
        check_positive_int("in_channels", in_channels)
        check_positive_int("image_size", image_size)
        if image_size < 4:
            raise ValueError(f"image_size={image_size} is too small for two 2x2 poolings; need >= 4")
        side = image_size // 2 // 2
        super().__init__(
            nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(16 * side * side, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 1),
        )
        _init(self, generator)


BINARY_CLASSIFIERS = ("mlp", "lenet", "resnet18")


def make_binary_classifier(name: str, image_shape: tuple[int, int, int],
                           generator: torch.Generator | None = None, resnet_width: int = 64) -> nn.Module:
    """``"mlp"``, ``"lenet"`` or ``"resnet18"`` (``lsa_utils.models.resnet.ResNet18`` with base
    width ``resnet_width`` and ReLU) for images of shape ``(C, H, W)`` (square for the LeNet),
    one output logit."""
    c, h, w = image_shape
    if name == "mlp":
        return MLP(c * h * w, generator=generator)
    if name == "lenet":
        if h != w:
            raise ValueError(f"LeNet needs square images; got {h}x{w}")
        return LeNet(c, h, generator=generator)
    if name == "resnet18":
        from .resnet import ResNet18

        return ResNet18(c, width=resnet_width, generator=generator)
    raise ValueError(f"model must be one of {', '.join(map(repr, BINARY_CLASSIFIERS))}; got {name!r}")
