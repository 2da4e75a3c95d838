"""The GPU check (lsa_utils.run.gpu_check): the comparison with the CPU runs, the kernels' size
search, the refusal without CUDA, and the whole script on the CPU against the smoke runs."""

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lsa_utils.experiments import kernel_speed
from lsa_utils.experiments.kernel_speed import largest_gram_within, our_gram, torch_lenet
from lsa_utils.kernels import empirical_ntk
from lsa_utils.run.gpu_check import (
    DEVICE_DRAW, SAME_DRAW, Tolerance, compare_claims, gpu_check, recorded_claims_problems, reference_run,
)
from lsa_utils.run.paths import executed_notebook_path, output_root, project_root, results_path

TOL = Tolerance(0.05, 0.02, "test")


def claim(text, measured, passed=True, expected=True, kind="paper"):
    return {"claim": text, "measured": measured, "passed": passed, "expected": expected, "kind": kind}


def by_claim(rows):
    return {r["claim"]: r for r in rows}


def test_compare_claims_agreement_rules():
    reference = [claim("a", 0.50), claim("b", 0.50), claim("c", 0.50), claim("d", 0.1, passed=False),
                 claim("e", float("nan"), expected=False), claim("case (a): speedup", 12.0),
                 claim("f", float("nan")), claim("only cpu", 1.0)]
    run = [claim("a", 0.52), claim("b", 0.60), claim("c", 0.50, passed=False), claim("d", 0.1, passed=False),
           claim("e", 0.3), claim("case (a): speedup", 2.0), claim("f", float("nan")), claim("only gpu", 1.0),
           claim("only gpu too", 1.0)]  # one more than the reference: paired by text
    rows = by_claim(compare_claims(run, reference, TOL))
    assert rows["a"]["agrees"] is True and rows["a"]["allowed"] == pytest.approx(0.02 + 0.05 * 0.5)
    assert rows["b"]["agrees"] is False and rows["b"]["note"] == "values differ by more than the tolerance"
    assert rows["b"]["difference"] == pytest.approx(0.1)
    assert rows["c"]["agrees"] is False and rows["c"]["note"] == "verdicts differ"
    assert rows["d"]["agrees"] is True  # the same failure on both devices agrees
    assert rows["e"]["agrees"] is None and rows["e"]["note"] == "expected in the GPU run only"
    assert rows["case (a): speedup"]["agrees"] is None  # a speed depends on the device
    assert rows["f"]["agrees"] is True  # two NaNs (an undefined statistic on both devices)
    assert rows["only gpu"]["agrees"] is None and rows["only cpu"]["agrees"] is None
    assert rows["only cpu"]["note"] == "recorded by the CPU run only"
    # a NaN on one device only is a disagreement; a claim only the CPU run could measure (a package
    # the GPU machine lacks) is not compared, and the chapter fails if nothing else is
    rows = by_claim(compare_claims([claim("x", float("nan")), claim("y", float("nan"), expected=False)],
                                   [claim("x", 0.4), claim("y", 0.3)], TOL))
    assert rows["x"]["agrees"] is False
    assert rows["y"]["agrees"] is None and rows["y"]["note"] == "expected in the CPU run only"


def test_comparison_status_needs_something_compared():
    from lsa_utils.run.gpu_check import comparison_status

    none = compare_claims([claim("a", 0.1, expected=False)], [claim("a", 0.1, expected=False)], TOL)
    assert comparison_status(none) == ("not compared", 0, 0)
    one = compare_claims([claim("a", 0.1), claim("f", 0.9, kind="finding")],
                         [claim("a", 0.1), claim("f", 0.1, kind="finding")], DEVICE_DRAW)
    assert comparison_status(one) == ("agrees", 1, 0)  # the finding differs, but is not counted here
    only_findings = compare_claims([claim("f", 0.1, kind="finding")], [claim("f", 0.1, kind="finding")], DEVICE_DRAW)
    assert comparison_status(only_findings) == ("not compared", 0, 0)
    unmeasured = compare_claims([claim("a", float("nan"), expected=False)], [claim("a", 0.1)], TOL)
    assert comparison_status(unmeasured) == ("not compared", 0, 0)
    assert comparison_status(compare_claims([claim("a", 0.5)], [claim("a", 0.1)], TOL)) == ("disagrees", 1, 1)


