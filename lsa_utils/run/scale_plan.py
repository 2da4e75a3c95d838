"""Plan a chapter's scale without running it: its work and memory from the sizes, its time from
measured per-unit costs.

For every chapter of ``lsa_utils.run.chapters`` a cost function maps the sizes of a scale (as
``Chapter.sizes(scale)`` returns them, or a data plan's sizes) to its major parts (``PartCost``):
the dominant work of each, in **work units**, and the largest set of arrays it holds at once.

Work units are floating-point operations counted roughly, as flop-equivalents of a float32 matrix
product on the 2-core CPU the chapters were timed on:

- a matrix product ``(m x k) @ (k x n)``: ``2 m n k`` (``matmul_work``); an eigendecomposition
  ``EIGH_FLOPS n^3``, a Cholesky solve ``n^3 / 3``; float64 counts ``FLOAT64_COST`` times float32;
- an elementwise operation (one pass of an eager torch op over one element) costs what that time
  buys in matrix products: ``IN_CACHE_OP`` on tensors that stay in the caches, ``STREAMED_OP`` on
  larger ones; an operation of the kernel engine fused by ``torch.compile``, ``FUSED_OP``; a random
  normal number, ``RANDOM_DRAW``;
- a training step is 3 forward passes (forward and backward), a linearized network's 7 (its
  ``jvp`` and the backward pass through it), with the forward flops of each network counted by
  ``torch.utils.flop_counter`` on a model built from ``lsa_utils.models`` (``network_profile``);
- a torch operation also costs its dispatch, ``TORCH_OP`` (``TORCH_OP_SECONDS`` at the reference
  rate), which dominates the loops of small tensors (chapters 0 and 3);
- a chapter's kernel start-up (Jupyter kernel, imports, papermill, saving) is a part named
  ``"start-up"`` of ``START_UP_SECONDS`` at the reference rate ``CPU_FLOPS_PER_SECOND``.

Each cost function's docstring names the experiment functions it counts and what it leaves out.

Time (``estimate``): each chapter's measured seconds at ``default`` (``Chapter.measured_s``) over
its work at ``default`` give that chapter's seconds per work unit; any scale's CPU seconds are its
work times that. The ``smoke`` time, not used for the calibration, tests the model
(``tests/test_scale_plan.py``). GPU seconds divide by an assumed speed-up (``ASSUMED_GPU_SPEEDUPS``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..validation import check_choice
from .chapters import CHAPTERS, SCALES, get_chapter

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
ENGINE_EAGER_OP = 10 * FUSED_OP  # the same op uncompiled: a compiled ReLU step is "about 10x faster" (kernels/fusion.py)
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


# ---- work of the basic operations ---------------------------------------------------------------------
def _precision(float64: bool) -> float:
    return FLOAT64_COST if float64 else 1.0


def matmul_work(m: float, n: float, k: float, float64: bool = False) -> float:
    """``2 m n k``: a matrix product ``(m x k) @ (k x n)``."""
    return 2.0 * m * n * k * _precision(float64)


def elementwise_work(elements: float, passes: float = 1.0, float64: bool = False,
                     tensor_elements: float | None = None) -> float:
    """``passes`` eager elementwise ops over ``elements`` numbers, held in tensors of
    ``tensor_elements`` (default ``elements``): ``IN_CACHE_OP`` each while such a tensor fits
    ``CACHE_BYTES``, else ``STREAMED_OP``."""
    size = (elements if tensor_elements is None else tensor_elements) * (FLOAT64 if float64 else FLOAT32)
    weight = IN_CACHE_OP if size <= CACHE_BYTES else STREAMED_OP
    return elements * passes * weight * _precision(float64)


def engine_work(operations: float, entries: float, float64: bool = False) -> float:
    """Operations of the kernel engine in one Gram computation of ``entries`` entries (pairs times
    spatial entries per pair): fused by ``torch.compile`` (``FUSED_OP`` each) from
    ``fusion.COMPILE_MIN_ENTRIES`` entries on (``fusion.use_compiled``), else eager (``ENGINE_EAGER_OP``)."""
    from ..kernels.fusion import COMPILE_MIN_ENTRIES

    weight = FUSED_OP if entries >= COMPILE_MIN_ENTRIES else ENGINE_EAGER_OP
    return operations * weight * _precision(float64)


def random_work(numbers: float, float64: bool = False) -> float:
    """Standard normal draws (``RANDOM_DRAW`` each)."""
    return numbers * RANDOM_DRAW * _precision(float64)


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
    """The kernel start-up every measured time includes, ``START_UP_SECONDS``."""
    return PartCost("start-up", seconds_work(START_UP_SECONDS), 0.0,
                    f"{START_UP_SECONDS:g} s of kernel start, imports and output, as seconds x reference rate")


def _total(costs: Iterable[tuple[float, float]]) -> tuple[float, float]:
    """``(sum of works, max of memories)`` of ``(work, memory)`` pairs."""
    work, memory = 0.0, 0.0
    for w, m in costs:
        work, memory = work + w, max(memory, m)
    return work, memory


def _times(count: float, cost: tuple[float, float]) -> tuple[float, float]:
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
    from ..models.cnn import SimpleCNN, WideResNet
    from ..models.small_nets import make_binary_classifier

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


# ---- chapter 0: lazy and rich training ------------------------------------------------------------------
GD_STEP_PASSES = 12.0  # elementwise passes over the (n, m) activations in one full-batch step (fwd + bwd)
GD_STEP_TORCH_OPS = 40.0  # torch ops of one step of train_full_batch_gd on TwoLayerReLU (fwd, bwd, SGD)
TOY_TEST_POINTS = 200  # its default n_test


def lazy_vs_rich_cost(sizes: dict) -> list[PartCost]:
    """Chapter 0 (``experiments/lazy_vs_rich.py:width_sweep``): ``2 x len(widths) x seeds``
    networks (NTK and mean-field parameterizations), each ``steps`` full-batch GD steps of
    ``train_full_batch_gd`` on ``n_train`` points, float64. A step touches the ``(n, m)``
    activations ``GD_STEP_PASSES`` times (d = 1: the products are elementwise) and dispatches
    ``GD_STEP_TORCH_OPS`` ops. Left out: the NTK predictor (``gd_mse_predict`` on 16 points) and
    the test predictions (one forward on 200 points per network)."""
    from ..models.two_layer import PARAMETERIZATIONS

    n, widths, seeds, steps = sizes["n_train"], sizes["widths"], sizes["seeds"], sizes["steps"]
    runs_per_width = len(PARAMETERIZATIONS) * seeds
    step_work = [elementwise_work(n * m, GD_STEP_PASSES, float64=True) + dispatch_work(GD_STEP_TORCH_OPS)
                 for m in widths]
    work = runs_per_width * steps * sum(step_work)
    memory = FLOAT64 * max(widths) * (max(GD_STEP_PASSES * n, 3 * TOY_TEST_POINTS) + 4 * 3)
    return [start_up(), PartCost(
        "width sweep: full-batch GD of every network", work, memory,
        f"2 parameterizations x seeds x steps x sum over widths m of ({GD_STEP_PASSES:g} passes over n_train x m "
        f"float64 + {GD_STEP_TORCH_OPS:g} torch ops)")]


# ---- chapter 1: local signal adaptivity -----------------------------------------------------------------
THEORY_PASSES_PER_NOISE_PATCH = 18.0  # lsa_theory.law_gradients: ops on each (model, input, noise patch)
THEORY_EVAL_PASSES = 8.0  # lsa_theory.law_margins: ops per noise patch
THEORY_STEP_TORCH_OPS = 60.0
FILTER_STEP_PASSES = 12.0  # lsa_separation.train_filter_on_sample: ops on the (n, k) projections per step
FILTER_STEP_TORCH_OPS = 25.0
CEILING_THRESHOLDS = 60  # lsa_separation.filter_ceiling's default
PATCH_ENTRY_OPS = 20.0  # patch_ntk_gram: ops per patch pair besides the d-dimensional product
# Operations per pair of canvases of chapter 1's CNN kernel (models.cnn.simple_cnn_kernel), as
# experiments.kernel_speed.operations_per_pair counts them, keyed (channels, canvas side); checked
# by tests/test_scale_plan.py.
CNN_KERNEL_OPS_PER_PAIR = {(1, 42): 21075.0, (3, 32): 20054.0}
SETTING_CHANNELS = {"mnist": 1, "cifar10": 3}


def _theory_cost(s: dict) -> PartCost:
    """``lsa_theory.train_patch_filters``: ``M = len(noise_levels) x seeds`` models side by side."""
    models, noise_patches = len(s["noise_levels"]) * s["seeds"], s["k"] - 1
    per_step = models * s["batch"] * noise_patches
    evaluations = s["steps"] // s["eval_every"] + 1 + (s["steps"] % s["eval_every"] > 0)
    per_eval = models * s["n_eval"] * noise_patches
    work = (s["steps"] * (random_work(per_step) + elementwise_work(per_step, THEORY_PASSES_PER_NOISE_PATCH)
                          + dispatch_work(THEORY_STEP_TORCH_OPS))
            + evaluations * (random_work(per_eval) + elementwise_work(per_eval, THEORY_EVAL_PASSES)))
    memory = FLOAT32 * max(8 * per_step, 4 * per_eval)
    return PartCost("A: online SGD of the one-filter models", work, memory,
                    "steps x M batch (k-1) x (a normal draw + 18 ops) + evaluations x M n_eval (k-1) x (draw + 8 ops), "
                    "M = noise levels x seeds")


def _separation_costs(s: dict) -> list[PartCost]:
    """``lsa_separation.run_separation``: per k, the one-filter network by full-batch GD on every n
    (two matrix-vector products over the ``(n k, d)`` patches and ``FILTER_STEP_PASSES`` passes
    over the ``(n, k)`` projections per step), the sampling and ``filter_ceiling``; the patch NTK's
    ``k^2 (n^2 + n n_test)`` entries at the largest n within the budget (``kernel_sizes``), each
    ``2 d + PATCH_ENTRY_OPS`` fused ops, and a Cholesky solve per fitted n."""
    from ..experiments.lsa_separation import kernel_sizes

    d, test, steps, budget = s["d"], s["separation_test"], s["separation_steps"], s["separation_kernel_entries"]
    top = max(s["separation_n"])
    net, net_memory, ker, ker_memory = [], 0.0, [], 0.0
    for k in s["separation_k"]:
        for n in s["separation_n"]:
            net.append(steps * (elementwise_work(n * k * d, 4) + elementwise_work(n * k, FILTER_STEP_PASSES)
                                + dispatch_work(FILTER_STEP_TORCH_OPS)))
        net.append(random_work((top + 3 * test) * k * d)
                   + CEILING_THRESHOLDS * elementwise_work(test * k * d, 2, tensor_elements=test * k * d))
        net_memory = max(net_memory, FLOAT32 * (top + 2 * test) * k * d)
        fitted = kernel_sizes(k, s["separation_n"], test, budget)
        if fitted:
            n = max(fitted)
            entries = k * k * (n * n + n * test)
            ker.append(FUSED_OP * entries * (2 * d + PATCH_ENTRY_OPS)  # _patch_block is always compiled
                       + sum(cholesky_solve_work(m) + matmul_work(test, 1, m, True) for m in fitted))
            ker_memory = max(ker_memory, (FLOAT32 + 2 * FLOAT64) * (n * n + n * test))
    return [
        PartCost("A: the network on fixed samples", sum(net), net_memory,
                 "per k: steps x sum over n of (4 passes over n k d + 12 over n k) + samples and the ceiling"),
        PartCost("A: the patch NTK's Gram matrices", sum(ker), ker_memory,
                 "per k: k^2 (n^2 + n n_test) entries x (2d + 20) fused ops at the largest n in the budget "
                 "+ n^3/3 Cholesky per fitted n"),
    ]


@dataclass(frozen=True)
class _ImageSetting:
    """What chapter 1 fits on one setting of ``lsa_images.SETTINGS``."""

    key: str
    channels: int
    canvas: int
    classes: int
    n_train: int
    n_test: int
    strengths: list
    lin_widths: list
    wrn: bool


def _image_settings(s: dict) -> list[_ImageSetting]:
    """Every setting of Part B with its sizes: ``n_train_by_setting`` where a data plan gave them,
    else ``mnist_n_train`` / ``n_train`` as asked (not capped to the data)."""
    from ..experiments.lsa_images import SCHEME_CLASSES, SETTINGS, setting_strengths

    out = []
    for setting in SETTINGS.values():
        mnist = setting.dataset == "mnist"
        prefix = "mnist_" if mnist else ""
        n_train = s.get("n_train_by_setting", {}).get(setting.key, s[f"{prefix}n_train"])
        n_test = s.get("n_test_by_setting", {}).get(setting.key, s[f"{prefix}n_test"])
        kept = SCHEME_CLASSES[setting.labels]
        classes = 2 if setting.labels == "animal_vs_vehicle" else (10 if kept is None else len(kept))
        out.append(_ImageSetting(
            setting.key, SETTING_CHANNELS[setting.dataset], setting.canvas_size, classes, n_train, n_test,
            setting_strengths(setting, s), s["mnist_lin_widths"] if mnist else s["lin_widths"],
            s["architecture"] == "wrn" and not mnist))
    return out


def _cnn(setting: _ImageSetting, width: int) -> NetworkProfile:
    """``lsa_images.build_network``: the WRN-10-``width`` where the setting uses it, else the small
    CNN at width factor ``width``."""
    architecture = "wrn" if setting.wrn else "simple_cnn"
    return network_profile(architecture, setting.channels, setting.canvas, setting.classes, width)


def _cnn_fit(setting: _ImageSetting, n: int, n_test: int, cnn_steps: int) -> tuple[float, float]:
    """``lsa_images.train_cnn`` (``epochs_for`` epochs of batch 128) and the test accuracy."""
    from ..experiments.lsa_images import CNN_BATCH, WRN_WIDTH, epochs_for

    net = _cnn(setting, WRN_WIDTH if setting.wrn else 1)
    epochs = epochs_for(cnn_steps, n, CNN_BATCH)
    work = training_work(net, epochs * n, epochs * math.ceil(n / CNN_BATCH)) + inference_work(net, n_test)
    return work, training_memory(net, CNN_BATCH)


@functools.lru_cache(maxsize=None)
def _cnn_kernel_entries_per_pair(channels: int, side: int) -> int:
    """Entries per pair of canvases at the widest layer of ``models.cnn.simple_cnn_kernel``
    (``SerialKernel.plan``), by which the engine decides to fuse."""
    from ..models.cnn import simple_cnn_kernel

    return simple_cnn_kernel().plan((channels, side, side))[1]


def _cnn_ntk(setting: _ImageSetting, n: int, n_test: int) -> tuple[float, float]:
    """``lsa_images.ntk_accuracy``: the CNN kernel's train (symmetric) and test Gram matrices,
    float32 up to ``FLOAT32_GRAM_MAX_N`` training images, and the Cholesky solve on one-hot targets."""
    from ..experiments.lsa_images import FLOAT32_GRAM_MAX_N

    float64 = n > FLOAT32_GRAM_MAX_N
    ops = CNN_KERNEL_OPS_PER_PAIR[setting.channels, setting.canvas]
    spatial = _cnn_kernel_entries_per_pair(setting.channels, setting.canvas)
    work = (engine_work(ops * symmetric_pairs(n), spatial * n * n / 2, float64)
            + engine_work(ops * n_test * n, spatial * n_test * n, float64)
            + cholesky_solve_work(n, setting.classes) + matmul_work(n_test, setting.classes, n, True))
    memory = (FLOAT64 if float64 else FLOAT32) * (n * n + n_test * n) + FLOAT64 * (2 * n * n + n_test * n)
    return work, memory


def _linearized_fit(setting: _ImageSetting, width: int, n: int, lin_steps: int) -> tuple[float, float]:
    """``lsa_images.train_linearized`` (Adam, batch 50) of the network at ``width`` and its test accuracy."""
    from ..experiments.lsa_images import LINEARIZED_BATCH, epochs_for

    net = _cnn(setting, width)
    epochs = epochs_for(lin_steps, n, LINEARIZED_BATCH)
    work = (training_work(net, epochs * n, epochs * math.ceil(n / LINEARIZED_BATCH), linearized=True,
                          optimizer_passes=ADAM_PASSES)
            + inference_work(net, setting.n_test, linearized=True))
    return work, training_memory(net, LINEARIZED_BATCH, linearized=True)


def _image_costs(s: dict) -> list[PartCost]:
    """``lsa_images.run_setting`` on every setting (strengths x ``image_seeds``) and
    ``accuracy_against_n`` (the MNIST setting at the other ``scaling_n``, the weakest and loudest
    strengths, the NTK up to ``scaling_kernel_max_n``). Left out: drawing the canvases."""
    cnn, ntk, lin = [], [], []
    settings = _image_settings(s)
    for setting in settings:
        jobs = len(setting.strengths) * s["image_seeds"]
        cnn.append(_times(jobs, _cnn_fit(setting, setting.n_train, setting.n_test, s["cnn_steps"])))
        if not setting.wrn:  # run_setting fits no NTK for the WRN
            ntk.append(_times(jobs, _cnn_ntk(setting, setting.n_train, setting.n_test)))
        lin += [_times(jobs, _linearized_fit(setting, w, setting.n_train, s["lin_steps"])) for w in setting.lin_widths]
    mnist = next(setting for setting in settings if setting.key == "mnist_gaussian")
    loud = [min(s["mnist_strengths"]), max(s["mnist_strengths"])]  # as the notebook passes them
    scaling = []
    for n in s["scaling_n"]:
        if n == mnist.n_train:  # reused from run_setting (done_rows)
            continue
        fit = [_cnn_fit(mnist, n, mnist.n_test, s["cnn_steps"])]
        if n <= s["scaling_kernel_max_n"]:
            fit.append(_cnn_ntk(mnist, n, mnist.n_test))
        scaling.append(_times(len(loud), _total(fit)))
    return [
        PartCost("B: CNN training, all settings", *_total(cnn),
                 "settings x strengths x image_seeds x (epochs x n_train x 3 forwards + test forward)"),
        PartCost("B: the CNN's NTK, all settings", *_total(ntk),
                 "settings x strengths x seeds x (21k fused ops x (n^2/2 + n n_test) + n^3/3 Cholesky)"),
        PartCost("B: linearized CNNs, all settings", *_total(lin),
                 "settings x strengths x seeds x widths x epochs x n_train x 7 forwards (jvp + backward)"),
        PartCost("B: accuracy against n (MNIST)", *_total(scaling),
                 "other scaling_n x 2 strengths x (CNN training + NTK where n <= scaling_kernel_max_n)"),
    ]


def lsa_cost(sizes: dict) -> list[PartCost]:
    """Chapter 1 (``notebooks/01_lsa.py``): Part A ``lsa_theory.train_patch_filters`` and
    ``lsa_separation.run_separation``; Part B ``lsa_images.run_setting`` on the six settings and
    ``accuracy_against_n``. Float32 but the kernel solves. Left out: canvases, the first-layer
    figures, torch.compile's first compilation (cached on disk)."""
    return [start_up(), _theory_cost(sizes), *_separation_costs(sizes), *_image_costs(sizes)]


