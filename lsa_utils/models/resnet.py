"""ResNet18 for 32x32 images, as in the official code of Ortiz-Jimenez, Moosavi-Dezfooli and
Frossard (2021), ``models/jax/resnet.py`` (Flax's ResNet V1 example), in torch.

- Stem: Conv(w, 3x3, stride 1) - BatchNorm - activation (no max-pooling: the CIFAR variant).
- Four stages of two basic blocks with widths w, 2w, 4w, 8w; the first block of stages 2 to 4
  has stride 2. A block: Conv(3x3, stride) - BN - act - Conv(3x3) - BN (scale initialised to 0)
  added to the input (through Conv(1x1, stride) - BN when the shape changes), then act.
- Global average pooling, Dense(outputs); one output is returned with shape ``(n,)``.

As Flax's defaults: convolutions without bias, weights LeCun-normal (truncated), Dense bias 0;
BatchNorm with epsilon 1e-5 and a running average that keeps 0.9 of its value per step (torch's
``momentum=0.1``); convolutions padded as Flax's ``"SAME"`` (a 3x3 stride-2 convolution of an
even-sized image pads one row and column at the end only, where torch's ``padding=1`` pads both
sides). The official ``base width`` w is 64 (11.2 million parameters); a smaller one gives the
same structure at a fraction of the cost. Activations: ``"relu"`` (the official binary CIFAR-10
and ``compute_ntk`` configurations) or ``"gelu"`` (Flax's default tanh approximation; the
official ``train_ntk`` and ``pretrained_ntk_comparison`` configurations, which train a GeLU
network on the eigenfunctions of the ReLU one's NTK; chapter 4 uses ReLU throughout).

BatchNorm: for a per-image function (an NTK, a linearization) chapter 4 uses eval mode after
``lsa_utils.experiments.linearization.with_batch_statistics`` (its docstring says why). The
running variance is updated with the biased batch variance, as Flax's (``FlaxBatchNorm2d``;
torch's own uses the unbiased one).

``load_flax_variables`` puts the variables of the official Flax model (``params`` and
``batch_stats``) into this one; ``tests/test_resnet.py`` checks the outputs against the official
code's (``tools/flax_golden.py``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..validation import check_positive_int
from .small_nets import lecun_normal_

ACTIVATIONS = {"relu": lambda: nn.ReLU(), "gelu": lambda: nn.GELU(approximate="tanh")}
BN_MOMENTUM = 0.1  # torch's convention: Flax's momentum 0.9 keeps 0.9 of the running average
BN_EPSILON = 1e-5


class SameConv2d(nn.Conv2d):
    """A bias-free ``nn.Conv2d`` padded as Flax / TensorFlow ``"SAME"``: output size
    ``ceil(input / stride)``, the total padding ``max((out - 1) stride + kernel - input, 0)`` split
    with the extra row and column at the end. Input ``(n, c_in, h, w)`` -> ``(n, c_out, h', w')``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(c_in, c_out, kernel, stride, padding=0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size in (x.shape[-1], x.shape[-2]):  # F.pad takes the last dimension first
            total = max((math.ceil(size / self.stride[0]) - 1) * self.stride[0] + self.kernel_size[0] - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


class FlaxBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose running variance averages the *biased* batch variance, as Flax's
    ``BatchNorm`` (torch's averages the unbiased one, larger by m / (m - 1) for m values per
    channel). Normalisation, in training and in eval mode, is torch's; ``momentum=None`` (a
    cumulative average) works as in torch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.track_running_stats):
            return super().forward(x)
        previous = self.running_var.clone()
        out = super().forward(x)
        # torch set running_var = (1 - f) previous + f u with u the unbiased variance and f the
        # factor it used; Flax's is (1 - f) previous + f u (m - 1) / m = new - f u / m
        factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        m = x.numel() // x.shape[1]
        with torch.no_grad():  # a new tensor: autograd saved the one torch's batch_norm updated
            self.running_var = self.running_var - (self.running_var - (1 - factor) * previous) / m
        return out


def _norm(channels: int) -> nn.BatchNorm2d:
    return FlaxBatchNorm2d(channels, eps=BN_EPSILON, momentum=BN_MOMENTUM)


