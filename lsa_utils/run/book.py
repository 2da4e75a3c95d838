"""Build the HTML book from executed chapters: ``python -m lsa_utils book --scale default``.

1. Every chapter is run through the executor at ``scale`` (cached: up-to-date chapters are not
   executed again).
2. The book sources (``_config.yml``, ``_toc.yml``, ``book/``) are copied into a staging folder,
   ``<out>/_build/src``, with the executed notebooks and two generated pages, the reproduction scorecard
   and the status page, in ``book/generated/``.
3. ``jupyter-book build`` renders the staging folder with warnings as errors; papermill was the
   only executor (``execute_notebooks: off``). The HTML lands in ``<out>/_build/html``;
   ``<out>`` is the project root unless given. MathJax 3 is copied into its ``_static`` last.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .chapters import CHAPTERS, SCALES
from .executor import run_chapters
from .paths import executed_notebook_path, project_root, results_path
from .data_plan import dataset_names
from .reader import fold_for_readers
from .results import read_json
from ..validation import check_choice


def _chapter_results(scale: str) -> list[tuple[Any, dict[str, Any] | None]]:
    out = []
    for chapter in CHAPTERS.values():
        path = results_path(chapter.name, scale)
        out.append((chapter, read_json(path) if path.is_file() else None))
    return out


def scorecard_markdown(scale: str) -> str:
    """The reproduction scorecard page: per chapter, the paper claims (source, the paper's
    number, ours, criterion, verdict), those not expected at this scale, the findings, and the
    checks, folded; rendered by ``lsa_utils.claims.claims_markdown`` as each chapter's end is."""
    from ..claims import claims_markdown, tally

    results = _chapter_results(scale)
    totals = [tally(data["claims"]) for _, data in results if data]
    held, counted = sum(t["paper_passed"] for t in totals), sum(t["paper"] for t in totals)
    later, findings = sum(t["paper_not_expected"] for t in totals), sum(t["findings"] for t in totals)
    checks, checks_held = sum(t["checks"] for t in totals), sum(t["checks_passed"] for t in totals)
    lines = [
        "# Reproduction scorecard",
        "",
        f"What each chapter measured in the run this book shows (scale `{scale}`). Three kinds of "
        "claim: a **paper claim** is a statement the paper makes, with its source and the paper's "
        "number where it gives one, and only these count as reproduced; a **finding** is where we "
        "measure something other than the paper, with both numbers and the reason; a **check** "
        "holds by construction or is a sanity property. Thresholds are fixed in "
        "`lsa_utils/claims/` before the run shown here, each with its reason (which says so where a "
        "threshold came from an earlier prototype run).",
        "",
        f"**{held} of {counted} paper claims reproduced at this scale**; {later} more are stated "
        f"for larger runs or other data and listed apart. {findings} findings; {checks_held} of "
        f"{checks} checks hold.",
        "",
    ]
    for chapter, data in results:
        lines += [f"## {{doc}}`{chapter.title} <{chapter.stem}>`", ""]
        if data is None:
            lines += [f"Not executed at scale `{scale}`.", ""]
            continue
        if data.get("values", {}).get("fallback_data"):
            fell_back = data["values"].get("data_plan", {}).get("fell_back") or ["the real data"]
            names = dataset_names(fell_back)
            lines += [f"*This chapter ran on scikit-learn's 8x8 digits instead of {names} (no data files were "
                      "found): the claims stated for those data sets are shown but not counted.*", ""]
        lines += [claims_markdown(data["claims"], scale)]
    return "\n".join(lines)


