"""A chapter's plan: the sizes it will really use on the data at hand, decided before it trains.

A chapter that reads images asks for sizes (``n_train = 10000``) that the data may not hold: the
scikit-learn digits fallback has 1,437 training images, a partial CIFAR-10 folder 8,068. Its
planner (``plan_data`` in the chapter's experiment module) caps every size at what exists,
merges the sweep points that become equal (never two rows at one ``n``), drops what cannot run,
and returns a ``DataPlan`` that lists each change in words. The chapter shows ``plan.markdown()``
at its top and records ``plan.sizes``; the tests plan every chapter at every scale against every
standard data layout without training anything (``tests/test_data_plan.py``).

Chapters on synthetic data use ``synthetic_plan``: their sizes pass through unchanged and only
their requirements (the claim points that must lie inside the sweeps) are stated.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

# how the data sets are named in prose
DATASET_NAMES = {"mnist": "MNIST", "cifar10": "CIFAR-10"}


def dataset_names(names: list[str]) -> str:
    """``["mnist", "cifar10"]`` -> ``"MNIST and CIFAR-10"``."""
    return " and ".join(DATASET_NAMES.get(n, n) for n in names)


# chapter name -> "module:function" of its planner, imported on use (so that importing this
# module does not pull every experiment into a chapter's cache key)
PLANNERS = {
    "lazy_vs_rich": "lsa_utils.experiments.lazy_vs_rich:plan_data",
    "lsa": "lsa_utils.experiments.lsa_images:plan_data",
    "representation": "lsa_utils.experiments.representation:plan_data",
    "gaussian_mixture": "lsa_utils.experiments.gaussian_mixture:plan_data",
    "linearization": "lsa_utils.experiments.linearization:plan_data",
    "kernels": "lsa_utils.experiments.kernel_checks:plan_data",
}


@dataclass
class DataPlan:
    """What a chapter will run.

    ``sizes``: every parameter as the run uses it (requested values capped to the data, sweeps
    de-duplicated; planners may add derived entries such as per-setting sizes). ``notes``: each
    change, in words. ``sources``: data set -> where its images come from. ``fallback``: some
    data set is scikit-learn's digits instead of the one asked for, and ``fallback_effect`` says
    what that changes for this chapter. ``requirements``: ``(statement, holds)`` for each point
    a claim or figure needs inside the sweeps.
    """

    sizes: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    fallback: bool = False
    fallback_effect: str = ""
    requirements: list[tuple[str, bool]] = field(default_factory=list)
    fell_back: list[str] = field(default_factory=list)  # the data sets replaced by the digits

    @property
    def p(self) -> SimpleNamespace:
        """The sizes as attributes, like ``ChapterRun.p``."""
        return SimpleNamespace(**self.sizes)

    def unmet_requirements(self) -> list[str]:
        return [text for text, holds in self.requirements if not holds]

    def check(self) -> DataPlan:
        """Raise ``ValueError`` naming every requirement the planned sizes miss; else ``self``."""
        unmet = self.unmet_requirements()
        if unmet:
            raise ValueError("these parameters cannot run: " + "; ".join(unmet))
        return self

    def markdown(self) -> str:
        """The data paragraph a chapter shows at its top: sources, fallback, capped sizes."""
        lines = []
        missing = dataset_names(self.fell_back) or "the real data"
        if self.fallback:
            lines += [
                "```{warning}",
                f"**This page ran on scikit-learn's 8x8 digits instead of {missing}**, because no "
                f"{missing} files were found (set `LSA_DATA_DIR` to a folder that holds them; see the "
                "README's *Data* section). " + self.fallback_effect,
                "```",
                "",
            ]
        if self.sources:
            lines += ["**Data.**", ""] + [f"- {name}: {text}" for name, text in self.sources.items()] + [""]
        if self.notes:
            lines += ["**Sizes capped to the data available.**", ""] + [f"- {n}" for n in self.notes] + [""]
        return "\n".join(lines)

    def show(self) -> None:
        """Display ``markdown()`` in the notebook (rendered by the book); print it elsewhere."""
        text = self.markdown()
        if not text:
            return
        try:
            from IPython.display import Markdown, display
        except ImportError:  # pragma: no cover - IPython ships with the book's stack
            print(text)
            return
        display(Markdown(text))

    def record(self) -> dict[str, Any]:
        """The plan as JSON-ready values for the chapter's results file."""
        return {"sizes": self.sizes, "notes": self.notes, "sources": self.sources, "fallback": self.fallback,
                "fell_back": self.fell_back}


def capped_sweep(values: list[int], limit: int) -> list[int]:
    """``values`` with each entry capped at ``limit``, duplicates merged, order kept."""
    out: list[int] = []
    for v in values:
        v = min(int(v), int(limit))
        if v not in out:
            out.append(v)
    return out


def cap_note(what: str, asked: Any, got: Any, why: str) -> str:
    """One line for ``DataPlan.notes``."""
    return f"{what}: {got:,} instead of {asked:,} ({why})" if isinstance(asked, int) else \
        f"{what}: {got} instead of {asked} ({why})"


def synthetic_plan(params: dict[str, Any], requirements: list[tuple[str, bool]] = ()) -> DataPlan:
    """The plan of a chapter on synthetic data: sizes unchanged, ``requirements`` stated."""
    return DataPlan(dict(params), requirements=list(requirements))


def get_planner(name: str):
    """The planner function of chapter ``name``: ``planner(params, inventories=None) -> DataPlan``."""
    from .chapters import get_chapter

    get_chapter(name)  # a clear error for an unknown chapter
    module, function = PLANNERS[name].split(":")
    return getattr(importlib.import_module(module), function)


def plan_chapter(name: str, scale: str, overrides: dict[str, Any] | None = None,
                 inventories: dict[str, Any] | None = None) -> DataPlan:
    """The plan of chapter ``name`` at ``scale`` (with ``overrides``) against ``inventories``
    (data set -> ``ImageInventory``; default: what ``$LSA_DATA_DIR`` holds)."""
    from .chapters import get_chapter
    from .context import resolve_parameters

    params = resolve_parameters(get_chapter(name), scale, overrides or {})
    return get_planner(name)(params, inventories)
