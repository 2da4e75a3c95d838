"""The cost model of every chapter (``lsa_utils.run.scale_plan``): calibrated at ``default`` only,
it must predict the measured ``smoke`` time; work and memory must grow with the scale; the paper
scale's memory must fit one GPU or be said not to; one cost function is checked by hand.

Nothing here runs a chapter: the cost functions count from the sizes (and build networks on the
meta device to count their flops).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lsa_utils.run import scale_plan as sp
from lsa_utils.run.scale_plan import units
from lsa_utils.run.chapters import CHAPTERS, SCALES

# The model, calibrated on each chapter's measured default time, predicts its measured smoke time
# within this factor. Measured ratios (predicted / measured) when written: lazy_vs_rich 0.95,
# lsa 0.98, representation 1.04, gaussian_mixture 0.76, linearization 1.03, kernels 1.09.
SMOKE_FACTOR = 1.5


def _peak(name: str, scale: str) -> float:
    return max(p.memory_bytes for p in sp.chapter_cost(name, CHAPTERS[name].sizes(scale)))


@pytest.mark.parametrize("name", list(CHAPTERS))
def test_default_calibration_predicts_the_measured_smoke_time(name):
    predicted = sp.estimate(name, "smoke")["cpu_seconds"]
    measured = CHAPTERS[name].measured_s["smoke"]
    ratio = predicted / measured
    print(f"{name}: smoke predicted {predicted:.0f} s, measured {measured:.0f} s, ratio {ratio:.2f}")
    assert 1 / SMOKE_FACTOR <= ratio <= SMOKE_FACTOR


@pytest.mark.parametrize("name", list(CHAPTERS))
def test_calibration_reproduces_the_default_time_and_parts_add_up(name):
    e = sp.estimate(name, "default", gpu_speedup=100)
    assert e["cpu_seconds"] == pytest.approx(CHAPTERS[name].measured_s["default"], rel=1e-9)
    assert sum(p["cpu_seconds"] for p in e["parts"]) == pytest.approx(e["cpu_seconds"], rel=1e-9)
    assert e["gpu_seconds"] == pytest.approx(e["fixed_seconds"] + (e["cpu_seconds"] - e["fixed_seconds"]) / 100)
    assert e["fixed_seconds"] == units.START_UP_SECONDS  # the start-up is not sped up
    assert e["peak_memory_bytes"] == max(p["memory_bytes"] for p in e["parts"])
    assert sp.estimate(name, "default")["gpu_seconds"] is None
    assert "measured at scale default" in e["calibration"]


@pytest.mark.parametrize("name", list(CHAPTERS))
def test_work_and_memory_grow_from_smoke_to_default_to_paper(name):
    works = [sp.total_work(sp.chapter_cost(name, CHAPTERS[name].sizes(scale))) for scale in SCALES]
    memories = [_peak(name, scale) for scale in SCALES]
    assert SCALES == ("smoke", "default", "paper")
    assert 0 < works[0] <= works[1] <= works[2]
    assert 0 < memories[0] <= memories[1] <= memories[2]


def test_paper_peak_memory_fits_one_h200_or_the_table_says_it_does_not():
    rows = {line.split("|")[1].strip(): line.split("|") for line in sp.paper_table().splitlines()[2:]}
    assert set(rows) == set(CHAPTERS)
    for name in CHAPTERS:
        peak = sp.estimate(name, "paper")["peak_memory_bytes"]
        print(f"{name}: paper peak memory {peak / 1e9:.2f} GB")
        assert math.isfinite(peak) and peak > 0
        fits = rows[name][6].strip()
        assert fits == ("yes" if peak <= sp.H200_MEMORY_BYTES else "no")


def test_lazy_vs_rich_cost_by_hand():
    # 2 parameterizations x 1 seed x 10 steps; per step and width m: 12 float64 passes over the
    # n x m = 2m activations (in cache) and 40 dispatched torch ops
    sizes = dict(n_train=2, widths=[2, 4], seeds=1, steps=10, lr=0.5)
    start, sweep = sp.lazy_vs_rich_cost(sizes)
    per_step = [2 * m * 12 * units.IN_CACHE_OP * units.FLOAT64_COST + 40 * units.TORCH_OP for m in (2, 4)]
    assert start.name == "start-up" and start.work == 0 and start.fixed_seconds == units.START_UP_SECONDS
    assert sweep.work == pytest.approx(2 * 1 * 10 * sum(per_step))
    # with today's constants: 20 x (576 + 1152 + 2 x 12,800,000) units
    assert sweep.work == pytest.approx(20 * (576 + 1152 + 2 * 12_800_000))
    # the largest width's test forward (3 x 200 x m float64) and its parameters (4 x 3 m)
    assert sweep.memory_bytes == 8 * 4 * (3 * 200 + 12)


def test_basic_operation_counts():
    assert units.matmul_work(2, 3, 4) == 48
    assert units.matmul_work(2, 3, 4, float64=True) == 48 * units.FLOAT64_COST
    assert units.eigh_work(10) == 9 * 1000 * units.FLOAT64_COST
    assert units.cholesky_solve_work(3, 2) == (9 + 36) * units.FLOAT64_COST
    assert units.symmetric_pairs(4) == 10
    assert units.elementwise_work(1000, 2) == 2000 * units.IN_CACHE_OP
    assert units.elementwise_work(10**7, 1) == 10**7 * units.STREAMED_OP  # 40 MB: past the caches
    assert units.seconds_work(2) == 2 * sp.CPU_FLOPS_PER_SECOND


def test_network_profile_counts_the_forward_flops():
    # SimpleCNN on MNIST canvases: conv 1 -> 8 (3x3, stride 2: 20x20), conv 8 -> 16 (9x9), dense 1296 -> 10
    flops = 2 * (8 * 9 * 400 + 16 * 72 * 81 + 1296 * 10)
    profile = units.network_profile("simple_cnn", 1, 42, 10, 1)
    assert profile.forward_flops == flops
    assert profile.parameters == (8 * 9 + 8) + (16 * 72 + 16) + (1296 * 10 + 10)


def test_estimate_rejects_an_unknown_chapter_or_scale():
    with pytest.raises(ValueError, match=r"chapter='nope' is not allowed; choose one of: 'lazy_vs_rich'"):
        sp.estimate("nope", "smoke")
    allowed = r"choose one of: 'smoke', 'default', 'paper'"
    with pytest.raises(ValueError, match=rf"scale='huge' is not allowed; {allowed}"):
        sp.estimate("lsa", "huge")
    with pytest.raises(ValueError, match=r"chapter='nope'"):
        sp.chapter_cost("nope", {})


def test_paper_table_has_a_row_per_chapter_and_the_assumed_speedups():
    table = sp.paper_table()
    print(table)
    lines = table.splitlines()
    assert len(lines) == 2 + len(CHAPTERS)
    low, high = sp.ASSUMED_GPU_SPEEDUPS
    assert f"one GPU at {low}x to {high}x" in lines[0]


def test_the_readme_shows_the_current_paper_plan():
    """The README's table is what the model gives today (rerun `python -m lsa_utils plan` and
    paste it when the sizes or the model change)."""
    readme = Path(__file__).resolve().parents[1] / "README.md"  # not project_root(): LSA_ROOT may be a copy
    assert sp.paper_table() in readme.read_text()


def test_the_plan_command_prints_the_table_and_a_chapter_part_by_part(capsys):
    from lsa_utils.run.cli import main

    assert main(["plan"]) == 0
    assert capsys.readouterr().out.strip() == sp.paper_table()
    assert main(["plan", "lazy_vs_rich", "--scale", "smoke"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("lazy_vs_rich at smoke:") and "| start-up |" in out
    assert main(["plan", "nope"]) == 2
