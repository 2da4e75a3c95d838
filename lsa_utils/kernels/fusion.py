"""Performance helpers of the kernel engine: fusion with ``torch.compile``, and the allocator.

Fusion. 
Each step of the kernel recursion is a handful of elementwise operations over a tensor with one
entry per pair of inputs (and pair of pixels). Run op by op, every operation is a full pass over
memory; compiled, the step is one fused loop (about 10x faster for a ReLU step on CPU). The
compilation costs about 20 s per step type the first time (then it is cached on disk by torch),
so it is used only for Gram computations with at least ``COMPILE_MIN_ENTRIES`` entries in all
(pairs of inputs times entries per pair). ``LSA_COMPILE=0`` turns it off, ``1`` forces it on.

Allocator. The engine allocates and frees many block-sized tensors. glibc hands every freed
block above its mmap threshold back to the operating system, and the next allocation pays a page
fault per 4 KiB page: on 2 cores that tripled the run time of the benchmark (a). On CPU the
engine therefore keeps each block tensor at ``CPU_BLOCK_BYTES`` (8 MiB), below 32 MiB (the largest
mmap threshold glibc accepts), and raises glibc's thresholds once (``keep_freed_memory``), so
freed blocks are reused.

``fused`` raises torch's dynamo recompile limit for the whole process (to ``RECOMPILE_LIMIT``).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

import torch

COMPILE_MIN_ENTRIES = 100_000_000
# one block tensor on CPU: below glibc's 32 MiB mmap limit, and small enough that a step's few
# tensors stay near the cores' caches (benchmark (b): 2.18 s at 8 MiB, 2.36 s at 24 MiB, 2.50 s at 2 MiB;
# after 056c389, on a 2-core AVX-512 EPYC, 16 MiB made (b) 11 % to 13 % faster per pair but
# (a), (d) to (g) 4 % to 70 % slower, two runs each, so it stays at 8)
CPU_BLOCK_BYTES = 8 * 1024**2
# graphs torch.compile keeps per fused function before it falls back to eager without a word:
# each layout, rank and zero-NTK case is one (torch's default of 8 was reached in one benchmark)
RECOMPILE_LIMIT = 64
_COMPILED: dict[Callable, Callable] = {}
_MALLOC_TUNED = False


def keep_freed_memory() -> None:
    """Raise glibc's mmap and trim thresholds (``mallopt``), once; a no-op off glibc."""
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    libc.mallopt(M_MMAP_THRESHOLD, 32 * 1024**2)
    libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)


def use_compiled(entries: int) -> bool:
    mode = os.environ.get("LSA_COMPILE", "auto")
    if mode == "0":
        return False
    return mode == "1" or entries >= COMPILE_MIN_ENTRIES


def fused(fn: Callable, enabled: bool, dynamic: bool | None = True) -> Callable:
    """``fn`` compiled (once per process) when ``enabled``, else ``fn`` itself. ``dynamic=True``
    compiles one graph for all shapes; ``None`` compiles the first shape as constants and makes
    only the dimensions that change dynamic (faster code where slicing depends on the shape)."""
    if not enabled:
        return fn
    if fn not in _COMPILED:
        config = torch._dynamo.config
        for name in ("recompile_limit", "cache_size_limit"):  # the name changed across torch versions
            if hasattr(config, name):
                setattr(config, name, max(getattr(config, name), RECOMPILE_LIMIT))
        _COMPILED[fn] = torch.compile(fn, dynamic=dynamic)
    return _COMPILED[fn]
