"""One rendering of a chapter's claims, used by the scorecard page and by each chapter's end.

Per chapter: the paper claims expected in this run, with source, the paper's number, ours, the
criterion and its reason, and the verdict, under "reproduced k of n paper claims at this
scale"; the paper claims not expected at this scale, apart, with where they are expected; the
findings (the paper's number, ours, why they differ); the checks, folded.
"""

from __future__ import annotations

from typing import Any

from ..run.results import verdict


def _fmt(x: float | None) -> str:
    if x is None or x != x:  # a NaN measurement is stored as null
        return "n/a"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e4):
        return f"{x:.2e}"
    return f"{x:.3g}"


def _cell(text: Any) -> str:
    """``text`` safe inside a Markdown table cell: ``|`` (as in ``||w||``) is escaped."""
    return str(text).replace("|", "\\|").replace("\n", " ") or "–"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines + [""]


def tally(claims: list[dict[str, Any]]) -> dict[str, int]:
    """Counts for a scorecard: paper claims expected in this run and how many held, paper
    claims not expected here, findings, checks and how many held."""
    paper = [c for c in claims if c.get("kind", "paper") == "paper"]
    counted = [c for c in paper if c.get("expected", True)]
    checks = [c for c in claims if c.get("kind") == "check" and c.get("expected", True)]
    return {
        "paper": len(counted), "paper_passed": sum(bool(c["passed"]) for c in counted),
        "paper_not_expected": len(paper) - len(counted),
        "findings": sum(c.get("kind") == "finding" for c in claims),
        "checks": len(checks), "checks_passed": sum(bool(c["passed"]) for c in checks),
    }


def _criterion(c: dict[str, Any]) -> str:
    return f"{c['criterion']} ({c['reason']})" if c.get("reason") else c["criterion"]


def claims_markdown(claims: list[dict[str, Any]], scale: str) -> str:
    """The scorecard of one chapter as MyST Markdown (tables and a folded admonition)."""
    t = tally(claims)
    paper = [c for c in claims if c.get("kind", "paper") == "paper"]
    counted = [c for c in paper if c.get("expected", True)]
    later = [c for c in paper if not c.get("expected", True)]
    findings = [c for c in claims if c.get("kind") == "finding"]
    checks = [c for c in claims if c.get("kind") == "check"]
    lines = [f"**Reproduced {t['paper_passed']} of {t['paper']} paper claims at scale `{scale}`.**", ""]
    if counted:
        lines += _table(
            ["paper claim", "source", "paper", "ours", "criterion (why)", "result"],
            [[c["claim"], c.get("source", ""), c.get("paper_value", ""), _fmt(c["measured"]), _criterion(c),
              "**FAIL**" if verdict(c) == "FAIL" else verdict(c)] for c in counted],
        )
    if later:
        lines += [f"Paper claims not expected at scale `{scale}` (measured, not counted):", ""]
        lines += _table(
            ["paper claim", "source", "paper", "ours", "criterion (why)", "expected", "here"],
            [[c["claim"], c.get("source", ""), c.get("paper_value", ""), _fmt(c["measured"]), _criterion(c),
              c.get("expected_when") or "at a larger scale", "holds" if c["passed"] else "not met"]
             for c in later],
        )
    if findings:
        lines += ["Findings, where we measure something other than the paper:", ""]
        lines += _table(
            ["finding", "source", "paper", "ours", "criterion", "why", "this run"],
            [[c["claim"], c.get("source", ""), c.get("paper_value", ""), _fmt(c["measured"]), c["criterion"],
              c.get("reason", ""), verdict(c)] for c in findings],
        )
    if checks:
        lines += [f"```{{admonition}} Checks: {t['checks_passed']} of {t['checks']} hold "
                  "(by construction or sanity; not counted as reproducing the paper)",
                  ":class: dropdown", ""]
        lines += _table(
            ["check", "ours", "criterion (why)", "result"],
            [[c["claim"], _fmt(c["measured"]), _criterion(c),
              "**FAIL**" if verdict(c) == "FAIL" else verdict(c)] for c in checks],
        )
        lines += ["```", ""]
    return "\n".join(lines)
