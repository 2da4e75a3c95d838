"""What a chapter's notebook calls first and last: ``start_chapter`` and ``ChapterRun.finish``.

``start_chapter`` resolves the parameters cell (sizes left as ``None`` come from the scale),
validates every value, seeds torch and numpy, picks the device (float32 without TF32 on CUDA)
and sets the plotting style.
``finish`` records the claims and key numbers to ``results/<chapter>/<scale>.json`` and
returns the scorecard table the chapter shows.
"""

from __future__ import annotations

import os
import platform
import random
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from ..devices import device_description, resolve_device, use_full_float32
from ..validation import check_choice, check_positive_float, check_positive_int, check_positive_ints
from .chapters import Chapter, get_chapter
from .paths import figures_dir, results_path
from .results import claims_payload, jsonable, write_json

REPORTED_PACKAGES = (
    "torch", "numpy", "scipy", "jax", "neural-tangents", "matplotlib", "seaborn", "jupyter-book",
    "papermill",
)


def check_size(name: str, value: Any, like: Any, choices: tuple[str, ...] | None = None) -> Any:
    """Validate a size override against the type of its scale default ``like``, and a text
    parameter (or each entry of a list of texts) against ``choices``."""
    if choices is not None:
        entries = value if isinstance(like, list) else [value]
        if isinstance(like, list) and (not isinstance(value, list | tuple) or not value):
            raise ValueError(f"{name}={value!r} is not allowed; it must be a non-empty list of {list(choices)}")
        for entry in entries:
            check_choice(f"{name} entry" if isinstance(like, list) else name, entry, choices)
        return list(value) if isinstance(like, list) else value
    if isinstance(like, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name}={value!r} is not allowed; it must be True or False")
        return value
    if isinstance(like, int):
        return check_positive_int(name, value)
    if isinstance(like, float):
        return check_positive_float(name, value, allow_zero=like == 0)  # a default of 0 allows 0
    if isinstance(like, list) and all(isinstance(v, int) for v in like):
        return check_positive_ints(name, value)
    if isinstance(like, list):
        if not isinstance(value, list | tuple) or not value:
            raise ValueError(f"{name}={value!r} is not allowed; it must be a non-empty list")
        return [check_positive_float(f"{name} entry", v, allow_zero=True) for v in value]
    return value


