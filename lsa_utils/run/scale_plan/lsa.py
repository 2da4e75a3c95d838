"""The cost of chapter 1: local signal adaptivity (``lsa_utils.run.scale_plan``)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from .units import (
    ADAM_PASSES,
    FLOAT32,
    FLOAT64,
    FUSED_OP,
    NetworkProfile,
    PartCost,
    repeated,
    combined,
    cholesky_solve_work,
    dispatch_work,
    elementwise_work,
    engine_work,
    inference_work,
    matmul_work,
    network_profile,
    random_work,
    start_up,
    symmetric_pairs,
    training_memory,
    training_work,
)

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
    return PartCost("patch model: online SGD of the one-filter models", work, memory,
                    "steps x M batch (k-1) x (a normal draw + 18 ops) + evaluations x M n_eval (k-1) "
                    "x (draw + 8 ops), M = noise levels x seeds")


def _separation_costs(s: dict) -> list[PartCost]:
    """``lsa_separation.run_separation``: per k, the one-filter network by full-batch GD on every n
    (two matrix-vector products over the ``(n k, d)`` patches and ``FILTER_STEP_PASSES`` passes
    over the ``(n, k)`` projections per step), the sampling and ``filter_ceiling``; the patch NTK's
    ``k^2 (n^2 + n n_test)`` entries at the largest n within the budget (``kernel_sizes``), each
    ``2 d + PATCH_ENTRY_OPS`` fused ops, and a Cholesky solve per fitted n."""
    from ...experiments.lsa_separation import kernel_sizes

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
        PartCost("patch model: the network on fixed samples", sum(net), net_memory,
                 "per k: steps x sum over n of (4 passes over n k d + 12 over n k) + samples and the ceiling"),
        PartCost("patch model: the patch NTK's Gram matrices", sum(ker), ker_memory,
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
    from ...experiments.lsa_images import SCHEME_CLASSES, SETTINGS, setting_strengths

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
    from ...experiments.lsa_images import CNN_BATCH, WRN_WIDTH, epochs_for

    net = _cnn(setting, WRN_WIDTH if setting.wrn else 1)
    epochs = epochs_for(cnn_steps, n, CNN_BATCH)
    work = training_work(net, epochs * n, epochs * math.ceil(n / CNN_BATCH)) + inference_work(net, n_test)
    return work, training_memory(net, CNN_BATCH)


@functools.lru_cache(maxsize=None)
def _cnn_kernel_entries_per_pair(channels: int, side: int) -> int:
    """Entries per pair of canvases at the widest layer of ``models.cnn.simple_cnn_kernel``
    (``SerialKernel.plan``), by which the engine decides to fuse."""
    from ...models.cnn import simple_cnn_kernel

    return simple_cnn_kernel().plan((channels, side, side))[1]


def _cnn_ntk(setting: _ImageSetting, n: int, n_test: int) -> tuple[float, float]:
    """``lsa_images.ntk_accuracy``: the CNN kernel's train (symmetric) and test Gram matrices,
    float32 up to ``FLOAT32_GRAM_MAX_N`` training images, and the Cholesky solve on one-hot targets."""
    from ...experiments.lsa_images import FLOAT32_GRAM_MAX_N

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
    from ...experiments.lsa_images import LINEARIZED_BATCH, epochs_for

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
        cnn.append(repeated(jobs, _cnn_fit(setting, setting.n_train, setting.n_test, s["cnn_steps"])))
        if not setting.wrn:  # run_setting fits no NTK for the WRN
            ntk.append(repeated(jobs, _cnn_ntk(setting, setting.n_train, setting.n_test)))
        lin += [repeated(jobs, _linearized_fit(setting, w, setting.n_train, s["lin_steps"]))
                for w in setting.lin_widths]
    mnist = next(setting for setting in settings if setting.key == "mnist_gaussian")
    loud = [min(s["mnist_strengths"]), max(s["mnist_strengths"])]  # as the notebook passes them
    scaling = []
    for n in s["scaling_n"]:
        if n == mnist.n_train:  # reused from run_setting (done_rows)
            continue
        fit = [_cnn_fit(mnist, n, mnist.n_test, s["cnn_steps"])]
        if n <= s["scaling_kernel_max_n"]:
            fit.append(_cnn_ntk(mnist, n, mnist.n_test))
        scaling.append(repeated(len(loud), combined(fit)))
    return [
        PartCost("images: CNN training, all settings", *combined(cnn),
                 "settings x strengths x image_seeds x (epochs x n_train x 3 forwards + test forward)"),
        PartCost("images: the CNN's NTK, all settings", *combined(ntk),
                 "settings x strengths x seeds x (21k fused ops x (n^2/2 + n n_test) + n^3/3 Cholesky)"),
        PartCost("images: linearized CNNs, all settings", *combined(lin),
                 "settings x strengths x seeds x widths x epochs x n_train x 7 forwards (jvp + backward)"),
        PartCost("images: accuracy against n (MNIST)", *combined(scaling),
                 "other scaling_n x 2 strengths x (CNN training + NTK where n <= scaling_kernel_max_n)"),
    ]


def lsa_cost(sizes: dict) -> list[PartCost]:
    """Chapter 1 (``notebooks/01_lsa.py``): Part A ``lsa_theory.train_patch_filters`` and
    ``lsa_separation.run_separation``; Part B ``lsa_images.run_setting`` on the six settings and
    ``accuracy_against_n``. Float32 but the kernel solves. Left out: canvases, the first-layer
    figures, torch.compile's first compilation (cached on disk)."""
    return [start_up(), _theory_cost(sizes), *_separation_costs(sizes), *_image_costs(sizes)]


