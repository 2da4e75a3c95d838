"""Early, explicit checks of user input.

Every check raises ``ValueError`` whose message names the parameter, the value it got and what
is allowed, so that a bad ``-p`` override or notebook parameter stops at once with a clear reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise naming ``name`` and the options."""
    allowed = list(allowed)
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name}={value!r} is not allowed; choose one of: {options}")
    return value


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an int if it is a whole number >= 1, else raise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} is not allowed; it must be a whole number >= 1")
    return value


def check_positive_ints(name: str, values: Any) -> list[int]:
    """Return a non-empty list of whole numbers >= 1, else raise naming the bad entry."""
    if isinstance(values, int | str) or not isinstance(values, Iterable):
        raise ValueError(f"{name}={values!r} is not allowed; it must be a list of whole numbers >= 1")
    values = list(values)
    if not values:
        raise ValueError(f"{name}=[] is not allowed; it must list at least one whole number >= 1")
    for v in values:
        check_positive_int(f"{name} entry", v)
    return values


def check_positive_float(name: str, value: Any, allow_zero: bool = False) -> float:
    """Return ``value`` as a float if it is > 0 (or >= 0 with ``allow_zero``), else raise."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok:
        ok = value >= 0 if allow_zero else value > 0
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}={value!r} is not allowed; it must be a number {bound}")
    return float(value)
