"""The GPU check: every chapter's CUDA path and the kernels' speed, in one command.

    make gpu-check                                      # = python -m lsa_utils gpu-check (CUDA)
    python -m lsa_utils gpu-check --device cpu --chapters lazy_vs_rich --bench-budget 2   # the script on CPU

On a CUDA machine it

1. runs every chapter at the ``smoke`` sizes on the GPU (``run_chapter`` with ``device``, its
   outputs under ``<out>/runs/`` so the CPU runs stay where they are), and checks for each that
   it finished, that it recorded its claims (each with a number, or not expected at these
   sizes), and that its claims agree with the CPU smoke run of the same seed
   (``<reference>/results/<chapter>/smoke.json``, what ``LSA_DEVICE=cpu make smoke`` writes):
   the same verdict for every claim both runs expect, and measured values within the chapter's
   ``TOLERANCES`` (below, with the reason for each); a claim only one run could measure is shown,
   not compared, and a chapter with nothing counted to compare fails;
2. times the kernel engine on the GPU: for each case of ``make bench`` and each dtype, the largest
   Gram matrix that fits ``bench_budget_s`` seconds (``largest_gram_within``; the issue asked for
   a minute per case, which 14 cases cannot have in a 10-minute check: the record gives the size
   a minute would allow by the n^2 law instead, an extrapolation), with lsa_utils alone unless
   neural-tangents imports with a GPU backend (its pins, JAX 0.4.25 with TensorFlow and numpy < 2,
   install only on Python 3.11, and ``make venv`` installs JAX's CPU build); where it does, the
   comparison of ``make bench`` runs too
   (on the CPU, ``make bench`` is that comparison, and the check does not repeat it);
3. records time and peak memory per part (torch's allocator, ``max_memory_allocated``, without
   the CUDA context's few hundred MB; a chapter's from its own kernel process,
   ``peak_memory_bytes`` in its results) and writes ``<out>/<device>.json`` (default
   ``results/gpu-check/cuda.json``) after every part, which the status page and the appendix
   show. It aims at 10 minutes (``DEFAULT_DEADLINE_S``): chapters that would start after the
   deadline are skipped, and the kernels' budget shrinks to what is left. How long it takes on
   a GPU has not been measured: the chapters' recorded smoke times add up to 7.3 minutes
   (``Chapter.measured_s``, from two 2-core machines); they took 12.0 minutes together on a
   2-core AMD EPYC with AVX-512 in the test suite, and chapters 0 and 3 (loops of small operations) may gain little on a GPU.

Without CUDA, ``--device cuda`` (the default) stops at once with a message; ``--device cpu``
runs the same script on CPU, as CI does on one chapter, so the script itself is tested.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from ..devices import device_description, resolve_device, use_full_float32
from ..validation import check_choice
from .chapters import CHAPTERS
from .paths import project_root
from .results import read_json, write_json

SCALE = "smoke"  # the sizes the check runs: those of the CPU runs it is compared with
DEFAULT_BENCH_BUDGET_S = 8.0  # per case and dtype; 7 cases x 2 dtypes x 8 s = 2 min, warm-ups aside
DEFAULT_DEADLINE_S = 570.0  # the whole check: parts that would start later are skipped (and fail it)
BENCH_DTYPES = ("float32", "float64")
BENCH_START = 8  # inputs of the first Gram matrix of each case, doubled while the budget allows


@dataclass(frozen=True)
class Tolerance:
    """How far a chapter's claim values on the GPU may lie from the CPU run's:
    ``|gpu - cpu| <= atol + rtol * |cpu|``, and every claim both runs expect has the same verdict."""

    rtol: float
    atol: float
    reason: str
    findings_count: bool = True  # whether a finding that disagrees fails the check (else it is shown only)


SAME_DRAW = Tolerance(0.05, 0.02, (
    "every random number is drawn on the CPU (torch.Generator, numpy) and moved to the device, so both runs "
    "see the same data and initial weights; they differ by float32 rounding (CUDA's reductions sum in "
    "another order; TF32 is off, use_full_float32), which SGD carries through training. Set before any GPU "
    "run, not measured: 0.02 is a few changed predictions on the smoke sets' 150 to 2,000 test images, and "
    "5% of a value the rounding-sized drift of a fitted slope or ratio; a claim within rounding of its "
    "threshold can change its verdict, which then shows as a disagreement to read"))
DEVICE_DRAW = Tolerance(0.25, 0.02, (
    "part of its samples are drawn on the device (torch.Generator(device)): CUDA's Philox generator gives "
    "other numbers than the CPU's Mersenne Twister for the same seed, so the GPU run is another draw, "
    "like another seed; its values may move by the seed-to-seed spread of the smoke sizes (on the CPU, seed 0 "
    "against seed 1, one pair of runs, the counted claims' values moved by at most 0.0065 in chapter 1 and 0.0013 "
    "in chapter 3, a third of the absolute term; the 25% relative term is a guess for larger values, which those "
    "chapters' counted claims do not have at smoke), and the paper claims and checks, which hold across seeds, "
    "must agree; findings "
    "are shown but do not fail the check: "
    "at the smoke sizes they rest on few seeds (chapter 3 on the CPU, seed 0 against seed 1: 2 of its 4 compared findings "
    "differ, a verdict 0.448 against 0.465 at its threshold and a share of 3 networks 0.5 against 1; its paper "
    "claims and check agree)"), findings_count=False)

TOLERANCES: dict[str, Tolerance] = {
    "lazy_vs_rich": SAME_DRAW,
    "lsa": DEVICE_DRAW,  # the theory model's SGD draws its batches on the device (lsa_theory)
    "representation": SAME_DRAW,
    "gaussian_mixture": DEVICE_DRAW,  # every sample of the XOR mixture is drawn on the device
    "linearization": SAME_DRAW,
    "kernels": SAME_DRAW,
}
# claims whose value is a speed: it depends on the device by nature and is not compared
DEVICE_DEPENDENT_WORDS = ("speedup", "slower", "faster")


def _verdict(claim: dict[str, Any]) -> str:
    if not claim.get("expected", True):
        return "not expected"
    return "passed" if claim["passed"] else "failed"


def _number(value: Any) -> float:
    """A recorded value as a float; ``None`` (a claim without a number) as NaN."""
    return math.nan if value is None else float(value)


def _distance(a: float, b: float) -> float:
    """``|a - b|``, where two equal non-finite values (two NaNs: a statistic undefined on both
    devices; the same infinity) are 0 apart and one non-finite value is infinitely far."""
    if math.isfinite(a) and math.isfinite(b):
        return abs(a - b)
    return 0.0 if a == b or (math.isnan(a) and math.isnan(b)) else math.inf


def compare_claims(run: list[dict[str, Any]], reference: list[dict[str, Any]], tolerance: Tolerance) -> list[dict[str, Any]]:
    """Claim by claim, whether ``run`` agrees with ``reference``. Claims are paired by position
    when both runs recorded as many (a chapter's claims function gives the same claims in the
    same order for the same parameters; their texts may quote measured numbers), else by text.

    A row per claim: ``claim``, ``kind``, ``reference`` and ``measured`` (the two values),
    ``verdicts`` (``"passed"``, ``"failed"`` or ``"not expected"`` in each run), ``difference``,
    ``allowed`` (``atol + rtol |reference|``), ``agrees``: ``True`` when both runs expect the
    claim, give it the same verdict and values within the tolerance (two NaNs agree), and
    ``counted``: whether a disagreement fails the check (``Tolerance.findings_count``);
    ``None`` when it is not compared (``note`` says why: a speed, not expected in one of the
    runs or in both, or recorded by one run only); ``False`` otherwise. A chapter whose counted
    claims are all left uncompared is "not compared" (``comparison_status``), which fails.
    """
    if len(run) == len(reference):  # the same claims in the same order (their texts may hold measured numbers)
        pairs, unmatched = list(zip(run, reference)), []
    else:
        by_text = {c["claim"]: c for c in reference}
        pairs = [(c, by_text.pop(c["claim"], None)) for c in run]
        unmatched = list(by_text.values())
    rows = []
    for claim, ref in pairs:
        row: dict[str, Any] = {"claim": claim["claim"], "kind": claim.get("kind", "paper"),
                               "measured": claim["measured"], "reference": None if ref is None else ref["measured"],
                               "verdicts": [None if ref is None else _verdict(ref), _verdict(claim)]}
        if ref is None:
            rows.append(row | {"agrees": None, "note": "recorded by this run only"})
            continue
        if any(word in claim["claim"].lower() for word in DEVICE_DEPENDENT_WORDS):
            rows.append(row | {"agrees": None, "note": "a speed: depends on the device"})
            continue
        if row["verdicts"] == ["not expected"] * 2:
            rows.append(row | {"agrees": None, "note": "not expected in either run"})
            continue
        if "not expected" in row["verdicts"]:  # a package one run lacked, or a statistic its draw left undefined
            rows.append(row | {"agrees": None, "note": "expected in the "
                               + ("CPU run only" if row["verdicts"][1] == "not expected" else "GPU run only")})
            continue
        a, b = _number(ref["measured"]), _number(claim["measured"])
        allowed = tolerance.atol + tolerance.rtol * abs(a) if math.isfinite(a) else 0.0
        difference = _distance(a, b)
        same_verdict = row["verdicts"][0] == row["verdicts"][1]
        row |= {"difference": difference, "allowed": allowed, "agrees": same_verdict and difference <= allowed,
                "counted": row["kind"] != "finding" or tolerance.findings_count}
        if not row["agrees"]:
            row["note"] = "verdicts differ" if not same_verdict else "values differ by more than the tolerance"
        rows.append(row)
    rows += [{"claim": c["claim"], "kind": c.get("kind", "paper"), "measured": None, "reference": c["measured"],
              "verdicts": [_verdict(c), None], "agrees": None, "note": "recorded by the CPU run only"}
             for c in unmatched]
    return rows


def comparison_status(rows: list[dict[str, Any]]) -> tuple[str, int, int]:
    """``(status, compared, disagreeing)`` of ``compare_claims``' rows, counting only the rows
    that count (``counted``: a finding of a device-draw chapter does not): ``"disagrees"`` when
    one of them disagrees, ``"not compared"`` when none was compared (nothing checked is not a
    pass), else ``"agrees"``."""
    counted = [r for r in rows if r["agrees"] is not None and r.get("counted", True)]
    disagreeing = sum(r["agrees"] is False for r in counted)
    return ("disagrees" if disagreeing else "agrees" if counted else "not compared"), len(counted), disagreeing


def recorded_claims_problems(claims: list[dict[str, Any]]) -> list[str]:
    """What is wrong with a run's claims as recorded: none at all, or a claim it expects without a
    number (NaN or missing)."""
    if not claims:
        return ["no claims recorded"]
    return [f"claim without a number: {c['claim']}" for c in claims
            if c.get("expected", True) and not (isinstance(c.get("measured"), (int, float))
                                                and math.isfinite(float(c["measured"])))]


def reference_run(name: str, parameters: dict[str, Any], reference_root: Path,
                  run_data: dict[str, Any] | None = None) -> tuple[dict | None, str]:
    """The CPU smoke run of chapter ``name`` under ``reference_root`` if it ran with the same
    parameters (the device aside) and, for a chapter that reads images, on the same data as
    ``run_data`` (its data plan's sizes and fallback: the digits on one machine and MNIST on the
    other are not comparable), with ``""``; else ``None`` and why not."""
    path = reference_root / "results" / name / f"{SCALE}.json"
    if not path.is_file():
        return None, f"no CPU reference: {path} does not exist (run `LSA_DEVICE=cpu make smoke` first)"
    data = read_json(path)
    device = data.get("environment", {}).get("device", "")
    if not device.startswith("cpu"):
        return None, f"no CPU reference: {path} ran on {device}"
    theirs = {k: v for k, v in data.get("parameters", {}).items() if k != "device"}
    ours = {k: v for k, v in parameters.items() if k != "device"}
    if theirs != ours:
        differing = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        return None, f"no CPU reference: {path} ran with other parameters ({', '.join(differing)})"
    plans = [d.get("values", {}).get("data_plan") for d in (data, run_data or {})]
    if run_data is not None and plans[0] and plans[1]:
        differing = [k for k in ("sizes", "fell_back") if plans[0].get(k) != plans[1].get(k)]
        if differing:
            return None, (f"no CPU reference: {path} read other data ({' and '.join(differing)} of its data plan differ; "
                          "run the reference with the same data folder, or none on both machines)")
    return data, ""


def chapter_part(name: str, device: str, seed: int, runs_root: Path, reference_root: Path) -> dict[str, Any]:
    """Run chapter ``name`` at the smoke sizes on ``device`` (outputs under ``runs_root``) and
    compare it with its CPU reference (``compare_claims``). Returns the part's record; its
    ``status`` is ``"agrees"``, ``"disagrees"``, ``"not compared"`` (no usable reference),
    ``"no claims"`` or ``"failed"`` (the notebook raised; ``error`` holds the message)."""
    from .context import resolve_parameters
    from .executor import patched_environ, run_chapter

    chapter = CHAPTERS[name]
    parameters = resolve_parameters(chapter, SCALE, {"device": device, "seed": seed})
    record: dict[str, Any] = {"part": f"chapter {name}", "chapter": name, "tolerance": vars(TOLERANCES[name])}
    start = time.perf_counter()
    try:
        with patched_environ({"LSA_OUTPUT_ROOT": str(runs_root)}):
            outcome = run_chapter(name, SCALE, {"device": device, "seed": seed}, force=True, announce=False)
            data = read_json(outcome.results)
    except Exception as err:  # the chapter's own failure is the finding: record it and go on
        return record | {"status": "failed", "seconds": round(time.perf_counter() - start, 1),
                         "error": f"{type(err).__name__}: {str(err)[-2000:]}"}
    record |= {"seconds": round(outcome.seconds, 1), "peak_memory_bytes": data.get("peak_memory_bytes"),
               "device": data["environment"]["device"]}
    problems = recorded_claims_problems(data["claims"])
    if problems:
        return record | {"status": "no claims", "problems": problems}
    reference, why = reference_run(name, parameters, reference_root, data)
    if reference is None:
        return record | {"status": "not compared", "note": why}
    rows = compare_claims(data["claims"], reference["claims"], TOLERANCES[name])
    status, compared, disagreeing = comparison_status(rows)
    findings_differing = sum(r["agrees"] is False and not r.get("counted", True) for r in rows)
    return record | {"status": status, "comparison": rows, "compared": compared, "disagreeing": disagreeing,
                     "uncounted_findings_differing": findings_differing,
                     "reference_seconds": reference.get("run", {}).get("seconds")}


def neural_tangents_on(device: torch.device) -> str:
    """``""`` when neural-tangents imports and JAX computes on ``device``'s kind of hardware;
    else why not."""
    from ..kernels.reference import reference_missing

    missing = reference_missing()
    if missing:
        return missing
    try:
        import jax

        platform = jax.devices()[0].platform  # a broken CUDA plugin raises here
    except Exception as err:  # JAX's own errors with an incompatible jaxlib or plugin
        return f"JAX does not start ({type(err).__name__}: {str(err)[:200]})"
    wanted = "gpu" if device.type == "cuda" else "cpu"
    return "" if platform == wanted else f"JAX computes on {platform}, not on {wanted}"


def bench_part(device: torch.device, cases: list[str], dtypes: tuple[str, ...], budget_s: float,
               compare: bool, deadline_at: float = math.inf) -> dict[str, Any]:
    """The kernel engine on ``device``: the largest Gram matrix of each case and dtype within
    ``budget_s`` (``largest_gram_within``); with ``compare`` and neural-tangents on the same
    hardware, also ``make bench``'s comparison (``time_case``), written where ``make bench``
    writes it."""
    from ..experiments.kernel_speed import largest_gram_within, matmul_peak, time_case, write_benchmark

    start = time.perf_counter()
    record: dict[str, Any] = {"part": "kernels", "status": "ran", "budget_s_per_case": budget_s, "rows": []}
    for case in cases:
        for dtype in dtypes:
            if time.perf_counter() > deadline_at:  # not started: the check's deadline has passed
                record["status"] = "failed"
                record.setdefault("skipped", []).append(f"({case}) {dtype}")
                continue
            try:
                row = largest_gram_within(case, device, getattr(torch, dtype), budget_s, start=BENCH_START)
            except Exception as err:  # one case's failure is recorded; the others still run
                record["status"] = "failed"
                record.setdefault("errors", []).append(f"({case}) {dtype}: {type(err).__name__}: {str(err)[-500:]}")
                print(f"  ({case}) {dtype}: failed: {type(err).__name__}: {str(err)[-200:]}", flush=True)
                continue
            if row["sizes"] and row["seconds_at_largest"] > 0:  # n^2 pairs: the size that would take a minute
                row["inputs_in_a_minute_estimated"] = int(row["largest_n"] * math.sqrt(60 / row["seconds_at_largest"]))
            record["rows"].append(row)
            print(f"  {row['case']} {dtype}: {row['seconds_at_largest']:.2f} s ({row['stopped']})", flush=True)
    if not compare:
        why_not = "not asked for (--no-bench-compare)"
    elif device.type == "cpu":
        why_not = "on the CPU `make bench` makes that comparison"
    else:
        why_not = neural_tangents_on(device)
    if not why_not:
        try:
            peak = matmul_peak(device)
            record["comparison"] = [time_case(case, 3, device, peak=peak) for case in cases]
        except Exception as err:  # the comparison is extra: its failure is recorded and does not fail the check
            why_not = f"the comparison failed: {type(err).__name__}: {str(err)[:300]}"
    record["neural_tangents"] = why_not or "compared"
    if record.get("comparison"):
        from .executor import source_commit

        write_benchmark(device, record["comparison"], peak, 3, source_commit())
    else:
        print(f"  lsa_utils alone: {why_not}", flush=True)
    record["seconds"] = round(time.perf_counter() - start, 1)
    if device.type == "cuda":
        record["peak_memory_bytes"] = {"device": max((s["peak_device_memory_bytes"] or 0)
                                                    for r in record["rows"] for s in r["sizes"]) if record["rows"] else None}
    return record


def with_index(device: torch.device) -> torch.device:
    """``cuda`` as ``cuda:0`` (``torch.cuda.set_device`` refuses a device without an index); other
    devices unchanged."""
    return torch.device("cuda", device.index or 0) if device.type == "cuda" else device


def _check_arguments(device: str, chapters: list[str], cases: list[str], dtypes: tuple[str, ...],
                     bench_budget_s: float, deadline_s: float) -> torch.device:
    """Validate the check's arguments (fast, before anything runs) and return the device."""
    from ..experiments.kernel_speed import CASE_NAMES

    if device.startswith("cuda") and not torch.cuda.is_available():
        build = "a CPU build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise ValueError(f"gpu-check: torch {torch.__version__} ({build}) sees no CUDA GPU on this machine; run it "
                         "where one is (there, `rm -rf .venv && make venv` installs a CUDA build of torch when "
                         "nvidia-smi reports a driver), or with --device cpu to try the script on the CPU")
    if device == "auto" or device.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"device={device!r} is not allowed here; name it: cuda, cuda:N or cpu")
    torch_device = resolve_device(device)
    if torch_device.type == "cuda" and (torch_device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device={device!r} is not allowed: this machine has {torch.cuda.device_count()} CUDA "
                         f"device(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    for name in chapters:
        check_choice("chapter", name, CHAPTERS)
    for case in cases:
        check_choice("case", case, CASE_NAMES)
    if cases and not dtypes:
        raise ValueError(f"dtypes={dtypes!r} is not allowed with kernel cases; give {' and/or '.join(BENCH_DTYPES)}")
    for dtype in dtypes:
        check_choice("dtype", dtype, BENCH_DTYPES)
    for label, value in (("bench_budget_s", bench_budget_s), ("deadline_s", deadline_s)):
        if not value > 0:
            raise ValueError(f"{label}={value!r} is not allowed; give a positive number of seconds")
    return torch_device


def _finish(record: dict[str, Any], path: Path, started: float, pending: list[str]) -> dict[str, Any]:
    """Fill in the verdict and write ``record`` to ``path`` (after every part, so a crash or a
    kill keeps what ran). ``pending``: the parts not run yet; while there are any the record is
    ``complete: false`` and not ``passed``."""
    record["seconds"] = round(time.perf_counter() - started, 1)
    record["failing"] = [p["part"] for p in record["parts"] if p["status"] not in ("agrees", "ran")]
    record["pending"] = pending
    record["complete"] = not pending
    record["passed"] = not record["failing"] and not pending
    write_json(path, record)
    return record


def gpu_check(device: str = "cuda", chapters: list[str] | None = None, cases: list[str] | None = None,
              dtypes: tuple[str, ...] = BENCH_DTYPES, bench_budget_s: float = DEFAULT_BENCH_BUDGET_S,
              out: Path | None = None, reference: Path | None = None, seed: int = 0,
              bench_compare: bool = True, deadline_s: float = DEFAULT_DEADLINE_S) -> dict[str, Any]:
    """Run the check (module docstring) and write ``<out>/<device type>.json``; return its record,
    whose ``passed`` is True when every chapter agrees with its CPU reference and the kernels ran.

    ``chapters``: default every chapter; ``cases``: default every ``make bench`` case, ``[]`` for
    none; ``out``: default ``results/gpu-check``; ``reference``: the project whose
    ``results/<chapter>/smoke.json`` are the CPU runs (default this project). ``deadline_s``: a
    chapter that would start later is skipped (``"skipped"``, which fails the check), and the
    kernels' budget per case shrinks to what is left of it, so the whole check ends near it.
    """
    from ..experiments.kernel_speed import CASE_NAMES
    from .executor import source_commit

    chapters = list(CHAPTERS) if chapters is None else chapters
    cases = list(CASE_NAMES) if cases is None else cases
    torch_device = _check_arguments(device, chapters, cases, dtypes, bench_budget_s, deadline_s)
    torch_device = with_index(torch_device)
    if torch_device.type == "cuda":
        torch.cuda.set_device(torch_device.index)  # empty_cache and synchronize act on the current device
    use_full_float32()
    out = Path(out) if out is not None else project_root() / "results" / "gpu-check"
    reference = Path(reference) if reference is not None else project_root()
    path = out / f"{torch_device.type}.json"
    record: dict[str, Any] = {
        "device": device_description(torch_device), "torch": torch.__version__, "cuda": torch.version.cuda,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": source_commit(),
        "scale": SCALE, "seed": seed, "reference": str(reference), "deadline_s": deadline_s, "parts": [],
    }
    started = time.perf_counter()
    deadline_at = started + deadline_s
    kernels = ["kernels"] if cases else []
    for i, name in enumerate(chapters, 1):
        elapsed = time.perf_counter() - started
        if elapsed > deadline_s:
            record["parts"].append({"part": f"chapter {name}", "chapter": name, "status": "skipped", "seconds": 0.0,
                                    "note": f"not started: {elapsed:.0f} s had passed, over the {deadline_s:.0f} s deadline"})
            print(f"[{i}/{len(chapters)}] chapter {name}: skipped (deadline)", flush=True)
            continue
        print(f"[{i}/{len(chapters)}] chapter {name} on {device} ...", end=" ", flush=True)
        part = chapter_part(name, device, seed, out / "runs", reference)
        record["parts"].append(part)
        extra = (f", {part['disagreeing']} of {part['compared']} compared claims disagree" if "compared" in part
                 else f": {part.get('note') or part.get('error') or '; '.join(part.get('problems', []))}")
        print(f"{part['status']} in {part['seconds']:.0f} s{extra}", flush=True)
        _finish(record, path, started, [f"chapter {n}" for n in chapters[i:]] + kernels)
    if cases:
        left = deadline_at - time.perf_counter()
        budget = min(bench_budget_s, max(1.0, 0.5 * left / (len(cases) * len(dtypes))))  # half: warm-ups, compiles
        print(f"kernels on {device}: the largest Gram matrix of each case within {budget:.1f} s", flush=True)
        record["parts"].append(bench_part(torch_device, cases, dtypes, budget, bench_compare, deadline_at))
    _finish(record, path, started, [])
    print(f"gpu-check on {record['device']}: "
          f"{'passed' if record['passed'] else 'FAILED: ' + ', '.join(record['failing'])} "
          f"in {record['seconds'] / 60:.1f} min; written: {path}", flush=True)
    if record["seconds"] > deadline_s + 60:
        print(f"gpu-check: it took {record['seconds']:.0f} s, over the {deadline_s:.0f} s it aims at", flush=True)
    return record


def _gib(value: int | None) -> str:
    return "-" if not value else f"{value / 2**30:.2f} GiB"


def kernels_markdown(record: dict[str, Any]) -> str:
    """The kernels part of a check as a Markdown table (case, dtype, largest size timed, its time,
    the size a minute would allow by the n^2 law, peak device memory); "" without one."""
    part = next((p for p in record.get("parts", []) if p["part"] == "kernels"), None)
    if part is None:
        return ""
    lines = ["| case | dtype | largest Gram timed | time | inputs in a minute (n² law) | peak device memory | stopped |",
             "|---|---|---|---|---|---|---|"]
    for row in part["rows"]:
        peak = row["sizes"][-1]["peak_device_memory_bytes"] if row["sizes"] else None
        minute = row.get("inputs_in_a_minute_estimated")
        lines.append(f"| {row['name']} | {row['dtype']} | {row['largest_n']:,} | "
                     f"{row['seconds_at_largest']:.2f} s | {'-' if minute is None else f'{minute:,}'} | {_gib(peak)} | "
                     f"{row['stopped']} |")
    return "\n".join(lines) + f"\n\nneural-tangents: {part['neural_tangents']}.\n"


def gpu_check_markdown(record: dict[str, Any] | None) -> str:
    """The last GPU check for the status page: device, verdict, one row per part; says so when
    none has run."""
    if record is None:
        return ("No GPU check has run yet: `make gpu-check` on a CUDA machine (after `LSA_DEVICE=cpu make smoke`) "
                "runs every chapter's smoke sizes on the GPU and compares them with the CPU runs.\n")
    verdict = ("passed" if record["passed"] else f"**failed**: {', '.join(record['failing'])}" if record["failing"]
               else "**incomplete**")
    if record.get("pending"):
        verdict += f" (never ran: {', '.join(record['pending'])})"
    lines = [f"On {record['device']} (torch {record['torch']}, CUDA {record['cuda']}), {record['started'][:16].replace('T', ' ')} "
             f"UTC, commit `{record['commit']}`: {verdict}, in {record['seconds'] / 60:.1f} min.", "",
             "| part | result | time | peak device memory | CPU run's time |", "|---|---|---|---|---|"]
    for part in record["parts"]:
        if part["part"] == "kernels":
            result = (f"{len(part['rows'])} cases and dtypes timed"
                      + (f"; failed: {'; '.join(part['errors'])[:300]}" if part.get("errors") else "")
                      + (f"; skipped after the deadline: {', '.join(part['skipped'])}" if part.get("skipped") else ""))
            memory = (part.get("peak_memory_bytes") or {}).get("device")
        else:
            if "compared" in part:
                result = f"{part['status']} ({part['compared'] - part['disagreeing']} of {part['compared']} claims)"
                if part.get("uncounted_findings_differing"):
                    result += f"; {part['uncounted_findings_differing']} findings differ (not counted: another draw)"
            else:
                why = part.get("note") or part.get("error") or "; ".join(part.get("problems", []))
                result = f"{part['status']}: {why[:200]}"
            memory = (part.get("peak_memory_bytes") or {}).get("device")
        ref = part.get("reference_seconds")
        lines.append(f"| {part['part']} | {result} | {part.get('seconds', float('nan')):.0f} s | {_gib(memory)} | "
                     f"{'-' if ref is None else f'{ref:.0f} s'} |")
    kernels = kernels_markdown(record)
    return "\n".join(lines) + "\n" + (f"\n{kernels}" if kernels else "")


def load_gpu_check(device_type: str = "cuda") -> dict[str, Any] | None:
    """The last check's record, ``results/gpu-check/<device_type>.json``, if any."""
    path = project_root() / "results" / "gpu-check" / f"{device_type}.json"
    return read_json(path) if path.is_file() else None
