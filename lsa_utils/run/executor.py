"""The one executor of chapters: jupytext source -> papermill -> executed notebook + results.

``run_chapter("lazy_vs_rich", scale="paper", overrides={"seed": 3})``

1. resolves and validates the parameters (``scale``, ``seed``, ``device`` and the sizes);
2. computes the cache key (``lsa_utils.run.cache``) and, unless ``force``, returns at once when
   ``results/<chapter>/<scale>.json`` carries the same key and the executed notebook exists;
3. converts ``notebooks/<NN_name>.py`` to a notebook and executes it with papermill, which
   injects the parameters after the cell tagged ``parameters``, with a progress bar over cells;
4. on success moves the executed notebook, the figures and the results JSON (all written to
   temporary paths first) into place with ``os.replace``. An interrupted or failed run therefore
   leaves the previous outputs untouched and never a half-written file; a failed execution keeps
   its partial notebook as ``executed/<scale>/<stem>.failed.ipynb`` for inspection.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..devices import resolve_device
from ..validation import check_choice
from .cache import cache_key
from .chapters import SCALES, Chapter, get_chapter
from .context import resolve_parameters
from .data_plan import get_planner
from .paths import executed_notebook_path, figures_dir, notebook_source, project_root, results_path
from .results import read_json, write_json


@dataclass
class RunOutcome:
    """What ``run_chapter`` did: ``status`` is ``"cached"`` or ``"executed"``."""

    chapter: str
    scale: str
    status: str
    seconds: float
    results: Path
    notebook: Path
    claims: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        """``"done in 701 s; paper claims reproduced 3/3, checks 2/2, findings 0"`` (or ``"up to
        date"``)."""
        from ..claims import tally

        if self.status == "cached":
            return "up to date (cached)"
        t = tally(self.claims)
        later = f" ({t['paper_not_expected']} not expected at this scale)" if t["paper_not_expected"] else ""
        return (f"done in {self.seconds:.0f} s; paper claims reproduced {t['paper_passed']}/{t['paper']}{later}, "
                f"checks {t['checks_passed']}/{t['checks']}, findings {t['findings']}")


def is_up_to_date(results: Path, notebook: Path, key: str) -> bool:
    """True when both outputs exist and the results were produced under cache key ``key``."""
    if not (results.is_file() and notebook.is_file()):
        return False
    try:
        return read_json(results).get("run", {}).get("cache_key") == key
    except (OSError, ValueError):
        return False


def replace_folder(source: Path, target: Path) -> None:
    """Put the folder ``source`` at ``target``, replacing what was there, with renames only at
    the end (the copy is staged next to ``target`` first)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staged, old = target.with_name(f".{target.name}.new"), target.with_name(f".{target.name}.old")
    shutil.rmtree(staged, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    shutil.copytree(source, staged)
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    shutil.rmtree(old, ignore_errors=True)


def _ipc_kernel_manager(socket_dir: Path):
    """A jupyter_client kernel manager that talks to the kernel over IPC (Unix sockets) instead
    of TCP on localhost: nothing listens on a port, and ipykernel has no reason to print its
    "running over TCP without encryption" warning into the log of every chapter.

    The sockets (``kernel-ipc-1`` ... ``-N``) live in ``socket_dir``, a temporary folder: left to
    the default, they are made in the notebook's folder, where a kernel that is killed (an
    interrupted chapter) leaves them behind for every later copy of the folder to trip on."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self) -> str:
            return "ipc"

        @default("ip")
        def _default_ip(self) -> str:
            return str(socket_dir / "kernel-ipc")

    return IPCKernelManager


