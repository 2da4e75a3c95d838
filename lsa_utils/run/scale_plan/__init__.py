"""Plan a chapter's scale without running it: its work and memory from the sizes, its time from
measured per-unit costs.

For every chapter of ``lsa_utils.run.chapters`` a cost function maps the sizes of a scale (as
``Chapter.sizes(scale)`` returns them, or a data plan's sizes) to its major parts (``PartCost``):
the dominant work of each, in **work units**, and the largest set of arrays it holds at once.

Work units are floating-point operations counted roughly, as flop-equivalents of a float32 matrix
product on the 2-core CPU the chapters were timed on:

- a matrix product ``(m x k) @ (k x n)``: ``2 m n k`` (``matmul_work``); an eigendecomposition
  ``EIGH_FLOPS n^3``, a Cholesky solve ``n^3 / 3``; float64 counts ``FLOAT64_COST`` times float32;
- an elementwise operation (one pass of an eager torch op over one element) costs what that time
  buys in matrix products: ``IN_CACHE_OP`` on tensors that stay in the caches, ``STREAMED_OP`` on
  larger ones; an operation of the kernel engine (as ``kernel_speed.count_operations`` counts
  them), ``FUSED_OP`` when ``torch.compile`` fuses it (large Gram matrices), else
  ``ENGINE_EAGER_OP``; a random normal number, ``RANDOM_DRAW``;
- a training step is 3 forward passes (forward and backward), a linearized network's 7 (its
  ``jvp`` and the backward pass through it), with the forward flops of each network counted by
  ``torch.utils.flop_counter`` on a model built from ``lsa_utils.models`` (``network_profile``);
- a torch operation also costs its dispatch, ``TORCH_OP`` (``TORCH_OP_SECONDS`` at the reference
  rate), which dominates the loops of small tensors (chapters 0 and 3);
- a chapter's kernel start-up (Jupyter kernel, imports, papermill, saving) is a part named
  ``"start-up"`` of ``START_UP_SECONDS`` at the reference rate ``CPU_FLOPS_PER_SECOND``.

The units and the basic costs are in ``units``; each chapter's cost function in a module of the
chapter's name (``lsa``, ``linearization``, ...). Each cost function's docstring names the experiment functions it counts and what it leaves out.

Time (``estimate``): each chapter's measured seconds at ``default`` (``Chapter.measured_s``) over
its work at ``default`` give that chapter's seconds per work unit; any scale's CPU seconds are its
work times that. The ``smoke`` time, not used for the calibration, tests the model
(``tests/test_scale_plan.py``). One factor per chapter absorbs the machine (chapters 1, 2 and 4
were timed on a Xeon with AVX-512, the others on the EPYC the rates below come from) and any
error common to the chapter's parts; what it cannot absorb is a wrong balance between parts whose
share changes with the scale. GPU seconds divide the CPU seconds by a speed-up that is assumed
(``ASSUMED_GPU_SPEEDUPS``), the same for every part: dispatch-bound loops (chapter 0's small
steps, chapter 3's one-sample SGD steps and ODEs) and float64 eigendecompositions gain less.
"""

from __future__ import annotations

from collections.abc import Callable

from ...validation import check_choice
from ..chapters import CHAPTERS, SCALES, get_chapter
from .gaussian_mixture import gaussian_mixture_cost
from .kernels import kernels_cost
from .lazy_vs_rich import lazy_vs_rich_cost
from .linearization import linearization_cost
from .lsa import lsa_cost
from .representation import representation_cost
from .units import ASSUMED_GPU_SPEEDUPS, CPU_FLOPS_PER_SECOND, H200_MEMORY_BYTES, PartCost

# ---- chapters, calibration, estimates -------------------------------------------------------------------
COST_FUNCTIONS: dict[str, Callable[[dict], list[PartCost]]] = {
    "lazy_vs_rich": lazy_vs_rich_cost,
    "lsa": lsa_cost,
    "representation": representation_cost,
    "gaussian_mixture": gaussian_mixture_cost,
    "linearization": linearization_cost,
    "kernels": kernels_cost,
}


def chapter_cost(name: str, sizes: dict) -> list[PartCost]:
    """The parts of chapter ``name`` at ``sizes``; raises ``ValueError`` naming the chapters."""
    check_choice("chapter", name, COST_FUNCTIONS)
    return COST_FUNCTIONS[name](sizes)


def total_work(parts: list[PartCost]) -> float:
    """The work of all ``parts``."""
    return sum(p.work for p in parts)


def fixed_seconds(parts: list[PartCost]) -> float:
    """The seconds of the ``parts`` that take a fixed time (the start-up)."""
    return sum(p.fixed_seconds or 0.0 for p in parts)


def seconds_per_work_unit(name: str) -> float:
    """The chapter's measured seconds at ``default``, less its fixed parts, over its work there."""
    chapter = get_chapter(name)
    parts = chapter_cost(name, chapter.sizes("default"))
    return (chapter.measured_s["default"] - fixed_seconds(parts)) / total_work(parts)


