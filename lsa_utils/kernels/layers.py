"""Layers of the analytic kernel engine: how each maps the NNGP and NTK of its input to its output.

Notation (Jacot et al. 2018; Arora et al. 2019; Novak et al. 2019, 2020): for a layer input with
covariance Sigma (the NNGP) and tangent kernel Theta, in NTK parameterization

- Dense / Conv (weights ``W_std / sqrt(fan_in) * W``, bias ``b_std * b``):
  ``Sigma' = W_std^2 * A(Sigma) + b_std^2``, ``Theta' = Sigma' + W_std^2 * A(Theta)``,
  where A is the identity for Dense and, for Conv, the mean over filter offsets of the
  covariance at shifted pixel pairs (zero padding for 'SAME');
  in standard parameterization ``Theta' = fan_in * A(Sigma) + W_std^2 * A(Theta) + [bias] 1``,
  with fan_in = input channels (Dense) or channels x filter size (Conv);
- a nonlinearity phi: ``Sigma' = E[phi(u) phi(v)]``, ``Theta' = Theta * E[phi'(u) phi'(v)]`` with
  (u, v) Gaussian of covariance (Sigma_11, Sigma_22, Sigma_12): closed forms for ReLU (the
  arc-cosine kernels of Cho and Saul 2009), erf (Williams 1997), GELU (Tsuchida et al. 2021);
- pooling and Flatten average (or sum) the covariance over the pixels they merge.

State tensors have leading batch dimensions (``(n1, n2)`` for a Gram block, ``(n,)`` for the
self-covariances) and trailing spatial ones: none ('flat'), ``(H, W)`` ('diag', pixel-diagonal)
or ``(H, W, H, W)`` ('full', pixel pairs).
"""

from __future__ import annotations

import functools
import math
import types
from dataclasses import dataclass, replace

import torch

from ..validation import check_choice, check_positive_float, check_positive_int
from .arccos import relu_expectations, relu_step
from .fusion import fused
from .spatial import apply_along, diagonal_window_sum, output_size, pool_matrix, same_padding, window_mean_2d

PARAMETERIZATIONS = ("ntk", "standard")
PADDINGS = ("SAME", "VALID")


@dataclass
class KernelState:
    """NNGP and NTK of a layer's output for a batch of pairs, and what shape the layer has."""

    nngp: torch.Tensor
    ntk: torch.Tensor | None  # None stands for an all-zero NTK (the input layer's)
    layout: str  # 'flat' | 'diag' | 'full'
    channels: int
    spatial: tuple[int, ...]  # () or (H, W)
    fuse: bool = False  # fuse elementwise steps with torch.compile (large computations)
    gaussian: bool = False  # the output is a Gaussian process (a weight layer after the last nonlinearity)


