"""Chapter 4's claims: Ortiz-Jiménez et al. 2021, what linearized networks say about generalization.

Values (``results/linearization/<scale>.json``): ``eigen_tasks`` (records: model, k, kind
"network"/"linearized", test_accuracy, ...); ``kernel_target_alignment`` ("<model>, <kind>" ->
centered KTA on the probe images after every epoch); ``rayleigh`` (model -> ``gain``, the growth
A_T(phi_j) / lambda_j of the trained network's NTK along the leading initial eigenvectors, and
``init_error``, max |A_0(phi_j) - lambda_j| / lambda_1); ``real_tasks`` (records: dataset, model,
n, network, linearized); ``real_data`` (False on the digits fallback).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..run.results import Claim
from .core import check, paper_claim
from .stats import spearman_p_greater, spearman_rho

MODEL_NAMES = {"mlp": "MLP 100-100", "lenet": "LeNet"}
PAPER = "Ortiz-Jiménez et al. 2021"
ALPHA = 0.05  # one-sided significance level of the rank tests
# Below 2,000 test images, 2 standard errors of a paired accuracy gap exceed 0.032, more than the
# gaps of a few points these small runs produce: too little power to count the sign claim.
# (Set after the smoke run, 500 test images, found no significant gap of either sign.)
POWERED_TEST_SIZE = 2000


def accuracies_by_task(records: list[dict], model: str, kind: str) -> list[float]:
    """Test accuracies of one model and kind ("network" / "linearized") over the tasks, in order of k."""
    rows = sorted((r for r in records if r["model"] == model and r["kind"] == kind), key=lambda r: r["k"])
    return [r["test_accuracy"] for r in rows]


def claims(values: dict[str, Any], params: dict[str, Any]) -> list[Claim]:
    real = bool(values["real_data"])
    on_real = f"on real {params['dataset']}"
    k = params["tracked_index"]
    out = []
    for model in params["models"]:
        name = MODEL_NAMES.get(model, model)
        net = accuracies_by_task(values["eigen_tasks"], model, "network")
        lin = accuracies_by_task(values["eigen_tasks"], model, "linearized")
        rho, p_rank = spearman_rho(net, lin), spearman_p_greater(net, lin)
        out.append(paper_claim(
            f"{name}: network and linearization rank the {len(net)} eigenfunction tasks alike "
            f"(Spearman rho = {rho:.2f}; one-sided p-value)", p_rank, "<=", ALPHA,
            source=f"{PAPER}, abstract (linear approximations can rank the learning complexity of tasks)",
            paper_value="same ranking; no coefficient given",
            reason=f"significant at {ALPHA:.0%} (exact permutation test over the orderings of the tasks)",
            expected=real and len(net) >= 5, expected_when=f"{on_real} with at least 5 tasks"))
        kta = values["kernel_target_alignment"][f"{model}, network"]
        out.append(paper_claim(
            f"{name}, task {k}: the network's kernel-target alignment after / before training",
            kta[-1] / kta[0], ">=", 1.5,
            source=f"{PAPER}, abstract of v1 (deep networks increase the alignment of their NTK with the task)",
            paper_value="alignment increases",
            reason="the paper states a direction; a rise by half, fixed before the default run (the "
                   "linearization's cannot move, check below)", expected=real, expected_when=on_real))
        lin_kta = values["kernel_target_alignment"][f"{model}, linearized"]
        out.append(check(
            f"{name}, task {k}: largest change of the linearization's alignment", max(abs(v - lin_kta[0]) for v in lin_kta),
            "<=", 1e-5, reason="its NTK is J(θ0)J(θ0)ᵀ by construction; 1e-5 is float32 round-off over the Gram sums"))
        gain = np.asarray(values["rayleigh"][model]["gain"], dtype=float)
        rank = int((gain >= gain[k - 1]).sum())  # ties count against the trained direction
        out.append(paper_claim(
            f"{name}, task {k}: rank of the growth of A(φ_{k}) among the {len(gain)} leading directions "
            f"({gain[k - 1] / np.median(np.delete(gain, k - 1)):.1f}x the median growth)",
            rank, "<=", max(1, int(ALPHA * len(gain))),
            source=f"{PAPER}, Sec. on alignment (the official code plots A(φ_j) after training against j)",
            paper_value="a spike at the trained index",
            reason=f"top {ALPHA:.0%}: p <= {ALPHA} if all directions grew alike (heuristic: the directions are "
                   "not exactly exchangeable, the growth is divided by different λ_j)",
            expected=real, expected_when=on_real))
        out.append(check(
            f"{name}: max |A(φ_j) - λ_j| / λ_1 at initialisation", values["rayleigh"][model]["init_error"], "<=", 1e-10,
            reason="a Rayleigh quotient along an eigenvector is its eigenvalue; 1e-10 is far above float64 "
                   "eigensolver error N·ε·λ_1"))
    # a paired difference of two accuracies on n test images has standard error at most sqrt(2 * 0.25 / n)
    se = (2 * 0.25 / params["real_test"]) ** 0.5
    gaps = [r["network"] - r["linearized"] for r in values["real_tasks"]]
    wins, losses = sum(g > 2 * se for g in gaps), sum(g < -2 * se for g in gaps)
    out.append(paper_claim(
        f"real tasks: the network does not always beat its linearization (settings with a gap beyond 2 standard "
        f"errors: {wins} for the network, {losses} for the linearization, of {len(gaps)}; the smaller count)",
        min(wins, losses), ">=", 1,
        source=f"{PAPER}, abstract (networks do not always perform better than their kernel approximations; the "
               "gap depends on architecture, data set size and task)",
        paper_value="the gap takes both signs",
        reason=f"a significant gap of each sign, 2 standard errors = {2 * se:.3f} on {params['real_test']:,} test "
               f"images; counted from {POWERED_TEST_SIZE:,} test images, a condition set after the smoke run "
               "(500) found no significant gap",
        expected=real and params["real_test"] >= POWERED_TEST_SIZE,
        expected_when=f"{on_real} with real_test >= {POWERED_TEST_SIZE:,} (scale default)"))
    return out
