"""Chapter 0's claims: lazy (NTK) and rich (mean-field) training of a two-layer network.

Values (``results/lazy_vs_rich/<scale>.json``): ``widths`` and, per parameterization, the
mean over seeds of the relative first-layer weight change and of the distance to the NTK
predictor, one entry per width.
"""

from __future__ import annotations

from typing import Any

from ..experiments.lazy_vs_rich import loglog_slope
from ..run.results import Claim
from .core import check, paper_claim

# The exponents are the theory's; +-0.15 on a slope fitted over widths 32 to 16,384 (a factor
# of 512) is an error of a factor 512^0.15 = 2.5 across the whole range, which covers the
# finite-width corrections at the smallest widths and the spread of 3 seeds.
SLOPE_TOLERANCE = 0.15


def claims(values: dict[str, Any], params: dict[str, Any]) -> list[Claim]:
    widths = values["widths"]
    widest = max(widths)
    at_widest = widths.index(widest)
    w_ntk, w_mf = values["weight_change_ntk"], values["weight_change_mean_field"]
    d_ntk, d_mf = values["distance_to_kernel_ntk"], values["distance_to_kernel_mean_field"]
    slope_w_ntk, slope_w_mf = loglog_slope(widths, w_ntk), loglog_slope(widths, w_mf)
    slope_d_ntk = loglog_slope(widths, d_ntk)
    tol = SLOPE_TOLERANCE
    return [
        paper_claim(
            "NTK parameterization: the relative first-layer weight change falls like m^-1/2 (fitted slope)",
            slope_w_ntk, "between", (-0.5 - tol, -0.5 + tol),
            source="Jacot et al. 2018; Chizat et al. 2019 (the lazy regime: each weight moves O(m^-1/2))",
            paper_value="exponent -1/2",
            reason=f"the theory's exponent +-{tol}: a factor 2.5 over the widths' range"),
        paper_claim(
            "NTK parameterization: the network converges to the NTK predictor as m grows (slope of the distance)",
            slope_d_ntk, "<=", -0.25,
            source="Jacot et al. 2018, Thm. 2 (the NTK stays constant during training as m -> infinity)",
            paper_value="distance O(m^-1/2)",
            reason="at least half the theory's exponent: convergence, at a rate the finite widths may blur"),
        paper_claim(
            "mean-field parameterization: the weights move O(1), not shrinking with width (fitted slope)",
            slope_w_mf, "between", (-tol, tol),
            source="Mei, Montanari and Nguyen 2018 (mean-field limit: the neurons move O(1)); Chizat et al. 2019",
            paper_value="exponent 0",
            reason=f"the theory's exponent +-{tol}, as for the NTK slope"),
        check(f"mean-field over NTK weight change at m = {widest:,}",
              w_mf[at_widest] / w_ntk[at_widest], ">=", 10,
              reason=f"a consequence of the two exponents (sqrt(m) = {widest**0.5:.0f} here); 10 leaves room for constants"),
        check(f"mean-field over NTK distance to the kernel predictor at m = {widest:,}",
              d_mf[at_widest] / d_ntk[at_widest], ">=", 3,
              reason="the rich network leaves the kernel predictor, the lazy one does not"),
    ]
