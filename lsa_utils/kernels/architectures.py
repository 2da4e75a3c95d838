"""Kernels of architectures people compare against, each with its neural-tangents twin.

Every builder returns a *spec* (``lsa_utils.kernels.reference``): ``serial(*ours(spec))`` is our
kernel and ``stax.serial(*stax_layers(spec))`` neural-tangents', so the tests compare the two
layer by layer. ``*_kernel`` functions return our ``SerialKernel`` directly.

- ``wide_resnet_spec``: the kernel limit of chapter 1's WRN (``lsa_utils.models.cnn``, after
  Zagoruyko and Komodakis 2016; neural-tangents' README has a close variant): groups of
  pre-activation residual blocks, ReLU -> Conv -> ReLU -> Conv plus a shortcut (identity, or a
  1x1 Conv of the activated input where the shape changes). BatchNorm is left out, as in
  neural-tangents. At initialisation in ``eval()`` mode it is the identity up to
  ``1 / sqrt(1 + eps)``; in training mode it normalises with the batch's statistics, which has no
  kernel limit of this kind (it also resets the variance that grows along the residual
  stream). The network ends with ReLU, a global average pool and a Dense readout, as the torch
  model. Torch's default initialisation corresponds to ``parameterization="standard"`` with
  ``W_std = 1 / sqrt(3)``; its convolutions have no bias and its head has one (``b_std`` for
  the convolutions, ``readout_b_std`` for the head).
- ``myrtle_spec``: Myrtle-5/7/10 (Shankar et al. 2020; neural-tangents' Myrtle example): SAME
  3x3 convolutions with ReLU in three groups of ``(2, 1, 1)``, ``(2, 2, 2)`` or ``(3, 3, 3)``,
  each group followed by a 2x2 average pool, then 2x2 pools down to one pixel, Flatten, Dense.
  ``W_std = sqrt(2)``, no bias.
- ``cntk_gap_spec``: the CNTK-GAP of Arora et al. (2019): ``depth`` SAME 3x3 convolutions with
  ReLU, a global average pool and a Dense readout.

The channel counts do not change an infinite-width kernel in NTK parameterization (the Myrtle
and CNTK-GAP specs give 1). The WRN's are its network's, since where they change decides which
blocks have a convolutional shortcut.
"""

from __future__ import annotations

import math

from ..validation import check_positive_int
from .composition import SerialKernel, serial
from .reference import ours

MYRTLE_GROUPS = {5: (2, 1, 1), 7: (2, 2, 2), 10: (3, 3, 3)}


def _conv(out: int, stride: int = 1, kernel_size: int = 3, W_std: float = 1.0, b_std: float = 0.0) -> tuple:
    return ("conv", out, kernel_size, stride, "SAME", W_std, b_std)


def wide_resnet_spec(depth: int = 10, width: int = 1, num_classes: int = 10,
                     W_std: float = 1.0, b_std: float = 0.0, readout_b_std: float = 0.0) -> list[tuple]:
    """The kernel twin of chapter 1's ``WideResNet(depth, width)`` (``lsa_utils.models.cnn``):
    ``(depth - 4) / 6`` blocks in each of three groups of ``16 w, 32 w, 64 w`` channels, groups 2
    and 3 halving the image (module docstring).

    A block takes ``a = relu(x)`` and returns ``conv3x3(relu(conv3x3(a))) + s``, with ``s = x``
    or, where the channels or the size change, ``s = conv1x1(a)``, as the torch block does.
    Padding is SAME in TF's sense: with stride 2 on an even size it pads one pixel at the end
    where torch's ``padding=1`` pads one on each side (same output size). The main branch's
    windows are then centred one pixel off the 1x1 shortcut's, where torch aligns them; on odd
    sizes the two paddings coincide.
    """
    if (depth - 4) % 6 or depth < 10:
        raise ValueError(f"depth={depth!r} is not allowed; it must be 6 n + 4 with n >= 1 (10, 16, 22, ...)")
    check_positive_int("width", width)
    check_positive_int("num_classes", num_classes)
    conv = lambda out, k=3, stride=1: _conv(out, stride, k, W_std, b_std)  # noqa: E731
    spec, channels_in = [conv(16)], 16
    for channels, stride in [(16 * width, 1), (32 * width, 2), (64 * width, 2)]:
        for block in range((depth - 4) // 6):
            step = stride if block == 0 else 1
            main = [conv(channels, 3, step), ("relu",), conv(channels)]
            if channels != channels_in or step != 1:
                spec += [("relu",), ("fanout", 2), ("parallel", main, [conv(channels, 1, step)]), ("faninsum",)]
            else:
                spec += [("fanout", 2), ("parallel", [("relu",), *main], [("identity",)]), ("faninsum",)]
            channels_in = channels
    return spec + [("relu",), ("gap",), ("dense", num_classes, W_std, readout_b_std)]


def myrtle_spec(depth: int, image_size: int = 32, num_classes: int = 10) -> list[tuple]:
    """Myrtle-``depth`` (5, 7 or 10) on ``image_size`` x ``image_size`` inputs, a power of two of
    at least 8 (one pool per group, then down to one pixel; module docstring)."""
    if depth not in MYRTLE_GROUPS:
        raise ValueError(f"depth={depth!r} is not allowed; Myrtle networks have depth {sorted(MYRTLE_GROUPS)}")
    check_positive_int("image_size", image_size)
    if image_size < 8 or image_size & (image_size - 1):
        raise ValueError(f"image_size={image_size} is not allowed; give a power of two >= 8 (2x2 pools down to 1)")
    w_std = math.sqrt(2.0)
    pool = ("avgpool", 2, 2, "VALID")
    spec = []
    for repeats in MYRTLE_GROUPS[depth]:
        spec += [_conv(1, W_std=w_std), ("relu",)] * repeats + [pool]
    spec += [pool] * (int(math.log2(image_size)) - 3)
    return spec + [("flatten",), ("dense", num_classes, w_std, 0.0)]


def cntk_gap_spec(depth: int, num_classes: int = 1, W_std: float = math.sqrt(2.0)) -> list[tuple]:
    """``depth`` convolutions with ReLU, global average pool, Dense (module docstring)."""
    check_positive_int("depth", depth)
    return [layer for _ in range(depth) for layer in (_conv(1, W_std=W_std), ("relu",))] + [
        ("gap",), ("dense", num_classes, W_std, 0.0)]


def wide_resnet_kernel(depth: int = 10, width: int = 1, num_classes: int = 10, parameterization: str = "ntk",
                       **kwargs) -> SerialKernel:
    """Our kernel of ``wide_resnet_spec`` (``kwargs``: its weight and bias scales)."""
    return serial(*ours(wide_resnet_spec(depth, width, num_classes, **kwargs), parameterization))


def myrtle_kernel(depth: int, image_size: int = 32, num_classes: int = 10) -> SerialKernel:
    """Our kernel of ``myrtle_spec``."""
    return serial(*ours(myrtle_spec(depth, image_size, num_classes)))


def cntk_gap_kernel(depth: int, num_classes: int = 1, **kwargs) -> SerialKernel:
    """Our kernel of ``cntk_gap_spec``."""
    return serial(*ours(cntk_gap_spec(depth, num_classes, **kwargs)))
