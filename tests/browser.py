"""Look at the built book in a real browser (Playwright driving the system Chromium).

The HTML that Jupyter Book writes can be valid and still show the reader a broken page: a
figure whose file is missing, a formula MathJax never typeset (raw ``$...$`` or ``\\(...\\)``
in the text), a script that throws. These helpers open every page of ``_build/html`` in
headless Chromium and record what a reader would see.

* :func:`find_chromium` locates a Chromium binary (Playwright's own browser download needs the
  internet, so the system browser is used through ``executable_path``).
* :func:`serve` serves the built folder over HTTP on 127.0.0.1 (pages opened as ``file://``
  cannot load the search index and behave differently from a published book).
* :func:`check_pages` opens every page, waits for MathJax, and returns one :class:`PageReport`
  per page: title, images, leftover raw math, MathJax errors, console errors, a screenshot.
* :func:`toc_links` / :func:`check_toc` check that the left sidebar reaches given pages.
* :func:`search_finds` runs the book's search page for a word.

Every function that needs a browser takes an optional ``browser`` (a Playwright ``Browser``)
so one browser can serve a whole test module; without it, one is launched for the call.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

#: Chromium flags. Without the background-networking ones Chromium keeps trying to reach
#: Google's services (updates, sync, safe browsing, QUIC probes) on a closed network.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # No name resolves except the local server's: a request for an external URL fails at once
    # instead of hanging until its time-out, and the check never depends on the network.
    # (Intercepting requests with Playwright's `route` instead can deadlock `page.close()`.)
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
)
#: Pages of the build that are not pages of the book (``search.html`` is checked separately,
#: by :func:`search_finds`).
SKIPPED_PAGES = ("genindex.html", "search.html")
SKIPPED_FOLDERS = ("_static", "_sources", "_images")
#: A viewport lower than the 800 px the tests ask of a screenshot, so a tall screenshot proves
#: that the whole page was captured, not just the first screen.
VIEWPORT = {"width": 1280, "height": 720}
LOCAL_HOSTS = ("127.0.0.1", "localhost")

# --------------------------------------------------------------------------------------------
# In-page scripts
# --------------------------------------------------------------------------------------------

#: Resolve once MathJax 3 has typeset the page: "done", "absent" (the page loads no MathJax),
#: "timeout", or "error: ..." (the startup promise rejected). The MathJax script is ``defer``
#: and sets ``MathJax.startup`` when it runs; before that ``window.MathJax`` is only the config.
_WAIT_MATHJAX = """
async (timeoutMs) => {
  const hasScript = [...document.scripts].some(s => /mathjax/i.test(s.src));
  const deadline = Date.now() + timeoutMs;
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    if (!hasScript) return "absent";
    if (Date.now() > deadline) return "timeout";
    await sleep(50);
  }
  const timer = sleep(Math.max(deadline - Date.now(), 0)).then(() => "timeout");
  try {
    return await Promise.race([MathJax.startup.promise.then(() => "done"), timer]);
  } catch (err) {
    return "error: " + err;
  }
}
"""

#: Make every image load now (lazy images below the fold would otherwise never load in a
#: screenshot-less check), scroll through the page, and wait until every image has settled.
_LOAD_IMAGES = """
async (timeoutMs) => {
  const imgs = [...document.images];
  for (const img of imgs) {
    if (img.loading === "lazy") img.loading = "eager";  // starts the fetch of a deferred image
  }
  const step = Math.max(window.innerHeight, 400);
  for (let y = 0; y < document.documentElement.scrollHeight; y += step) {
    window.scrollTo(0, y);
    await new Promise(r => setTimeout(r, 10));
  }
  window.scrollTo(0, 0);
  const deadline = Date.now() + timeoutMs;
  while (imgs.some(img => !img.complete) && Date.now() < deadline) {
    await new Promise(r => setTimeout(r, 50));
  }
  return imgs.length;
}
"""

#: Every image as [src, loaded]; loaded means ``complete && naturalWidth > 0``.
_IMAGES = """
() => [...document.images].map(img => [img.currentSrc || img.src || img.outerHTML.slice(0, 120),
                                       img.complete && img.naturalWidth > 0])