def _pair(v: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (v, v) if isinstance(v, int) else tuple(v)
    if len(pair) != 2:
        raise ValueError(f"{name}={v!r} is not allowed; give an int or a pair of ints")
    for x in pair:
        check_positive_int(name, x)
    return pair


class Layer:
    """Base class. ``needs_full``: the layer mixes pixels, so its input needs pixel pairs."""

    needs_full = False
    nonlinear = False

    def describe(self) -> str:
        return type(self).__name__

    def check_input(self, channels: int, spatial: tuple[int, ...]) -> None:
        """Raise ``ValueError`` if the layer cannot take an input of this shape."""

    def output_shape(self, channels: int, spatial: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
        return channels, spatial


@dataclass
class Dense(Layer):
    """Fully connected layer ``R^C -> R^out`` (on images: the same map at every pixel)."""

    out: int = 1
    W_std: float = 1.0
    b_std: float | None = 0.0
    parameterization: str = "ntk"

    def __post_init__(self) -> None:
        check_positive_int("out", self.out)
        check_positive_float("W_std", self.W_std)
        if self.b_std is not None:
            check_positive_float("b_std", self.b_std, allow_zero=True)
        check_choice("parameterization", self.parameterization, PARAMETERIZATIONS)

    def output_shape(self, channels, spatial):
        return self.out, spatial

    def apply(self, st: KernelState) -> KernelState:
        nngp, ntk = affine_step(st.nngp, st.ntk, *_coefficients(self, st.channels))
        return replace(st, nngp=nngp, ntk=ntk, channels=self.out, gaussian=True)


@dataclass
class Conv(Layer):
    """2-d convolution with ``out`` channels, filter ``kernel_size``, ``stride``, SAME/VALID padding."""

    out: int = 1
    kernel_size: int | tuple[int, int] = 3
    stride: int | tuple[int, int] = 1
    padding: str = "SAME"
    W_std: float = 1.0
    b_std: float | None = 0.0
    parameterization: str = "ntk"

    def __post_init__(self) -> None:
        check_positive_int("out", self.out)
        self.kernel_size = _pair(self.kernel_size, "kernel_size")
        self.stride = _pair(self.stride, "stride")
        check_choice("padding", self.padding, PADDINGS)
        check_positive_float("W_std", self.W_std)
        if self.b_std is not None:
            check_positive_float("b_std", self.b_std, allow_zero=True)
        check_choice("parameterization", self.parameterization, PARAMETERIZATIONS)

    def check_input(self, channels, spatial):
        if len(spatial) != 2:
            raise ValueError(f"{self.describe()} needs image inputs (C, H, W); got a flat input of {channels}")
        if self.padding == "VALID" and any(k > s for k, s in zip(self.kernel_size, spatial)):
            raise ValueError(
                f"kernel_size={self.kernel_size} is not allowed for a {spatial[0]}x{spatial[1]} input "
                "with VALID padding: the filter is larger than the image"
            )

    def output_shape(self, channels, spatial):
        sizes = tuple(output_size(s, k, st, self.padding) for s, k, st in zip(spatial, self.kernel_size, self.stride))
        return self.out, sizes

    def _pads(self, spatial):
        if self.padding == "VALID":
            return [(0, 0), (0, 0)]
        return [same_padding(s, k, st) for s, k, st in zip(spatial, self.kernel_size, self.stride)]

    def apply(self, st: KernelState) -> KernelState:
        channels, spatial = self.output_shape(st.channels, st.spatial)
        fan_in = st.channels * self.kernel_size[0] * self.kernel_size[1]
        nngp, ntk = conv_step(st.nngp, st.ntk, self.kernel_size, self.stride,
                              tuple(tuple(p) for p in self._pads(st.spatial)), st.layout == "full",
                              *_coefficients(self, fan_in), fuse=st.fuse)
        return replace(st, nngp=nngp, ntk=ntk, channels=channels, spatial=spatial, gaussian=True)

    def patch_numbers(self, input_shape: tuple[int, ...]) -> int:
        """Numbers in one input's ``image_patches``: ``C kh kw`` per output pixel."""
        channels, spatial = input_shape[0], tuple(input_shape[1:])
        return channels * math.prod(self.kernel_size) * math.prod(self.output_shape(channels, spatial)[1])

    def image_patches(self, x: torch.Tensor) -> torch.Tensor:
        """The patches this layer sees: ``x`` (n, C, H, W) padded as the layer pads, then
        ``unfold``: shape ``(n, C kh kw, P)`` with P output pixels."""
        (h_lo, h_hi), (w_lo, w_hi) = self._pads(tuple(x.shape[2:]))
        x = torch.nn.functional.pad(x, (w_lo, w_hi, h_lo, h_hi))
        return torch.nn.functional.unfold(x, self.kernel_size, stride=self.stride)

    def apply_to_input(self, x1: torch.Tensor, x2: torch.Tensor | None, layout: str,
                       fuse: bool = False, with_ntk: bool = True,
                       patches: tuple[torch.Tensor, torch.Tensor | None] | None = None,
                       relu_variances: tuple[torch.Tensor, torch.Tensor] | None = None) -> KernelState:
        """This layer applied to the raw inputs' covariance, without forming it: the mean over
        filter offsets A(Sigma_0) is a product of image patches (``unfold``), ``(C kh kw)`` numbers
        per output pixel, where ``apply`` would first write ``Sigma_0`` at every input pixel (or
        pixel pair) and then sum its windows.

        The state comes out contiguous in the engine's (i, j, pixels) order: a batched matrix
        product leaves it pixel-major, which made the next ReLU step 2x slower (case (b)).

        Args: ``x1`` (n1, C, H, W); ``x2`` (n2, C, H, W) for a Gram block, ``None`` for the
        self-covariances; ``layout`` 'diag' or 'full'; ``fuse``: compile the pixel-diagonal
        product (``lsa_utils.kernels.fusion``); ``with_ntk=False`` leaves the NTK out (``None``);
        ``patches``: ``image_patches`` of ``x1`` and ``x2``, when the caller has them already (a
        Gram matrix computes them once, not once per block); ``relu_variances``: for a Gram block
        in the diagonal layout, the variances ``Relu.apply`` would take, to apply a following
        ReLU in the same compiled loop (``_patch_products_relu``).
        Returns the state ``apply`` would give (then the ReLU's, with ``relu_variances``).
        """
        channels, spatial = x1.shape[1], tuple(x1.shape[2:])
        out_channels, out_spatial = self.output_shape(channels, spatial)
        fan_in = channels * self.kernel_size[0] * self.kernel_size[1]
        if relu_variances is not None and not (layout == "diag" and x2 is not None):
            raise ValueError("relu_variances is for a Gram block (x2 given) in the diagonal layout only")
        if patches is None:
            patches = (self.image_patches(x1), None if x2 is None else self.image_patches(x2))
        p1, p2 = patches
        coefficients = _coefficients(self, fan_in)
        full = layout == "full"
        if relu_variances is not None:  # a Gram block of the diagonal layout (checked above): then ReLU's state
            products = fused(_patch_products_relu, fuse, dynamic=None)
            variances = (v.flatten(-2) for v in relu_variances)
            nngp, ntk = products(p1, p2, *variances, float(fan_in), *coefficients)
        elif layout == "diag" and x2 is not None:
            products = fused(_patch_products_affine, fuse, dynamic=None)
            nngp, ntk = products(p1, p2, float(fan_in), *coefficients)
        else:
            if layout == "diag":
                sigma = (p1 * p1).sum(1)
            else:  # a matrix product; its (i, p, j, q) result is laid out again as (i, j, p, q)
                sigma = (torch.einsum("ikp,ikq->ipq", p1, p1) if x2 is None
                         else torch.einsum("ikp,jkq->ijpq", p1, p2).contiguous())
            if with_ntk:
                nngp, ntk = affine_step(sigma.div_(fan_in), None, *coefficients, in_place=True)
            else:
                w2, b2, *_ = coefficients
                nngp, ntk = sigma.div_(fan_in).mul_(w2).add_(b2), None  # affine_step's NNGP
        shape = (*out_spatial, *(out_spatial if full else ()))
        nngp, ntk = (None if t is None else t.reshape(*t.shape[:-2 if full else -1], *shape) for t in (nngp, ntk))
        return KernelState(nngp, ntk, layout, out_channels, out_spatial, gaussian=relu_variances is None)


def _patch_products_affine(p1: torch.Tensor, p2: torch.Tensor, fan_in: float, w2: float, b2: float,
                           c_sigma: float, c_bias: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``affine_step`` of ``sigma[i, j, p] = sum_k p1[i, k, p] p2[j, k, p] / fan_in``, contiguous.
    Compiled, one pass writes both outputs, where eager runs a batched matrix product, a
    transposing copy and the affine passes."""
    if torch.compiler.is_compiling():  # one fused loop; eagerly, this would hold (i, j, k, p)
        sigma = (p1[:, None] * p2[None]).sum(2) / fan_in
    else:
        sigma = torch.einsum("ikp,jkp->ijp", p1, p2).contiguous().div_(fan_in)
    return affine_step(sigma, None, w2, b2, c_sigma, c_bias, in_place=True)


def _patch_products_relu(p1: torch.Tensor, p2: torch.Tensor, var1: torch.Tensor, var2: torch.Tensor,
                         fan_in: float, w2: float, b2: float, c_sigma: float, c_bias: float):
    """``_patch_products_affine`` then ``relu_step`` with the variances ``var1`` (i, 1, P) and
    ``var2`` (1, j, P), P output pixels: compiled, one loop that never writes the Conv's output
    (benchmark (b), a block of 72 x 72 pairs: 8.0 ms against 10.1 ms as two compiled steps)."""
    nngp, ntk = _patch_products_affine(p1, p2, fan_in, w2, b2, c_sigma, c_bias)
    return relu_step(nngp, var1, var2, ntk)


def _coefficients(layer, fan_in: int) -> tuple[float, float, float, float]:
    """``(w2, b2, c_sigma, c_bias)`` of the update: Theta' = c_sigma A(Sigma) + w2 A(Theta) + c_bias
    (with c_sigma = w2, c_bias = b2 in NTK and fan_in, [bias] 1 in standard parameterization)."""
    w2 = layer.W_std**2
    b2 = 0.0 if layer.b_std is None else layer.b_std**2
    if layer.parameterization == "ntk":
        return w2, b2, w2, b2
    return w2, b2, float(fan_in), 0.0 if layer.b_std is None else 1.0


def affine_step(sigma, theta, w2: float, b2: float, c_sigma: float, c_bias: float,
                in_place: bool = False):
    """Sigma' = w2 A(Sigma) + b2, Theta' = c_sigma A(Sigma) + c_bias + w2 A(Theta), given
    ``sigma = A(Sigma)`` and ``theta = A(Theta)`` (``None`` for a zero NTK). With ``in_place``
    the two inputs are overwritten (they must be temporaries of the caller)."""
    ntk = sigma * c_sigma + c_bias
    if theta is not None:
        ntk = ntk.add_(theta, alpha=w2)
    nngp = sigma.mul_(w2).add_(b2) if in_place else sigma * w2 + b2
    return nngp, ntk


def mean_over_offsets(t, kernel_size, stride, pads, full: bool, fuse: bool = False):
    """The operator A of a convolution: mean over filter offsets of the shifted covariance. On the
    pixel-diagonal layout with ``fuse``, a compiled sum of strided slices (3x faster than
    ``avg_pool2d`` on benchmark (b)'s second Conv, compiled with the image size as a constant:
    with it symbolic, the slices were slower than ``avg_pool2d``)."""
    (kh, kw), (sh, sw) = kernel_size, stride
    if full:
        t = diagonal_window_sum(t, t.ndim - 4, t.ndim - 2, kh, sh, pads[0])
        t = diagonal_window_sum(t, t.ndim - 3, t.ndim - 1, kw, sw, pads[1])
    elif fuse:  # as (pairs, H, W): the self pass (rank 3) and the cross pass (rank 4) share a graph
        flat = t.reshape(-1, *t.shape[-2:])
        torch._dynamo.maybe_mark_dynamic(flat, 0)
        out = fused(_sliced_window_mean(kernel_size, stride, pads), True, dynamic=None)(flat)
        return out.reshape(*t.shape[:-2], *out.shape[-2:])
    else:
        return window_mean_2d(t, kernel_size, stride, pads)
    return t.div_(kh * kw)


@functools.lru_cache(maxsize=None)
def _sliced_window_mean(kernel_size, stride, pads):
    """``window_mean_2d`` for one filter as sums of strided slices, to be compiled. Each filter
    gets a function with its own code object: torch.compile keeps its graphs and its record of
    which sizes change per code object, so filters do not share them (shared, the second filter's
    strides became symbolic). Run eagerly (torch's recompile limit reached) it is
    ``window_mean_2d``, which is faster uncompiled."""
    (kh, kw), (sh, sw), ((h_lo, h_hi), (w_lo, w_hi)) = kernel_size, stride, pads

    def window_mean(t):
        if not torch.compiler.is_compiling():
            return window_mean_2d(t, kernel_size, stride, pads)
        if h_lo or h_hi or w_lo or w_hi:
            t = torch.nn.functional.pad(t, (w_lo, w_hi, h_lo, h_hi))
        h_out, w_out = (t.shape[-2] - kh) // sh + 1, (t.shape[-1] - kw) // sw + 1
        rows = sum(t[..., o:o + (h_out - 1) * sh + 1:sh, :] for o in range(kh))
        return sum(rows[..., o:o + (w_out - 1) * sw + 1:sw] for o in range(kw)) / (kh * kw)

    name = f"window_mean_{kh}x{kw}_stride_{sh}x{sw}_pad_{h_lo}_{h_hi}_{w_lo}_{w_hi}"
    return types.FunctionType(window_mean.__code__.replace(co_name=name, co_qualname=name), window_mean.__globals__,
                              name, window_mean.__defaults__, window_mean.__closure__)


def conv_step(nngp, ntk, kernel_size, stride, pads, full: bool, w2, b2, c_sigma, c_bias, fuse: bool = False):
    """One Conv layer of the recursion on (NNGP, NTK) tensors (see the module docstring)."""
    sigma = mean_over_offsets(nngp, kernel_size, stride, pads, full, fuse)
    theta = None if ntk is None else mean_over_offsets(ntk, kernel_size, stride, pads, full, fuse)
    return affine_step(sigma, theta, w2, b2, c_sigma, c_bias, in_place=True)


@dataclass
class Relu(Layer):
    """ReLU: arc-cosine kernels of degree 1 (NNGP) and 0 (derivative), Cho and Saul (2009)."""

    nonlinear = True

    def apply(self, st: KernelState, var1: torch.Tensor, var2: torch.Tensor) -> KernelState:
        nngp, ntk = relu_step(st.nngp, var1, var2, st.ntk, fuse=st.fuse)
        return replace(st, nngp=nngp, ntk=ntk, gaussian=False)


@dataclass
class ABRelu(Layer):
    """``phi(u) = a min(u, 0) + b max(u, 0)`` (stax's ``ABRelu``; ``LeakyRelu`` and ``Abs`` are cases).

    With ``phi(u) = b relu(u) - a relu(-u)``, ``E[relu(u) relu(-v)] = kappa_1 - Sigma_12 / 2``
    (from ``v = relu(v) - relu(-v)`` and ``E[relu(u) v] = Sigma_12 / 2`` by symmetry) and
    ``P(u v < 0) = 1 - 2 kappa_0``, where ``kappa_1``, ``kappa_0`` are ReLU's arc-cosine kernels:

        E[phi(u) phi(v)]   = (a - b)^2 kappa_1 + a b Sigma_12,
        E[phi'(u) phi'(v)] = (a - b)^2 kappa_0 + a b.
    """

    a: float = 0.0
    b: float = 1.0
    nonlinear = True

    def __post_init__(self) -> None:
        for name in ("a", "b"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name}={getattr(self, name)!r} is not allowed; give a finite number")

    def apply(self, st: KernelState, var1: torch.Tensor, var2: torch.Tensor) -> KernelState:
        kappa1, kappa0 = relu_expectations(var1, var2, st.nngp)
        square, product = (self.a - self.b) ** 2, self.a * self.b
        nngp = kappa1 * square + st.nngp * product
        ntk = None if st.ntk is None else st.ntk * (kappa0 * square + product)
        return replace(st, nngp=nngp, ntk=ntk, gaussian=False)


def LeakyRelu(alpha: float) -> ABRelu:  # noqa: N802 (named as stax's layer)
    """``alpha u`` for ``u < 0``, ``u`` above: ``ABRelu(alpha, 1)`` (any finite ``alpha``, as stax)."""
    if not math.isfinite(alpha):
        raise ValueError(f"alpha={alpha!r} is not allowed; LeakyRelu needs a finite alpha")
    return ABRelu(alpha, 1.0)


def Abs() -> ABRelu:  # noqa: N802 (named as stax's layer)
    """``|u|``: ``ABRelu(-1, 1)``."""
    return ABRelu(-1.0, 1.0)


@dataclass
class Sign(Layer):
    """``sign(u)``: ``E[sign(u) sign(v)] = 1 - 2 theta / pi`` (``theta`` the angle between ``u`` and
    ``v``; 0 where a variance is 0, as stax). Its derivative is zero almost everywhere, so the NTK
    of everything below it vanishes, as in stax.

    The angle is ``atan2(sqrt(S11 S22 - S12^2), S12)``, and a gap ``S11 S22 - S12^2`` within
    64 rounding units of ``S11 S22`` counts as zero. Near ``theta = 0`` the kernel moves like
    ``sqrt`` of that gap. So a pair of identical inputs must give exactly 1, or the rounding
    difference between the self pass and the cross pass (1e-16) would become 1e-8 here. The next
    nonlinearity would then turn it into 1e-4."""

    nonlinear = True

    def apply(self, st: KernelState, var1: torch.Tensor, var2: torch.Tensor) -> KernelState:
        prod = var1 * var2
        gap = prod - st.nngp**2
        gap = torch.where(gap <= 64 * torch.finfo(gap.dtype).eps * prod, torch.zeros_like(gap), gap)
        theta = torch.atan2(torch.sqrt(gap), st.nngp)
        nngp = torch.where(prod > 0, 1 - theta * (2 / math.pi), torch.zeros_like(theta))
        return replace(st, nngp=nngp, ntk=None, gaussian=False)


@dataclass
class LayerNorm(Layer):
    """Normalisation over the channels, in the kernel limit (stax's ``LayerNorm`` over the channel
    axis): each pixel's activations are divided by their root mean square over the (infinitely
    many) channels, so ``Sigma' = Sigma / sqrt((eps + Sigma_11)(eps + Sigma_22))`` pixel by pixel,
    and the NTK the same. Its input's mean over channels is zero in the limit (a Gaussian layer),
    so no centring term. It needs the per-input variances, as a nonlinearity does, and a Gaussian
    input; its output stays Gaussian."""

    eps: float = 1e-12
    nonlinear = True  # takes the per-input variances (see SerialKernel)

    def __post_init__(self) -> None:
        check_positive_float("eps", self.eps, allow_zero=True)

    def apply(self, st: KernelState, var1: torch.Tensor, var2: torch.Tensor) -> KernelState:
        scale = torch.rsqrt((var1 + self.eps) * (var2 + self.eps))
        ntk = None if st.ntk is None else st.ntk * scale
        return replace(st, nngp=st.nngp * scale, ntk=ntk, gaussian=True)


@dataclass
class Erf(Layer):
    """erf: E[erf(u) erf(v)] = 2/pi asin(2 S12 / sqrt((1 + 2 S11)(1 + 2 S22))) (Williams 1997).

    Derivative kernel: E[erf'(u) erf'(v)] = 4/pi / sqrt((1 + 2 S11)(1 + 2 S22) - 4 S12^2).
    """

    nonlinear = True

    def apply(self, st: KernelState, var1: torch.Tensor, var2: torch.Tensor) -> KernelState:
        prod = (1 + 2 * var1) * (1 + 2 * var2)
        nngp = (2 / math.pi) * torch.asin(torch.clamp(2 * st.nngp / torch.sqrt(prod), -1.0, 1.0))
        ntk = None
        if st.ntk is not None:
            ntk = st.ntk * (4 / math.pi) / torch.sqrt(torch.clamp(prod - 4 * st.nngp**2, min=1e-30))
        return replace(st, nngp=nngp, ntk=ntk, gaussian=False)


@dataclass
class Gelu(Layer):
    """GELU, ``phi(u) = u Phi(u)`` (Hendrycks and Gimpel 2016), in closed form (Tsuchida et al.
    2021, "Avoiding kernel fixed points: computing with ELU and GELU infinite networks"; stax's
    ``Gelu``). With ``p = S11 S22``, ``q = (1 + S11)(1 + S22)``, ``delta = sqrt(q - S12^2)`` and
    ``theta = atan2(S12, delta)``:

        E[phi(u) phi(v)]   = S12 / 4 + (S12 theta + (S12^2 + p delta^2) / (q delta)) / (2 pi),
        E[phi'(u) phi'(v)] = 1 / 4 + theta / (2 pi) + S12 (1 / delta^2 + (1 - p) / q + 1) / (2 pi delta).

    At ``S12 = 0`` the first is ``E[u Phi(u)] E[v Phi(v)] = S11 S22 / (2 pi sqrt(q))`` (Stein's
    lemma), a check the tests make, with Monte Carlo at other correlations. ``delta^2 >= 1 + S11 +
    S22 > 0`` for any covariance, so nothing here divides by zero.
    """

    nonlinear = True

    def apply(self, st: KernelState, var1: torch.Tensor, var2: torch.Tensor) -> KernelState:
        s12, p, q = st.nngp, var1 * var2, (1 + var1) * (1 + var2)
        delta_sq = q - s12**2
        delta = torch.sqrt(delta_sq)
        theta = torch.atan2(s12, delta)
        nngp = s12 / 4 + (s12 * theta + (s12**2 + p * delta_sq) / (q * delta)) / (2 * math.pi)
        ntk = None
        if st.ntk is not None:
            slope = 0.25 + theta / (2 * math.pi) + s12 * (1 / delta_sq + (1 - p) / q + 1) / (2 * math.pi * delta)
            ntk = st.ntk * slope
        return replace(st, nngp=nngp, ntk=ntk, gaussian=False)


@dataclass
class AvgPool(Layer):
    """Average pooling over ``window`` with ``stride`` (default: the window), SAME/VALID padding."""

    window: int | tuple[int, int] = 2
    stride: int | tuple[int, int] | None = None
    padding: str = "VALID"
    needs_full = True

    def __post_init__(self) -> None:
        self.window = _pair(self.window, "window")
        self.stride = self.window if self.stride is None else _pair(self.stride, "stride")
        check_choice("padding", self.padding, PADDINGS)

    def check_input(self, channels, spatial):
        if len(spatial) != 2:
            raise ValueError("AvgPool needs image inputs (C, H, W)")
        if self.padding == "VALID" and any(k > s for k, s in zip(self.window, spatial)):
            raise ValueError(f"window={self.window} is larger than the {spatial[0]}x{spatial[1]} input")

    def output_shape(self, channels, spatial):
        return channels, tuple(output_size(s, k, st, self.padding) for s, k, st in zip(spatial, self.window, self.stride))

    scale_by_window = False  # SumPool: the window's sum instead of its mean

    def apply(self, st: KernelState) -> KernelState:
        mats = [pool_matrix(s, k, st_, self.padding, st.nngp.dtype, st.nngp.device) * (k if self.scale_by_window else 1)
                for s, k, st_ in zip(st.spatial, self.window, self.stride)]

        def pool(t):
            if t is None:
                return None
            n = t.ndim
            for axis, m in ((n - 4, mats[0]), (n - 3, mats[1]), (n - 2, mats[0]), (n - 1, mats[1])):
                t = apply_along(t, m, axis)
            return t

        _, spatial = self.output_shape(st.channels, st.spatial)
        return replace(st, nngp=pool(st.nngp), ntk=pool(st.ntk), spatial=spatial)


@dataclass
class SumPool(AvgPool):
    """Sum pooling over ``window`` (stax's ``SumPool``): ``AvgPool`` times the window's size."""

    scale_by_window = True


@dataclass
class GlobalAvgPool(Layer):
    """Mean over all pixels: the covariance averaged over all pixel pairs."""

    needs_full = True
    reduce = "mean"

    def check_input(self, channels, spatial):
        if len(spatial) != 2:
            raise ValueError(f"{self.describe()} needs image inputs (C, H, W)")

    def output_shape(self, channels, spatial):
        return channels, ()

    def apply(self, st: KernelState) -> KernelState:
        dims = tuple(range(st.nngp.ndim - 4, st.nngp.ndim))
        fn = torch.mean if self.reduce == "mean" else torch.sum

        def pool(t):
            return None if t is None else fn(t, dim=dims)

        return replace(st, nngp=pool(st.nngp), ntk=pool(st.ntk), layout="flat", spatial=())


@dataclass
class GlobalSumPool(GlobalAvgPool):
    """Sum over all pixels (patches): the covariance summed over all pixel pairs."""

    reduce = "sum"


@dataclass
class Flatten(Layer):
    """Flatten (C, H, W) to C*H*W features: the covariance averaged over the pixel diagonal."""

    def output_shape(self, channels, spatial):
        return channels * math.prod(spatial), ()

    def apply(self, st: KernelState) -> KernelState:
        if st.layout == "flat":
            return st

        def flat(t):
            if t is None:
                return None
            if st.layout == "full":
                t = pixel_diagonal(t)
            return t.mean(dim=(-2, -1))

        channels, _ = self.output_shape(st.channels, st.spatial)
        return replace(st, nngp=flat(st.nngp), ntk=flat(st.ntk), layout="flat", channels=channels, spatial=())


def pixel_diagonal(t: torch.Tensor) -> torch.Tensor:
    """The entries ``[p, p]`` of a full-layout tensor ``(..., H, W, H, W)``, shape ``(..., H, W)``."""
    n = t.ndim
    t = torch.diagonal(t, dim1=n - 4, dim2=n - 2)  # (..., W, W, H)
    return torch.diagonal(t, dim1=n - 4, dim2=n - 3)  # (..., H, W)
