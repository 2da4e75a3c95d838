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


def _accuracies(records: list[dict], model: str, kind: str) -> list[float]:
    rows = sorted((r for r in records if r["model"] == model and r["kind"] == kind), key=lambda r: r["k"])
    return [r["test_accuracy"] for r in rows]


def claims(values: dict[str, Any], params: dict[str, Any]) -> list[Claim]:
    real = bool(values["real_data"])
    on_real = f"on real {params['dataset']}"
    k = params["tracked_index"]
    out = []
    gaps = []
    for model in params["models"]:
        name = MODEL_NAMES.get(model, model)
        net = _accuracies(values["eigen_tasks"], model, "network")
        lin = _accuracies(values["eigen_tasks"], model, "linearized")
        gaps += [a - b for a, b in zip(net, lin)]
        rho, p_rank = spearman_rho(net, lin), spearman_p_greater(net, lin)
        out.append(paper_claim(
            f"{name}: network and linearization rank the {len(net)} eigenfunction tasks alike "
            f"(Spearman rho = {rho:.2f}; one-sided p-value)", p_rank, "<=", ALPHA,
            source=f"{PAPER}, Sec. 3 (abstract: linear approximations rank the learning complexity of tasks)",
            paper_value="same ranking; no coefficient given",
            reason=f"significant at {ALPHA:.0%} (exact permutation test); with 5 tasks only a perfect ranking is",
            expected=real and len(net) >= 5, expected_when=f"{on_real} with at least 5 tasks"))
        kta = values["kernel_target_alignment"][f"{model}, network"]
        out.append(paper_claim(
            f"{name}, task {k}: the network's kernel-target alignment after / before training",
            kta[-1] / kta[0], ">", 1,
            source=f"{PAPER}, Sec. 4 (networks increase the alignment of their NTK with the task)",
            paper_value="alignment increases",
            reason="the paper states a direction; the linearization's stays fixed (check below), so any rise is "
                   "the kernel moving", expected=real, expected_when=on_real))
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
            source=f"{PAPER}, Sec. 4 (the trained NTK's energy concentrates on the trained eigenfunction)",
            paper_value="a spike at the trained index",
            reason=f"top {ALPHA:.0%}: p <= {ALPHA} if all directions grew alike (exchangeable ranks)",
            expected=real, expected_when=on_real))
        out.append(check(
            f"{name}: max |A(φ_j) - λ_j| / λ_1 at initialisation", values["rayleigh"][model]["init_error"], "<=", 1e-10,
            reason="a Rayleigh quotient along an eigenvector is its eigenvalue; 1e-10 is far above float64 "
                   "eigensolver error N·ε·λ_1"))
    gaps += [r["network"] - r["linearized"] for r in values["real_tasks"]]
    out.append(paper_claim(
        "the network does not always beat its linearization: share of (task, model) settings, eigenfunction "
        "and real tasks, where the network's test accuracy is higher", float(np.mean(np.asarray(gaps) > 0)),
        "strictly between", (0, 1),
        source=f"{PAPER}, abstract and Sec. 5 (networks do not always perform better than their kernel approximations)",
        paper_value="the gap changes sign with architecture, data size and task",
        reason="the paper's statement: the gap takes both signs", expected=real, expected_when=on_real))
    return out
