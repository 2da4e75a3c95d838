"""A chapter page as a reader sees it: code folded behind one line, the rerun command, the run's
environment (``lsa_utils.run.reader``)."""

import pytest

from lsa_utils.run.chapters import CHAPTERS
from lsa_utils.run.reader import about_this_run, fold_for_readers, rerun_command, run_summary

CHAPTER = CHAPTERS["lazy_vs_rich"]


def results(**changes):
    params = {"seed": 0, "device": "auto", **CHAPTER.sizes("default"), **changes}
    return {"scale": "default", "parameters": params,
            "run": {"seconds": 126.0, "finished": "2026-11-30T14:31:26+00:00", "commit": "abc123"},
            "environment": {"python": "3.11.7", "platform": "Linux", "device": "cpu (2 threads)",
                            "packages": {"torch": "2.13.0", "jax": None}}}


def code(source, tags=(), outputs=()):
    return {"cell_type": "code", "source": source, "metadata": {"tags": list(tags)}, "outputs": list(outputs),
            "execution_count": 1}


def notebook():
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "source": "# Title\n\nIntro.", "metadata": {}},
        code("scale = 'default'\nseed = 0", ["parameters"]),
        code("scale = 'default'\nwidths = [64]", ["injected-parameters"]),
        code("import x\nrun = start_chapter('lazy_vs_rich')", outputs=[
            {"output_type": "stream", "name": "stdout", "text": "chapter lazy_vs_rich at scale 'default': seed 0\n"
                                                                  "sizes: n_train=16\n"},
            {"output_type": "stream", "name": "stderr", "text": "a warning\n"},
            {"output_type": "display_data", "data": {"text/markdown": "**Data.**"}, "metadata": {}}]),
        {"cell_type": "markdown", "source": "## The task", "metadata": {}},
        code("plt.plot()", outputs=[{"output_type": "display_data", "data": {"image/png": "..."}, "metadata": {}}]),
    ]}


def test_setup_cells_become_one_folded_cell_behind_the_run_summary():
    page = fold_for_readers(notebook(), CHAPTER, results(), download="downloads/00_lazy_vs_rich.ipynb")
    kinds = [c["cell_type"] for c in page["cells"]]
    assert kinds == ["markdown", "markdown", "code", "markdown", "code"]  # intro, about, setup, text, plot
    setup = page["cells"][2]
    assert setup["metadata"]["tags"] == ["hide-input"]
    prompt = setup["metadata"]["mystnb"]["code_prompt_show"]
    assert prompt.startswith("This run: scale default · n_train=") and prompt.endswith("Show the setup code")
    for part in ("# The chapter's parameters", "seed = 0", "# This run's values, injected by papermill",
                 "widths = [64]", "# Setup", "run = start_chapter"):
        assert part in setup["source"], part
    # start_chapter's two lines go (the toggle says the same); a warning and the data notice stay
    assert [o.get("text", o["output_type"]) for o in setup["outputs"]] == ["a warning\n", "display_data"]
    assert page["cells"][4]["metadata"]["tags"] == ["hide-input"] and page["cells"][4]["outputs"]
    assert "About this run" in page["cells"][1]["source"]


def test_the_executed_notebook_is_not_changed():
    original = notebook()
    fold_for_readers(original, CHAPTER, results(), download="d.ipynb")
    assert original == notebook()


def test_a_notebook_without_a_parameters_cell_is_refused():
    nb = notebook()
    nb["cells"][1]["metadata"]["tags"] = []
    with pytest.raises(ValueError, match="not tagged 'parameters'"):
        fold_for_readers(nb, CHAPTER, results(), download="d.ipynb")


def test_rerun_command_names_what_differs_from_the_scale():
    assert rerun_command(CHAPTER, results()) == ".venv/bin/python -m lsa_utils run lazy_vs_rich --scale default"
    command = rerun_command(CHAPTER, results(seed=3, device="cuda", widths=[64, 1024], steps=500))
    assert command == ('.venv/bin/python -m lsa_utils run lazy_vs_rich --scale default --seed 3 --device cuda '
                       '-p "widths=[64, 1024]" -p steps=500')


@pytest.mark.parametrize("name", list(CHAPTERS))
def test_rerun_command_round_trips_through_the_command_line(name):
    """Every size of the default scale, written for a smoke-scale run, parses back to itself."""
    import shlex

    from lsa_utils.run.cli import build_parser, parse_override
    from lsa_utils.run.context import resolve_parameters

    chapter = CHAPTERS[name]
    wanted = {"seed": 2, "device": "cpu", **chapter.sizes("default")}
    data = {"scale": "smoke", "parameters": wanted,
            "run": {"data_dir": "/data/my images", "LSA_COMPILE": "0"}}
    words = shlex.split(rerun_command(chapter, data))
    env = [w for w in words if "=" in w.split()[0] and w.startswith("LSA_")]
    if chapter.reads_images:
        assert env == ["LSA_DATA_DIR=/data/my images", "LSA_COMPILE=0"]
    else:
        assert env == ["LSA_COMPILE=0"]
    args = build_parser().parse_args(words[len(env) + 3:])  # after ".venv/bin/python -m lsa_utils"
    overrides = dict(parse_override(p) for p in args.param) | {"seed": args.seed, "device": args.device}
    assert args.scale == "smoke" and resolve_parameters(chapter, "smoke", overrides) == wanted


def test_rerun_command_quotes_strings_that_look_like_literals():
    from lsa_utils.run.cli import parse_override

    chapter = CHAPTERS["linearization"]
    params = {"seed": 0, "device": "auto", **chapter.sizes("default"), "models": ["lenet"], "dataset": "mnist"}
    command = rerun_command(chapter, {"scale": "default", "parameters": params, "run": {}})
    assert "-p \"models=['lenet']\"" in command and "-p \"dataset='mnist'\"" in command
    assert parse_override("dataset='mnist'") == ("dataset", "mnist")


def test_summary_and_about_box():
    summary = run_summary(CHAPTER, results(widths=[1, 2, 3, 4, 5, 6]))
    assert "widths=[1, 2, 3, 4, …]" in summary and summary.endswith("· seed 0")
    about = about_this_run(CHAPTER, results(), "downloads/00_lazy_vs_rich.ipynb")
    assert about.startswith("````{admonition} About this run: scale default, 2.1 min on cpu (2 threads)")
    assert about.rstrip().endswith("````") and ":class: dropdown" in about
    assert "{download}`00_lazy_vs_rich.ipynb <downloads/00_lazy_vs_rich.ipynb>`" in about
    assert "commit `abc123`" in about and "torch 2.13.0" in about and "jax" not in about
    assert ".venv/bin/python -m lsa_utils run lazy_vs_rich --scale default\n" in about
    assert "**Data**" not in about  # chapter 0 reads no images
    images = about_this_run(CHAPTERS["lsa"], {**results(), "parameters": {"seed": 0, **CHAPTERS["lsa"].sizes("default")},
                            "run": {"data_dir": "/d"}, "values": {"fallback_data": False}}, "x.ipynb")
    assert "**Data**: MNIST / CIFAR-10 from `/d`." in images and "LSA_DATA_DIR=/d .venv/bin/python" in images