# ---- chapter 2: one gradient step learns a representation ----------------------------------------------
ARCCOS_TAIL_OPS = 17.0  # kernels.arccos: the ReLU layer and readout per Gram entry (relu_expectations + NTK)
HERMITE_TARGET_OPS = 30.0  # data.multi_index: the degree-4 link on the r projections, per sample
FLOOR_CHUNK = 16384  # representation.feature_floor's samples per chunk
PREPROCESS_TARGETS = 2  # the notebook compares the chapter's target and its linear part


def _embedding_work(rows: float, d: float, m: float, float64: bool = True) -> float:
    """``relu(x W^T + b)`` on ``rows`` inputs: a product and two passes over ``rows x m``."""
    return matmul_work(rows, m, d, float64) + elementwise_work(rows * m, 2, float64)


def _features_ridge_work(n: float, d: float, m: float, n_eval: float, float64: bool = True) -> float:
    """``representation.fit_ridge`` on ReLU features (and ``gaussian_mixture.ridge_classifier``):
    the training features, ``Phi^T Phi``, one eigendecomposition (``ridge_path_coefficients``) and
    the features of ``n_eval`` validation and test inputs."""
    return (_embedding_work(n, d, m, float64) + matmul_work(m, m, n, float64) + eigh_work(m)
            + _embedding_work(n_eval, d, m, float64))


