"""The appendix's checks: the kernel engine against neural-tangents, and its speed.

Values (``results/kernels/<scale>.json``): ``agreement`` (records with ``max_rel_error``);
``timing_case_a`` (``speedup`` in this run); ``benchmarks`` (device -> ``rows`` with ``case``
and ``speedup``, from the last ``make bench``). None of this reproduces a paper: all are checks.
"""

from __future__ import annotations

from typing import Any

from ..run.results import Claim
from .core import check

CASE_A_TARGET = 20  # the engineering target of the first kernel-engine issue, for `make bench` case (a)
CONVOLUTIONAL_TARGET = 10  # the second's, for every analytic convolutional case of `make bench`
ANALYTIC_CONVOLUTIONAL = ("(a)", "(b)", "(d)", "(e)", "(f)")


def claims(values: dict[str, Any], params: dict[str, Any]) -> list[Claim]:
    missing = values.get("reference_missing")
    worst = max((row["max_rel_error"] for row in values["agreement"]), default=float("nan"))
    speedup = float("nan") if missing else values["timing_case_a"]["speedup"]
    unmeasured = {"expected": False, "expected_when": "neural-tangents is installed (Python 3.11)"} if missing else {}
    out = [
        check("analytic NNGP/NTK agree with neural-tangents (largest relative error, float64)", worst, "<=", 1e-5,
              reason="the tolerance of the test suite; both sides are closed-form recursions in float64", **unmeasured),
        check(f"case (a) on {params['bench_images']} images: lsa_utils is no slower than neural-tangents (speedup)",
              speedup, ">=", 1, reason="engineering target: never slower", **unmeasured),
    ]
    for device, bench in values.get("benchmarks", {}).items():
        for row in bench["rows"]:
            label = row["case"][:3]
            target = (CASE_A_TARGET if label == "(a)" else CONVOLUTIONAL_TARGET if label in ANALYTIC_CONVOLUTIONAL
                      else 1)
            out.append(check(f"make bench {label}: speedup over neural-tangents ({bench['device']})",
                             row["speedup"], ">=", target,
                             reason=f"engineering target{' of the kernel-engine issues' if target > 1 else ': never slower'}"))
    return out
