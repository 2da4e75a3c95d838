"""The cost of appendix: the kernels (``lsa_utils.run.scale_plan``)."""

from __future__ import annotations

import functools

from .units import (
    ENGINE_EAGER_OP,
    FLOAT32,
    FLOAT64,
    PartCost,
    precision_factor,
    engine_work,
    seconds_work,
    start_up,
    symmetric_pairs,
)

# kernel-engine ops per spatial entry of a pair and per layer: operations_per_pair gave 8 to 21 (mean
# 13) on the agreement architectures and case (a), counted once here
OPS_PER_ENTRY_AND_LAYER = 14.0
# neural-tangents' time per pair over our uncompiled engine's (it never gets our fusion): assumed.
# Our engine measured 6.4x to 9.6x faster on case (b) (git history; 12.5x once the first Conv's
# patches were cut once and fused with the ReLU, 056c389, not used here); the appendix's smoke and
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
    from ...experiments.kernel_checks import AGREEMENT_ARCHITECTURES
    from ...experiments.kernel_speed import ANALYTIC_CASES

    if name in AGREEMENT_ARCHITECTURES:
        spec, shape, parameterization = AGREEMENT_ARCHITECTURES[name]
    else:
        _, spec, shape, *_ = ANALYTIC_CASES[name]
        parameterization = "ntk"
    return spec, ((shape[-1], *shape[:-1]) if len(shape) == 3 else shape), parameterization


def _case_kernel(name: str):
    """Our ``SerialKernel`` of an architecture or case (``_architecture``)."""
    from ...kernels.composition import serial
    from ...kernels.reference import ours

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
    return ours + NEURAL_TANGENTS_COST * ENGINE_EAGER_OP * ops * n * n * precision_factor(float64)


def kernels_cost(sizes: dict) -> list[PartCost]:
    """The appendix (``notebooks/90_kernels.py``): ``kernel_checks.agreement_with_neural_tangents``
    (every architecture, NNGP and NTK, the Gram matrix of ``n_inputs`` inputs by both libraries
    in float64, and JAX's set-up per kernel function) and ``kernel_speed.time_case("a")`` (a warm-up
    and ``repeats`` runs of each library on ``bench_images`` images in float32, JAX's set-up and
    the operation count). Per pair: ``_pair_costs``. Memory: neural-tangents' ~6 intermediates
    over all pairs. Left out: reading the benchmark tables."""
    from ...experiments.kernel_checks import AGREEMENT_ARCHITECTURES

    n, b, runs = sizes["n_inputs"], sizes["bench_images"], 1 + sizes["repeats"]
    agreement = (2 * sum(_both_libraries(name, n, True) for name in AGREEMENT_ARCHITECTURES)
                 + seconds_work(NEURAL_TANGENTS_SETUP_SECONDS * 2 * len(AGREEMENT_ARCHITECTURES)))
    widest = max(_pair_costs(name)[1] for name in AGREEMENT_ARCHITECTURES)
    timing = (runs * _both_libraries("a", b, False)
              + seconds_work(NEURAL_TANGENTS_SETUP_SECONDS + OPERATION_COUNT_SECONDS))
    return [
        start_up(),
        PartCost("agreement with neural-tangents", agreement, FLOAT64 * 6 * n * n * widest,
                 "2 x sum over architectures of n_inputs^2 x ops per pair (ours / 2 + 8 x for "
                 "neural-tangents) + JAX set-up"),
        PartCost("timing of case (a)", timing, FLOAT32 * 6 * b * b * _pair_costs("a")[1],
                 "(1 + repeats) x b^2 x ops per pair (ours / 2, fused when large, + 8 x for neural-tangents) "
                 "+ JAX set-up + operation count"),
    ]