def _features_ridge_memory(n: float, d: float, m: float) -> float:
    """The training features twice (``x W^T`` and ``relu(... + b)`` are both alive), the inputs
    and ``Phi^T Phi`` with its eigenvectors, float64."""
    return FLOAT64 * (2 * n * m + n * d + 3 * m * m)


def _kernel_entries_work(entries: float, d: float, per_call: float, float64: bool = True) -> float:
    """``two_layer_relu_kernel`` on ``entries`` pairs, ``per_call`` of them per call: a ``d``-long
    product and the arc-cosine tail (``ARCCOS_TAIL_OPS``) per entry, the tail fused when one call
    is large enough (``engine_work``)."""
    return matmul_work(entries, 1, d, float64) + engine_work(ARCCOS_TAIL_OPS * entries, per_call, float64)


def _kernel_ridge_work(n: float, d: float, n_eval: float) -> tuple[float, float]:
    """``fit_ridge`` with the NTK (and ``ridge_classifier`` with a kernel): the ``n x n`` Gram
    matrix in one call, its eigendecomposition, the kernel columns of ``n_eval`` inputs in blocks of
    ``CPU_BLOCK_BYTES`` (``predict_in_blocks``, on any device); float64. Memory: the Gram matrix,
    the eigenvectors and the fused computation's input (3 ``n^2``)."""
    from ..kernels.fusion import CPU_BLOCK_BYTES

    work = (_kernel_entries_work(n * n, d, n * n) + eigh_work(n)
            + _kernel_entries_work(n_eval * n, d, CPU_BLOCK_BYTES / FLOAT64))
    return work, FLOAT64 * 3 * n * n


