"""How a chapter page reads in the book: prose, figures and tables first, code folded.

``book.stage_sources`` passes every executed notebook through ``fold_for_readers`` before
Jupyter Book renders it (the executed notebook under ``executed/`` stays as papermill wrote it,
and the page links to it for download):

- the parameters cell, papermill's injected-parameters cell and the setup cell that follows them
  (imports, ``start_chapter``) become one cell whose code is folded behind one line that states
  the run's scale and main sizes; what that cell displays (a data notice) stays visible, the line
  ``start_chapter`` prints (which the toggle repeats) is dropped;
- every other code cell is folded too (Jupyter Book's ``hide-input`` tag), its outputs shown;
- after the chapter's opening text, a folded box "About this run" gives the command that reruns
  the chapter as shown, a link to the executed notebook, and the run's environment (device,
  wall time, Python and package versions, commit).
"""

from __future__ import annotations

import copy
import shlex
from typing import Any

from .chapters import COMMON_PARAMETERS, Chapter

SUMMARY_SIZES = 5  # sizes named in the one-line summary; the folded code has them all


def _short(value: Any, items: int = 4) -> str:
    """A parameter value in a few characters: long lists are cut after ``items`` entries."""
    if isinstance(value, list | tuple) and len(value) > items:
        return "[" + ", ".join(map(str, value[:items])) + ", …]"
    return str(value).replace("'", "") if isinstance(value, list | tuple) else str(value)


def run_summary(chapter: Chapter, data: dict[str, Any]) -> str:
    """``"scale default · n_train=40, widths=[64, 256, …], … · seed 0"``: the run in one line."""
    params = data["parameters"]
    sizes = [f"{k}={_short(params[k])}" for k in chapter.sizes(data["scale"]) if k in params]
    more = " …" if len(sizes) > SUMMARY_SIZES else ""
    return f"scale {data['scale']} · {', '.join(sizes[:SUMMARY_SIZES])}{more} · seed {params.get('seed', 0)}"


def _shell(token: str) -> str:
    """``token`` quoted for a POSIX shell, in double quotes where that is enough (easier to read
    than shlex's nested single quotes around list parameters)."""
    if shlex.quote(token) == token:
        return token
    if not any(c in token for c in '"$`\\!'):
        return f'"{token}"'
    return shlex.quote(token)


def rerun_command(chapter: Chapter, data: dict[str, Any]) -> str:
    """The command that reruns ``chapter`` as recorded in ``data`` (its results JSON), from the
    repository: the data folder and ``LSA_COMPILE`` the run used (where they are part of its
    cache key), its scale, seed and device, and ``-p key=value`` for every size that differs
    from the scale's own (strings and lists as Python literals, as ``-p`` parses them)."""
    params, scale, run = data["parameters"], data["scale"], data.get("run", {})
    env = []
    if chapter.reads_images and run.get("data_dir"):
        env.append(f"LSA_DATA_DIR={run['data_dir']}")
    if run.get("LSA_COMPILE", "auto") != "auto":
        env.append(f"LSA_COMPILE={run['LSA_COMPILE']}")
    parts = [*env, ".venv/bin/python", "-m", "lsa_utils", "run", chapter.name, "--scale", scale]
    if params.get("seed", COMMON_PARAMETERS["seed"]) != COMMON_PARAMETERS["seed"]:
        parts += ["--seed", str(params["seed"])]
    if params.get("device", "auto") != "auto":
        parts += ["--device", str(params["device"])]
    defaults = chapter.sizes(scale)
    for key, value in params.items():
        if key in defaults and value != defaults[key]:
            text = repr(value) if isinstance(value, str | list | tuple) else str(value)
            parts += ["-p", f"{key}={text}"]
    return " ".join(_shell(p) for p in parts)


def data_source(chapter: Chapter, data: dict[str, Any]) -> str:
    """Where the run's images came from, in words (``""`` for a chapter on synthetic data)."""
    if not chapter.reads_images:
        return ""
    folder = data.get("run", {}).get("data_dir")
    if data.get("values", {}).get("fallback_data"):
        return (f"scikit-learn's 8x8 digits instead of MNIST / CIFAR-10 (fallback; data folder: "
                f"{folder or 'none'})")
    return f"MNIST / CIFAR-10 from `{folder}`" if folder else "MNIST / CIFAR-10"


