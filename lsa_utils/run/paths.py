"""Where the project's files live: sources, executed notebooks, results and figures.

The project root is ``$LSA_ROOT`` when set, else the folder that holds the ``lsa_utils`` package
(an editable install, as ``make`` sets up). Generated files (results, figures, executed notebooks)
go under the output root, which is the project root unless ``$LSA_OUTPUT_ROOT`` names another
folder (the GPU check writes its runs there, beside the CPU runs it compares them with); they are
never committed.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    env = os.environ.get("LSA_ROOT")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[2]


def output_root() -> Path:
    """Where ``results/`` and ``executed/`` go: ``$LSA_OUTPUT_ROOT`` when set, else the project root."""
    env = os.environ.get("LSA_OUTPUT_ROOT")
    return Path(env).resolve() if env else project_root()


def notebook_source(notebook: str) -> Path:
    """The jupytext source ``notebooks/<notebook>``."""
    return project_root() / "notebooks" / notebook


def results_path(chapter: str, scale: str) -> Path:
    """``results/<chapter>/<scale>.json``: the chapter's recorded numbers and claims."""
    return output_root() / "results" / chapter / f"{scale}.json"


def figures_dir(chapter: str, scale: str) -> Path:
    """``results/<chapter>/figures/<scale>/``: the chapter's figures as PNG files."""
    return output_root() / "results" / chapter / "figures" / scale


def executed_notebook_path(stem: str, scale: str) -> Path:
    """``executed/<scale>/<stem>.ipynb``: the notebook as papermill executed it."""
    return output_root() / "executed" / scale / f"{stem}.ipynb"
