"""Shared fixtures: the project root, the real data sets, and one smoke-scale run of the book."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The loaders' last resort is the folder `python -m lsa_utils data fetch` fills
# (~/.cache/lsa_utils/data). Tests choose their data explicitly (LSA_DATA_DIR or the fallback), so
# they see no data a developer fetched: the cache home points at an empty folder of their own.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="lsa-tests-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], ignore_errors=True)
SHARED_DATA = ROOT.parent / "shared" / "datasets"


def _image_chapters() -> tuple[str, ...]:
    from lsa_utils.run.chapters import CHAPTERS

    return tuple(name for name, chapter in CHAPTERS.items() if chapter.reads_images)


# the chapters that read MNIST / CIFAR-10 and fall back to scikit-learn's digits without them
IMAGE_CHAPTERS = _image_chapters()


def has_shared_data() -> bool:
    return (SHARED_DATA / "MNIST").is_dir()


def glue_keys(name: str) -> set[str]:
    """The glued keys that chapter ``name``'s prose reads (``{glue:text}`key``` and the like)."""
    from lsa_utils.run.chapters import CHAPTERS

    text = (ROOT / "notebooks" / CHAPTERS[name].notebook).read_text()
    return set(re.findall(r"\{glue(?::\w+)?\}`([^`:]+)", text))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/datasets`` (real MNIST and CIFAR-10); skips the test when it is absent."""
    if not (SHARED_DATA / "MNIST").is_dir():
        pytest.skip(f"real data sets not found at {SHARED_DATA} (CI always has them)")
    return SHARED_DATA


def make_project_copy(dest: Path) -> Path:
    """A project root in ``dest`` with the book sources and notebooks (the package stays shared)."""
    for name in ("pyproject.toml", "_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, dest / name)
    for folder in ("notebooks", "book"):
        # kernel-ipc-*: sockets a killed kernel of an older version left in notebooks/ (not copyable)
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("generated", "kernel-ipc-*"))
    return dest


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory):
    """A copy of the project in which every chapter has been executed once at the smoke scale.

    Sets ``LSA_ROOT`` for the whole session's remaining tests that use it, so results and
    executed notebooks go to the copy, never into the working tree.
    """
    from lsa_utils.run.chapters import CHAPTERS
    from lsa_utils.run.executor import run_chapter

    root = make_project_copy(tmp_path_factory.mktemp("project"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LSA_ROOT", str(root))
        if has_shared_data():  # CI has the real data; elsewhere the fallback runs
            mp.setenv("LSA_DATA_DIR", str(SHARED_DATA))
        else:
            mp.delenv("LSA_DATA_DIR", raising=False)
        outcomes = {name: run_chapter(name, "smoke", progress=False) for name in CHAPTERS}
        yield root, outcomes


@pytest.fixture(scope="session")
def fallback_root(smoke_root, tmp_path_factory):
    """The image chapters executed at the smoke scale on the digits fallback (no data folder).

    Without ``../shared/datasets`` the smoke run above already used the fallback and is reused;
    with it (as in CI) the image chapters run a second time, in their own project copy, with
    ``LSA_DATA_DIR`` unset.
    """
    from lsa_utils.run.executor import run_chapter

    if not has_shared_data():
        root, outcomes = smoke_root
        yield root, {name: outcomes[name] for name in IMAGE_CHAPTERS}
        return
    root = make_project_copy(tmp_path_factory.mktemp("fallback"))
    with pytest.MonkeyPatch.context() as mp:  # undone before the yield: later tests see the smoke run's setting
        mp.setenv("LSA_ROOT", str(root))
        mp.delenv("LSA_DATA_DIR", raising=False)
        outcomes = {name: run_chapter(name, "smoke", progress=False) for name in IMAGE_CHAPTERS}
    yield root, outcomes


def skip_without_neural_tangents() -> None:
    """Skip the calling test, with the reason, where neural-tangents cannot be imported (the
    appendix decides the same way: ``lsa_utils.kernels.reference.reference_missing``)."""
    from lsa_utils.kernels.reference import reference_missing

    missing = reference_missing()
    if missing:
        pytest.skip(missing)


@pytest.fixture
def nt_reference():
    """The neural-tangents reference (``tests/nt_reference.py``); skips the test where it cannot be
    imported (it needs the ``[reference]`` extra, which installs only on Python 3.11)."""
    skip_without_neural_tangents()
    import nt_reference

    return nt_reference


@pytest.fixture(scope="session")
def smoke_book(smoke_root, tmp_path_factory):
    """The HTML book built once from the smoke runs: the ``_build/html`` folder."""
    from lsa_utils.run.book import build_book

    root, _ = smoke_root
    out = tmp_path_factory.mktemp("book")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LSA_ROOT", str(root))
        index = build_book("smoke", out=out)  # chapters are cached: nothing re-executes
    return index.parent