def status_markdown(scale: str) -> str:
    """The status page: every chapter's last run at each scale (time, claims, date, commit), and
    the software of the runs this book shows (at ``scale``)."""
    from ..claims import tally

    lines = [
        "# Status of this build",
        "",
        f"This book shows the runs at scale `{scale}`. Every run of each chapter found in `results/`, "
        "newest first within a chapter; \"+k later\": paper claims stated for a larger scale or other data:",
        "",
        "| chapter | scale | finished (UTC) | time | paper claims reproduced | checks | device, commit |",
        "|---|---|---|---|---|---|---|",
    ]
    for chapter in CHAPTERS.values():
        runs = [(s, read_json(results_path(chapter.name, s))) for s in SCALES if results_path(chapter.name, s).is_file()]
        if not runs:
            lines.append(f"| {chapter.name} | never executed | | | | | |")
        for s, data in sorted(runs, key=lambda r: r[1].get("run", {}).get("finished", ""), reverse=True):
            run, t = data.get("run", {}), tally(data["claims"])
            later = f" (+{t['paper_not_expected']} later)" if t["paper_not_expected"] else ""
            finished = run.get("finished", "")[:16].replace("T", " ")
            lines.append(
                f"| {chapter.name} | {f'**{s}** (shown)' if s == scale else s} | {finished} | "
                f"{run.get('seconds', float('nan')) / 60:.1f} min | {t['paper_passed']} of {t['paper']}{later} | "
                f"{t['checks_passed']} of {t['checks']} | {data['environment']['device'].split(' (')[0]}, "
                f"`{run.get('commit', 'unknown')}` |"
            )
    from .gpu_check import gpu_check_markdown, load_gpu_check

    lines += ["", "## GPU check", "", gpu_check_markdown(load_gpu_check("cuda"))]
    env = next((data["environment"] for _, data in _chapter_results(scale) if data), None)
    if env:
        lines += [
            "",
            "## Software",
            "",
            f"Python {env['python']} on {env['platform']}.",
            "",
            "| package | version |",
            "|---|---|",
            *[f"| {k} | {v} |" for k, v in env["packages"].items()],
        ]
    return "\n".join(lines) + "\n"


def copy_mathjax(dest: Path) -> None:
    """Copy MathJax 3 (es5 build) from the django-static-mathjax package to ``dest``."""
    import importlib.util

    spec = importlib.util.find_spec("mathjax")
    source = None if spec is None else Path(spec.origin).parent / "static" / "mathjax" / "es5"
    if source is None or not (source / "tex-chtml.js").is_file():
        raise RuntimeError("MathJax not found: install the pinned django-static-mathjax (make venv)")
    shutil.copytree(source, dest)


def stage_sources(scale: str, stage: Path) -> None:
    """Copy the book sources and the executed chapters into ``stage`` and write generated pages."""
    root = project_root()
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, stage / name)
    shutil.copytree(root / "book", stage / "book", ignore=shutil.ignore_patterns("generated"))
    generated = stage / "book" / "generated"
    generated.mkdir()
    downloads = generated / "downloads"
    downloads.mkdir()
    for chapter in CHAPTERS.values():
        executed, results = executed_notebook_path(chapter.stem, scale), results_path(chapter.name, scale)
        if not (executed.is_file() and results.is_file()):
            missing = executed if not executed.is_file() else results
            raise FileNotFoundError(
                f"chapter {chapter.name!r} has not been executed at scale {scale!r} ({missing} is missing); "
                f"run: python -m lsa_utils run {chapter.name} --scale {scale}"
            )
        shutil.copy2(executed, downloads / executed.name)  # as papermill wrote it, for download
        page = fold_for_readers(json.loads(executed.read_text()), chapter, read_json(results),
                                download=f"downloads/{executed.name}")
        (generated / executed.name).write_text(json.dumps(page, indent=1))
    (stage / "_static").mkdir()  # html_static_path; MathJax is added after the build (build_book)
    (generated / "scorecard.md").write_text(scorecard_markdown(scale))
    (generated / "status.md").write_text(status_markdown(scale))


def build_book(scale: str = "default", out: str | Path | None = None, force: bool = False,
               execute: bool = True) -> Path:
    """Execute (cached) every chapter at ``scale`` and build the HTML; return ``index.html``."""
    check_choice("scale", scale, SCALES)
    out = Path(out) if out else project_root()
    if execute:
        run_chapters(list(CHAPTERS), scale, force=force)
    stage = out / "_build" / "src"
    stage_sources(scale, stage)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    command = [str(jupyter_book), "build", str(stage), "--path-output", str(out),
               "-W", "-n", "--keep-going", "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"jupyter-book build failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    index = out / "_build" / "html" / "index.html"
    if not index.is_file():
        raise RuntimeError(f"jupyter-book build finished but {index} does not exist")
    # MathJax goes in after the build: Jupyter Book adds every .js under the sources' _static to
    # every page, and MathJax's 69 files loaded at once break each other (mathjax_path in
    # _config.yml points the pages at _static/mathjax/tex-chtml.js)
    mathjax = index.parent / "_static" / "mathjax"
    shutil.rmtree(mathjax, ignore_errors=True)
    copy_mathjax(mathjax)
    # index.html only redirects and names no icon, so a browser asks for /favicon.ico there
    shutil.copy2(stage / "book" / "favicon.png", index.parent / "favicon.ico")
    return index