@contextlib.contextmanager
def patched_environ(values: dict[str, str]):
    """Set the environment variables ``values`` for the ``with`` block, then restore each one
    (unset again where it was unset)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _execute(source: Path, output: Path, parameters: dict[str, Any], env: dict[str, str], progress: bool) -> None:
    import jupytext
    import papermill

    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    with tempfile.TemporaryDirectory() as tmp:
        converted = Path(tmp) / f"{source.stem}.ipynb"
        jupytext.write(notebook, converted)
        with patched_environ(env):  # the kernel inherits the executor's environment
            papermill.execute_notebook(
                str(converted), str(output), parameters=parameters, kernel_name="python3",
                progress_bar=progress, cwd=str(source.parent), kernel_manager_class=_ipc_kernel_manager(Path(tmp)),
            )


def source_commit() -> str:
    """The git commit of the project the chapter ran from (``+dirty`` with uncommitted changes),
    or ``"unknown"`` outside a git checkout."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=project_root(), capture_output=True, text=True,
                              timeout=20, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short=10", "HEAD")
        return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def data_dir_setting() -> str:
    """The data folder the loaders will read (``$LSA_DATA_DIR``, else the default folder of
    ``data fetch`` when it exists) as an absolute path; "" when there is none."""
    from ..data.folders import resolve_data_dir

    folder = resolve_data_dir()
    return str(folder.expanduser().resolve()) if folder is not None else ""


def chapter_cache_key(chapter: Chapter, scale: str, params: dict[str, Any]) -> str:
    """The cache key of ``chapter`` at ``scale`` with resolved ``params``: besides the
    parameters it holds the device actually used (``LSA_DEVICE`` and CUDA's presence decide
    ``"auto"``) and the fusion setting ``LSA_COMPILE``; for a chapter that reads images, also
    the data folder and the image files in it with their sizes (so fetching the data reruns the
    chapters that fell back to the digits, and only those)."""
    resolved = {"device_used": str(resolve_device(params["device"])),
                "LSA_COMPILE": os.environ.get("LSA_COMPILE", "auto")}
    if chapter.reads_images:
        from ..data.images import data_files

        resolved |= {"LSA_DATA_DIR": data_dir_setting(), "data_files": data_files()}
    text = notebook_source(chapter.notebook).read_text()
    # ChapterRun.finish imports the chapter's claims module by name: its sources count too
    text += f"\nimport lsa_utils.claims.{chapter.name}  # the chapter's claims\n"
    return cache_key(text, {"scale": scale, **params, **resolved}, chapter.extra_inputs)


def run_chapter(
    name: str,
    scale: str = "default",
    overrides: dict[str, Any] | None = None,
    force: bool = False,
    progress: bool = False,
    announce: bool = True,
) -> RunOutcome:
    """Execute chapter ``name`` at ``scale`` (see the module docstring); return what happened.
    ``announce``: print a line when it starts and one when it ends (``run_chapters`` prints its
    own single line instead)."""
    chapter = get_chapter(name)
    check_choice("scale", scale, SCALES)
    params = resolve_parameters(chapter, scale, overrides or {})
    get_planner(name)(params).check()  # sizes the claims or figures cannot use fail here, not mid-run
    source = notebook_source(chapter.notebook)
    if not source.is_file():
        raise FileNotFoundError(f"chapter {name!r}: notebook source {source} does not exist")
    key = chapter_cache_key(chapter, scale, params)
    results, executed = results_path(name, scale), executed_notebook_path(chapter.stem, scale)
    if not force and is_up_to_date(results, executed, key):
        if announce:
            print(f"{name} [{scale}]: up to date ({results}); use --force to rerun")
        return RunOutcome(name, scale, "cached", 0.0, results, executed, read_json(results)["claims"])

    commit = source_commit()  # of the sources this run starts from
    if announce:
        print(f"{name} [{scale}]: executing {source.name} with {params}")
    executed.parent.mkdir(parents=True, exist_ok=True)
    partial = executed.with_name(f".{executed.stem}.partial.ipynb")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_results, tmp_figures = Path(tmp) / "results.json", Path(tmp) / "figures"
        env = {"LSA_RESULTS_PATH": str(tmp_results), "LSA_FIGURES_DIR": str(tmp_figures)}
        if data_dir_setting():
            env["LSA_DATA_DIR"] = data_dir_setting()  # absolute: the kernel runs in notebooks/
        start = time.perf_counter()
        try:
            _execute(source, partial, {"scale": scale, **params}, env, progress)
        except BaseException:
            if partial.exists():
                os.replace(partial, executed.with_name(f"{executed.stem}.failed.ipynb"))
            raise
        seconds = time.perf_counter() - start
        if not tmp_results.is_file():
            partial.unlink(missing_ok=True)
            raise RuntimeError(
                f"chapter {name!r} ran but recorded no results: its last cell must call "
                "ChapterRun.finish(values)"
            )
        data = read_json(tmp_results)
        if tmp_figures.is_dir():
            replace_folder(tmp_figures, figures_dir(name, scale))
    data["run"] = {
        "cache_key": key,
        "seconds": round(seconds, 2),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "notebook": str(executed.relative_to(executed.parents[2])),
        "commit": commit,
        # what the cache key holds besides the parameters, for the page's rerun command
        "data_dir": data_dir_setting() if chapter.reads_images else None,
        "LSA_COMPILE": os.environ.get("LSA_COMPILE", "auto"),
    }
    os.replace(partial, executed)  # notebook first: results carrying the new key come last
    write_json(results, data)
    executed.with_name(f"{executed.stem}.failed.ipynb").unlink(missing_ok=True)
    outcome = RunOutcome(name, scale, "executed", seconds, results, executed, data["claims"])
    if announce:
        print(f"{name} [{scale}]: {outcome.summary()}")
    return outcome