def _run_methods(n: int, d: int, m: int, n_val: int, n_test: int, methods: Iterable[str],
                 fixed_features: int = 0, floor_samples: int = 0) -> tuple[float, float]:
    """``representation.run_methods``: the draw of ``n + n_val + n_test`` samples; for the
    network the gradient step (two ``n x d x m`` products) and its ridge; random features' ridge;
    the NTK's kernel ridge; each fixed feature set's ridge; ``feature_floor``."""
    from ..data.multi_index import SOURCE_LINK

    evaluated = n_val + n_test
    costs = [(random_work((n + evaluated) * d, True) + matmul_work(n + evaluated, SOURCE_LINK.r, d, True)
              + elementwise_work(n + evaluated, HERMITE_TARGET_OPS, True), FLOAT64 * (n + evaluated) * d)]
    features = (_features_ridge_work(n, d, m, evaluated), _features_ridge_memory(n, d, m))
    for method in methods:
        if method == "network":
            costs += [(matmul_work(m, d, n, True) * 2 + elementwise_work(n * m, 3, True), 0.0), features]
        elif method == "random features":
            costs.append(features)
        elif method == "NTK":
            costs.append(_kernel_ridge_work(n, d, evaluated))
    costs += [features] * fixed_features
    if floor_samples:
        width = m + d + 1
        costs.append((random_work(floor_samples * d, True) + _embedding_work(floor_samples, d, m)
                      + matmul_work(width, width, floor_samples, True) + 2 * eigh_work(width)
                      + 2 * _embedding_work(evaluated, d, m), FLOAT64 * (3 * width * width + FLOOR_CHUNK * width)))
    return _total(costs)


def representation_cost(sizes: dict) -> list[PartCost]:
    """Chapter 2 (``notebooks/02_representation.py``), float64 throughout:
    ``representation.sample_complexity`` (every d, seed and n of ``sample_sizes``, the NTK while
    ``n <= kernel_max_n``), ``representation_scaling.preprocessing_comparison`` (2 targets x
    seeds x factors x with/without step 0, the network only), ``transfer_across_d`` (per d and
    seed a source step on ``n_source_factor d^2`` samples, then every method and the transferred
    features at each target size) and ``width_step_sweep`` (network and random features with
    ``feature_floor``). Left out: the representation metrics (an SVD of ``m x d``), the fresh
    readout of one sweep point, the figures."""
    from ..experiments.representation import METHODS
    from ..experiments.representation_scaling import sample_sizes

    s = sizes
    n_val, n_test, m, seeds = s["n_val"], s["n_test"], s["m"], s["seeds"]
    network_rf, ntk = [], []
    for d in s["d_values"]:
        for n in sample_sizes(d, s["n_points"], s["n_max_factor"]):
            network_rf.append(_run_methods(n, d, m, n_val, n_test, METHODS[:2]))
            if n <= s["kernel_max_n"]:
                ntk.append(_kernel_ridge_work(n, d, n_val + n_test))
    network_rf = [_times(seeds, c) for c in network_rf]
    ntk = [_times(seeds, c) for c in ntk]
    d = s["preprocess_d"]
    runs = PREPROCESS_TARGETS * 2 * s["preprocess_seeds"]  # with and without step 0
    preprocess = [_times(runs, _run_methods(int(f * d * d), d, m, n_val, n_test, ("network",)))
                  for f in s["preprocess_n_factors"]]
    transfer = []
    for d in s["transfer_d_values"]:
        n_source = int(s["n_source_factor"] * d * d)
        source = (random_work(n_source * d, True) + 2 * matmul_work(m, d, n_source, True), FLOAT64 * n_source * (d + 1))
        targets = [_run_methods(n, d, m, n_val, n_test, METHODS, fixed_features=1) for n in s["n_targets"]]
        transfer.append(_times(s["transfer_seeds"], _total([source, *targets])))
    d, n = s["sweep_d"], s["sweep_n_factor"] * s["sweep_d"] ** 2
    sweep = [_times(s["sweep_seeds"] * len(s["row_norms"]),
                    _run_methods(n, d, width, n_val, n_test, METHODS[:2], floor_samples=s["floor_samples"]))
             for width in s["widths"]]
    return [
        start_up(),
        PartCost("sample complexity: network and random features", *_total(network_rf),
                 "seeds x sum over d, n of (4 n d m step + 2 x (2 n d m + 2 n m^2 + 18 m^3 + 2 (n_val+n_test) d m)), float64"),
        PartCost("sample complexity: NTK ridge", *_total(ntk),
                 "seeds x sum over n <= kernel_max_n of (n^2 + n (n_val+n_test)) x (2d + 17 ops) + 18 n^3 eigh"),
        PartCost("preprocessing comparison", *_total(preprocess),
                 "2 targets x 2 x preprocess_seeds x network at n = f d^2"),
        PartCost("transfer across d", *_total(transfer),
                 "transfer_seeds x sum over d of (a step on n_source_factor d^2 samples + every method and the "
                 "transferred features at each n_target)"),
        PartCost("width and step sweep (with the features' floor)", *_total(sweep),
                 "sweep_seeds x row_norms x sum over widths of (network + random features + floor on floor_samples)"),
    ]


