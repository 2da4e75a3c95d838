"""Build claims from a measured number, a comparison and a threshold fixed in advance.

The criterion text is written from the same comparison and threshold that decide the verdict
(the threshold shown to 3 significant digits), so the two cannot disagree. Every threshold in ``lsa_utils.claims`` carries a one-line ``reason``: the
paper's number and a stated tolerance, or a statistical argument.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

from ..run.results import Claim

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
}


def _number(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) < 1e-3 or abs(x) >= 1e5:
        return f"{x:.2g}".replace("e-0", "e-").replace("e+0", "e")
    return f"{x:.3g}"


def compare(measured: float, op: str, threshold: Any) -> tuple[bool, str]:
    """Whether ``measured op threshold`` holds, and the criterion as text.

    ``op`` is one of ``>=``, ``<=``, ``>``, ``<``, or ``between`` (inclusive, ``threshold`` a
    pair) or ``strictly between`` (exclusive). A NaN measurement never holds.
    """
    measured = float(measured)
    if op in ("between", "strictly between"):
        low, high = (float(t) for t in threshold)
        if op == "between":
            return (not math.isnan(measured) and low <= measured <= high), f"in [{_number(low)}, {_number(high)}]"
        return (not math.isnan(measured) and low < measured < high), f"in ({_number(low)}, {_number(high)})"
    if op not in _COMPARE:
        raise ValueError(f"op={op!r} is not allowed; allowed: {', '.join([*_COMPARE, 'between', 'strictly between'])}")
    return (not math.isnan(measured) and _COMPARE[op](measured, float(threshold))), f"{op} {_number(float(threshold))}"


def _claim(kind: str, claim: str, measured: float, op: str, threshold: Any, **fields: Any) -> Claim:
    passed, criterion = compare(measured, op, threshold)
    return Claim(claim=claim, measured=measured, criterion=criterion, passed=passed, kind=kind, **fields)


def paper_claim(claim: str, measured: float, op: str, threshold: Any, *, source: str, reason: str,
                paper_value: str = "", expected: bool = True, expected_when: str = "") -> Claim:
    """A statement the paper makes, measured here. ``source``: where in the paper (figure,
    theorem, section); ``paper_value``: the paper's own number, where it gives one;
    ``reason``: why the threshold is what it is."""
    return _claim("paper", claim, measured, op, threshold, source=source, reason=reason,
                  paper_value=paper_value, expected=expected, expected_when=expected_when)


def check(claim: str, measured: float, op: str, threshold: Any, *, reason: str = "",
          expected: bool = True, expected_when: str = "") -> Claim:
    """A property that holds by construction, or a sanity check: shown, never counted as
    reproducing a paper."""
    return _claim("check", claim, measured, op, threshold, reason=reason, expected=expected,
                  expected_when=expected_when)


def finding(claim: str, measured: float, op: str, threshold: Any, *, source: str, paper_value: str,
            reason: str, expected: bool = True, expected_when: str = "") -> Claim:
    """Where we measure something other than the paper: the criterion states the difference
    (so ``passed`` says whether this run still shows it), ``reason`` the reason we see."""
    return _claim("finding", claim, measured, op, threshold, source=source, paper_value=paper_value,
                  reason=reason, expected=expected, expected_when=expected_when)

