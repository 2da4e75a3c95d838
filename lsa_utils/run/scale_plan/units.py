"""Work units, what each kind of operation costs on the reference CPU, and the networks' costs
(see ``lsa_utils.run.scale_plan``)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

# ---- the reference CPU and what each kind of operation costs on it ---------------------------------
# Measured once with small torch snippets on the 2-core AMD EPYC (AVX2) of the measured times, with
# another job running (so rough): float32 1024^2 products ~40 GFLOP/s, float64 ~17; elementwise
# ops ~4 G elements/s on 100k-element tensors, 0.2 to 1 G on 4M-element ones; torch.randn ~0.1 G/s;
# ~9 us per dispatched torch op; eigh(1000) in float64 0.68 s (~12 flop-equivalents per n^3).
CPU_FLOPS_PER_SECOND = 4e10  # work units per second on the reference CPU (float32 matrix products)
FLOAT64_COST = 2.0  # a float64 operation counts twice a float32 one (matrix products run at half rate)
# one elementwise op on one element of a tensor that stays in the caches: ~4 G/s above, ~7 G/s for
# the in-place passes of models.committee.train_online_sgd (its docstring: 0.3 ms a step, B K D = 480k)
IN_CACHE_OP = 6.0
STREAMED_OP = 40.0  # ... of a tensor larger than CACHE_BYTES (memory-bound)
CACHE_BYTES = 8 * 1024**2  # as the kernel engine's CPU_BLOCK_BYTES, "near the cores' caches"
# One operation of the kernel engine as ``kernel_speed.count_operations`` counts them, fused by
# torch.compile: the README's 2.6 min for chapter 1's NTK on 5,000 MNIST canvases at five
# strengths (2.25e7 pairs x 21,075 ops each, five times) is 1.6e10 ops/s, 2.5 flop-equivalents each.
FUSED_OP = 2.5
# the same op uncompiled: compiled, a ReLU step is "about 10x faster on CPU" (kernels/fusion.py)
ENGINE_EAGER_OP = 10 * FUSED_OP
RANDOM_DRAW = 250.0  # one standard normal number from torch.randn
TORCH_OP_SECONDS = 8e-6  # dispatch of one eager torch op (autograd included), on the CPU
TORCH_OP = TORCH_OP_SECONDS * CPU_FLOPS_PER_SECOND
EIGH_FLOPS = 9.0  # torch.linalg.eigh with eigenvectors: ~9 n^3 (Golub and Van Loan, Sec. 8.3)
START_UP_SECONDS = 15.0  # Jupyter kernel, imports, papermill, writing the outputs: part of every measured time


# ---- training ---------------------------------------------------------------------------------------
TRAIN_STEP_FACTOR = 3.0  # forward + backward = 3 forward passes
LINEARIZED_FORWARD_FACTOR = 3.0  # f(x; theta0) + J dtheta by jvp: the primal and a tangent pass of ~2 forwards
LINEARIZED_STEP_FACTOR = 7.0  # that, and the backward pass through the tangent (~2 x its 2 forwards)
TRAIN_PASSES_PER_ACTIVATION = 4.0  # elementwise passes per activation in a training step (write, grad, masks)
TORCH_OPS_PER_STEP = 25.0  # loss, zero_grad, optimizer (foreach), batch indexing: per training step
TORCH_OPS_PER_LAYER = 4.0  # per leaf module and step: its forward and ~3 backward ops
LINEARIZED_OPS_FACTOR = 2.5  # a linearized step dispatches ~2.5 times the ops of a plain one
SGD_PASSES, ADAM_PASSES = 4.0, 10.0  # elementwise passes over the parameters per optimizer step

FLOAT32, FLOAT64 = 4, 8  # bytes

# Assumed, not measured: the range of the speed of one H200 over the 2 CPU cores on these dense
# float32 operations (its float32 peak without TF32 is ~60 TFLOP/s against ~0.04 here; small
# tensors, dispatch-bound loops and float64 eigendecompositions gain far less). To be replaced by
# the GPU check's measured ratio (``make gpu-check`` times the kernels on the device).
ASSUMED_GPU_SPEEDUPS = (30, 300)
H200_MEMORY_BYTES = 141e9


@dataclass(frozen=True)
class PartCost:
    """One major part of a chapter: its work (units of the module docstring, a pure function of
    the sizes), the largest set of arrays it holds at once, and the formula in words."""

    name: str
    work: float
    memory_bytes: float
    formula: str
    # seconds this part takes whatever the machine and the scale (the kernel's start-up), instead
    # of its work at the chapter's rate; such a part's work is 0
    fixed_seconds: float | None = None


# ---- work of the basic operations ---------------------------------------------------------------------
def precision_factor(float64: bool) -> float:
    return FLOAT64_COST if float64 else 1.0


def matmul_work(m: float, n: float, k: float, float64: bool = False) -> float:
    """``2 m n k``: a matrix product ``(m x k) @ (k x n)``."""
    return 2.0 * m * n * k * precision_factor(float64)


def elementwise_work(elements: float, passes: float = 1.0, float64: bool = False,
                     tensor_elements: float | None = None) -> float:
    """``passes`` eager elementwise ops over ``elements`` numbers, held in tensors of
    ``tensor_elements`` (default ``elements``): ``IN_CACHE_OP`` each while such a tensor fits
    ``CACHE_BYTES``, else ``STREAMED_OP``."""
    size = (elements if tensor_elements is None else tensor_elements) * (FLOAT64 if float64 else FLOAT32)
    weight = IN_CACHE_OP if size <= CACHE_BYTES else STREAMED_OP
    return elements * passes * weight * precision_factor(float64)


def engine_work(operations: float, entries: float, float64: bool = False) -> float:
    """Operations of the kernel engine in one Gram computation of ``entries`` entries (pairs times
    spatial entries per pair): fused by ``torch.compile`` (``FUSED_OP`` each) from
    ``fusion.COMPILE_MIN_ENTRIES`` entries on (``fusion.use_compiled``), else eager (``ENGINE_EAGER_OP``)."""
    from ...kernels.fusion import COMPILE_MIN_ENTRIES

    weight = FUSED_OP if entries >= COMPILE_MIN_ENTRIES else ENGINE_EAGER_OP
    return operations * weight * precision_factor(float64)


def random_work(numbers: float, float64: bool = False) -> float:
    """Standard normal draws (``RANDOM_DRAW`` each)."""
    return numbers * RANDOM_DRAW * precision_factor(float64)


def dispatch_work(torch_ops: float) -> float:
    """The dispatch of ``torch_ops`` eager torch operations (``TORCH_OP`` each)."""
    return torch_ops * TORCH_OP


def eigh_work(n: float) -> float:
    """``EIGH_FLOPS n^3`` in float64: ``torch.linalg.eigh`` of an ``n x n`` matrix with eigenvectors."""
    return EIGH_FLOPS * n**3 * FLOAT64_COST


def cholesky_solve_work(n: float, right_hand_sides: float = 1.0) -> float:
    """``n^3 / 3 + 2 n^2 r`` in float64: ``kernels.solve.cholesky_solve_psd``."""
    return (n**3 / 3.0 + 2.0 * n * n * right_hand_sides) * FLOAT64_COST


def seconds_work(seconds: float) -> float:
    """Work that takes ``seconds`` on the reference CPU."""
    return seconds * CPU_FLOPS_PER_SECOND


def symmetric_pairs(n: float) -> float:
    """Pairs a symmetric Gram computation evaluates: ``n (n + 1) / 2`` (the upper triangle)."""
    return n * (n + 1) / 2.0


def start_up() -> PartCost:
    """The kernel start-up every measured time includes: ``START_UP_SECONDS`` at every scale, on
    the CPU and on a GPU alike, outside the chapter's rate."""
    return PartCost("start-up", 0.0, 0.0, f"{START_UP_SECONDS:g} s of kernel start, imports and output",
                    fixed_seconds=START_UP_SECONDS)