"""

#: The reader's text of the article without code (code cells, outputs in <pre>, inline code)
#: and without what MathJax produced; raw TeX delimiters left in it were never typeset.
_ARTICLE_TEXT = """
() => {
  const root = document.querySelector("article") || document.querySelector("main") || document.body;
  if (!root) return "";
  const copy = root.cloneNode(true);
  copy.querySelectorAll("pre, code, kbd, samp, script, style, .highlight, mjx-container, .MathJax")
      .forEach(el => el.remove());
  // innerText of a detached node is its textContent: put it in the page, hidden, to get the
  // rendered text (with line breaks between blocks) and take it out again
  const box = document.createElement("div");
  box.style.cssText = "position:absolute; left:-99999px; top:0; width:1000px";
  box.appendChild(copy);
  document.body.appendChild(box);
  const text = box.innerText;
  box.remove();
  return text;
}
"""

#: MathJax counts: typeset formulas, and formulas MathJax rendered as an error (an undefined
#: macro, unbalanced braces), with the error message MathJax gives for each.
_MATH_COUNTS = """
() => ({
  containers: document.querySelectorAll("mjx-container").length,
  errors: [...document.querySelectorAll("mjx-merror")].map(
      el => el.getAttribute("data-mjx-error") || el.textContent),
})
"""

#: Links of the left sidebar's table of contents (Jupyter Book / sphinx-book-theme), each as
#: [href, shown] (shown: laid out on the page, not inside a collapsed section).
_TOC_LINKS = """
() => {
  const nav = document.querySelector("nav.bd-docs-nav")
      || document.querySelector(".bd-sidebar-primary") || document.querySelector(".bd-sidebar");
  if (!nav) return [];
  return [...nav.querySelectorAll("a[href]")].map(a => [a.href, a.getClientRects().length > 0]);
}
"""

#: Raw TeX that MathJax should have replaced: display ``$$``, ``\\(``/``\\)``, ``\\[``/``\\]``,
#: ``\\begin{...}``, and inline ``$...$`` (a dollar, no space after it, text on the same line,
#: a dollar with no space before it).
RAW_MATH = re.compile(
    r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$(?=\S)[^$\n]{1,200}(?<=\S)\$"
)


# --------------------------------------------------------------------------------------------
# Browser and server
# --------------------------------------------------------------------------------------------


def find_chromium() -> str | None:
    """The Chromium to drive: ``$LSA_CHROMIUM``, else the first of ``/usr/bin/chromium``,
    ``chromium``, ``chromium-browser``, ``google-chrome`` found; None when there is none."""
    env = os.environ.get("LSA_CHROMIUM")
    if env:
        return env if (Path(env).is_file() or shutil.which(env)) else None
    if Path("/usr/bin/chromium").is_file() and os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@contextlib.contextmanager
def launch(executable: str | None = None) -> Iterator:
    """A headless Playwright ``Browser`` on the system Chromium (see :func:`find_chromium`).

    Playwright gives each launch a fresh temporary profile, deleted on close.
    """
    from playwright.sync_api import sync_playwright

    executable = executable or find_chromium()
    if executable is None:
        raise RuntimeError("no Chromium found (set LSA_CHROMIUM to its path)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=executable, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def _browser_or_launch(browser) -> Iterator:
    if browser is not None:
        yield browser
    else:
        with launch() as launched:
            yield launched


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the browser dropped a load it no longer needed (a navigation cancelled it)
        super().handle_error(request, client_address)


@contextlib.contextmanager
def serve(html_dir: Path | str) -> Iterator[str]:
    """Serve ``html_dir`` on 127.0.0.1 (a free port) in a thread; yields the base URL
    (``http://127.0.0.1:PORT/``). The server is shut down on exit."""
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="book-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def _served(html_dir: Path | str, base_url: str | None) -> Iterator[str]:
    if base_url is not None:
        yield base_url
    else:
        with serve(html_dir) as url:
            yield url


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return True  # data:, blob:, about: never leave the machine
    return parts.hostname in LOCAL_HOSTS


def _new_context(browser):
    """A fresh browser context (own cookies and storage) with the test viewport."""
    return browser.new_context(viewport=VIEWPORT)


def _record_external(page, external: list[str]) -> None:
    """Append to ``external`` each request of ``page`` that would leave 127.0.0.1 (Chromium
    fails them at once: see ``--host-resolver-rules`` in :data:`CHROMIUM_ARGS`)."""
    def on_request(request):
        if not _is_local(request.url):
            external.append(request.url)

    page.on("request", on_request)


def _close(page) -> None:
    """Close ``page`` after sending it to ``about:blank``: ``page.close()`` on a page that is
    still loading (or fetching) was seen to hang Playwright."""
    from playwright.sync_api import Error

    try:
        page.goto("about:blank", wait_until="load", timeout=10_000)
    except Error:
        pass
    page.close()


def _relative(url: str, base_url: str) -> str | None:
    """``url`` as a path relative to ``base_url`` without query or fragment (``index.html`` for
    a folder), or None when it is outside the served book."""
    url = urlsplit(url)._replace(query="", fragment="").geturl()
    if not url.startswith(base_url):
        return None
    path = url[len(base_url):]
    return path + "index.html" if path == "" or path.endswith("/") else path


# --------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------


@dataclass
class PageReport:
    """What a reader sees on one page of the book."""

    path: str  # relative to the html folder, e.g. "book/generated/01_lsa.html"
    url: str
    status: int | None  # HTTP status of the page itself
    title: str
    landed: str = ""  # where the page ended up: itself, or the target of its redirect
    images_total: int = 0
    images_broken: list[str] = field(default_factory=list)  # src of each image that did not load
    raw_math: list[str] = field(default_factory=list)  # untypeset TeX: "...before [[TeX]] after..."
    math_containers: int = 0  # <mjx-container> elements: formulas MathJax typeset
    math_errors: list[str] = field(default_factory=list)  # formulas MathJax rendered as errors
    mathjax: str = "absent"  # "done", "absent", "timeout" or "error: ..."
    console_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)  # failed: no network here
    toc: list[str] = field(default_factory=list)  # sidebar links, relative to the book
    screenshot: Path | None = None

    @property
    def images_broken_count(self) -> int:
        return len(self.images_broken)