def test_every_chapter_has_a_tolerance_looser_where_the_device_draws_the_samples():
    from lsa_utils.run.chapters import CHAPTERS
    from lsa_utils.run.gpu_check import TOLERANCES

    assert set(TOLERANCES) == set(CHAPTERS)
    assert DEVICE_DRAW.rtol > SAME_DRAW.rtol and DEVICE_DRAW.atol >= SAME_DRAW.atol
    assert SAME_DRAW.findings_count and not DEVICE_DRAW.findings_count
    assert {n for n, t in TOLERANCES.items() if t is DEVICE_DRAW} == {"lsa", "gaussian_mixture"}


def test_recorded_claims_problems():
    assert recorded_claims_problems([]) == ["no claims recorded"]
    assert recorded_claims_problems([claim("a", 0.1), claim("b", float("nan"), expected=False)]) == []
    assert recorded_claims_problems([claim("a", float("nan"))]) == ["claim without a number: a"]


def _write_reference(root, name, device="cpu (2 threads)", parameters=None, plan=None):
    path = root / "results" / name / "smoke.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"environment": {"device": device}, "parameters": parameters or {"seed": 0, "device": "cpu", "n": 3},
            "claims": [claim("a", 0.5)], "values": {"data_plan": plan} if plan else {}}
    path.write_text(json.dumps(data))
    return path


def test_reference_run_refuses_what_is_not_comparable(tmp_path):
    params = {"seed": 0, "device": "cuda", "n": 3}
    data, why = reference_run("x", params, tmp_path)
    assert data is None and "does not exist" in why and "LSA_DEVICE=cpu make smoke" in why
    _write_reference(tmp_path, "x", device="cuda (NVIDIA H200)")
    assert "ran on cuda" in reference_run("x", params, tmp_path)[1]
    _write_reference(tmp_path, "x", parameters={"seed": 0, "device": "cpu", "n": 4})
    assert "other parameters (n)" in reference_run("x", params, tmp_path)[1]
    _write_reference(tmp_path, "x", plan={"sizes": {"n": 3}, "fell_back": []})
    data, why = reference_run("x", params, tmp_path, {"values": {"data_plan": {"sizes": {"n": 3}, "fell_back": ["mnist"]}}})
    assert data is None and "other data" in why
    data, why = reference_run("x", params, tmp_path, {"values": {"data_plan": {"sizes": {"n": 3}, "fell_back": []}}})
    assert data is not None and why == ""


def test_output_root_moves_results_and_notebooks_only(monkeypatch, tmp_path):
    monkeypatch.setenv("LSA_OUTPUT_ROOT", str(tmp_path))
    assert output_root() == tmp_path.resolve()
    assert results_path("lsa", "smoke") == tmp_path.resolve() / "results" / "lsa" / "smoke.json"
    assert executed_notebook_path("01_lsa", "smoke").parent == tmp_path.resolve() / "executed" / "smoke"
    assert project_root() != tmp_path.resolve()  # the sources stay where they are


def test_largest_gram_within_doubles_until_the_budget_and_stops_at_out_of_memory(monkeypatch):
    row = largest_gram_within("g", torch.device("cpu"), torch.float64, budget_s=0.5, start=8, max_inputs=64)
    ns = [s["n"] for s in row["sizes"]]
    assert ns == [8 * 2**i for i in range(len(ns))] and row["largest_n"] == ns[-1]
    assert "largest size asked for" in row["stopped"] or "would take" in row["stopped"]
    assert row["dtype"] == "float64" and row["case"].startswith("(g)")

    real = kernel_speed.our_gram

    def failing(case, n, device, dtype=torch.float32):
        if n >= 32:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return real(case, n, device, dtype)

    monkeypatch.setattr(kernel_speed, "our_gram", failing)
    row = largest_gram_within("g", torch.device("cpu"), torch.float32, budget_s=60, start=8)
    assert row["largest_n"] == 16 and row["stopped"] == "out of memory at 32 inputs"


