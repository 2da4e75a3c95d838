"""A Sphinx extension of this book: each page loads every script once.

With Jupyter Book 1.0.4, sphinx-thebe's inline configuration (``const THEBE_JS_URL = ...``) and
sphinx-togglebutton's selector script are registered twice, so the second copy of the ``const``
throws "Identifier 'THEBE_JS_URL' has already been declared" on every page (seen in the browser
test, ``tests/test_browser.py``; a one-page Jupyter Book shows the same). This drops exact
duplicates from a page's script list, keeping the first of each.
"""

from __future__ import annotations


def _identity(script) -> tuple:
    """What a script tag says: its file and attributes (the inline body among them). An inline
    script's file is ``None`` in one registration and ``""`` in the other, so both count as none."""
    return (getattr(script, "filename", script) or None, tuple(sorted(getattr(script, "attributes", {}).items())))


def unique_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if scripts:
        seen: set[tuple] = set()
        scripts[:] = [s for s in scripts if not (_identity(s) in seen or seen.add(_identity(s)))]


def setup(app):
    app.connect("html-page-context", unique_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