def combined(costs: Iterable[tuple[float, float]]) -> tuple[float, float]:
    """``(sum of works, max of memories)`` of ``(work, memory)`` pairs."""
    work, memory = 0.0, 0.0
    for w, m in costs:
        work, memory = work + w, max(memory, m)
    return work, memory


def repeated(count: float, cost: tuple[float, float]) -> tuple[float, float]:
    """``count`` repetitions of a ``(work, memory)`` pair: the work adds up, the memory does not."""
    return count * cost[0], cost[1]



# ---- networks -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NetworkProfile:
    """One image through a network: forward flops, elements its leaf modules output, parameters,
    leaf modules."""

    forward_flops: float
    activations: float
    parameters: int
    layers: int


def _build_network(architecture: str, in_channels: int, image_size: int, classes: int, width: int):
    from ...models.cnn import SimpleCNN, WideResNet
    from ...models.small_nets import make_binary_classifier

    if architecture == "simple_cnn":
        return SimpleCNN(in_channels, classes, image_size, width)
    if architecture == "wrn":
        return WideResNet(in_channels, classes, 10, width)
    return make_binary_classifier(architecture, (in_channels, image_size, image_size), resnet_width=width)


@functools.lru_cache(maxsize=None)
def network_profile(architecture: str, in_channels: int, image_size: int, classes: int = 1,
                    width: int = 1) -> NetworkProfile:
    """Counted on one image through the model ``lsa_utils`` builds (``torch.utils.flop_counter``):
    ``"simple_cnn"`` (chapter 1's ``SimpleCNN``, ``width`` its width factor), ``"wrn"``
    (``WideResNet(depth 10, width)``), ``"mlp"``, ``"lenet"``, ``"resnet18"`` (chapter 4's, base
    width ``width``)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = _build_network(architecture, in_channels, image_size, classes, width).eval()
    leaves = [m for m in model.modules() if not list(m.children())]
    outputs = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: outputs.append(out.numel())) for m in leaves]
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, in_channels, image_size, image_size, device="meta"))
    for hook in hooks:
        hook.remove()
    return NetworkProfile(float(counter.get_total_flops()), float(sum(outputs)),
                          sum(p.numel() for p in model.parameters()), len(leaves))


def training_work(net: NetworkProfile, images: float, steps: float, linearized: bool = False,
                  optimizer_passes: float = SGD_PASSES) -> float:
    """``images`` through a training step (3 forwards, a linearized network's 7; elementwise
    passes over the activations) and ``steps`` optimizer steps (their dispatch and passes over
    the parameters)."""
    factor = LINEARIZED_STEP_FACTOR if linearized else TRAIN_STEP_FACTOR
    ops_factor = LINEARIZED_OPS_FACTOR if linearized else 1.0
    return (images * (factor * net.forward_flops
                      + elementwise_work(net.activations, ops_factor * TRAIN_PASSES_PER_ACTIVATION))
            + steps * (dispatch_work(ops_factor * (TORCH_OPS_PER_STEP + TORCH_OPS_PER_LAYER * net.layers))
                       + elementwise_work(net.parameters, optimizer_passes)))


def inference_work(net: NetworkProfile, images: float, linearized: bool = False) -> float:
    """Forward passes over ``images`` (a linearized network's ``jvp``: 3 forwards)."""
    factor = LINEARIZED_FORWARD_FACTOR if linearized else 1.0
    return images * (factor * net.forward_flops + elementwise_work(net.activations, factor))


def training_memory(net: NetworkProfile, batch: float, linearized: bool = False) -> float:
    """A batch's activations kept for the backward pass (twice for a linearized network's tangents)
    and the parameters with their gradient and optimizer state (4 copies), float32."""
    return FLOAT32 * (batch * net.activations * (2 if linearized else 1) + 4 * net.parameters)


# ---- ReLU features and kernel ridge (chapters 2 and 3) ----------------------------------------------
ARCCOS_TAIL_OPS = 17.0  # kernels.arccos: the ReLU layer and readout per Gram entry (relu_expectations + NTK)


def embedding_work(rows: float, d: float, m: float, float64: bool = True) -> float:
    """``relu(x W^T + b)`` on ``rows`` inputs: a product and two passes over ``rows x m``."""
    return matmul_work(rows, m, d, float64) + elementwise_work(rows * m, 2, float64)


def features_ridge_work(n: float, d: float, m: float, n_eval: float, float64: bool = True) -> float:
    """``representation.fit_ridge`` on ReLU features (and ``gaussian_mixture.ridge_classifier``):
    the training features, ``Phi^T Phi`` (or ``Phi Phi^T`` when n < m: ``feature_ridge_path``),
    one eigendecomposition of the smaller side (``ridge_path_coefficients``) and the features of
    ``n_eval`` validation and test inputs."""
    small, large = min(n, m), max(n, m)
    return (embedding_work(n, d, m, float64) + matmul_work(small, small, large, float64) + eigh_work(small)
            + embedding_work(n_eval, d, m, float64))


def features_ridge_memory(n: float, d: float, m: float) -> float:
    """The training features twice (``x W^T`` and ``relu(... + b)`` are both alive; they are
    float64 already, so ``feature_ridge_path`` copies nothing), the inputs and the smaller of
    ``Phi^T Phi`` and ``Phi Phi^T`` with its eigenvectors, float64."""
    return FLOAT64 * (2 * n * m + n * d + 3 * min(n, m) ** 2)


def kernel_entries_work(entries: float, d: float, per_call: float, float64: bool = True) -> float:
    """``two_layer_relu_kernel`` on ``entries`` pairs, ``per_call`` of them per call: a ``d``-long
    product and the arc-cosine tail (``ARCCOS_TAIL_OPS``) per entry, the tail fused when one call
    is large enough (``engine_work``)."""
    return matmul_work(entries, 1, d, float64) + engine_work(ARCCOS_TAIL_OPS * entries, per_call, float64)


def kernel_ridge_work(n: float, d: float, n_eval: float) -> tuple[float, float]:
    """``fit_ridge`` with the NTK (and ``ridge_classifier`` with a kernel): the ``n x n`` Gram
    matrix in one call, its eigendecomposition, the kernel columns of ``n_eval`` inputs in blocks of
    ``CPU_BLOCK_BYTES`` (``predict_in_blocks``, on any device); float64. Memory: the Gram matrix,
    the eigenvectors and the fused computation's input (3 ``n^2``)."""
    from ...kernels.fusion import CPU_BLOCK_BYTES

    work = (kernel_entries_work(n * n, d, n * n) + eigh_work(n)
            + kernel_entries_work(n_eval * n, d, CPU_BLOCK_BYTES / FLOAT64))
    return work, FLOAT64 * 3 * n * n
