"""Each chapter's claims, computed from its recorded values by a tested function.

``chapter_claims(name, values, params)`` calls ``lsa_utils.claims.<name>.claims``: the
chapter's claims with their kind (``paper``, ``check``, ``finding``), the paper's source and
number, and thresholds fixed here, in code, before the run they judge, each with its reason. ``claims_markdown``
renders them for the scorecard page and for the end of the chapter.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..run.results import Claim
from .core import check, compare, finding, paper_claim
from .render import claims_markdown, tally

__all__ = ["chapter_claims", "check", "claims_markdown", "compare", "finding", "paper_claim", "tally"]


def chapter_claims(name: str, values: dict[str, Any], params: dict[str, Any]) -> list[Claim]:
    """The claims of chapter ``name`` from its recorded ``values`` and run ``params``."""
    from ..run.chapters import get_chapter

    get_chapter(name)  # fails with the list of chapters on an unknown name
    module = importlib.import_module(f"{__name__}.{name}")
    return module.claims(values, params)
