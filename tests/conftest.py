"""Shared fixtures: the project root, the real data sets, and one smoke-scale run of the book."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "datasets"


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
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("generated"))
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
        if (SHARED_DATA / "MNIST").is_dir():  # CI has the real data; elsewhere the fallback runs
            mp.setenv("LSA_DATA_DIR", str(SHARED_DATA))
        outcomes = {name: run_chapter(name, "smoke", progress=False) for name in CHAPTERS}
        yield root, outcomes
