"""The convolutional networks of Karp et al. (2021), Section 5, in torch.

``SimpleCNN`` is the paper's small CNN (its ``models.simple_cnn``):

    Conv(8w, 3x3, stride 2, VALID) - ReLU - Conv(16w, 3x3, stride 2, VALID) - ReLU - Flatten - Dense(classes)

with channel counts times the width factor ``w``; ``simple_cnn_kernel`` is the infinite-width
NTK of the same architecture (neural-tangents' defaults: W_std = 1, no bias), through
``lsa_utils.kernels``. ``WideResNet`` is the pre-activation wide ResNet of Zagoruyko and
Komodakis (2016) that the paper uses on CIFAR-10 (WRN-10-10: depth 10, width 10).
"""

from __future__ import annotations

import torch
from torch import nn

from ..validation import check_positive_int


class SimpleCNN(nn.Sequential):
    """The paper's small CNN; input ``(n, C, H, W)`` -> logits ``(n, classes)``. PyTorch's default
    initialisation; ``image_size`` fixes the Dense layer's input size."""

    def __init__(self, in_channels: int, classes: int, image_size: int, width_factor: int = 1) -> None:
        for name, v in [("in_channels", in_channels), ("classes", classes), ("image_size", image_size),
                        ("width_factor", width_factor)]:
            check_positive_int(name, v)
        if image_size < 7:
            raise ValueError(f"image_size={image_size} is not allowed; two stride-2 3x3 VALID convolutions need >= 7")
        c1, c2 = 8 * width_factor, 16 * width_factor
        side = ((image_size - 3) // 2 + 1 - 3) // 2 + 1
        super().__init__(
            nn.Conv2d(in_channels, c1, 3, stride=2), nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2), nn.ReLU(),
            nn.Flatten(), nn.Linear(c2 * side * side, classes),
        )

    @property
    def first_layer(self) -> nn.Conv2d:
        return self[0]


def simple_cnn_kernel():
    """The infinite-width NTK of ``SimpleCNN`` (any width factor), as a ``SerialKernel``."""
    from ..kernels import Conv, Dense, Flatten, Relu, serial

    return serial(
        Conv(1, 3, 2, "VALID", 1.0, None), Relu(),
        Conv(1, 3, 2, "VALID", 1.0, None), Relu(),
        Flatten(), Dense(1, 1.0, None),
    )


class _WideBlock(nn.Module):
    """Pre-activation residual block: BN-ReLU-Conv3x3(stride)-BN-ReLU-Conv3x3, 1x1 shortcut on
    a change of shape."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = None if (c_in == c_out and stride == 1) else nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(self.bn1(x))
        out = self.conv2(torch.relu(self.bn2(self.conv1(a))))
        return out + (x if self.shortcut is None else self.shortcut(a))


class WideResNet(nn.Module):
    """WRN-depth-width: 3 groups of (depth - 4) / 6 blocks with 16w, 32w, 64w channels, global
    average pooling and a linear readout. Input ``(n, C, H, W)`` -> logits ``(n, classes)``."""

    def __init__(self, in_channels: int, classes: int, depth: int = 10, width: int = 10) -> None:
        super().__init__()
        if (depth - 4) % 6 or depth < 10:
            raise ValueError(f"depth={depth} is not allowed; it must be 6 n + 4 with n >= 1 (10, 16, 22, ...)")
        blocks = (depth - 4) // 6
        widths = [16 * width, 32 * width, 64 * width]
        layers: list[nn.Module] = [nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)]
        c = 16
        for group, (w, stride) in enumerate(zip(widths, [1, 2, 2])):
            for i in range(blocks):
                layers.append(_WideBlock(c, w, stride if i == 0 else 1))
                c = w
        self.features = nn.Sequential(*layers, nn.BatchNorm2d(c), nn.ReLU())
        self.head = nn.Linear(c, classes)

    @property
    def first_layer(self) -> nn.Conv2d:
        return self.features[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))
