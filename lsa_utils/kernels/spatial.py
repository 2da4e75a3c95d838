"""Spatial primitives on covariance tensors: the shifted sums behind convolution and pooling.

A covariance tensor has leading batch dimensions and trailing spatial ones:

- *diagonal* layout ``(..., H, W)``: entry ``[p]`` is Cov(z(x)[p], z(x')[p]), enough when the
  readout is Flatten (Arora et al. 2019, Sec. 4; Novak et al. 2019, "diagonal_spatial");
- *full* layout ``(..., H, W, H, W)``: entry ``[p, p']`` is Cov(z(x)[p], z(x')[p']), needed by
  pooling, which mixes pixels.

A convolution with filter size k, stride s and weights i.i.d. across filter offsets maps a
covariance to the mean over offsets o of the covariance at (s q + o, s q' + o): on the diagonal
layout a strided sum-pool of each spatial axis, on the full layout a sum along diagonals of each
pair of axes (h, h') and (w, w'). Pooling averages over independent offsets o, o' and acts on
each spatial axis separately. Zero padding extends the covariance with zeros.
"""

from __future__ import annotations

import torch


def same_padding(size: int, k: int, stride: int) -> tuple[int, int]:
    """TensorFlow/XLA 'SAME' padding (low, high) of one axis: extra padding goes to the high side."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def output_size(size: int, k: int, stride: int, padding: str) -> int:
    """Spatial output size of a convolution or pooling along one axis."""
    return -(-size // stride) if padding == "SAME" else (size - k) // stride + 1


def _pad_axis(t: torch.Tensor, axis: int, lo: int, hi: int) -> torch.Tensor:
    if lo == 0 and hi == 0:
        return t
    shape = list(t.shape)
    parts = []
    if lo:
        shape[axis] = lo
        parts.append(t.new_zeros(shape))
    parts.append(t)
    if hi:
        shape[axis] = hi
        parts.append(t.new_zeros(shape))
    return torch.cat(parts, dim=axis)


def window_mean_2d(t: torch.Tensor, kernel_size: tuple[int, int], stride: tuple[int, int],
                   pads: tuple[tuple[int, int], tuple[int, int]]) -> torch.Tensor:
    """``out[i, j] = mean_{o, q} t_padded[s_h i + o, s_w j + q]`` over the last two axes, one
    ``avg_pool2d`` (zero padding applied first, since SAME may pad one more pixel at the end;
    1.5x faster than a strided sum along each axis in turn)."""
    (h_lo, h_hi), (w_lo, w_hi) = pads
    if h_lo or h_hi or w_lo or w_hi:
        t = torch.nn.functional.pad(t, (w_lo, w_hi, h_lo, h_hi))
    lead, (h, w) = t.shape[:-2], t.shape[-2:]
    out = torch.nn.functional.avg_pool2d(t.reshape(1, -1, h, w), kernel_size, stride)
    return out.reshape(*lead, *out.shape[-2:])


def diagonal_window_sum(
    t: torch.Tensor, axis_a: int, axis_b: int, k: int, stride: int, pad: tuple[int, int]
) -> torch.Tensor:
    """``out[i, j] = sum_{o < k} t_padded[stride i + o, stride j + o]`` over axes ``axis_a, axis_b``.

    This is a convolution's effect on a pixel-pair covariance along one spatial dimension (both
    axes have the same length). Cost: k strided slices and adds of the output's size; with
    stride 1 no padded copy is made (each offset adds the overlapping slice in place).
    """
    if stride == 1:
        return _diagonal_window_sum_stride1(t, axis_a, axis_b, k, pad)
    t = _pad_axis(_pad_axis(t, axis_a, *pad), axis_b, *pad)
    n_out = (t.shape[axis_a] - k) // stride + 1
    index = [slice(None)] * t.ndim
    out = None
    for o in range(k):
        index[axis_a] = index[axis_b] = slice(o, o + (n_out - 1) * stride + 1, stride)
        piece = t[tuple(index)]
        out = piece.clone() if out is None else out.add_(piece)
    return out


def _diagonal_window_sum_stride1(t, axis_a, axis_b, k, pad):
    n = t.shape[axis_a]
    lo, hi = pad
    n_out = n + lo + hi - k + 1
    shape = list(t.shape)
    shape[axis_a] = shape[axis_b] = n_out
    centred = n_out == n and 0 <= lo < k  # the offset with d = 0 covers every output entry
    out = t.clone() if centred else t.new_zeros(shape)
    for o in range(k):
        d = o - lo  # out[i] takes t[i + d]
        if centred and d == 0:
            continue
        i0, i1 = max(0, -d), min(n_out, n - d)
        if i1 <= i0:
            continue
        length = i1 - i0
        target = out.narrow(axis_a, i0, length).narrow(axis_b, i0, length)
        target.add_(t.narrow(axis_a, i0 + d, length).narrow(axis_b, i0 + d, length))
    return out


def pool_matrix(size: int, k: int, stride: int, padding: str, dtype, device) -> torch.Tensor:
    """The averaging matrix ``A`` (out, size) of a 1-d average pool: ``y = A x``.

    With 'SAME' padding the padded positions count as zeros in the average (divisor k), as
    neural-tangents' ``AvgPool`` does by default (``count_include_pad=True``).
    """
    out = output_size(size, k, stride, padding)
    lo = same_padding(size, k, stride)[0] if padding == "SAME" else 0
    a = torch.zeros(out, size, dtype=dtype, device=device)
    for i in range(out):
        for o in range(k):
            j = stride * i + o - lo
            if 0 <= j < size:
                a[i, j] = 1.0 / k
    return a


def apply_along(t: torch.Tensor, matrix: torch.Tensor, axis: int) -> torch.Tensor:
    """Contract ``matrix`` (out, size) with axis ``axis`` of ``t`` (a linear map of that axis)."""
    moved = t.movedim(axis, -1)
    return (moved @ matrix.T).movedim(-1, axis)