# ---- chapter 3: the XOR mixture -------------------------------------------------------------------------
SGD_PASSES_PER_WEIGHT = 3.0  # models.committee.train_online_sgd: the fields' product and sum, the rank-one update
SGD_STEP_TORCH_OPS = 14.0
READOUT_STEP_PASSES = 5.0  # gaussian_mixture.train_readout_online: ops on the (B, p) readout per sample
READOUT_STEP_TORCH_OPS = 7.0
ODE_FIELD_PASSES = 10.0  # xor_ode.ode_derivative: elementwise ops per (run, cluster sample, unit)
ODE_TORCH_OPS = 40.0  # per evaluation of the derivative, the stiffness or the population error
# Assumed (not counted: they follow the ODE's stiffness and the data): Runge-Kutta steps of one
# xor_ode.relax_to_stationarity (it stops at s = lr t of 20 to 70, its docstring, with steps of
# 1 / stiffness) and conjugate-gradient iterations of one rf_equivalence.population_readout.
RELAX_RK_STEPS = 200
CG_ITERATIONS = 100
VALIDATION, TEST = 2000, 10000  # gaussian_mixture.lazy_methods / ridge_features_learning_curve defaults
READOUT_TEST = 10000  # gaussian_mixture.train_readout_online's n_test


def _ode_evaluation(runs: int, samples: int, hidden: int) -> float:
    """One ``ode_derivative`` (or ``stiffness``) on ``runs`` networks: the local fields of 4
    clusters x ``samples`` and the products ``E[e v relu' lambda]``, ``E[e^2 ...]`` (float64)."""
    points = runs * 4 * samples * hidden
    return (matmul_work(points, 1, 2 * hidden + 10, True) + elementwise_work(points, ODE_FIELD_PASSES, True)
            + dispatch_work(ODE_TORCH_OPS))


def _ode_memory(runs: int, samples: int, hidden: int, copies: int = 5) -> float:
    """``copies`` float64 tensors of the local fields, ``(runs, 4, samples, hidden)``: about 5 in
    ``ode_derivative`` (fields, activations, slopes, weighted errors), 3 in ``population_errors``."""
    return FLOAT64 * copies * runs * 4 * samples * hidden


def _relax_work(samples: int, hidden: int) -> float:
    """``xor_ode.relax_to_stationarity`` of one state: ``RELAX_RK_STEPS`` steps of 4 derivatives."""
    return 4 * RELAX_RK_STEPS * _ode_evaluation(1, samples, hidden)


def _simulate_networks(runs: int, streams: int, hidden: int, dim: int, steps: int, times: int,
                       samples: int) -> tuple[float, float]:
    """``gaussian_mixture.simulate_networks``: ``steps`` one-pass SGD steps of ``runs`` networks
    (``SGD_PASSES_PER_WEIGHT`` passes over the ``(B, K, D)`` weights, ``streams`` normal draws of
    ``D``, ``SGD_STEP_TORCH_OPS`` dispatches) and the population error at ``times`` times."""
    weights = runs * hidden * dim
    step = (elementwise_work(weights, SGD_PASSES_PER_WEIGHT) + random_work(streams * dim)
            + elementwise_work(runs * dim, 3) + dispatch_work(SGD_STEP_TORCH_OPS))
    work = steps * step + times * _ode_evaluation(runs, samples, hidden) / 2
    return work, FLOAT32 * (2 * weights + 256 * streams * dim) + _ode_memory(runs, samples, hidden, copies=3)


def _ridge_learning_curve(dim: int, width: int, n_values: list[int]) -> tuple[float, float]:
    """``gaussian_mixture.ridge_features_learning_curve``: features of ``max(n)`` samples
    accumulated into ``Phi^T Phi`` (float32 products), an eigendecomposition and the validation
    and test features per n."""
    n = max(n_values)
    evaluated = VALIDATION + TEST
    work = (random_work(n * dim) + _embedding_work(n, dim, width, False) + matmul_work(width, width, n)
            + random_work(evaluated * dim, True)
            + len(set(n_values)) * (eigh_work(width) + _embedding_work(evaluated, dim, width)))
    return work, FLOAT64 * 3 * width * width + FLOAT32 * 16384 * (dim + 2 * width) + FLOAT64 * evaluated * (dim + width)


def _lazy_methods(dim: int, n: int, gammas: list[float], kernel: bool, draw: bool = True) -> tuple[float, float]:
    """``gaussian_mixture.lazy_methods``: the draw of the samples (unless ``draw`` is false: counted
    with another part), ridge random features per gamma (``p = gamma D``) and the kernel
    (``mixture_kernel``, the arc-cosine NNGP) on the same n samples, float64."""
    evaluated = VALIDATION + TEST
    costs = [(random_work((n + evaluated) * dim, True) if draw else 0.0, FLOAT64 * (n + evaluated) * dim)]
    for gamma in gammas:
        p = max(1, round(gamma * dim))
        costs.append((_features_ridge_work(n, dim, p, evaluated), _features_ridge_memory(n, dim, p)))
    if kernel:
        costs.append(_kernel_ridge_work(n, dim, evaluated))
    return _total(costs)


def _equivalent_rf(dim: int, ratios: list[float], levels: int) -> tuple[float, float]:
    """``gaussian_mixture.equivalent_rf_errors``: per ratio a ``D x P`` feature matrix; per noise
    level ``CG_ITERATIONS`` conjugate-gradient steps, each four products with ``F`` on 4 clusters."""
    work = sum(random_work(dim * round(r * dim), True)
               + levels * CG_ITERATIONS * matmul_work(dim, 4, round(r * dim), True) * 2 for r in ratios)
    return work, FLOAT64 * 2 * dim * round(max(ratios) * dim)


