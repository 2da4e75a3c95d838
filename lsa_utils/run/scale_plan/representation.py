"""The cost of chapter 2: one gradient step learns a representation (``lsa_utils.run.scale_plan``)."""

from __future__ import annotations

from collections.abc import Iterable

from .units import (
    FLOAT64,
    PartCost,
    repeated,
    combined,
    eigh_work,
    elementwise_work,
    embedding_work,
    features_ridge_memory,
    features_ridge_work,
    kernel_ridge_work,
    matmul_work,
    random_work,
    start_up,
)

HERMITE_TARGET_OPS = 30.0  # data.multi_index: the degree-4 link on the r projections, per sample
FLOOR_CHUNK = 16384  # representation.feature_floor's samples per chunk
PREPROCESS_TARGETS = 2  # the notebook compares the chapter's target and its linear part


def _run_methods(n: int, d: int, m: int, n_val: int, n_test: int, methods: Iterable[str],
                 fixed_features: int = 0, floor_samples: int = 0) -> tuple[float, float]:
    """``representation.run_methods``: the draw of ``n + n_val + n_test`` samples; for the
    network the gradient step (two ``n x d x m`` products) and its ridge; random features' ridge;
    the NTK's kernel ridge; each fixed feature set's ridge; ``feature_floor``."""
    from ...data.multi_index import SOURCE_LINK

    evaluated = n_val + n_test
    costs = [(random_work((n + evaluated) * d, True) + matmul_work(n + evaluated, SOURCE_LINK.r, d, True)
              + elementwise_work(n + evaluated, HERMITE_TARGET_OPS, True), FLOAT64 * (n + evaluated) * d)]
    features = (features_ridge_work(n, d, m, evaluated), features_ridge_memory(n, d, m))
    for method in methods:
        if method == "network":
            costs += [(matmul_work(m, d, n, True) * 2 + elementwise_work(n * m, 3, True), 0.0), features]
        elif method == "random features":
            costs.append(features)
        elif method == "NTK":
            costs.append(kernel_ridge_work(n, d, evaluated))
    costs += [features] * fixed_features
    if floor_samples:
        width = m + d + 1
        costs.append((random_work(floor_samples * d, True) + embedding_work(floor_samples, d, m)
                      + matmul_work(width, width, floor_samples, True) + 2 * eigh_work(width)
                      + 2 * embedding_work(evaluated, d, m),
                      FLOAT64 * (3 * width * width + FLOOR_CHUNK * width)))
    return combined(costs)


def representation_cost(sizes: dict) -> list[PartCost]:
    """Chapter 2 (``notebooks/02_representation.py``), float64 throughout:
    ``representation.sample_complexity`` (every d, seed and n of ``sample_sizes``, the NTK while
    ``n <= kernel_max_n``), ``representation_scaling.preprocessing_comparison`` (2 targets x
    seeds x factors x with/without step 0, the network only), ``transfer_across_d`` (per d and
    seed a source step on ``n_source_factor d^2`` samples, then every method and the transferred
    features at each target size) and ``width_step_sweep`` (network and random features with
    ``feature_floor``). Left out: the representation metrics (an SVD of ``m x d``), the fresh
    readout of one sweep point, the figures."""
    from ...experiments.representation import METHODS
    from ...experiments.representation_scaling import sample_sizes

    s = sizes
    n_val, n_test, m, seeds = s["n_val"], s["n_test"], s["m"], s["seeds"]
    network_rf, ntk = [], []
    for d in s["d_values"]:
        for n in sample_sizes(d, s["n_points"], s["n_max_factor"]):
            network_rf.append(_run_methods(n, d, m, n_val, n_test, METHODS[:2]))
            if n <= s["kernel_max_n"]:
                ntk.append(kernel_ridge_work(n, d, n_val + n_test))
    network_rf = [repeated(seeds, c) for c in network_rf]
    ntk = [repeated(seeds, c) for c in ntk]
    d = s["preprocess_d"]
    runs = PREPROCESS_TARGETS * 2 * s["preprocess_seeds"]  # with and without step 0
    preprocess = [repeated(runs, _run_methods(int(f * d * d), d, m, n_val, n_test, ("network",)))
                  for f in s["preprocess_n_factors"]]
    transfer = []
    for d in s["transfer_d_values"]:
        n_source = int(s["n_source_factor"] * d * d)
        source = (random_work(n_source * d, True) + 2 * matmul_work(m, d, n_source, True),
                  FLOAT64 * n_source * (d + 1))
        targets = [_run_methods(n, d, m, n_val, n_test, METHODS, fixed_features=1) for n in s["n_targets"]]
        transfer.append(repeated(s["transfer_seeds"], combined([source, *targets])))
    d, n = s["sweep_d"], s["sweep_n_factor"] * s["sweep_d"] ** 2
    sweep = [repeated(s["sweep_seeds"] * len(s["row_norms"]),
                    _run_methods(n, d, width, n_val, n_test, METHODS[:2], floor_samples=s["floor_samples"]))
             for width in s["widths"]]
    return [
        start_up(),
        PartCost("sample complexity: network and random features", *combined(network_rf),
                 "seeds x sum over d, n of (4 n d m step + 2 x (2 n d m + 2 n m^2 + 18 m^3 "
                 "+ 2 (n_val+n_test) d m)), float64"),
        PartCost("sample complexity: NTK ridge", *combined(ntk),
                 "seeds x sum over n <= kernel_max_n of (n^2 + n (n_val+n_test)) x (2d + 17 ops) "
                 "+ 18 n^3 eigh"),
        PartCost("preprocessing comparison", *combined(preprocess),
                 "2 targets x 2 x preprocess_seeds x network at n = f d^2"),
        PartCost("transfer across d", *combined(transfer),
                 "transfer_seeds x sum over d of (a step on n_source_factor d^2 samples + every method and the "
                 "transferred features at each n_target)"),
        PartCost("width and step sweep (with the features' floor)", *combined(sweep),
                 "sweep_seeds x row_norms x sum over widths of (network + random features "
                 "+ floor on floor_samples)"),
    ]


