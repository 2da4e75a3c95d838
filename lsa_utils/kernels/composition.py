"""``serial``: the infinite-width NNGP and NTK of a stack of layers, computed in blocks.

    from lsa_utils.kernels import serial, Conv, Relu, Flatten, Dense
    kernel = serial(Conv(8, 3, stride=2, padding="VALID"), Relu(), Flatten(), Dense(10))
    ntk = kernel(x1)                  # (n1, n1), x1 of shape (n1, C, H, W)
    nngp = kernel(x1, x2, get="nngp")  # (n1, n2)

Branches (``FanOut``, ``parallel``, ``FanInSum``, ``FanInConcat``; ``lsa_utils.kernels.branches``)
make residual blocks; between a ``FanOut`` and its fan-in the state is a list, one per branch.

How it is computed:

1. Layout. With a Flatten readout only the pixel-diagonal covariance is propagated ('diag',
   ``(H, W)`` per pair); a pooling layer mixes pixels, so the stack before it propagates pixel
   pairs ('full', ``(H, W, H, W)`` per pair). Dense inputs are 'flat'.
2. Self pass. For each input, the variances that the nonlinearities need (the pixel-diagonal of
   Cov(z(x), z(x)) at every nonlinearity) are propagated once per input, in blocks.
3. Cross pass. The Gram matrix is filled in blocks of ``block x block`` pairs, chosen so that the
   largest intermediate fits ``memory_budget`` bytes; when ``x2`` is ``None`` only the blocks on
   and above the diagonal are computed and mirrored.

Cost: O(n1 * n2 * S * L) time for L layers with S spatial entries per pair (H W for 'diag',
(H W)^2 for 'full'), and O(block^2 * S) memory, plus a first Conv's image patches of all inputs
(C kh kw per output pixel) where they fit a quarter of the budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import torch

from ..devices import memory_budget as device_memory_budget
from ..validation import check_choice, check_positive_int
from .fusion import CPU_BLOCK_BYTES, keep_freed_memory, use_compiled
from .branches import FanInSum, FanOut, Parallel, _FanIn
from .layers import Conv, Dense, KernelState, Layer, Relu, pixel_diagonal

GETS = ("nngp", "ntk")
MAX_BLOCK_ELEMENTS = 2**31 - 1  # CUDA's avg_pool2d indexes its output with int32


class SerialKernel:
    """The analytic kernel of ``layers`` applied in sequence; see the module docstring."""

    def __init__(self, layers: Sequence[Layer], memory_budget: int | None = None) -> None:
        layers = list(layers)
        if not layers:
            raise ValueError("serial() needs at least one layer")
        for layer in layers:
            if not isinstance(layer, Layer):
                raise ValueError(
                    f"serial() takes kernel layers of lsa_utils.kernels (Dense, Conv, the nonlinearities, LayerNorm, "
                    f"the pools, Flatten, FanOut, parallel(...), FanInSum, FanInConcat, Identity); got {layer!r}"
                )
        self.layers = layers
        # None: chosen per call from the device (lsa_utils.devices.memory_budget)
        self.memory_budget = None if memory_budget is None else check_positive_int("memory_budget", memory_budget)

    def __repr__(self) -> str:
        return "serial(" + ", ".join(repr(layer) for layer in self.layers) + ")"

    # ---- shapes and layout -------------------------------------------------------------------
    def plan(self, input_shape: tuple[int, ...]) -> tuple[str, int]:
        """Check every layer against the shapes it receives; return the input layout and the
        largest number of spatial entries per pair of inputs."""
        shape = (input_shape[0], tuple(input_shape[1:])) if len(input_shape) == 3 else (input_shape[0], ())
        found = {"full": False, "sizes": []}
        shape = _plan_layers(self.layers, shape, found)
        if isinstance(shape, list):
            raise ValueError(f"the network ends in {len(shape)} branches: merge them with FanInSum() or FanInConcat()")
        full, sizes = found["full"], found["sizes"]
        if len(input_shape) == 1:
            return "flat", 1
        layout = "full" if full else "diag"
        if self._patch_conv(image_input=True) is not None and len(sizes) > 1:
            sizes = sizes[1:]  # a first Conv never forms the inputs' covariance (_start)
        # entries per pair at the widest layer while the layout holds
        per_pair = max(s * s if full else s for s in sizes)
        return layout, max(per_pair, 1)

    def _patch_conv(self, image_input: bool) -> Conv | None:
        """The first layer when it is a Conv on images: it is applied to the inputs' patches
        (``Conv.apply_to_input``), never forming their covariance."""
        first = self.layers[0]
        return first if image_input and isinstance(first, Conv) else None

    # ---- passes -------------------------------------------------------------------------------
    @staticmethod
    def _input_state(x1: torch.Tensor, x2: torch.Tensor | None, layout: str) -> KernelState:
        """Covariance of the raw inputs: channel mean of x1 * x2 (per pixel, or pixel pair)."""
        channels = x1.shape[1]
        spatial = tuple(x1.shape[2:])
        if layout == "flat":
            nngp = (x1 * x1).sum(1) if x2 is None else x1 @ x2.T
        elif layout == "diag":
            nngp = (x1 * x1).sum(1) if x2 is None else torch.einsum("ichw,jchw->ijhw", x1, x2)
        else:
            nngp = (torch.einsum("ichw,icgv->ihwgv", x1, x1) if x2 is None
                    else torch.einsum("ichw,jcgv->ijhwgv", x1, x2))
        return KernelState(nngp / channels, None, layout, channels, spatial)

    def _start(self, x1: torch.Tensor, x2: torch.Tensor | None, layout: str, fuse: bool, patches=None,
               variances=None):
        """The state the walk starts from, the layers left to walk and how many nonlinearities
        that start has passed. A first Conv is applied to the inputs' patches directly
        (``_patch_conv``; ``patches``: theirs, if already cut). In a fused Gram block of the
        diagonal layout (``variances``: the pair's, as ``_cross`` takes them) a ReLU right after
        it runs in the Conv's compiled loop (``Conv.apply_to_input``'s ``relu_variances``)."""
        first = self._patch_conv(image_input=layout != "flat")
        if first is None:
            st, layers, passed = self._input_state(x1, x2, layout), self.layers, 0
        elif (fuse and variances is not None and layout == "diag" and len(self.layers) > 1
              and type(self.layers[1]) is Relu):
            pair = _broadcast_pair(variances[0][0], variances[1][0], layout)
            st = first.apply_to_input(x1, x2, layout, fuse, patches=patches, relu_variances=pair)
            layers, passed = self.layers[2:], 1
        else:  # the self pass (x2 None) needs no NTK
            st = first.apply_to_input(x1, x2, layout, fuse, with_ntk=x2 is not None, patches=patches)
            layers, passed = self.layers[1:], 0
        st.fuse = fuse
        return st, layers, passed

    def _self_variances(self, x: torch.Tensor, layout: str, fuse: bool) -> list[torch.Tensor]:
        """Pixel-diagonal variances at the input of every nonlinearity, shape (n, H, W) or (n,)."""
        st, layers, _ = self._start(x, None, layout, fuse)
        out = []

        def step(layer, st):
            if layer.nonlinear:
                if not st.gaussian:
                    raise ValueError(
                        f"{layer.describe()} needs a Gaussian input, as in neural-tangents: put a Dense or Conv "
                        "layer before it (the input itself, another nonlinearity or a FanInConcat are not Gaussian)")
                var = pixel_diagonal(st.nngp) if st.layout == "full" else st.nngp
                out.append(var)
                st = layer.apply(st, *_broadcast_self(var, st.layout))
            else:
                st = layer.apply(st)
            return _without_ntk(st)  # the self pass needs only the NNGP

        _walk(layers, st, step)
        return out

    def _cross(self, x1, x2, vars1, vars2, layout: str, get: str, fuse: bool, patches=None) -> torch.Tensor:
        st, layers, k = self._start(x1, x2, layout, fuse, patches, (vars1, vars2))

        def step(layer, st):
            nonlocal k
            if layer.nonlinear:  # the variances in the order the self pass met the nonlinearities
                st = layer.apply(st, *_broadcast_pair(vars1[k], vars2[k], st.layout))
                k += 1
            else:
                st = layer.apply(st)
            return _without_ntk(st) if get == "nngp" else st

        st = _walk(layers, st, step)
        if st.layout != "flat":
            raise ValueError(
                "the last layers must remove the spatial dimensions (Flatten, GlobalAvgPool or "
                "GlobalSumPool) so that the kernel is one number per pair of inputs"
            )
        out = st.nngp if get == "nngp" else st.ntk
        if out is None:  # a stack without any weight layer has a zero NTK
            out = torch.zeros_like(st.nngp)
        return out

    # ---- public API ---------------------------------------------------------------------------
    def block_size(self, per_pair: int, itemsize: int, device: torch.device = torch.device("cpu"),
                   reserved: int = 0) -> int:
        """Pairs per block side: ~6 intermediates of a block fit the memory budget (given, or
        chosen from the device: ``lsa_utils.devices.memory_budget``, on a GPU from its free
        memory) less ``reserved`` bytes (the image patches ``_patches_once`` holds), and on CPU
        one block tensor stays below ``CPU_BLOCK_BYTES`` (8 MiB;
        ``lsa_utils.kernels.fusion``). A block tensor also stays below 2^31 elements, where
        CUDA's pooling kernels index with 32-bit integers."""
        budget = (device_memory_budget(device, self.memory_budget) - reserved) / 6
        if device.type == "cpu":
            budget = min(budget, CPU_BLOCK_BYTES)
        elements = min(budget / itemsize, MAX_BLOCK_ELEMENTS)
        return max(1, int(math.sqrt(elements / per_pair)))

    def __call__(self, x1: torch.Tensor, x2: torch.Tensor | None = None, get: str = "ntk") -> torch.Tensor:
        """Gram matrix ``K[i, j] = k(x1[i], x2[j])`` of shape ``(n1, n2)``.

        Args:
            x1: shape ``(n1, C, H, W)`` (images, channels first) or ``(n1, D)``.
            x2: same trailing shape as ``x1``, or ``None`` for ``x2 = x1`` (symmetric: only the
                upper-triangle blocks are computed).
            get: ``"ntk"`` or ``"nngp"``.

        Returns: shape ``(n1, n2)``, in ``x1``'s dtype and device.
        """
        check_choice("get", get, GETS)
        if x1.ndim not in (2, 4):
            raise ValueError(f"x1 must have shape (n, D) or (n, C, H, W); got shape {tuple(x1.shape)}")
        if x2 is not None and (x2.shape[1:] != x1.shape[1:]):
            raise ValueError(f"x2 must have shape (n2, {', '.join(map(str, x1.shape[1:]))}); got {tuple(x2.shape)}")
        if x2 is not None and (x2.dtype != x1.dtype or x2.device != x1.device):
            raise ValueError("x1 and x2 must have the same dtype and device")
        layout, per_pair = self.plan(tuple(x1.shape[1:]))
        cpu = x1.device.type == "cpu"
        if cpu:
            keep_freed_memory()
        patches1, patches2 = self._patches_once(x1, x2, layout)
        reserved = 0 if patches1 is None else patches1.nbytes + (0 if x2 is None else patches2.nbytes)
        block = self.block_size(per_pair, x1.element_size(), x1.device, reserved)
        symmetric = x2 is None
        xs2 = x1 if symmetric else x2
        n1, n2 = x1.shape[0], xs2.shape[0]
        fuse = use_compiled(n1 * n2 * per_pair // (2 if symmetric else 1))
        step = self._self_pass_step(tuple(x1.shape[1:]), block, per_pair)
        vars1 = self._variances_in_blocks(x1, layout, step, fuse)
        vars2 = vars1 if symmetric else self._variances_in_blocks(xs2, layout, step, fuse)
        out = torch.empty(n1, n2, dtype=x1.dtype, device=x1.device)
        for i in range(0, n1, block):
            for j in range(i if symmetric else 0, n2, block):
                i1, j1 = min(i + block, n1), min(j + block, n2)
                patches = None if patches1 is None else (patches1[i:i1], patches2[j:j1])
                k = self._cross(x1[i:i1], xs2[j:j1], [v[i:i1] for v in vars1],
                                [v[j:j1] for v in vars2], layout, get, fuse, patches)
                if symmetric and j == i:
                    k = (k + k.T) / 2  # exact symmetry despite rounding
                out[i:i1, j:j1] = k
                if symmetric and j != i:
                    out[j:j1, i:i1] = k.T
        return out

    def _patches_once(self, x1: torch.Tensor, x2: torch.Tensor | None, layout: str):
        """A first Conv's ``image_patches`` of all of ``x1`` and ``x2`` (``x1``'s when ``x2`` is
        None), cut once for every block of the Gram matrix instead of once per block (the
        ``unfold`` was 9 % of benchmark (b)), where they take at most a quarter of the memory
        budget; else ``(None, None)`` and each block cuts its own."""
        first = self._patch_conv(image_input=layout != "flat")
        if first is None:
            return None, None
        n_inputs = x1.shape[0] + (0 if x2 is None else x2.shape[0])
        size = n_inputs * first.patch_numbers(tuple(x1.shape[1:])) * x1.element_size()
        if size > device_memory_budget(x1.device, self.memory_budget) / 4:
            return None, None
        patches1 = first.image_patches(x1)
        return patches1, patches1 if x2 is None else first.image_patches(x2)

    def _self_pass_step(self, input_shape: tuple[int, ...], block: int, per_pair: int) -> int:
        """Inputs per step of the self pass: as many numbers as a cross block (``block^2`` times
        ``per_pair``), counting a first Conv's image patches (``C kh kw`` per output pixel, and
        their squares) where they outnumber the per-input state."""
        per_input = per_pair
        first = self._patch_conv(image_input=len(input_shape) == 3)
        if first is not None:
            per_input = max(per_pair, 2 * first.patch_numbers(input_shape))
        return max(1, block * block * per_pair // per_input)

    def _variances_in_blocks(self, x: torch.Tensor, layout: str, step: int, fuse: bool) -> list[torch.Tensor]:
        parts = [self._self_variances(x[i:i + step], layout, fuse) for i in range(0, x.shape[0], step)]
        return [torch.cat(vs) for vs in zip(*parts)] if parts and parts[0] else []

    def nngp(self, x1: torch.Tensor, x2: torch.Tensor | None = None) -> torch.Tensor:
        return self(x1, x2, get="nngp")

    def ntk(self, x1: torch.Tensor, x2: torch.Tensor | None = None) -> torch.Tensor:
        return self(x1, x2, get="ntk")


def _plan_layers(layers, shape, found: dict):
    """Check ``layers`` against the shapes they receive (``(channels, spatial)``, or a list of
    them between a ``FanOut`` and its fan-in); record in ``found`` whether any layer needs pixel
    pairs and the spatial size each layer sees. Returns the output shape."""
    for layer in layers:
        if isinstance(layer, Parallel):
            if not isinstance(shape, list) or len(shape) != len(layer.branches):
                given = f"{len(shape)} branches" if isinstance(shape, list) else "one input"
                raise ValueError(f"parallel() with {len(layer.branches)} branches got {given}: put FanOut("
                                 f"{len(layer.branches)}) before it")
            # a list's entries are (channels, spatial, whether the branch has passed a weight layer)
            shape = [(*_plan_layers(branch, s[:2], found), s[2] or _has_weights(branch))
                     if len(s) == 3 else None for branch, s in zip(layer.branches, shape)]
            if any(s is None or isinstance(s[0], tuple) for s in shape):
                raise ValueError("a branch of parallel() ends in branches of its own: merge them inside it")
        elif isinstance(layer, _FanIn):
            if not isinstance(shape, list):
                raise ValueError(f"{layer.describe()} merges the branches of a FanOut; it got one input")
            if isinstance(layer, FanInSum) and sum(not weighted for *_, weighted in shape) > 1:
                raise ValueError("FanInSum of branches that are correlated: at most one of the summed branches may "
                                 "go without a Dense or Conv layer of its own (the sum rule needs uncorrelated "
                                 "branches; lsa_utils.kernels.branches)")
            shape = [s[:2] for s in shape]
            layer.check_states(shape)
            shape = layer.merged_shape(shape)
        elif isinstance(shape, list):
            raise ValueError(f"{layer.describe()} cannot take the {len(shape)} branches of a FanOut: send them "
                             "through parallel(...) and merge them with FanInSum() or FanInConcat()")
        else:
            channels, spatial = shape
            layer.check_input(channels, spatial)
            if layer.needs_full and spatial:
                found["full"] = True
            found["sizes"].append(math.prod(spatial))
            shape = [(*shape, False)] * layer.num if isinstance(layer, FanOut) else layer.output_shape(channels, spatial)
    return shape


def _has_weights(layers) -> bool:
    """Whether a branch holds a Dense or Conv layer (in a nested branch too)."""
    return any(isinstance(layer, (Dense, Conv)) or (isinstance(layer, Parallel) and any(
        _has_weights(branch) for branch in layer.branches)) for layer in layers)


def _walk(layers, st, step):
    """Apply ``step(layer, state)`` along ``layers``, into every branch of a ``parallel`` in turn
    (depth first: the self and the cross passes meet the nonlinearities in the same order)."""
    for layer in layers:
        if isinstance(layer, Parallel):
            st = [_walk(branch, s, step) for branch, s in zip(layer.branches, st)]
        else:
            st = step(layer, st)
    return st


def _without_ntk(st):
    """The state without its NTK (a list of states: each); never changes a shared state in place."""
    if isinstance(st, list):
        return [_without_ntk(s) for s in st]
    return st if st.ntk is None else replace(st, ntk=None)


def _broadcast_self(var: torch.Tensor, layout: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Variances at p and p' for a self-covariance state of the given layout."""
    if layout == "full":
        return var[..., :, :, None, None], var[..., None, None, :, :]
    return var, var


def _broadcast_pair(v1: torch.Tensor, v2: torch.Tensor, layout: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Variances of the left (x1) and right (x2) inputs, broadcastable to a Gram-block state."""
    if layout == "full":
        return v1[:, None, :, :, None, None], v2[None, :, None, None, :, :]
    if layout == "diag":
        return v1[:, None], v2[None]
    return v1[:, None], v2[None, :]


def serial(*layers: Layer, memory_budget: int | None = None) -> SerialKernel:
    """Compose kernel layers, in the spirit of neural-tangents' ``stax.serial``."""
    return SerialKernel(layers, memory_budget=memory_budget)