def test_a_one_time_cost_is_timed_again(monkeypatch):
    """The first call at a size that compiles (here: sleeps 1 s once) is timed a second time."""
    calls = []

    def gram(case, n, device, dtype=torch.float32):
        def fn():
            calls.append(n)
            if n == 32 and calls.count(32) == 1:
                time.sleep(1.0)
        return fn

    monkeypatch.setattr(kernel_speed, "our_gram", gram)
    row = largest_gram_within("g", torch.device("cpu"), torch.float32, budget_s=30, start=8, max_inputs=64)
    at_32 = next(s for s in row["sizes"] if s["n"] == 32)
    assert at_32["first_call_seconds"] >= 1.0 and at_32["seconds"] < 0.5 and calls.count(32) == 2
    assert [s["n"] for s in row["sizes"]] == [8, 16, 32, 64] and calls.count(8) == 2  # warm-up + timed
    assert calls.count(16) == 1 and calls.count(64) == 1  # sizes without a one-time cost run once
    # the one-time cost is not charged to the budget: 0.5 s of budget still reaches 64 inputs
    calls.clear()
    row = largest_gram_within("g", torch.device("cpu"), torch.float32, budget_s=0.5, start=8, max_inputs=64)
    assert [s["n"] for s in row["sizes"]] == [8, 16, 32, 64]


def test_our_gram_without_neural_tangents_is_a_gram_matrix():
    k = our_gram("c", 6, torch.device("cpu"), torch.float64)()
    assert k.shape == (6, 6) and k.dtype == torch.float64
    assert torch.allclose(k, k.T) and torch.linalg.eigvalsh(k).min() > -1e-8 * k.abs().max()
    x = torch.as_tensor(kernel_speed.case_inputs("c", 6)).permute(0, 3, 1, 2).double()
    assert torch.allclose(k, empirical_ntk(torch_lenet(2, torch.float64), x), rtol=1e-10)


def test_cuda_gets_an_index():
    from lsa_utils.run.gpu_check import with_index

    assert with_index(torch.device("cuda")) == torch.device("cuda", 0)
    assert with_index(torch.device("cuda:1")) == torch.device("cuda", 1)
    assert with_index(torch.device("cpu")) == torch.device("cpu")


def test_the_deadline_skips_later_chapters_and_the_record_is_written_after_each_part(monkeypatch, tmp_path):
    """A fake clock: each chapter takes 400 s, the deadline is 570 s. The first and second start
    (at 0 and 400 s), the third would start at 800 s and is skipped; the kernels, past the
    deadline, are skipped too. The record after the first chapter was incomplete."""
    from lsa_utils.run import gpu_check as module

    clock = [1000.0]
    seen = []

    def chapter(name, device, seed, runs_root, reference):
        seen.append(json.loads((tmp_path / "cpu.json").read_text()) if (tmp_path / "cpu.json").exists() else None)
        clock[0] += 400
        return {"part": f"chapter {name}", "chapter": name, "status": "agrees", "seconds": 400.0, "compared": 1,
                "disagreeing": 0}

    monkeypatch.setattr(module, "chapter_part", chapter)
    monkeypatch.setattr(module.time, "perf_counter", lambda: clock[0])
    record = gpu_check("cpu", chapters=["lazy_vs_rich", "lsa", "kernels"], cases=["g"], dtypes=("float32",),
                       out=tmp_path, deadline_s=570)
    assert [p["status"] for p in record["parts"]] == ["agrees", "agrees", "skipped", "failed"]
    assert record["parts"][3]["skipped"] == ["(g) float32"] and record["parts"][3]["rows"] == []
    assert record["failing"] == ["chapter kernels", "kernels"] and not record["passed"] and record["complete"]
    partial = seen[1]  # as written after the first chapter
    assert partial["complete"] is False and partial["passed"] is False
    assert partial["pending"] == ["chapter lsa", "chapter kernels", "kernels"]


def test_bad_arguments_are_refused_before_anything_runs(tmp_path):
    for kwargs, message in ((dict(device="auto"), "name it"), (dict(device="cpu", deadline_s=0), "deadline_s=0"),
                            (dict(device="cpu", dtypes=()), "dtypes=\\(\\) is not allowed"),
                            (dict(device="cpu", chapters=["nope"]), "chapter"), (dict(device="cpu", cases=["z"]), "case"),
                            (dict(device="cpu", dtypes=("float16",)), "dtype")):
        with pytest.raises(ValueError, match=message):
            gpu_check(out=tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the check would run")
def test_the_check_refuses_at_once_without_cuda():
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lsa_utils", "gpu-check"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], env={**os.environ, "LSA_DEVICE": ""},
                          timeout=120)
    assert proc.returncode == 2
    assert "sees no CUDA GPU" in proc.stderr and "--device cpu" in proc.stderr
    assert time.perf_counter() - start < 30  # before any chapter or kernel runs


