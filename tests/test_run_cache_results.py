import json
import shutil

import pytest

from lsa_utils.run import cache
from lsa_utils.run.results import Claim, atomic_write_text, read_json, write_json
from conftest import ROOT


def rel(paths):
    return {p.relative_to(cache.package_dir()).as_posix() for p in paths}


def test_import_closure_of_chapter_0():
    text = (ROOT / "notebooks" / "00_lazy_vs_rich.py").read_text()
    files = rel(cache.imported_package_files(text))
    # direct imports, and modules reached through them (experiments -> kernels, models, train)
    assert {"experiments/lazy_vs_rich.py", "kernels/arccos.py", "kernels/solve.py",
            "models/two_layer.py", "train.py", "run/context.py", "plotting.py", "validation.py"} <= files
    # packages export lazily, so their other modules are not part of the chapter's key
    assert "data/__init__.py" in files and "kernels/__init__.py" in files
    assert not files & {"data/images.py", "data/canvas.py", "kernels/composition.py", "kernels/empirical.py",
                        "run/executor.py", "run/book.py", "run/cli.py", "run/cache.py"}


def test_lazy_exports_and_relative_imports_are_followed():
    files = rel(cache.imported_package_files("from lsa_utils import TwoLayerReLU\n"))
    # the lazy export resolves to models/two_layer.py, whose "from ..validation" is followed
    assert files == {"__init__.py", "_lazy.py", "models/__init__.py", "models/two_layer.py", "validation.py"}
    files = rel(cache.imported_package_files("from lsa_utils.kernels import serial\n"))
    assert "kernels/composition.py" in files and "kernels/layers.py" in files  # serial imports layers
    assert "kernels/empirical.py" not in files


def test_cache_key_changes_with_every_input(tmp_path, monkeypatch):
    package = tmp_path / "lsa_utils"
    shutil.copytree(cache.package_dir(), package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "package_dir", lambda: package)
    text = "from lsa_utils.kernels.solve import gd_mse_predict\n"
    base = cache.cache_key(text, {"seed": 0})
    assert cache.cache_key(text, {"seed": 0}) == base  # deterministic
    assert cache.cache_key(text + "# edit\n", {"seed": 0}) != base  # notebook text
    assert cache.cache_key(text, {"seed": 1}) != base  # parameters
    (package / "data" / "canvas.py").write_text("# unrelated edit\n")
    assert cache.cache_key(text, {"seed": 0}) == base  # a module the notebook does not import
    (package / "validation.py").write_text((package / "validation.py").read_text() + "\n# edit\n")
    assert cache.cache_key(text, {"seed": 0}) != base  # a module it imports indirectly


def test_cache_key_covers_the_installed_versions(monkeypatch):
    versions = cache.dependency_versions()
    names = {v.split("==")[0] for v in versions}
    assert {"torch", "numpy", "scipy", "tqdm", "pandas", "papermill", "neural-tangents"} <= names
    assert not names & {"pytest", "playwright", "jupyter-book"}  # testing and rendering do not count
    import torch

    assert f"torch=={torch.__version__}" in versions  # what is installed, not what is pinned
    text = "import lsa_utils.validation\n"
    base = cache.cache_key(text, {})
    monkeypatch.setattr(cache, "dependency_versions", lambda: ["torch==0.0"])
    assert cache.cache_key(text, {}) != base


def test_atomic_write_replaces_whole_files_only(tmp_path):
    path = tmp_path / "sub" / "r.json"
    write_json(path, {"a": 1, "b": float("nan")})
    assert read_json(path) == {"a": 1, "b": None}

    with pytest.raises(TypeError):
        atomic_write_text(path, 12345)  # fails while writing
    assert read_json(path) == {"a": 1, "b": None}  # the old file is intact
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temporary file left


def test_claim_coerces_numpy_values():
    import numpy as np

    c = Claim("x", np.float32(0.5), "> 0", np.bool_(True), kind="check")
    assert json.loads(json.dumps(c.__dict__)) == {
        "claim": "x", "measured": 0.5, "criterion": "> 0", "passed": True, "expected": True, "expected_when": "",
        "kind": "check", "source": "", "paper_value": "", "reason": ""}
    assert Claim("nan", np.nan, "> 0", True, kind="check").passed is False


def test_verdict_says_where_a_claim_not_expected_here_is_expected():
    from lsa_utils.run.results import verdict

    assert verdict({"passed": True, "expected": True}) == "pass"
    assert verdict({"passed": False, "expected": True}) == "FAIL"
    text = verdict({"passed": False, "expected": False, "expected_when": "on real MNIST"})
    assert text == "not met; not expected here, only on real MNIST"
    assert "at a larger scale" in verdict({"passed": True, "expected": False})


def test_cache_key_covers_declared_input_files(tmp_path, monkeypatch):
    monkeypatch.setenv("LSA_ROOT", str(tmp_path))
    text = "import lsa_utils.validation\n"
    inputs = ("results/benchmarks/kernels-cpu.json",)
    absent = cache.cache_key(text, {}, inputs)
    path = tmp_path / inputs[0]
    path.parent.mkdir(parents=True)
    path.write_text('{"rows": []}')
    present = cache.cache_key(text, {}, inputs)
    path.write_text('{"rows": [1]}')
    assert len({absent, present, cache.cache_key(text, {}, inputs)}) == 3


def test_attribute_access_on_the_package_is_followed():
    files = rel(cache.imported_package_files("import lsa_utils\nlsa_utils.gd_mse_predict(k, kt, y, 0.1, 5)\n"))
    assert "kernels/solve.py" in files


def test_a_nan_measurement_shows_as_not_available():
    from lsa_utils.claims.render import _fmt

    assert _fmt(None) == "n/a" and _fmt(0.5) == "0.5"


