"""Lazy public names for a package (PEP 562).

A package's ``__init__.py`` lists ``_EXPORTS = {"name": "package.module", ...}`` as a literal
dict and calls ``lazy_exports``; ``import package`` then imports nothing else, and
``package.name`` imports its module on first use. Keeping the table a literal also lets the
chapter cache (``lsa_utils.run.cache``) see which module a public name comes from without
importing anything.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` serving the names of ``exports``."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
