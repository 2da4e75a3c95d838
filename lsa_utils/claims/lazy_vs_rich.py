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

# The exponents are the theory's; the tolerances were fixed before the default run: +-0.15 on
# the NTK slope (finite-width corrections at the smallest widths) and +-0.10 on the mean-field
# slope. Over widths spanning a factor R, a slope error e is a factor R^e across the range; the
# reasons below give it for the widths of the run.
NTK_SLOPE_TOLERANCE = 0.15
MEAN_FIELD_SLOPE_TOLERANCE = 0.10


def claims(values: dict[str, Any], params: dict[str, Any]) -> list[Claim]:
    widths = values["widths"]
    widest = max(widths)
    at_widest = widths.index(widest)
    w_ntk, w_mf = values["weight_change_ntk"], values["weight_change_mean_field"]
    d_ntk, d_mf = values["distance_to_kernel_ntk"], values["distance_to_kernel_mean_field"]
    slope_w_ntk, slope_w_mf = loglog_slope(widths, w_ntk), loglog_slope(widths, w_mf)
    slope_d_ntk = loglog_slope(widths, d_ntk)
    tol, tol_mf = NTK_SLOPE_TOLERANCE, MEAN_FIELD_SLOPE_TOLERANCE
    span = widest / min(widths)
    return [
        paper_claim(
            "NTK parameterization: the relative first-layer weight change falls like m^-1/2 (fitted slope)",
            slope_w_ntk, "between", (-0.5 - tol, -0.5 + tol),
            source="Chizat et al. 2019 (lazy training); Lee et al. 2019, Thm. 2.1 (weights move O(m^-1/2))",
            paper_value="exponent -1/2",
            reason=f"the theory's exponent +-{tol}: a factor {span ** tol:.1f} over the widths' range of {span:,.0f}"),
        paper_claim(
            "NTK parameterization: the network converges to the NTK predictor as m grows (slope of the distance)",
            slope_d_ntk, "<=", -0.25,
            source="Jacot et al. 2018, Thm. 2 (the limit); Lee et al. 2019, Thm. 2.1 (the rate, O(m^-1/2))",
            paper_value="distance O(m^-1/2)",
            reason="at least half the theory's exponent: convergence, at a rate the finite widths may blur"),
        paper_claim(
            "mean-field parameterization: the weights move O(1), not shrinking with width (fitted slope)",
            slope_w_mf, "between", (-tol_mf, tol_mf),
            source="Mei, Montanari and Nguyen 2018 (mean-field limit: the neurons move O(1)); Chizat et al. 2019",
            paper_value="exponent 0",
            reason=f"the theory's exponent +-{tol_mf}: a factor {span ** tol_mf:.1f} over the widths' range"),
        check(f"mean-field over NTK weight change at m = {widest:,}",
              w_mf[at_widest] / w_ntk[at_widest], ">=", 10,
              reason=f"a consequence of the two exponents (sqrt(m) = {widest**0.5:.0f} here); 10 leaves room for constants"),
        check(f"mean-field over NTK distance to the kernel predictor at m = {widest:,}",
              d_mf[at_widest] / d_ntk[at_widest], ">=", 3,
              reason="the rich network leaves the kernel predictor, the lazy one does not"),
    ]