def about_this_run(chapter: Chapter, data: dict[str, Any], download: str) -> str:
    """MyST for the folded box "About this run" (``download``: the executed notebook's path,
    relative to the page)."""
    run, env = data.get("run", {}), data.get("environment", {})
    seconds = run.get("seconds")
    took = f"{seconds / 60:.1f} min" if isinstance(seconds, int | float) else "unknown time"
    packages = ", ".join(f"{name} {version}" for name, version in env.get("packages", {}).items() if version)
    finished = run.get("finished", "unknown").replace("T", " ").replace("+00:00", " UTC")
    source = data_source(chapter, data)
    return "\n".join([
        f"````{{admonition}} About this run: scale {data['scale']}, {took} on {env.get('device', 'unknown device')}",
        ":class: dropdown note",
        "",
        "**Rerun it** from the repository (cached when nothing changed; `--force` reruns anyway, "
        "`--device cuda` uses a GPU):",
        "",
        "```bash",
        rerun_command(chapter, data),
        "```",
        "",
        *([f"**Data**: {source}.", ""] if source else []),
        f"**Executed notebook**: {{download}}`{download.rsplit('/', 1)[-1]} <{download}>`, as papermill wrote it.",
        "",
        f"**Environment**: finished {finished}, commit `{run.get('commit', 'unknown')}`; Python "
        f"{env.get('python', '?')} on {env.get('platform', '?')}; device {env.get('device', '?')}; {packages}.",
        "````",
    ])


def _without_start_lines(outputs: list[dict[str, Any]], chapter: Chapter) -> list[dict[str, Any]]:
    """``outputs`` without the two lines ``start_chapter`` prints (``chapter <name> at scale
    ...`` and its sizes); other printed text, merged into the same stream by Jupyter, stays."""
    kept = []
    for output in outputs:
        text = output.get("text", "")
        text = "".join(text) if isinstance(text, list) else text
        if output.get("output_type") == "stream" and text.startswith(f"chapter {chapter.name} at scale "):
            rest = "".join(text.splitlines(keepends=True)[2:])
            if not rest:
                continue
            output = {**output, "text": rest}
        kept.append(output)
    return kept


def _tags(cell: dict[str, Any]) -> list[str]:
    return cell.setdefault("metadata", {}).setdefault("tags", [])


def _fold(cell: dict[str, Any], prompt: str | None = None) -> None:
    """Fold a code cell's source behind a toggle (``hide-input``), optionally with its own prompt."""
    if "hide-input" not in _tags(cell):
        _tags(cell).append("hide-input")
    if prompt:
        cell["metadata"]["mystnb"] = {"code_prompt_show": prompt, "code_prompt_hide": "Hide the setup code"}


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def fold_for_readers(notebook: dict[str, Any], chapter: Chapter, data: dict[str, Any], download: str) -> dict[str, Any]:
    """A copy of the executed ``notebook`` (nbformat 4, as a dict or NotebookNode) arranged for
    readers (see the module docstring). ``data``: the chapter's results JSON; ``download``: the
    path of the executed notebook relative to the page."""
    nb = copy.deepcopy(notebook)
    cells = nb["cells"]
    first_code = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
    if "parameters" not in _tags(cells[first_code]):
        raise ValueError(f"{chapter.notebook}: the first code cell is not tagged 'parameters'")
    setup = [first_code]
    if first_code + 1 < len(cells) and "injected-parameters" in _tags(cells[first_code + 1]):
        setup.append(first_code + 1)
    following = setup[-1] + 1
    if following < len(cells) and cells[following]["cell_type"] == "code":
        setup.append(following)
    merged = copy.deepcopy(cells[setup[-1]])
    titles = {"parameters": "# The chapter's parameters (None: the size of the chosen scale)",
              "injected-parameters": "# This run's values, injected by papermill"}
    merged["source"] = "\n\n".join(
        (f"{titles[t]}\n" if (t := next((x for x in _tags(cells[i]) if x in titles), None)) else "# Setup\n")
        + _source(cells[i]).strip() for i in setup)
    merged["metadata"]["tags"] = [t for t in _tags(merged) if t not in ("parameters", "injected-parameters")]
    # start_chapter's printed line repeats the summary in the toggle; anything else stays
    merged["outputs"] = _without_start_lines(merged.get("outputs", []), chapter)
    _fold(merged, prompt=f"This run: {run_summary(chapter, data)}. Show the setup code")
    for cell in cells:
        if cell["cell_type"] == "code":
            _fold(cell)
    intro = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown")
    about = {"cell_type": "markdown", "id": "about-this-run", "metadata": {},
             "source": about_this_run(chapter, data, download)}
    nb["cells"] = [*cells[:setup[0]], merged, *cells[setup[-1] + 1:]]
    nb["cells"].insert(intro + 1 if intro < setup[0] else 0, about)
    return nb