def book_pages(html_dir: Path | str) -> list[str]:
    """Every page of the book: each ``*.html`` under ``html_dir`` (relative, sorted) except
    :data:`SKIPPED_PAGES` and the files under :data:`SKIPPED_FOLDERS`."""
    html_dir = Path(html_dir)
    pages = []
    for file in sorted(html_dir.rglob("*.html")):
        rel = file.relative_to(html_dir)
        if rel.parts[0] in SKIPPED_FOLDERS or rel.as_posix() in SKIPPED_PAGES:
            continue
        pages.append(rel.as_posix())
    return pages


def screenshot_name(path: str) -> str:
    """``book/generated/01_lsa.html`` -> ``book__generated__01_lsa.png``."""
    return path.removesuffix(".html").replace("/", "__") + ".png"


def _raw_math(text: str) -> list[str]:
    hits = []
    for match in RAW_MATH.finditer(text):
        before = text[max(match.start() - 40, 0):match.start()]
        after = text[match.end():match.end() + 40]
        hits.append(f"...{before}[[{match.group()}]]{after}...".replace("\n", " "))
    return hits


def _console_recorder(page, errors: list[str], base_url: str) -> None:
    def on_console(msg):
        if msg.type != "error":
            return
        location = (msg.location or {}).get("url", "")
        # A resource the book links from outside 127.0.0.1 (a CDN, a launch button's service)
        # cannot load on the closed network these tests run on: the failure says nothing about
        # the book, so only those are ignored. They are recorded as `external_requests`.
        if msg.text.startswith("Failed to load resource") and location and not _is_local(location):
            return
        errors.append(f"console: {msg.text} ({_relative(location, base_url) or location})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))


def _is_navigation_error(exc: Exception) -> bool:
    return "Execution context was destroyed" in str(exc)


#: Where the open document stands: [its URL, its readyState, whether it redirects at once with
#: ``<meta http-equiv="Refresh" content="0; url=...">``].
_DOCUMENT_STATE = """
() => {
  const meta = document.querySelector('meta[http-equiv="refresh" i]');
  return [location.href, document.readyState, !!meta && parseFloat(meta.content) === 0];
}
"""


def _open(page, url: str, timeout_ms: int):
    """``page.goto(url)`` until ``load``; when the page redirects at once (``index.html`` is a
    ``<meta http-equiv="Refresh">`` to the root page), until the target has loaded too.
    Returns the response of ``url`` itself.

    The redirect is followed by asking the open document for its state until it is a complete
    document that does not redirect: Playwright's own waits (``wait_for_url``,
    ``wait_for_function``) were seen to return while the target was still loading.
    """
    from playwright.sync_api import Error

    response = page.goto(url, wait_until="load", timeout=timeout_ms)
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        try:
            _href, ready, redirects = page.evaluate(_DOCUMENT_STATE)
            if ready == "complete" and not redirects:
                return response
        except Error as exc:  # the redirect replaced the document while it was being asked
            if not _is_navigation_error(exc):
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not finish loading (last at {page.url})")
        page.wait_for_timeout(50)


def check_page(context, base_url: str, path: str, screenshot_dir: Path | str | None, *,
               timeout_ms: int = 30_000) -> PageReport:
    """Open one page in the browser ``context`` and report it (see :func:`check_pages`)."""
    page = context.new_page()
    errors: list[str] = []
    external: list[str] = []
    _console_recorder(page, errors, base_url)
    _record_external(page, external)
    url = urljoin(base_url, quote(path))
    try:
        return _check_open_page(page, base_url, path, url, screenshot_dir, errors, external,
                                timeout_ms)
    except Exception as exc:
        raise RuntimeError(f"checking {path} in the browser failed: {exc}") from exc
    finally:
        _close(page)


def _check_open_page(page, base_url, path, url, screenshot_dir, errors, external, timeout_ms):
    """The body of :func:`check_page`, on its new ``page``."""
    response = _open(page, url, timeout_ms)
    report = PageReport(path=path, url=url, status=response.status if response else None,
                        title="", landed=_relative(page.url, base_url) or page.url)
    report.mathjax = page.evaluate(_WAIT_MATHJAX, timeout_ms // 2)
    report.title = page.title()
    report.images_total = page.evaluate(_LOAD_IMAGES, timeout_ms // 2)
    report.images_broken = [src for src, ok in page.evaluate(_IMAGES) if not ok]
    report.raw_math = _raw_math(page.evaluate(_ARTICLE_TEXT))
    counts = page.evaluate(_MATH_COUNTS)
    report.math_containers, report.math_errors = counts["containers"], counts["errors"]
    report.toc = toc_links(page, base_url)
    if screenshot_dir is not None:
        report.screenshot = Path(screenshot_dir) / screenshot_name(path)
        page.screenshot(path=str(report.screenshot), full_page=True, timeout=timeout_ms)
    page.wait_for_timeout(100)  # let late console messages arrive
    report.console_errors = list(errors)
    report.external_requests = sorted(set(external))
    return report


def check_pages(html_dir: Path | str, screenshot_dir: Path | str | None, *,
                pages: list[str] | None = None, base_url: str | None = None,
                browser=None) -> list[PageReport]:
    """Open every page of the built book in Chromium and report what a reader sees.

    ``pages`` defaults to :func:`book_pages`. Each page is loaded over HTTP (``base_url``, or a
    :func:`serve` of ``html_dir`` for the call), MathJax's first typesetting is awaited, lazy
    images are made to load, and a full-page screenshot goes to ``screenshot_dir`` (created;
    None for no screenshots).
    """
    pages = book_pages(html_dir) if pages is None else pages
    if screenshot_dir is not None:
        Path(screenshot_dir).mkdir(parents=True, exist_ok=True)
    with _served(html_dir, base_url) as url, _browser_or_launch(browser) as chromium:
        context = _new_context(chromium)
        try:
            return [check_page(context, url, path, screenshot_dir) for path in pages]
        finally:
            context.close()


# --------------------------------------------------------------------------------------------
# Table of contents and search
# --------------------------------------------------------------------------------------------


def toc_links(page, base_url: str | None = None) -> list[str]:
    """The links of the left sidebar's table of contents on the open ``page``: absolute URLs,
    or paths relative to ``base_url`` (links outside it dropped) when it is given."""
    hrefs = [href for href, _shown in page.evaluate(_TOC_LINKS)]
    if base_url is None:
        return hrefs
    return [rel for href in hrefs if (rel := _relative(href, base_url)) is not None]


def check_toc(base_url: str, chapter_paths: list[str], *, browser=None,
              start: str = "index.html") -> dict[str, int | None]:
    """Follow the sidebar from the book's front page to each of ``chapter_paths``.

    Opens ``start`` (``index.html`` redirects to the root page), reads :func:`toc_links`, and
    for every given path that the sidebar links (and shows), follows that link until the
    browser has the response (the page itself is :func:`check_pages`'s). Returns, for each
    path, the HTTP status of the page the link opened, or None where the sidebar shows no link
    to it (or the link lands elsewhere).
    """
    reached: dict[str, int | None] = {}
    with _browser_or_launch(browser) as chromium:
        context = _new_context(chromium)
        try:
            page = context.new_page()
            _open(page, urljoin(base_url, start), 30_000)
            page.wait_for_selector("nav.bd-docs-nav a, .bd-sidebar a", timeout=30_000)
            shown = {}  # path -> href of a link to it that the reader can see
            for href, visible in page.evaluate(_TOC_LINKS):
                rel = _relative(href, base_url)
                if rel is not None and visible:
                    shown.setdefault(rel, href)
            for path in chapter_paths:
                reached[path] = None
                if path not in shown:
                    continue
                # the link's URL without its fragment: "intro.html#" on intro.html itself would
                # be a same-document navigation, without a response. The link is followed until
                # the browser has the response (check_pages loads each page fully), and the next
                # navigation cancels the rest of the load: closing a page that is still loading
                # can hang Playwright's page.close().
                response = page.goto(shown[path].split("#")[0], wait_until="commit")
                if _relative(page.url, base_url) == path and response is not None:
                    reached[path] = response.status
            _close(page)
            return reached
        finally:
            context.close()


def search_results(base_url: str, word: str, *, browser=None,
                   timeout_ms: int = 30_000) -> list[tuple[str, str]]:
    """Run the book's search page for ``word``: ``(title, path)`` of each result, in order.

    Opens ``search.html?q=word`` and waits until Sphinx's search says it has finished
    ("Search finished, found N page(s)..." or "...did not match any documents").
    """
    with _browser_or_launch(browser) as chromium:
        context = _new_context(chromium)
        try:
            page = context.new_page()
            page.goto(urljoin(base_url, "search.html") + "?q=" + quote(word), wait_until="load")
            page.wait_for_function(
                """() => {
                  const s = document.querySelector("#search-results .search-summary");
                  return s && /finished|did not match/i.test(s.textContent);
                }""",
                timeout=timeout_ms,
            )
            items = page.evaluate(
                """() => [...document.querySelectorAll("#search-results li, ul.search li")]
                        .map(li => { const a = li.querySelector("a");
                                     return [a ? a.textContent.trim() : li.textContent.trim(),
                                             a ? a.href : ""]; })"""
            )
            _close(page)  # the search may still be fetching the results' summaries
        finally:
            context.close()
    seen, results = set(), []
    for title, href in items:
        path = _relative(href, base_url) or href
        if (title, path) not in seen:
            seen.add((title, path))
            results.append((title, path))
    return results


def search_finds(base_url: str, word: str, *, browser=None) -> list[str]:
    """The pages the book's search finds for ``word``: each result's link, relative to the
    book (``book/generated/03_gaussian_mixture.html``), in the order shown."""
    paths = []
    for _title, path in search_results(base_url, word, browser=browser):
        if path not in paths:
            paths.append(path)
    return paths
