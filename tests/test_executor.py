"""The executor, end to end: smoke-scale runs of every chapter, the cache, failure handling."""

import json
import shutil

import papermill
import pytest

from conftest import IMAGE_CHAPTERS, glue_keys, has_shared_data
from lsa_utils.run.chapters import CHAPTERS
from lsa_utils.run.executor import run_chapter
from lsa_utils.run.paths import executed_notebook_path, results_path

pytestmark = pytest.mark.slow


def test_every_chapter_ran_at_smoke_scale_and_recorded_passing_claims(smoke_root):
    root, outcomes = smoke_root
    for name, outcome in outcomes.items():
        assert outcome.status == "executed"
        data = json.loads(outcome.results.read_text())
        assert data["chapter"] == name and data["scale"] == "smoke"
        assert outcome.results == root / "results" / name / "smoke.json"
        assert outcome.notebook.is_file() and outcome.notebook.parent == root / "executed" / "smoke"
        assert data["run"]["seconds"] > 0 and len(data["run"]["cache_key"]) == 64
        assert data["claims"], f"{name} recorded no claims"
        assert {c["kind"] for c in data["claims"]} <= {"paper", "check", "finding"}
        assert all(c["source"] for c in data["claims"] if c["kind"] == "paper"), f"{name}: paper claim without source"
        failed = [c["claim"] for c in data["claims"] if c["kind"] != "finding" and c["expected"] and not c["passed"]]
        assert not failed, f"{name}: claims failed at smoke scale: {failed}"
        assert set(data["glued"]) >= glue_keys(name), f"{name}: prose reads numbers the run did not glue"
        figures = list((root / "results" / name / "figures" / "smoke").glob("*.png"))
        assert figures, f"{name} saved no figures"
        if name in IMAGE_CHAPTERS:
            assert data["values"]["fallback_data"] == (not has_shared_data())


def test_image_chapters_run_on_the_digits_fallback_and_say_so(fallback_root):
    """On scikit-learn's 8x8 digits the image chapters run, show the paper's claims about
    MNIST / CIFAR-10 as not expected, pass every check and every claim they do count, and say so
    at the top of the page."""
    root, outcomes = fallback_root
    for name, outcome in outcomes.items():
        assert outcome.status == "executed"
        data = json.loads(outcome.results.read_text())
        assert data["values"]["fallback_data"] is True
        assert data["values"]["data_plan"]["fallback"] is True
        counted = [c for c in data["claims"] if c["expected"] and c["kind"] != "finding"]
        failed = [c["claim"] for c in counted if not c["passed"]]
        assert not failed, f"{name}: claims failed on the fallback: {failed}"
        on_real_data = [c for c in data["claims"] if not c["expected"] and "on real" in c["expected_when"]]
        assert on_real_data, f"{name}: no claim is marked as expected only on the real data"
        page = outcome.notebook.read_text()
        assert "ran on scikit-learn&#x27;s 8x8 digits" in page or "ran on scikit-learn's 8x8 digits" in page


def test_lazy_vs_rich_smoke_numbers(smoke_root):
    """The recorded numbers themselves, with the tolerances lazy-training theory allows."""
    root, _ = smoke_root
    values = json.loads((root / "results" / "lazy_vs_rich" / "smoke.json").read_text())["values"]
    change_ntk, change_mf = values["weight_change_ntk"], values["weight_change_mean_field"]
    assert all(a > b for a, b in zip(change_ntk, change_ntk[1:]))  # falls at every doubling
    assert change_ntk[-1] < 0.05 and min(change_mf) > 0.5
    assert values["distance_to_kernel_ntk"][-1] < 0.1 < min(values["distance_to_kernel_mean_field"])


SMALL = {"widths": [64, 256], "seeds": 1, "steps": 100}  # chapter 0 in about 10 s


def project_copy(smoke_root, tmp_path):
    """A copy of the smoke-run project, so that a test may rerun or break chapter 0 in it."""
    root, _ = smoke_root
    copy = tmp_path / "project"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("_build"))
    return copy


def test_second_run_is_cached_and_force_or_new_parameters_rerun(smoke_root, monkeypatch, tmp_path):
    monkeypatch.setenv("LSA_ROOT", str(project_copy(smoke_root, tmp_path)))
    path = results_path("lazy_vs_rich", "smoke")
    before = path.read_text()
    assert run_chapter("lazy_vs_rich", "smoke").status == "cached"
    assert path.read_text() == before
    outcome = run_chapter("lazy_vs_rich", "smoke", SMALL)
    assert outcome.status == "executed"
    assert json.loads(path.read_text())["parameters"]["widths"] == [64, 256]
    assert run_chapter("lazy_vs_rich", "smoke", SMALL).status == "cached"
    assert run_chapter("lazy_vs_rich", "smoke", SMALL, force=True).status == "executed"


def test_a_failing_run_keeps_the_previous_outputs(smoke_root, monkeypatch, tmp_path):
    broken = project_copy(smoke_root, tmp_path)
    monkeypatch.setenv("LSA_ROOT", str(broken))
    source = broken / "notebooks" / CHAPTERS["lazy_vs_rich"].notebook
    # crash after the first figure has been saved
    source.write_text(source.read_text().replace(
        "# %% [markdown]\n# ## How far", "# %%\nraise RuntimeError('simulated crash')\n\n# %% [markdown]\n# ## How far", 1))
    results, executed = results_path("lazy_vs_rich", "smoke"), executed_notebook_path("00_lazy_vs_rich", "smoke")
    old_results, old_notebook = results.read_bytes(), executed.read_bytes()
    figure = broken / "results" / "lazy_vs_rich" / "figures" / "smoke" / "predictions.png"
    old_figure = figure.read_bytes()
    with pytest.raises(papermill.PapermillExecutionError, match="simulated crash"):
        run_chapter("lazy_vs_rich", "smoke", SMALL)  # other parameters: it executes, and crashes
    assert results.read_bytes() == old_results and executed.read_bytes() == old_notebook
    assert figure.read_bytes() == old_figure
    assert executed.with_name("00_lazy_vs_rich.failed.ipynb").is_file()
    for folder in (results.parent, executed.parent):  # no temporary or partial file is left
        leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".")]
        assert not leftovers, leftovers


def test_kernel_sockets_go_to_the_given_folder_not_the_notebooks(tmp_path):
    from lsa_utils.run.executor import _ipc_kernel_manager

    manager = _ipc_kernel_manager(tmp_path)(kernel_name="python3")
    assert manager.transport == "ipc"
    assert manager.ip == str(tmp_path / "kernel-ipc")  # not "kernel-ipc", relative to the notebook's folder
