"""The built book in a real browser: pages load, figures show, formulas are typeset, scripts do
not fail, the sidebar reaches every chapter and the search finds chapter 3.

Drives the system Chromium through Playwright (see ``tests/browser.py``); skipped where either
is missing. The book is the smoke-scale build of the ``smoke_book`` fixture, or the folder
``$LSA_BOOK_HTML`` names (e.g. ``LSA_BOOK_HTML=_build/html pytest tests/test_browser.py`` checks
the book ``make book`` built, without building one). The browser runs once for the module:
``site`` opens every page and the tests read its reports. Screenshots of every page go to
``_build/screenshots/`` next to the checked ``html`` folder, to look at when a test fails.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

import browser
from browser import PageReport

# CI sets LSA_REQUIRE_BROWSER=1 (it installs Chromium): there a missing browser fails the run
REQUIRED = os.environ.get("LSA_REQUIRE_BROWSER") == "1"
if REQUIRED:
    import playwright.sync_api  # noqa: F401  (an ImportError fails the run)

    assert browser.find_chromium(), "LSA_REQUIRE_BROWSER=1 but no Chromium found (apt-get install chromium)"
pytest.importorskip("playwright.sync_api",
                    reason="playwright is not installed (pip install playwright)")
if browser.find_chromium() is None:
    pytest.skip("no Chromium found: install chromium or set LSA_CHROMIUM to a Chromium binary",
                allow_module_level=True)

pytestmark = pytest.mark.slow  # smoke_book builds the book

CHAPTERS = [
    "book/generated/00_lazy_vs_rich.html",
    "book/generated/01_lsa.html",
    "book/generated/02_representation.html",
    "book/generated/03_gaussian_mixture.html",
    "book/generated/04_linearization.html",
]
#: every page the table of contents lists
TOC_PAGES = [
    "book/intro.html",
    *CHAPTERS,
    "book/generated/90_kernels.html",
    "book/generated/scorecard.html",
    "book/generated/status.html",
    "book/references.html",
]
#: pages whose prose has formulas (MathJax must have typeset them)
MATH_PAGES = [*CHAPTERS, "book/generated/90_kernels.html"]
SEARCH_PAGE = "book/generated/03_gaussian_mixture.html"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def book_html(request) -> Path:
    """The ``html`` folder of a built book: ``$LSA_BOOK_HTML``, else the smoke-scale build."""
    path = os.environ.get("LSA_BOOK_HTML")
    return Path(path).resolve() if path else request.getfixturevalue("smoke_book")


@dataclass
class Site:
    html_dir: Path
    base_url: str
    browser: object  # playwright Browser
    reports: dict[str, PageReport]
    screenshot_dir: Path


@pytest.fixture(scope="module")
def site(book_html):
    """The book served on 127.0.0.1, one Chromium, and the report of every page."""
    screenshot_dir = book_html.parent / "screenshots"
    screenshot_dir.mkdir(parents=True, exist_ok=True)
    for old in screenshot_dir.glob("*.png"):  # this run's screenshots only
        old.unlink()
    with browser.serve(book_html) as base_url, browser.launch() as chromium:
        reports = browser.check_pages(book_html, screenshot_dir, base_url=base_url,
                                      browser=chromium)
        yield Site(book_html, base_url, chromium, {r.path: r for r in reports}, screenshot_dir)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_every_page_loads_with_a_title(site):
    missing = sorted(set(TOC_PAGES) - set(site.reports))
    assert missing == [], f"pages missing from the build: {missing}"
    bad = {p: (r.status, r.title) for p, r in site.reports.items()
           if r.status != 200 or not r.title.strip()}
    assert bad == {}, f"pages without HTTP 200 or without a title: {bad}"
    assert site.reports["index.html"].landed == "book/intro.html"  # the front page redirects


def test_every_image_loads(site):
    broken = {p: r.images_broken for p, r in site.reports.items() if r.images_broken}
    assert sum(map(len, broken.values())) == 0, f"images that did not load: {broken}"
    figures = {p: r.images_total for p, r in site.reports.items()
               if p.startswith("book/generated/0")}
    assert len(figures) == len(CHAPTERS)
    assert min(figures.values()) >= 1, f"chapter pages without a figure: {figures}"


def test_math_is_typeset(site):
    raw = {p: r.raw_math for p, r in site.reports.items() if r.raw_math}
    assert raw == {}, f"TeX left untypeset in the text: {raw}"
    errors = {p: r.math_errors for p, r in site.reports.items() if r.math_errors}
    assert errors == {}, f"formulas MathJax rendered as errors: {errors}"
    typeset = {p: site.reports[p].math_containers for p in MATH_PAGES}
    assert min(typeset.values()) > 0, f"pages with formulas but no typeset math: {typeset}"
    # and every page whose HTML has a formula shows MathJax output, whether or not listed above
    for path, report in site.reports.items():
        if 'class="math' in (site.html_dir / report.landed).read_text(encoding="utf-8"):
            assert report.mathjax == "done" and report.math_containers > 0, (path, report.mathjax)


def test_no_console_errors(site):
    errors = {p: sorted(set(r.console_errors)) for p, r in site.reports.items() if r.console_errors}
    assert sum(map(len, errors.values())) == 0, "console errors:\n" + "\n".join(
        f"{page}:\n    " + "\n    ".join(msgs) for page, msgs in errors.items())


def test_sidebar_reaches_every_page(site):
    reached = browser.check_toc(site.base_url, TOC_PAGES, browser=site.browser)
    assert reached == {path: 200 for path in TOC_PAGES}
    # the sidebar is the same on every page: from each page, every page of the book is a click away
    missing = {p: sorted(set(TOC_PAGES) - set(r.toc)) for p, r in site.reports.items()
               if set(TOC_PAGES) - set(r.toc)}
    assert missing == {}, f"sidebar links missing: {missing}"


@pytest.mark.parametrize("word", ["Refinetti", "mixture"])
def test_search_finds_chapter_3(site, word):
    results = browser.search_finds(site.base_url, word, browser=site.browser)
    assert SEARCH_PAGE in results, f"search for {word!r} found {results}"


def test_every_page_has_a_full_page_screenshot(site):
    shots = {p: r.screenshot for p, r in site.reports.items()}
    assert len(shots) == len(site.reports) >= len(TOC_PAGES)
    assert sorted(site.screenshot_dir.glob("*.png")) == sorted(shots.values())
    for path, shot in shots.items():
        width, height = png_size(shot)
        assert shot.stat().st_size > 10_000, (path, shot.stat().st_size)
        assert width == browser.VIEWPORT["width"], (path, width)
        # the viewport is 720 px high, so anything taller is the whole page, not its first screen
        assert height > 800, (path, height)
