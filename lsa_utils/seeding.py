"""Seeds for the independent random draws of a chapter, derived from its one ``seed``.

Sums such as ``seed + i`` make two draws of one chapter (or the same draw of two runs with
neighbouring seeds) reuse each other's random stream. ``numpy.random.SeedSequence`` hashes the
whole tuple of coordinates instead, so distinct tuples give unrelated seeds.
"""

from __future__ import annotations

import numpy as np


def derived_seed(*parts: int) -> int:
    """A 32-bit seed for one draw, from the chapter's seed and the draw's coordinates (a code for
    the draw's purpose, d, repetition, n, ...), by ``numpy.random.SeedSequence``.

    SeedSequence pads short entropy with zeros, so tuples that differ only by trailing zeros
    (``(0, 5)`` and ``(0, 5, 0)``) give the same seed: callers keep a fixed number of parts per
    purpose, or put the number of parts among them, as ``draw_seed`` does."""
    if not parts:
        raise ValueError("derived_seed needs at least one integer")
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])