def estimate(name: str, scale: str, gpu_speedup: float | None = None) -> dict:
    """Work, peak memory and time of chapter ``name`` at ``scale`` (see the module docstring).

    Returns ``chapter``, ``scale``, ``parts`` (dicts with ``name``, ``work``, ``memory_bytes``,
    ``formula``, ``cpu_seconds``), ``work``, ``peak_memory_bytes`` (the largest part's),
    ``cpu_seconds``, ``seconds_per_work_unit``, ``gpu_seconds`` (the fixed parts' seconds plus the
    rest's CPU seconds over ``gpu_speedup``; ``None`` without a speed-up) and ``calibration`` (in
    words). Raises ``ValueError`` for an unknown chapter or scale.
    """
    chapter = get_chapter(name)
    check_choice("scale", scale, SCALES)
    rate = seconds_per_work_unit(name)
    parts = chapter_cost(name, chapter.sizes(scale))
    work, fixed = total_work(parts), fixed_seconds(parts)
    measured = chapter.measured_s["default"]
    default_parts = chapter_cost(name, chapter.sizes("default"))
    return {
        "chapter": name,
        "scale": scale,
        "parts": [dict(name=p.name, work=p.work, memory_bytes=p.memory_bytes, formula=p.formula,
                       cpu_seconds=(p.fixed_seconds or 0.0) + p.work * rate) for p in parts],
        "work": work,
        "peak_memory_bytes": max(p.memory_bytes for p in parts),
        "cpu_seconds": fixed + work * rate,
        "fixed_seconds": fixed,
        "seconds_per_work_unit": rate,
        "gpu_seconds": None if gpu_speedup is None else fixed + work * rate / gpu_speedup,
        "calibration": (f"({measured:g} s measured at scale default on 2 CPU cores - {fixed_seconds(default_parts):g} s "
                        f"start-up) / {total_work(default_parts):.3g} work units = {rate:.3g} s per unit "
                        f"({1 / rate / 1e9:.3g} G units/s against the nominal {CPU_FLOPS_PER_SECOND / 1e9:g})"),
    }


def _on_gpu(e: dict, speedup: float) -> float:
    """An ``estimate``'s seconds on a GPU ``speedup`` times faster than the CPU, fixed parts aside."""
    return e["fixed_seconds"] + (e["cpu_seconds"] - e["fixed_seconds"]) / speedup


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _dominant_parts(parts: list[dict], work: float, count: int = 2, least: float = 0.05) -> str:
    """The ``count`` parts with the most work, each with its share (those of at least ``least``)."""
    top = [p for p in sorted(parts, key=lambda p: -p["work"])[:count] if p["work"] >= least * work]
    return "; ".join(f"{p['name']} {p['work'] / work:.0%}" for p in top)


def paper_table() -> str:
    """A Markdown table of every chapter at ``paper``: work (1e12 units), peak memory (GB), the
    estimated CPU hours and one GPU's time at ``ASSUMED_GPU_SPEEDUPS``, whether the peak memory
    fits one H200, and the parts that dominate the work."""
    low, high = ASSUMED_GPU_SPEEDUPS
    rows = ["| chapter | paper work (1e12 units) | peak memory (GB) | CPU (h, 2 cores) | "
            f"one GPU at {low}x to {high}x | fits one H200 ({H200_MEMORY_BYTES / 1e9:.0f} GB) | dominant parts |",
            "|---|---|---|---|---|---|---|"]
    for name in CHAPTERS:
        e = estimate(name, "paper")
        peak = e["peak_memory_bytes"]
        fits = "yes" if peak <= H200_MEMORY_BYTES else "no"
        gpu = f"{_duration(_on_gpu(e, high))} to {_duration(_on_gpu(e, low))}"
        rows.append(f"| {name} | {e['work'] / 1e12:,.1f} | {peak / 1e9:.2f} | {e['cpu_seconds'] / 3600:,.1f} | "
                    f"{gpu} | {fits} | {_dominant_parts(e['parts'], e['work'])} |")
    return "\n".join(rows)


def part_table(e: dict) -> str:
    """One ``estimate`` as Markdown: a heading line with its totals, then a row per part (work,
    memory, estimated CPU time, formula)."""
    low, high = ASSUMED_GPU_SPEEDUPS
    rows = [f"{e['chapter']} at {e['scale']}: {e['work']:.3g} work units, peak memory "
            f"{e['peak_memory_bytes'] / 1e9:.2f} GB, CPU {_duration(e['cpu_seconds'])} on 2 cores, one GPU "
            f"{_duration(_on_gpu(e, high))} to {_duration(_on_gpu(e, low))} (assumed {low}x to {high}x); "
            f"calibration: {e['calibration']}", "",
            "| part | work (1e12) | memory (GB) | CPU time | formula |", "|---|---|---|---|---|"]
    rows += [f"| {p['name']} | {p['work'] / 1e12:,.3g} | {p['memory_bytes'] / 1e9:.3g} | {_duration(p['cpu_seconds'])} | "
             f"{p['formula']} |" for p in e["parts"]]
    return "\n".join(rows) + "\n"
