"""Chapter 2's claims: Damian, Lee and Soltanolkotabi 2022, one gradient step learns span(U).

Values (``results/representation/<scale>.json``): ``mse`` (records: d, n and the mean test MSE
of "network", "random features", "NTK"); ``energy`` ("d,n" -> mean energy of W1 in span(U));
``transfer_by_seed`` (records: rep, n, "transfer" and the other methods' test MSE on the
second target); ``degree_p_share`` (the share of the target's variance in its degree-p part);
``r``, ``degree``.

The paper has no experiments: its statements are theorems (sample complexities), so the
thresholds here come from the target's construction and the theorems' orders, not from numbers
the paper plots.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..run.results import Claim
from .core import check, paper_claim

PAPER = "Damian et al. 2022"
ALPHA = 0.05


def _paired_t_p_less(log_ratios: np.ndarray) -> float:
    """One-sided p-value that the mean of ``log_ratios`` is below 0 (paired t-test over seeds)."""
    from scipy.stats import ttest_1samp

    if len(log_ratios) < 2:
        return float("nan")
    return float(ttest_1samp(log_ratios, 0.0, alternative="less").pvalue)


def claims(values: dict[str, Any], params: dict[str, Any]) -> list[Claim]:
    r, p_deg = values["r"], values["degree"]
    share = values["degree_p_share"]
    big_d = max(params["d_values"])
    n_claim = 4 * big_d**2
    at = next(row for row in values["mse"] if row["d"] == big_d and row["n"] == n_claim)
    floor = share * (1 - n_claim / big_d**p_deg)
    energies = {tuple(int(v) for v in key.split(",")): e for key, e in values["energy"].items()}
    at_d = sorted((n, e) for (d, n), e in energies.items() if d == big_d)
    energy_low, energy_high = at_d[0][1], at_d[-1][1]
    n_high = at_d[-1][0]
    n_transfer = 8 * r**p_deg
    rows = [row for row in values["transfer_by_seed"] if row["n"] == n_transfer]
    others = [m for m in ("network", "random features", "NTK")]
    log_ratios = np.array([np.log(row["transfer"] / min(row[m] for m in others)) for row in rows])
    mean_ratio = float(np.exp(log_ratios.mean())) if len(rows) else float("nan")
    kernel_lb = (f"{PAPER}, Sec. 1 (kernels need n ≍ d^p samples, the lower bound of Ghorbani et al. 2021)")
    return [
        paper_claim(f"d = {big_d}, n = 4d² = {n_claim:,}: the NTK's test MSE stays above the degree-{p_deg} part",
                    at["NTK"], ">=", floor, source=kernel_lb,
                    paper_value=f"no kernel learns the degree-{p_deg} part before n ≍ d^{p_deg}",
                    reason=f"the degree-{p_deg} share of the target's variance, {share:.3f}, times 1 - n/d^{p_deg}"),
        paper_claim(f"d = {big_d}, n = 4d² = {n_claim:,}: random features' test MSE stays above the degree-{p_deg} part",
                    at["random features"], ">=", floor, source=kernel_lb,
                    paper_value=f"no kernel learns the degree-{p_deg} part before n ≍ d^{p_deg}",
                    reason=f"as for the NTK: random features are a kernel method with fixed features"),
        paper_claim(f"d = {big_d}, n = 4d² = {n_claim:,}: the network's test MSE is below the kernels' floor",
                    at["network"], "<", share,
                    source=f"{PAPER}, Thm. 1 (one step then ridge learns f* from n ≍ d²r + dr^p samples)",
                    paper_value=f"learns f* from n ≍ d²r + dr^p = {big_d**2 * r + big_d * r**p_deg:,} here",
                    reason=f"below the degree-{p_deg} share {share:.3f}: it has learned part of what no kernel can at this n"),
        check(f"d = {big_d}: energy of W1 in span(U) at n = d", energy_low, "<", 0.5,
              reason=f"with n = d the step is mostly noise; a random row has energy r/d = {r / big_d:.3f}"),
        paper_claim(f"d = {big_d}: energy of W1 in span(U) at n = {n_high:,}", energy_high, ">=", 0.7,
                    source=f"{PAPER}, Sec. 4 (the step's gradient concentrates on span(U), the learned representation)",
                    paper_value="W1 ≈ η H W0 with H supported on span(U)",
                    reason=f"most of the energy, ten times the random level r/d; 1 is not reached at finite d (the "
                           "own-direction part of relative size sqrt(r/d) stays)"),
        paper_claim(f"transfer at n = 8 r^p = {n_transfer}: transferred features beat every other method "
                    f"(geometric mean MSE ratio {mean_ratio:.2f} over {len(rows)} seeds; one-sided p-value)",
                    _paired_t_p_less(log_ratios), "<=", ALPHA,
                    source=f"{PAPER}, Sec. 5 (transfer: target sample complexity independent of d)",
                    paper_value="O(r^p) target samples, no d dependence",
                    reason=f"paired t-test over seeds on log(MSE ratio) at {ALPHA:.0%}; the theorem gives the order "
                           "r^p, not its constant",
                    expected=n_transfer in params["n_targets"] and len(rows) >= 3,
                    expected_when=f"when n_targets contains 8 r^p = {n_transfer} and transfer_seeds >= 3"),
    ]
