"""The cost of chapter 4: linearized networks (``lsa_utils.run.scale_plan``)."""

from __future__ import annotations

import math

from .units import (
    FLOAT32,
    FLOAT64,
    LINEARIZED_FORWARD_FACTOR,
    LINEARIZED_STEP_FACTOR,
    NetworkProfile,
    PartCost,
    TRAIN_PASSES_PER_ACTIVATION,
    TRAIN_STEP_FACTOR,
    combined,
    cholesky_solve_work,
    eigh_work,
    elementwise_work,
    inference_work,
    matmul_work,
    network_profile,
    start_up,
    training_memory,
    training_work,
)

BINARY_IMAGE_SHAPES = {"mnist": (1, 28), "cifar10": (3, 32)}  # (channels, side) of data.binary_images
JACOBIAN_CONCAT_COPIES = 2  # the Jacobians are briefly held twice (per-batch pieces and their concatenation)
# NTK-vector products ARPACK took per Krylov basis vector (benchmarks/ntk_eigen.py, tolerance 1e-6,
# 100 eigenpairs, ncv = 201): 2.6 for chapter 4's MLP on 2,500 CIFAR-shaped inputs (521 products),
# 1.5 and 1.25 for a 784-100-100-1 MLP on 2,500 and 10,000; the most measured, not calibrated at
# 1,000 eigenpairs
LANCZOS_PRODUCTS_PER_BASIS_VECTOR = 2.6


def _empirical_gram(net: NetworkProfile, n: int, budget: float,
                    linearized: bool = False) -> tuple[float, float]:
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


def _lanczos(net: NetworkProfile, n: int, count: int, checked: int) -> tuple[float, float]:
    """``linearization.ntk_spectrum`` with ``count``: ARPACK's Lanczos (``kernels.eigen.ntk_eigenpairs``)
    with a Krylov basis of ``ncv = 2 count + 1`` vectors, about ``LANCZOS_PRODUCTS_PER_BASIS_VECTOR``
    NTK-vector products per basis vector, each a vector-Jacobian and a Jacobian-vector pass over the
    ``n`` inputs, and the basis's reorthogonalisation in float64; then one product for each of the
    ``checked`` residuals. Memory: the basis, and one pass's activations for 512 inputs."""
    ncv = min(n, max(2 * count + 1, 20))
    products = LANCZOS_PRODUCTS_PER_BASIS_VECTOR * ncv + checked
    passes = products * n * (TRAIN_STEP_FACTOR + LINEARIZED_FORWARD_FACTOR) * net.forward_flops
    work = passes + products * (2 * elementwise_work(net.parameters, 2) + 2 * matmul_work(n, ncv, 1, True))
    return work, FLOAT64 * n * ncv + training_memory(net, 512, linearized=True)


def _rayleigh_passes(net: NetworkProfile, n: int, count: int) -> tuple[float, float]:
    """``rayleigh_growth`` without Gram matrices (the Lanczos path): the quotients of the initial
    and the trained NTK along ``count`` vectors, on all ``n`` images and on each split from the
    same pass, one vector-Jacobian product per vector and image: 2 passes of ``count`` x ``n``."""
    from ...kernels.eigen import RAYLEIGH_BLOCK

    work = 2 * count * (n * TRAIN_STEP_FACTOR * net.forward_flops + elementwise_work(net.parameters, 2))
    return work, FLOAT32 * RAYLEIGH_BLOCK * net.parameters + training_memory(net, 512, linearized=False)


def _binary_net(name: str, dataset: str, width: int) -> NetworkProfile:
    channels, side = BINARY_IMAGE_SHAPES[dataset]
    return network_profile(name, channels, side, 1, width)


def _fit_binary(net: NetworkProfile, n: int, n_test: int, epochs: int, linearized: bool) -> float:
    """``linearization.fit_binary``: ``epochs`` over ``n`` images (batch 128, SGD with momentum)
    and the predictions on the test and training images."""
    from ...experiments.linearization import BATCH_SIZE

    return (training_work(net, epochs * n, epochs * math.ceil(n / BATCH_SIZE), linearized)
            + inference_work(net, n_test + n, linearized))