def gaussian_mixture_cost(sizes: dict) -> list[PartCost]:
    """Chapter 3 (``notebooks/03_gaussian_mixture.py``): ``simulate_networks`` (the main
    networks, the width sweep, the networks of section 6's two mixtures), the lazy methods
    (``lazy_methods``, ``lazy_scaling_rows``), ridge random features up to the budget
    (``ridge_features_learning_curve``), online readouts (``train_readout_online``), Gaussian
    equivalence (``equivalent_rf_errors``, ``online_readout_theory``) and the ODEs
    (``integrate_ode`` twice, ``stationary_states``, ``plateau_escape``). The ODE's step counts
    of ``relax_to_stationarity`` and ``plateau_escape`` and the CG iterations are assumptions
    (``RELAX_RK_STEPS``, the escape runs to ``escape_t_end`` at its largest step, ``CG_ITERATIONS``).
    Left out: the data figure, the Sobol base, the oracle."""
    from ..experiments.gaussian_mixture import log_times

    s = sizes
    dim, seeds, levels = s["dim"], s["seeds"], len(s["inverse_snrs"])
    samples, escape_samples = s["base_samples"], min(1024, s["base_samples"])
    times = len(set(log_times(s["t_max"], s["time_points"], 0.5)) | {float(s["switch_time"])})
    steps = round(s["t_max"] * dim)
    main = _simulate_networks(levels * seeds, seeds, s["hidden"], dim, steps, times, samples)
    sweep = _simulate_networks(len(s["hidden_values"]) * s["sweep_seeds"], s["sweep_seeds"],
                               max(s["hidden_values"]), dim, steps, times, samples)
    mixture_steps = round(max(s["mixture_n_factors"]) * dim)
    mixture_levels = len(s["mixture_inverse_snrs"])
    mixture_times = 13 + len(set(s["mixture_n_factors"]))  # compare_on_mixture: 12 log-spaced times, 0, the factors
    mixture_sim = _simulate_networks(mixture_levels * seeds, seeds, s["hidden"], dim, mixture_steps, mixture_times,
                                     samples)
    mixture_ridge = _ridge_learning_curve(dim, dim, [max(1, round(f * dim)) for f in s["mixture_n_factors"]])
    mixture_theory = _equivalent_rf(dim, s["mixture_rf_ratios"], mixture_levels)
    mixtures = _times(2, _total([mixture_sim, _times(mixture_levels, mixture_ridge), mixture_theory]))

    n_lazy = s["n_factor"] * dim
    lazy = [_lazy_methods(dim, n_lazy, s["rf_gammas"], kernel=False)]
    kernel = [_lazy_methods(dim, n_lazy, [], kernel=True, draw=False)]  # the same call as the line above
    lazy += [_lazy_methods(d, s["n_factor"] * d, [1.0], kernel=False) for d in s["rf_dims"] if d != dim]
    kernel += [_lazy_methods(d, f * d, [], kernel=True) for d in s["kernel_dims"] for f in s["kernel_n_factors"]
               if (d, f) != (dim, s["n_factor"])]
    lazy = [_times(levels, c) for c in lazy]
    kernel = [_times(levels, c) for c in kernel]
    budget = _times(len(s["budget_inverse_snrs"]),
                    _ridge_learning_curve(dim, dim, [int(f * dim) for f in s["budget_n_factors"]]))

    readout_steps = round(s["rf_online_t_max"] * dim)
    readout = (readout_steps * (random_work(levels * dim) + matmul_work(levels, dim, dim)
                                + elementwise_work(levels * dim, READOUT_STEP_PASSES)
                                + dispatch_work(READOUT_STEP_TORCH_OPS))
               + matmul_work(levels * READOUT_TEST, dim, dim) + random_work(levels * READOUT_TEST * dim),
               FLOAT32 * 2 * levels * READOUT_TEST * dim)
    theory = _total([_equivalent_rf(dim, s["rf_theory_ratios"], levels), _equivalent_rf(dim, [1.0], 2 * levels)])

    dynamics_runs = len(s["dynamics_inverse_snrs"]) * seeds
    ode_steps = math.ceil(s["t_max"] / s["ode_dt"]) + times
    dynamics = 2 * ode_steps * 4 * _ode_evaluation(dynamics_runs, samples, s["hidden"])
    states_per_width = len(s["theory_lrs"]) * len(s["theory_weight_decays"]) * len(s["theory_inverse_snrs"])
    stationary = states_per_width * sum(_relax_work(samples, k) for k in s["theory_hidden"])
    escape_runs = len(s["escape_inverse_snrs"]) * seeds
    escape_steps = s["escape_t_end"] / (2.5 / s["lr"])  # plateau_escape: steps of at most dt_max = 2.5 / lr
    escape = (len(s["escape_inverse_snrs"]) * _relax_work(escape_samples, s["hidden"])
              + escape_runs * escape_steps * 5 * _ode_evaluation(1, escape_samples, s["hidden"]))
    ode_memory = _ode_memory(max(dynamics_runs, 1), samples, max(s["hidden"], *s["theory_hidden"]))
    return [
        start_up(),
        PartCost("networks: online SGD, main grid", *main,
                 "t_max D steps x (3 passes over B K D + normal draws of seeds x D + 14 torch ops), B = levels x seeds"),
        PartCost("networks: online SGD, width sweep", *sweep,
                 "t_max D steps x (3 passes over B K_max D + ...), B = hidden_values x sweep_seeds"),
        PartCost("other mixtures: networks, ridge and Gaussian equivalence", *mixtures,
                 "2 mixtures x (max(n_factors) D SGD steps + ridge features up to that n + CG per ratio)"),
        PartCost("lazy methods: random features", *_total(lazy),
                 "levels x (per gamma: 2 n D p + 2 n p^2 + 18 p^3 + 12,000 features), float64"),
        PartCost("lazy methods: kernel ridge", *_total(kernel),
                 "levels x per (D, n): (n^2 + 12,000 n) x (2D + 17 ops) + 18 n^3 eigh, float64"),
        PartCost("ridge random features up to the budget", *budget,
                 "budget levels x (n_max D p draws and products + n_max p^2 + per n an eigh(p))"),
        PartCost("random features: online readout", *readout,
                 "rf_online_t_max D steps x (2 B D^2 features + 5 passes over B D + 7 torch ops)"),
        PartCost("random features: Gaussian equivalence", *theory,
                 f"per ratio and level {CG_ITERATIONS} CG steps x 4 products of D x P x 4 (assumed iterations)"),
        PartCost("ODE: dynamics against the simulation", dynamics, ode_memory,
                 "2 x (t_max / ode_dt) RK4 steps x 4 derivatives on B x 4 base_samples x K"),
        PartCost("ODE: stationary states", stationary, _ode_memory(1, samples, max(s["theory_hidden"])),
                 f"states x {RELAX_RK_STEPS} RK4 steps (assumed) x 4 derivatives on 4 base_samples x K"),
        PartCost("ODE: plateau escape", escape, _ode_memory(1, escape_samples, s["hidden"]),
                 "runs x escape_t_end / (2.5 / lr) steps x 5 evaluations on 4 x 1024 x K (an upper bound)"),
    ]


# ---- chapter 4: linearized networks -------------------------------------------------------------------
BINARY_IMAGE_SHAPES = {"mnist": (1, 28), "cifar10": (3, 32)}  # (channels, side) of data.binary_images
JACOBIAN_CONCAT_COPIES = 2  # the Jacobians are briefly held twice (per-batch pieces and their concatenation)


