"""The book: configuration, pins, and a real build from the smoke-scale runs."""

import re

import pytest

from conftest import ROOT
from lsa_utils.run.chapters import CHAPTERS


def test_toc_lists_every_chapter_and_the_check_pages():
    toc = (ROOT / "_toc.yml").read_text()
    for chapter in CHAPTERS.values():
        assert f"book/generated/{chapter.stem}" in toc
        assert (ROOT / "notebooks" / chapter.notebook).is_file()
    for page in ("book/generated/scorecard", "book/generated/status", "book/references"):
        assert page in toc


def test_notebooks_have_a_parameters_cell_first():
    for chapter in CHAPTERS.values():
        text = (ROOT / "notebooks" / chapter.notebook).read_text()
        first_code = re.search(r"^# %%(?! \[markdown\])(.*)$", text, flags=re.M)
        assert first_code and 'tags=["parameters"]' in first_code.group(1), chapter.notebook
        for name in chapter.parameter_names:
            assert re.search(rf"^{name} = ", text, flags=re.M), f"{chapter.notebook} lacks {name}"


@pytest.mark.slow
def test_book_builds_with_every_page_and_figure(smoke_root, smoke_book):
    root, _ = smoke_root
    html = smoke_book
    assert "book/intro.html" in (html / "index.html").read_text()  # index.html redirects to the introduction
    intro = (html / "book" / "intro.html").read_text()
    assert "Why do neural networks beat their kernels?" in intro and "How to rerun a chapter" in intro
    for chapter in CHAPTERS.values():
        page = (html / "book" / "generated" / f"{chapter.stem}.html").read_text()
        saved = list((root / "results" / chapter.name / "figures" / "smoke").glob("*.png"))
        assert saved and page.count("<img") >= len(saved), f"{chapter.stem}: figures missing"
        assert "Scorecard" in page and "paper claims at scale" in page
        assert "{glue" not in page and "glue:text" not in page, f"{chapter.stem}: a glued number was not filled in"
        # the reader's page: code folded, setup behind one line, rerun command, download, environment
        assert "This run: scale smoke · " in page and "Show the setup code" in page
        assert page.count("tag_hide-input") >= 3, chapter.stem
        text = re.sub(r"<[^>]+>", "", page)  # the command is syntax-highlighted, token by token
        assert re.search(rf"\.venv/bin/python -m lsa_utils run {chapter.name} --scale smoke\s", text), chapter.stem
        assert f"{chapter.stem}.ipynb" in page and "About this run: scale smoke" in page
        assert list(html.glob(f"_downloads/*/{chapter.stem}.ipynb")), f"{chapter.stem}: no executed notebook to download"
    scorecard = (html / "book" / "generated" / "scorecard.html").read_text()
    assert "Reproduction scorecard" in scorecard
    for chapter in CHAPTERS.values():
        assert chapter.title in scorecard
    assert re.search(r"\d+ of \d+ paper claims reproduced at this scale", scorecard)
    for part in ("Findings, where we measure something other than the paper", "Checks: ", "paper claim"):
        assert part in scorecard, part
    status = (html / "book" / "generated" / "status.html").read_text()
    assert "neural-tangents" in status
    for column in ("finished (UTC)", "time", "paper claims reproduced", "checks", "device, commit"):
        assert column in status, column
    for chapter in CHAPTERS.values():
        assert re.search(rf"<td><p>{chapter.name}</p></td>\s*<td><p><strong>smoke</strong> \(shown\)</p></td>",
                         status), chapter.name
    references = (html / "book" / "references.html").read_text()
    references = references.lower()  # the bibliography style lower-cases titles
    assert "local signal adaptivity" in references and "neural tangents" in references


def test_scorecard_escapes_pipes_in_claims(tmp_path, monkeypatch):
    """A claim text with ``||w||`` stays one table row with its measured number."""
    from lsa_utils.run import book
    from lsa_utils.run.chapters import CHAPTERS

    chapter = CHAPTERS["lsa"]
    data = {"claims": [{"claim": "noise s||w|| below -b", "measured": 0.095, "criterion": "s||w|| < -b",
                        "passed": True, "expected": True, "kind": "paper", "source": "Thm. 1", "reason": "r"}]}
    monkeypatch.setattr(book, "_chapter_results", lambda scale: [(chapter, data)])
    row = [line for line in book.scorecard_markdown("smoke").splitlines() if "below" in line][0]
    assert row == r"| noise s\|\|w\|\| below -b | Thm. 1 | – | 0.095 | s\|\|w\|\| < -b (r) | pass |"


def test_a_glued_key_missing_from_the_run_fails_the_build(tmp_path):
    """Prose that reads a number the run did not glue stops ``jupyter-book build -W``."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "_config.yml").write_text('title: t\nexecute:\n  execute_notebooks: "off"\n')
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: page\n")
    cell = {"cell_type": "code", "id": "c1", "execution_count": 1, "metadata": {}, "source": "run.glue('present', 0.5)",
            "outputs": [{"output_type": "display_data", "metadata": {"scrapbook": {
                "name": "present", "mime_prefix": "application/papermill.record/"}},
                "data": {"application/papermill.record/text/plain": "'0.50'"}}]}
    def notebook(key):
        text = {"cell_type": "markdown", "id": "m1", "metadata": {},
                "source": f"# Page\n\nA number: {{glue:text}}`{key}`."}
        return {"cells": [cell, text], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    jupyter_book = str(Path(sys.executable).parent / "jupyter-book")
    results = {}
    for key in ("present", "absent"):
        (tmp_path / "page.ipynb").write_text(json.dumps(notebook(key)))
        out = subprocess.run([jupyter_book, "build", str(tmp_path), "--path-output", str(tmp_path / key), "-W",
                              "-n", "--keep-going", "--quiet"], capture_output=True, text=True)
        results[key] = out
    assert results["present"].returncode == 0, results["present"].stderr[-2000:]
    assert "0.50" in (tmp_path / "present" / "_build" / "html" / "page.html").read_text()
    assert results["absent"].returncode != 0
    assert "absent" in results["absent"].stdout + results["absent"].stderr