def resolve_parameters(chapter: Chapter, scale: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The chapter's sizes at ``scale`` with ``overrides`` applied (``None`` = keep the scale's).

    Raises ``ValueError`` naming an unknown parameter and listing the chapter's parameters, or
    naming a bad value and what is allowed.
    """
    sizes = chapter.sizes(scale)
    allowed = [n for n in chapter.parameter_names if n != "scale"]
    params: dict[str, Any] = {"seed": 0, "device": "auto", **sizes}
    for name, value in overrides.items():
        if name not in allowed:
            raise ValueError(
                f"parameter {name!r} is not a parameter of chapter {chapter.name!r}; "
                f"allowed: {', '.join(allowed)}"
            )
        if value is None:
            continue
        if name == "seed":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"seed={value!r} is not allowed; it must be a whole number >= 0")
        elif name in sizes:
            value = check_size(name, value, sizes[name], chapter.choices.get(name))
        params[name] = value
    resolve_device(params["device"])  # fails early on an unknown or unavailable device
    return params


def environment(device: torch.device) -> dict[str, Any]:
    """Versions of the key packages, the Python version and the device, for the status page."""
    versions = {}
    for name in REPORTED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "device": device_description(device),
        "packages": versions,
    }


def peak_memory(device: torch.device) -> dict[str, int | None]:
    """The most memory this process has held so far, in bytes: ``device`` (torch's allocator on
    CUDA, ``torch.cuda.max_memory_allocated``; ``None`` on CPU) and ``host`` (the peak resident
    set, ``getrusage``'s ``ru_maxrss``, which Linux reports in KiB; ``None`` where it is not
    available)."""
    try:
        import resource

        host = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except (ImportError, OSError):  # not on Windows
        host = None
    on_device = int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None
    return {"device": on_device, "host": host}


class ChapterRun:
    """The state of one chapter execution: parameters, device, and where its outputs go."""

    def __init__(self, chapter: Chapter, scale: str, params: dict[str, Any]) -> None:
        self.chapter, self.scale = chapter, scale
        self.parameters = params
        self.device = resolve_device(params["device"])
        self.p = SimpleNamespace(**params)
        self.figures: list[str] = []
        self.glued: dict[str, str] = {}

    def savefig(self, fig, name: str) -> Path:
        """Save ``fig`` as ``results/<chapter>/figures/<scale>/<name>.png`` and return the path.

        Under the executor the file goes to ``$LSA_FIGURES_DIR`` first; the executor moves the
        folder into place only when the whole notebook has run.
        """
        folder = os.environ.get("LSA_FIGURES_DIR")
        out = (Path(folder) if folder else figures_dir(self.chapter.name, self.scale)) / f"{name}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=150, bbox_inches="tight")
        self.figures.append(str(out))
        return out

    def glue(self, name: str, value: Any, fmt: str = "") -> str:
        """Put a measured number into the chapter's prose: ``{glue:text}`name``` in a markdown
        cell shows ``format(value, fmt)`` in the built book (myst-nb's glue output format,
        written here without importing myst-nb). Returns the text; the results file keeps it."""
        from IPython.display import display

        text = format(value, fmt)
        self.glued[name] = text
        prefix = "application/papermill.record/"
        display({prefix + "text/plain": repr(text)}, raw=True,
                metadata={"scrapbook": {"name": name, "mime_prefix": prefix}})
        return text

    def finish(self, values: dict[str, Any]):
        """Compute the chapter's claims from ``values`` (``lsa_utils.claims.<chapter>``), write the
        results JSON (atomically) and return the scorecard as Markdown, rendered as the scorecard
        page renders it.

        The file goes to ``$LSA_RESULTS_PATH`` when the executor set it (it moves the file into
        ``results/`` once the whole notebook has run), else straight to ``results/``.
        """
        from IPython.display import Markdown

        from ..claims import chapter_claims, claims_markdown

        values = jsonable(values)
        claims = chapter_claims(self.chapter.name, values, self.parameters)
        path = Path(os.environ.get("LSA_RESULTS_PATH") or results_path(self.chapter.name, self.scale))
        payload = claims_payload(claims)
        write_json(
            path,
            {
                "chapter": self.chapter.name,
                "title": self.chapter.title,
                "scale": self.scale,
                "parameters": self.parameters,
                "values": values,
                "claims": payload,
                "glued": self.glued,
                "environment": environment(self.device),
                "peak_memory_bytes": peak_memory(self.device),
            },
        )
        return Markdown(claims_markdown(payload, self.scale))


def start_chapter(name: str, scale: str = "default", **overrides: Any) -> ChapterRun:
    """Resolve and validate a chapter's parameters, seed everything, set the figure style.

    Args:
        name: the chapter's short name (see ``lsa_utils.run.CHAPTERS``).
        scale: ``"smoke"``, ``"default"`` or ``"paper"``.
        **overrides: ``seed``, ``device`` and any size of the chapter; ``None`` keeps the scale's.
    """
    from ..plotting import use_book_style

    chapter = get_chapter(name)
    params = resolve_parameters(chapter, scale, overrides)
    run = ChapterRun(chapter, scale, params)
    use_full_float32()
    seed = params["seed"]
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    use_book_style()
    sizes = ", ".join(f"{k}={v}" for k, v in params.items() if k not in ("seed", "device"))
    print(
        f"chapter {name} at scale {scale!r}: seed {seed}, device {device_description(run.device)}\n"
        f"sizes: {sizes}"
    )
    return run