def _empirical_gram(net: NetworkProfile, n: int, budget: float, linearized: bool = False) -> tuple[float, float]:
    """``kernels.empirical.empirical_ntk`` of one output on ``n`` inputs (symmetric): per-input
    Jacobians (a backward pass each and a write of ``P`` numbers), recomputed per block pair when
    all of them do not fit ``budget`` (``"jacobian_blocks"``), contracted in ``n^2 P`` flops."""
    per_input = FLOAT32 * net.parameters
    if n * per_input <= budget:
        jacobians, held = n, n * per_input
    else:
        block = max(1, int(budget // (2 * per_input)))
        blocks = math.ceil(n / block)
        jacobians, held = n + block * blocks * (blocks - 1) / 2, 2 * block * per_input
    factor = LINEARIZED_STEP_FACTOR if linearized else TRAIN_STEP_FACTOR
    work = (jacobians * (factor * net.forward_flops + elementwise_work(net.parameters, 1)
                         + elementwise_work(net.activations, TRAIN_PASSES_PER_ACTIVATION))
            + matmul_work(n, n, net.parameters) / 2)
    return work, JACOBIAN_CONCAT_COPIES * held + FLOAT64 * 2 * n * n


def _binary_net(name: str, dataset: str, width: int) -> NetworkProfile:
    channels, side = BINARY_IMAGE_SHAPES[dataset]
    return network_profile(name, channels, side, 1, width)


def _fit_binary(net: NetworkProfile, n: int, n_test: int, epochs: int, linearized: bool) -> float:
    """``linearization.fit_binary``: ``epochs`` over ``n`` images (batch 128, SGD with momentum)
    and the predictions on the test and training images."""
    from ..experiments.linearization import BATCH_SIZE

    return (training_work(net, epochs * n, epochs * math.ceil(n / BATCH_SIZE), linearized)
            + inference_work(net, n_test + n, linearized))


def linearization_cost(sizes: dict) -> list[PartCost]:
    """Chapter 4 (``notebooks/04_linearization.py``), per model of ``models`` on ``dataset``:
    ``linearization.ntk_spectrum`` (the empirical NTK on ``N = n_train + n_test`` images with
    ``GRAM_MEMORY_BUDGET`` for the Jacobians, and ``eigh``), ``eigen_task_sweep`` (per task a
    network and its linearization, the two kernels of ``after_indices``, the tracked task's
    kernel on ``probe_size`` images after every epoch for both fits), ``rayleigh_growth`` (the
    trained network's Gram matrix) and ``rbf_control_rows``; then ``real_task_sweep`` on each of
    ``real_datasets`` (seeds x sizes, ``epochs_for_steps(real_steps, n)``, network and
    linearization). Left out: ``with_batch_statistics`` (one forward pass), loading the data."""
    from ..experiments.linearization import BATCH_SIZE, GRAM_MEMORY_BUDGET, epochs_for_steps

    s = sizes
    n_train, n_test, epochs = s["n_train"], s["n_test"], s["epochs"]
    pooled = n_train + n_test
    tasks = [k for k in s["eigen_indices"] if k <= pooled]
    after = [k for k in s["after_indices"] if k in tasks]
    channels, side = BINARY_IMAGE_SHAPES[s["dataset"]]
    spectra, fits, tracked, rayleigh, control = [], [], [], [], []
    for name in s["models"]:
        net = _binary_net(name, s["dataset"], s["resnet_width"])
        work, memory = _empirical_gram(net, pooled, GRAM_MEMORY_BUDGET)
        spectra.append((work + eigh_work(pooled), memory + FLOAT64 * 2 * pooled * pooled))
        rayleigh.append((work, memory))
        fit_work = (len(tasks) * (_fit_binary(net, n_train, n_test, epochs, False)
                                  + _fit_binary(net, n_train, n_test, epochs, True))
                    + 2 * len(after) * _fit_binary(net, n_train, n_test, epochs, True))
        fits.append((fit_work, training_memory(net, BATCH_SIZE, linearized=True)))
        probe = min(s["probe_size"], n_train)
        grams = [_empirical_gram(net, probe, GRAM_MEMORY_BUDGET, linearized) for linearized in (False, True)]
        tracked.append(((epochs + 1) * sum(w for w, _ in grams), max(m for _, m in grams)))
        pixels = channels * side * side
        control.append((matmul_work(pooled, n_train, pixels, True) + elementwise_work(pooled * n_train, 4, True)
                        + cholesky_solve_work(n_train, len(tasks)), FLOAT64 * 3 * pooled * n_train))
    # a data plan's real_tasks (capped sizes, one per data set loaded), else the sizes as asked
    real_tasks = s.get("real_tasks") or [dict(dataset=d, sizes=s["real_sizes"], test=s["real_test"])
                                         for d in dict.fromkeys(s["real_datasets"])]
    real = []
    for task in real_tasks:
        for name in s["models"]:
            net = _binary_net(name, task["dataset"], s["resnet_width"])
            for n in task["sizes"]:
                e = epochs_for_steps(s["real_steps"], n)
                real.append((s["real_seeds"] * (_fit_binary(net, n, task["test"], e, False)
                                                + _fit_binary(net, n, task["test"], e, True)),
                             training_memory(net, BATCH_SIZE, linearized=True)))
    return [
        start_up(),
        PartCost("NTK spectra: empirical Gram matrices and eigh", *_total(spectra),
                 "models x (N Jacobians (more when blocked) x 3 forwards + N^2 P / 2 contraction + 18 N^3 eigh)"),
        PartCost("eigen-tasks: networks and linearizations", *_total(fits),
                 "models x (tasks x (3 + 7) + after x 2 x 7) forwards x epochs x n_train"),
        PartCost("eigen-tasks: the tracked kernel", *_total(tracked),
                 "models x (epochs + 1) x Gram matrices of probe_size images, network and linearization"),
        PartCost("alignment: the trained network's Gram matrix", *_total(rayleigh),
                 "models x the Gram matrix of N images again"),
        PartCost("RBF control", *_total(control), "models x (N n_train pixels distances + n_train^3 / 3)"),
        PartCost("real tasks: networks and linearizations", *_total(real),
                 "datasets x models x sizes x seeds x (3 + 7) forwards x epochs x n"),
    ]


# ---- appendix: the kernels ---------------------------------------------------------------------------------
OPS_PER_ENTRY_AND_LAYER = 14.0  # kernel-engine ops per spatial entry of a pair and per layer (8 to 21 on the agreement architectures)
# neural-tangents' time per pair over our uncompiled engine's (it never gets our fusion): assumed.
# Our engine measured 6.4x to 9.6x faster on case (b) (git history); the appendix's smoke and
# default times (34 s and 212 s, mostly case (a) at 8 and 40 images) are consistent with about 8x.
NEURAL_TANGENTS_COST = 8.0
NEURAL_TANGENTS_SETUP_SECONDS = 0.5  # JAX tracing and compilation per kernel function (assumed)
OPERATION_COUNT_SECONDS = 7.0  # kernel_speed.operations_per_pair on case (a): measured once here, 7.5 s


def _spec_layers(spec: list[tuple]) -> int:
    """Layers of an architecture spec, the branches of ``("parallel", ...)`` included."""
    return sum(sum(_spec_layers(b) for b in rest) if kind == "parallel" else 1 for kind, *rest in spec)


def _architecture(name: str) -> tuple[list[tuple], tuple[int, ...], str]:
    """``(spec, input shape (C, H, W) or (D,), parameterization)`` of an architecture of
    ``kernel_checks.AGREEMENT_ARCHITECTURES`` or a case of ``kernel_speed.ANALYTIC_CASES``."""
    from ..experiments.kernel_checks import AGREEMENT_ARCHITECTURES
    from ..experiments.kernel_speed import ANALYTIC_CASES

    if name in AGREEMENT_ARCHITECTURES:
        spec, shape, parameterization = AGREEMENT_ARCHITECTURES[name]
    else:
        _, spec, shape, *_ = ANALYTIC_CASES[name]
        parameterization = "ntk"
    return spec, ((shape[-1], *shape[:-1]) if len(shape) == 3 else shape), parameterization


def _case_kernel(name: str):
    from ..kernels.composition import serial
    from ..kernels.reference import ours

    spec, _, parameterization = _architecture(name)
    return serial(*ours(spec, parameterization))


@functools.lru_cache(maxsize=None)
def _pair_costs(name: str) -> tuple[float, int]:
    """``(ops per pair, spatial entries per pair)``: ``OPS_PER_ENTRY_AND_LAYER`` x the entries per
    pair at the widest layer (``SerialKernel.plan``) x the layers."""
    spec, shape, _ = _architecture(name)
    _, per_pair = _case_kernel(name).plan(shape)
    return OPS_PER_ENTRY_AND_LAYER * per_pair * _spec_layers(spec), per_pair


def _both_libraries(name: str, n: int, float64: bool) -> float:
    """One symmetric Gram matrix of ``n`` inputs by our engine (the upper triangle, fused when large)
    and by neural-tangents (all ``n^2`` pairs, ``NEURAL_TANGENTS_COST`` times our eager ops)."""
    ops, spatial = _pair_costs(name)
    ours = engine_work(ops * symmetric_pairs(n), spatial * n * n / 2, float64)
    return ours + NEURAL_TANGENTS_COST * ENGINE_EAGER_OP * ops * n * n * _precision(float64)


def kernels_cost(sizes: dict) -> list[PartCost]:
    """The appendix (``notebooks/90_kernels.py``): ``kernel_checks.agreement_with_neural_tangents``
    (every architecture, NNGP and NTK, one block of ``n_inputs^2`` pairs by both libraries in
    float64, and JAX's set-up per kernel function) and ``kernel_speed.time_case("a")`` (a warm-up
    and ``repeats`` runs of each library on ``bench_images`` images in float32, JAX's set-up and
    the operation count). Per pair: ``_pair_costs``. Left out: reading the benchmark tables."""
    from ..experiments.kernel_checks import AGREEMENT_ARCHITECTURES

    n, b, runs = sizes["n_inputs"], sizes["bench_images"], 1 + sizes["repeats"]
    agreement = (2 * sum(_both_libraries(name, n, True) for name in AGREEMENT_ARCHITECTURES)
                 + seconds_work(NEURAL_TANGENTS_SETUP_SECONDS * 2 * len(AGREEMENT_ARCHITECTURES)))
    widest = max(_pair_costs(name)[1] for name in AGREEMENT_ARCHITECTURES)
    timing = (runs * _both_libraries("a", b, False)
              + seconds_work(NEURAL_TANGENTS_SETUP_SECONDS + OPERATION_COUNT_SECONDS))
    return [
        start_up(),
        PartCost("agreement with neural-tangents", agreement, FLOAT64 * 6 * n * n * widest,
                 "2 x sum over architectures of n_inputs^2 x ops per pair (ours / 2 + 8 x for neural-tangents) + JAX set-up"),
        PartCost("timing of case (a)", timing, FLOAT32 * 6 * b * b * _pair_costs("a")[1],
                 "(1 + repeats) x b^2 x ops per pair (ours / 2, fused when large, + 8 x for neural-tangents) "
                 "+ JAX set-up + operation count"),
    ]


# ---- chapters, calibration, estimates -------------------------------------------------------------------
COST_FUNCTIONS: dict[str, Callable[[dict], list[PartCost]]] = {
    "lazy_vs_rich": lazy_vs_rich_cost,
    "lsa": lsa_cost,
    "representation": representation_cost,
    "gaussian_mixture": gaussian_mixture_cost,
    "linearization": linearization_cost,
    "kernels": kernels_cost,
}


def chapter_cost(name: str, sizes: dict) -> list[PartCost]:
    """The parts of chapter ``name`` at ``sizes``; raises ``ValueError`` naming the chapters."""
    check_choice("chapter", name, COST_FUNCTIONS)
    return COST_FUNCTIONS[name](sizes)


def total_work(parts: list[PartCost]) -> float:
    return sum(p.work for p in parts)


def seconds_per_work_unit(name: str) -> float:
    """The chapter's measured seconds at ``default`` over its work at ``default``."""
    chapter = get_chapter(name)
    return chapter.measured_s["default"] / total_work(chapter_cost(name, chapter.sizes("default")))


def estimate(name: str, scale: str, gpu_speedup: float | None = None) -> dict:
    """Work, peak memory and time of chapter ``name`` at ``scale`` (see the module docstring).

    Returns ``chapter``, ``scale``, ``parts`` (dicts with ``name``, ``work``, ``memory_bytes``,
    ``formula``, ``cpu_seconds``), ``work``, ``peak_memory_bytes`` (the largest part's),
    ``cpu_seconds``, ``seconds_per_work_unit``, ``gpu_seconds`` (``cpu_seconds / gpu_speedup``,
    ``None`` without a speed-up) and ``calibration`` (in words). Raises ``ValueError`` for an
    unknown chapter or scale.
    """
    chapter = get_chapter(name)
    check_choice("scale", scale, SCALES)
    rate = seconds_per_work_unit(name)
    parts = chapter_cost(name, chapter.sizes(scale))
    work = total_work(parts)
    cpu = work * rate
    measured = chapter.measured_s["default"]
    default_work = measured / rate
    return {
        "chapter": name,
        "scale": scale,
        "parts": [dict(name=p.name, work=p.work, memory_bytes=p.memory_bytes, formula=p.formula,
                       cpu_seconds=p.work * rate) for p in parts],
        "work": work,
        "peak_memory_bytes": max(p.memory_bytes for p in parts),
        "cpu_seconds": cpu,
        "seconds_per_work_unit": rate,
        "gpu_seconds": None if gpu_speedup is None else cpu / gpu_speedup,
        "calibration": (f"{measured:g} s measured at scale default on 2 CPU cores / {default_work:.3g} work units "
                        f"= {rate:.3g} s per unit ({1 / rate / 1e9:.3g} G units/s against the nominal "
                        f"{CPU_FLOPS_PER_SECOND / 1e9:g})"),
    }


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _dominant_parts(parts: list[dict], work: float, count: int = 2) -> str:
    top = sorted(parts, key=lambda p: -p["work"])[:count]
    return "; ".join(f"{p['name']} {p['work'] / work:.0%}" for p in top)


def paper_table() -> str:
    """A Markdown table of every chapter at ``paper``: work (1e12 units), peak memory (GB), the
    estimated CPU hours and one GPU's time at ``ASSUMED_GPU_SPEEDUPS``, whether the peak memory
    fits one H200, and the parts that dominate the work."""
    low, high = ASSUMED_GPU_SPEEDUPS
    rows = ["| chapter | paper work (1e12 units) | peak memory (GB) | CPU (h, 2 cores) | "
            f"one GPU at {low}x to {high}x | fits one H200 ({H200_MEMORY_BYTES / 1e9:.0f} GB) | dominant parts |",
            "|---|---|---|---|---|---|---|"]
    for name in CHAPTERS:
        e = estimate(name, "paper")
        peak = e["peak_memory_bytes"]
        fits = "yes" if peak <= H200_MEMORY_BYTES else "no"
        gpu = f"{_duration(e['cpu_seconds'] / high)} to {_duration(e['cpu_seconds'] / low)}"
        rows.append(f"| {name} | {e['work'] / 1e12:,.1f} | {peak / 1e9:.2f} | {e['cpu_seconds'] / 3600:,.1f} | "
                    f"{gpu} | {fits} | {_dominant_parts(e['parts'], e['work'])} |")
    return "\n".join(rows)