class BasicBlock(nn.Module):
    """ResNet V1 basic block (module docstring); ``(n, c_in, h, w)`` -> ``(n, c_out, h/s, w/s)``."""

    def __init__(self, c_in: int, c_out: int, stride: int, activation: str) -> None:
        super().__init__()
        self.conv1, self.norm1 = SameConv2d(c_in, c_out, 3, stride), _norm(c_out)
        self.conv2, self.norm2 = SameConv2d(c_out, c_out, 3), _norm(c_out)
        self.act = ACTIVATIONS[activation]()
        self.project = (nn.Sequential(SameConv2d(c_in, c_out, 1, stride), _norm(c_out))
                        if stride != 1 or c_in != c_out else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm2(self.conv2(self.act(self.norm1(self.conv1(x)))))
        residual = x if self.project is None else self.project(x)
        return self.act(residual + y)


class ResNet18(nn.Module):
    """Input ``(n, in_channels, H, W)`` -> logits ``(n,)`` (one output) or ``(n, outputs)``."""

    def __init__(self, in_channels: int, width: int = 64, outputs: int = 1, activation: str = "relu",
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        for name, value in [("in_channels", in_channels), ("width", width), ("outputs", outputs)]:
            check_positive_int(name, value)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r} is not allowed; allowed: {', '.join(ACTIVATIONS)}")
        self.outputs = outputs
        self.stem = nn.Sequential(SameConv2d(in_channels, width, 3), _norm(width), ACTIVATIONS[activation]())
        blocks, c_in = [], width
        for stage in range(4):
            c_out = width * 2**stage
            for j in range(2):
                blocks.append(BasicBlock(c_in, c_out, 2 if stage > 0 and j == 0 else 1, activation))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(c_in, outputs)
        self._init(generator)

    def _init(self, generator: torch.Generator | None) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                lecun_normal_(module.weight, generator)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)
        for block in self.blocks:  # Flax: the block's last BatchNorm starts with scale 0
            nn.init.zeros_(block.norm2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))
        return out.reshape(-1) if self.outputs == 1 else out


def load_flax_variables(model: ResNet18, variables: dict[str, np.ndarray]) -> ResNet18:
    """Copy the official Flax ResNet18's variables into ``model`` (in place; returned).

    ``variables`` maps ``"params/<path>"`` and ``"batch_stats/<path>"`` (Flax's nested names
    joined by ``/``: ``conv_init``, ``bn_init``, ``ResNetBlock_<i>/{Conv_0, BatchNorm_0, Conv_1,
    BatchNorm_1, conv_proj, norm_proj}``, ``Dense_0``) to arrays. Convolution kernels
    ``(kh, kw, in, out)`` become ``(out, in, kh, kw)``, the Dense kernel ``(in, out)`` becomes
    ``(out, in)``; BatchNorm ``scale``/``bias``/``mean``/``var`` are weight, bias and running
    statistics. Every tensor of ``model`` must be given, with its shape; extra keys are refused.
    """
    targets: dict[str, tuple[torch.Tensor, str]] = {}

    def conv(prefix, module):
        targets[f"params/{prefix}/kernel"] = (module.weight, "conv")

    def norm(prefix, module):
        targets[f"params/{prefix}/scale"] = (module.weight, "")
        targets[f"params/{prefix}/bias"] = (module.bias, "")
        targets[f"batch_stats/{prefix}/mean"] = (module.running_mean, "")
        targets[f"batch_stats/{prefix}/var"] = (module.running_var, "")

    conv("conv_init", model.stem[0])
    norm("bn_init", model.stem[1])
    for i, block in enumerate(model.blocks):
        prefix = f"ResNetBlock_{i}"
        conv(f"{prefix}/Conv_0", block.conv1)
        norm(f"{prefix}/BatchNorm_0", block.norm1)
        conv(f"{prefix}/Conv_1", block.conv2)
        norm(f"{prefix}/BatchNorm_1", block.norm2)
        if block.project is not None:
            conv(f"{prefix}/conv_proj", block.project[0])
            norm(f"{prefix}/norm_proj", block.project[1])
    targets["params/Dense_0/kernel"] = (model.head.weight, "dense")
    targets["params/Dense_0/bias"] = (model.head.bias, "")
    missing = sorted(set(targets) - set(variables))
    extra = sorted(set(variables) - set(targets))
    if missing or extra:
        raise ValueError(f"the Flax variables do not match this ResNet18 (width {model.stem[0].out_channels}): "
                         f"missing {missing[:5]}, unexpected {extra[:5]}")
    with torch.no_grad():
        for key, (tensor, kind) in targets.items():
            value = torch.as_tensor(variables[key])
            if kind == "conv":
                value = value.permute(3, 2, 0, 1)
            elif kind == "dense":
                value = value.T
            if value.shape != tensor.shape:
                raise ValueError(f"{key}: shape {tuple(value.shape)} where the model has {tuple(tensor.shape)}")
            tensor.copy_(value)
    return model