def linearization_cost(sizes: dict) -> list[PartCost]:
    """Chapter 4 (``notebooks/04_linearization.py``), per model of ``models`` on ``dataset``:
    ``linearization.ntk_spectrum`` (the empirical NTK on ``N = n_train + n_test`` images with
    ``GRAM_MEMORY_BUDGET`` for the Jacobians, and ``eigh``; or Lanczos, ``eigen_solver="lanczos"``),
    ``eigen_task_sweep`` (per task a
    network and its linearization, the two kernels of ``after_indices``, the tracked task's
    kernel on ``probe_size`` images after every epoch for both fits), ``rayleigh_growth`` (the
    trained network's Gram matrix, or vector-Jacobian passes with Lanczos) and
    ``rbf_control_rows``; then ``real_task_sweep`` on each of
    ``real_datasets`` (seeds x sizes, ``epochs_for_steps(real_steps, n)``, network and
    linearization). Left out: ``with_batch_statistics`` (one forward pass), loading the data."""
    from ...experiments.linearization import BATCH_SIZE, GRAM_MEMORY_BUDGET, epochs_for_steps

    s = sizes
    lanczos = s.get("eigen_solver", "dense") == "lanczos"
    n_train, n_test, epochs = s["n_train"], s["n_test"], s["epochs"]
    pooled = n_train + n_test
    tasks = [k for k in s["eigen_indices"] if k <= pooled]
    after = [k for k in s["after_indices"] if k in tasks]
    channels, side = BINARY_IMAGE_SHAPES[s["dataset"]]
    spectra, fits, tracked, rayleigh = [], [], [], []
    for name in s["models"]:
        net = _binary_net(name, s["dataset"], s["resnet_width"])
        if lanczos:
            count = min(max([*tasks, s["rayleigh_count"]]), pooled - 1)
            spectra.append(_lanczos(net, pooled, count, checked=len({1, *tasks, count})))
            rayleigh.append(_rayleigh_passes(net, pooled, min(s["rayleigh_count"], count)))
        else:
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
    # the control: one kernel and one factorisation for every model's tasks; at most two N x n_train
    # matrices (cdist's product and result), or the kernel with the training block's copy and factor
    pixels = channels * side * side
    control = [(matmul_work(pooled, n_train, pixels, True) + elementwise_work(pooled * n_train, 4, True)
                + cholesky_solve_work(n_train, len(tasks) * len(s["models"]))
                + matmul_work(pooled, n_train, len(tasks) * len(s["models"]), True),
                FLOAT64 * max(2 * pooled * n_train, pooled * n_train + 2 * n_train ** 2))]
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
        PartCost("NTK spectra: empirical Gram matrices and eigh", *combined(spectra),
                 "models x (N Jacobians (more when blocked) x 3 forwards + N^2 P / 2 contraction "
                 "+ 18 N^3 eigh)") if not lanczos else
        PartCost("NTK spectra: Lanczos on NTK-vector products", *combined(spectra),
                 "models x 2.6 (2 count + 1) products x N x 6 forwards"),
        PartCost("eigen-tasks: networks and linearizations", *combined(fits),
                 "models x (tasks x (3 + 7) + after x 2 x 7) forwards x epochs x n_train"),
        PartCost("eigen-tasks: the tracked kernel", *combined(tracked),
                 "models x (epochs + 1) x Gram matrices of probe_size images, network and linearization"),
        PartCost("alignment: the trained network's Gram matrix", *combined(rayleigh),
                 "models x the Gram matrix of N images again") if not lanczos else
        PartCost("alignment: Rayleigh quotients by vector-Jacobian products", *combined(rayleigh),
                 "models x 2 x rayleigh_count x N x 3 forwards"),
        PartCost("RBF control", *combined(control), "N n_train pixels distances + n_train^3 / 3, once for all models"),
        PartCost("real tasks: networks and linearizations", *combined(real),
                 "datasets x models x sizes x seeds x (3 + 7) forwards x epochs x n"),
    ]