@pytest.mark.slow
def test_the_check_on_cpu_agrees_with_the_smoke_run(smoke_root, tmp_path, capsys):
    """The whole script on the CPU, one chapter and two kernel cases: the chapter reruns on the
    same device and seed, so every claim must agree (the values are equal); the kernels' record
    has its sizes; the record is written, complete."""
    root, _ = smoke_root
    record = gpu_check("cpu", chapters=["lazy_vs_rich"], cases=["g", "c"], dtypes=("float32",),
                       bench_budget_s=1.0, out=tmp_path, reference=root)
    assert record["passed"] and record["complete"], record["failing"]
    chapter, kernels = record["parts"]
    assert chapter["status"] == "agrees" and chapter["compared"] >= 4 and chapter["disagreeing"] == 0
    assert all(r["difference"] == 0 for r in chapter["comparison"] if r["agrees"])
    assert chapter["peak_memory_bytes"]["host"] > 100e6 and chapter["peak_memory_bytes"]["device"] is None
    assert (tmp_path / "runs" / "results" / "lazy_vs_rich" / "smoke.json").is_file()
    assert kernels["status"] == "ran" and [r["case"][:3] for r in kernels["rows"]] == ["(g)", "(c)"]
    assert all(r["largest_n"] >= 8 and math.isfinite(r["seconds_at_largest"]) for r in kernels["rows"])
    assert "make bench" in kernels["neural_tangents"]
    saved = json.loads((tmp_path / "cpu.json").read_text())
    assert saved["passed"] and len(saved["parts"]) == 2
    assert "passed" in capsys.readouterr().out


def test_the_record_as_markdown():
    from lsa_utils.run.gpu_check import gpu_check_markdown

    assert "No GPU check has run yet" in gpu_check_markdown(None)
    record = {"device": "cuda (NVIDIA H200)", "torch": "2.11.0+cu130", "cuda": "13.0", "started": "2026-12-02T08:00:00",
              "commit": "abc", "passed": False, "failing": ["chapter lsa"], "seconds": 420.0, "parts": [
                  {"part": "chapter lsa", "status": "disagrees", "compared": 9, "disagreeing": 2, "seconds": 61.0,
                   "peak_memory_bytes": {"device": 3 * 2**30, "host": 1}, "reference_seconds": 80.0},
                  {"part": "kernels", "seconds": 200.0, "neural_tangents": "neural-tangents does not import (...)",
                   "peak_memory_bytes": {"device": 2**31},
                   "rows": [{"name": "(a) Conv", "dtype": "float32", "largest_n": 4096, "seconds_at_largest": 9.5,
                             "inputs_in_a_minute_estimated": 10294, "stopped": "the next size ...",
                             "sizes": [{"n": 4096, "seconds": 9.5, "peak_device_memory_bytes": 2**31}]}]}]}
    text = gpu_check_markdown(record)
    assert "**failed**: chapter lsa" in text and "disagrees (7 of 9 claims)" in text
    assert "| 61 s | 3.00 GiB | 80 s |" in text
    assert "| (a) Conv | float32 | 4,096 | 9.50 s | 10,294 | 2.00 GiB |" in text
    assert "neural-tangents: neural-tangents does not import" in text


def test_claims_pair_by_position_and_findings_count_only_where_the_draw_is_the_same():
    """Claim texts may quote measured numbers: equal-length lists pair by position. A finding that
    differs fails a same-draw chapter, and is only shown in a device-draw chapter."""
    reference = [claim("share 0.5 of K = 32", 0.5, kind="finding"), claim("paper", 0.1)]
    run = [claim("share 1.0 of K = 32", 1.0, kind="finding"), claim("paper", 0.1)]
    for tolerance, counted in ((SAME_DRAW, True), (DEVICE_DRAW, False)):
        finding, paper = compare_claims(run, reference, tolerance)
        assert finding["reference"] == 0.5 and finding["agrees"] is False and finding["counted"] is counted
        assert paper["agrees"] is True and paper["counted"] is True
