"""A chapter's recorded numbers: claims with measured values, written atomically as JSON.

``results/<chapter>/<scale>.json`` holds ``{"chapter", "scale", "parameters", "values",
"claims": [{"claim", "measured", "criterion", "passed", "expected", "expected_when", "kind",
"source", "paper_value", "reason"}], "environment", "run"}``; the
executor adds ``run`` (wall time, cache key) after a successful execution. Tests and the
scorecard page read these files.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


KINDS = ("paper", "check", "finding")


@dataclass
class Claim:
    """One claim, the number measured for it, the criterion, and whether it held.

    ``kind`` says what the claim is worth:

    - ``paper``: a statement the paper makes; ``source`` names where (figure, table, theorem,
      section) and ``paper_value`` the paper's own number, where it gives one. Only these count
      as "reproduced".
    - ``check``: a property that holds by construction, or a sanity check. Shown and tested,
      never counted as reproducing a paper.
    - ``finding``: where we measure something other than the paper. ``paper_value`` and
      ``measured`` are both numbers, ``reason`` is the reason we see, and ``passed`` says whether
      this run still shows the difference (the criterion states it).

    ``reason`` says why the threshold is what it is (the paper's number and a tolerance, or a
    statistical argument); thresholds are fixed before a run, in ``lsa_utils.claims``.

    ``expected`` is False when the run's sizes or data are not those the claim is stated for
    (a smoke-scale run of an effect that needs thousands of samples, or a claim about MNIST run
    on the digits fallback): the claim is still measured and shown, but the scorecard and the
    tests do not count it. ``expected_when`` says in words where it is expected ("from 10,000
    steps", "on real MNIST"); the scorecard shows it next to a claim that is not expected.
    """

    claim: str
    measured: float
    criterion: str
    passed: bool
    expected: bool = True
    expected_when: str = ""
    kind: str = "paper"
    source: str = ""
    paper_value: str = ""
    reason: str = ""

    def __post_init__(self) -> None:
        self.measured = float(self.measured)
        self.passed = bool(self.passed) and self.measured == self.measured  # NaN never passes
        self.expected = bool(self.expected)
        self.expected_when = str(self.expected_when)
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r} is not allowed; allowed: {', '.join(KINDS)}")
        if self.kind == "paper" and not self.source:
            raise ValueError(f"paper claim {self.claim!r} needs a source (figure, theorem or section)")
        if self.kind != "check" and not self.reason:
            raise ValueError(f"{self.kind} claim {self.claim!r} needs a reason for its threshold")


def verdict(claim: dict[str, Any]) -> str:
    """The scorecard's word for a recorded claim: ``pass``, ``FAIL``, for a finding whether the
    run still shows it, or, for a claim not expected in this run, whether it held and where it
    is expected."""
    where = claim.get("expected_when") or "at a larger scale"
    if claim.get("kind", "paper") == "finding":
        if not claim.get("expected", True):
            return f"{'seen' if claim['passed'] else 'not seen'}; not expected here, only {where}"
        return "seen in this run" if claim["passed"] else "not seen in this run"
    if claim.get("expected", True):
        return "pass" if claim["passed"] else "FAIL"
    return f"{'holds' if claim['passed'] else 'not met'}; not expected here, only {where}"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, then rename.

    A reader sees either the old file or the complete new one, never a partial write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def jsonable(value: Any) -> Any:
    """Turn numpy/torch scalars and arrays, tuples and non-finite floats into plain JSON."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(jsonable(data), indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    with open(path) as f:
        return json.load(f)


def claims_payload(claims: list[Claim]) -> list[dict[str, Any]]:
    return [asdict(c) for c in claims]