def test_editing_a_module_changes_only_the_keys_of_chapters_that_import_it(tmp_path, monkeypatch):
    from lsa_utils.run.chapters import CHAPTERS
    from lsa_utils.run.context import resolve_parameters
    from lsa_utils.run.executor import chapter_cache_key

    package = tmp_path / "lsa_utils"
    shutil.copytree(cache.package_dir(), package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "package_dir", lambda: package)

    def keys():
        return {name: chapter_cache_key(ch, "smoke", resolve_parameters(ch, "smoke", {}))
                for name, ch in CHAPTERS.items()}

    before = keys()
    assert keys() == before  # nothing edited, nothing stale
    (package / "kernels" / "empirical.py").write_text((package / "kernels" / "empirical.py").read_text() + "# e\n")
    after = keys()
    assert after["kernels"] != before["kernels"] and after["lazy_vs_rich"] == before["lazy_vs_rich"]
    (package / "train.py").write_text((package / "train.py").read_text() + "# e\n")
    last = keys()
    assert last["lazy_vs_rich"] != after["lazy_vs_rich"] and last["kernels"] == after["kernels"]
    claims = package / "claims" / "lsa.py"  # loaded by name at the end of the chapter
    claims.write_text(claims.read_text() + "# e\n")
    edited = keys()
    assert edited["lsa"] != last["lsa"] and edited["representation"] == last["representation"]


def test_run_chapters_prints_one_line_each_with_what_remains(monkeypatch, capsys, tmp_path):
    from pathlib import Path

    from lsa_utils.run import executor

    monkeypatch.setenv("LSA_ROOT", str(tmp_path))  # no earlier results: the measured times are used
    monkeypatch.setattr(executor, "fallback_notice", lambda *a: None)
    seconds = {"lazy_vs_rich": 98.0, "representation": 0.0}  # this machine: 2x slower on chapter 0

    def fake_run(name, scale, overrides=None, force=False, progress=False, announce=True):
        status = "executed" if seconds[name] else "cached"
        return executor.RunOutcome(name, scale, status, seconds[name], Path("r"), Path("n"))

    monkeypatch.setattr(executor, "run_chapter", fake_run)
    outcomes = executor.run_chapters(["lazy_vs_rich", "representation"], "smoke")
    lines = capsys.readouterr().out.splitlines()
    assert [o.status for o in outcomes] == ["executed", "cached"]
    # chapters 0 and 2 measured at 49 s and 61 s (lsa_utils/run/chapters.py)
    assert lines[0] == ("[1/2] lazy_vs_rich [smoke] · elapsed 0.0 min · about 1.8 min remain if nothing is cached"
                        " · done in 98 s; paper claims reproduced 0/0, checks 0/0, findings 0")
    assert lines[1].startswith("[2/2] representation [smoke] · elapsed") and "about 2.0 min remain" in lines[1]
    assert lines[1].endswith(" · up to date (cached)")
    assert lines[2].startswith("2 chapters at scale smoke in") and "(1 executed, 1 up to date)" in lines[2]
    assert len(lines) == 3  # one line per chapter, one at the end


def test_run_chapters_says_when_the_time_is_unknown(monkeypatch, capsys, tmp_path):
    from pathlib import Path

    from lsa_utils.run import executor

    monkeypatch.setenv("LSA_ROOT", str(tmp_path))
    monkeypatch.setattr(executor, "fallback_notice", lambda *a: None)
    monkeypatch.setattr(executor, "run_chapter", lambda name, scale, *a, **k: executor.RunOutcome(
        name, scale, "cached", 0.0, Path("r"), Path("n")))
    executor.run_chapters(["lazy_vs_rich"], "paper")  # no paper-scale time measured
    assert "· time unknown ·" in capsys.readouterr().out


def test_fallback_notice_names_the_chapters_and_the_fetch_command(monkeypatch, tmp_path):
    pytest.importorskip("sklearn")
    from lsa_utils.run.executor import fallback_notice

    monkeypatch.delenv("LSA_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    notice = fallback_notice(["lazy_vs_rich", "lsa", "linearization"], "smoke")
    assert notice.startswith("data: lsa, linearization will run on scikit-learn's 8x8 digits instead of ")
    assert "CIFAR-10" in notice and "MNIST" in notice and "make data" in notice
    assert fallback_notice(["lazy_vs_rich", "representation"], "smoke") is None


def test_fetching_data_changes_an_image_chapters_cache_key(monkeypatch, tmp_path):
    from test_data_images import write_mnist

    from lsa_utils.run.chapters import CHAPTERS, get_chapter
    from lsa_utils.run.context import resolve_parameters
    from lsa_utils.run.executor import chapter_cache_key, data_dir_setting

    monkeypatch.delenv("LSA_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    chapter, synthetic = get_chapter("lsa"), get_chapter("lazy_vs_rich")
    params = resolve_parameters(chapter, "smoke", {})
    digits = chapter_cache_key(chapter, "smoke", params)
    synthetic_params = resolve_parameters(synthetic, "smoke", {})
    synthetic_key = chapter_cache_key(synthetic, "smoke", synthetic_params)
    assert data_dir_setting() == ""
    fetched = tmp_path / "lsa_utils" / "data"
    write_mnist(fetched, ("test",), n=20)  # what `data fetch` would install, in part
    assert data_dir_setting() == str(fetched.resolve())
    partial = chapter_cache_key(chapter, "smoke", params)
    write_mnist(fetched, ("train", "test"), n=20)
    assert len({digits, partial, chapter_cache_key(chapter, "smoke", params)}) == 3
    assert chapter_cache_key(synthetic, "smoke", synthetic_params) == synthetic_key  # reads no images
    assert [c.name for c in CHAPTERS.values() if c.reads_images] == ["lsa", "linearization"]