def fallback_notice(names: list[str], scale: str, overrides: dict[str, Any] | None = None) -> str | None:
    """One paragraph naming the chapters among ``names`` that will run on scikit-learn's digits
    instead of MNIST / CIFAR-10 (their planners decide, reading the data folder the run will
    read), and how to get the real data; ``None`` when every chapter has its data."""
    from .data_plan import dataset_names

    fell_back: dict[str, list[str]] = {}
    for name in names:
        plan = get_planner(name)(resolve_parameters(get_chapter(name), scale, overrides or {}))
        if plan.fallback:
            fell_back[name] = plan.fell_back
    if not fell_back:
        return None
    missing = dataset_names(sorted({d for sets in fell_back.values() for d in sets}))
    from ..data.folders import default_data_dir

    where = (f"LSA_DATA_DIR={os.environ['LSA_DATA_DIR']}" if os.environ.get("LSA_DATA_DIR")
             else f"LSA_DATA_DIR is not set and {default_data_dir()} has no data")
    return (f"data: {', '.join(fell_back)} will run on scikit-learn's 8x8 digits instead of {missing} ({where}). "
            "For the real data run `make data` (python -m lsa_utils data fetch, about 180 MB), then this again.")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def run_chapters(
    names: list[str],
    scale: str = "default",
    overrides: dict[str, Any] | None = None,
    force: bool = False,
    progress: bool = False,
) -> list[RunOutcome]:
    """Run chapters ``names`` in order, one line each with the elapsed time and an estimate of
    what remains: each chapter's last recorded run time at ``scale``, else its time measured on
    the reference machine (``Chapter.measured_s``), scaled by how fast this machine has been so
    far in this call."""
    notice = fallback_notice(names, scale, overrides)
    if notice:
        print(notice)
    expected: dict[str, float | None] = {}
    for name in names:
        previous = results_path(name, scale)
        recorded = read_json(previous).get("run", {}).get("seconds") if previous.is_file() else None
        expected[name] = recorded or get_chapter(name).measured_s.get(scale)
    outcomes: list[RunOutcome] = []
    start, spent_on_executed, expected_of_executed = time.perf_counter(), 0.0, 0.0
    for i, name in enumerate(names, start=1):
        ahead = [expected[n] for n in names[i - 1:]]
        speed = spent_on_executed / expected_of_executed if expected_of_executed else 1.0
        remain = ("time unknown" if None in ahead
                  else f"about {_minutes(sum(ahead) * speed)} remain if nothing is cached")
        print(f"[{i}/{len(names)}] {name} [{scale}] · elapsed {_minutes(time.perf_counter() - start)} · {remain} · ",
              end="", flush=True)
        outcome = run_chapter(name, scale, overrides, force=force, progress=progress, announce=False)
        print(outcome.summary(), flush=True)
        if outcome.status == "executed" and expected[name]:
            spent_on_executed += outcome.seconds
            expected_of_executed += expected[name]
        outcomes.append(outcome)
    print(f"{len(names)} chapters at scale {scale} in {_minutes(time.perf_counter() - start)} "
          f"({sum(o.status == 'executed' for o in outcomes)} executed, "
          f"{sum(o.status == 'cached' for o in outcomes)} up to date)")
    return outcomes
