"""The dependency layers of pyproject.toml, the lock file that make and CI install,
environment.yml and the README's run times agree with each other."""

import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from conftest import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def lock_versions() -> dict[str, str]:
    versions = {}
    for line in (ROOT / "requirements-lock.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            versions[canonicalize_name(name)] = version
    return versions


def requirements(extra: str | None = None) -> list[Requirement]:
    """The requirements of the core (``extra=None``) or of one extra, without self-references."""
    texts = PROJECT["dependencies"] if extra is None else PROJECT["optional-dependencies"][extra]
    return [r for r in map(Requirement, texts) if canonicalize_name(r.name) != "lsa-utils"]


def test_the_core_needs_only_torch_numpy_scipy_tqdm_with_lower_bounds():
    core = requirements()
    assert sorted(canonicalize_name(r.name) for r in core) == ["numpy", "scipy", "torch", "tqdm"]
    for req in core:
        assert req.specifier and all(s.operator == ">=" for s in req.specifier), str(req)
    python = SpecifierSet(PROJECT["requires-python"])
    assert all(v in python for v in ("3.11.7", "3.12.1", "3.13.0"))


def test_all_extra_is_every_layer():
    extras = PROJECT["optional-dependencies"]
    assert set(extras) == {"data", "plots", "experiments", "book", "reference", "test", "distributed", "all"}
    assert extras["all"] == ["lsa-utils[book,reference,test,distributed]"]
    assert "lsa-utils[plots,data]" in extras["experiments"] and "lsa-utils[experiments]" in extras["book"]


@pytest.mark.parametrize("extra", [None, "data", "plots", "experiments", "book", "reference", "test", "distributed"])
def test_lock_file_satisfies_every_requirement_on_python_311(extra):
    lock = lock_versions()
    environment = {"python_version": "3.11", "python_full_version": "3.11.7", "extra": extra or ""}
    for req in requirements(extra):
        if req.marker is not None and not req.marker.evaluate(environment):
            continue
        name = canonicalize_name(req.name)
        assert name in lock, f"{req} is not in requirements-lock.txt"
        assert req.specifier.contains(lock[name], prereleases=True), f"lock has {name}=={lock[name]}, needs {req}"


def test_reference_extra_applies_only_where_neural_tangents_imports():
    for req in requirements("reference"):
        assert req.marker is not None, str(req)
        assert req.marker.evaluate({"python_version": "3.11"})
        assert not req.marker.evaluate({"python_version": "3.12"})


def test_environment_yml_installs_the_lock_and_every_extra():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip_section == ["--constraint requirements-lock.txt", "--editable .[all]"]


def test_makefile_installs_every_extra_with_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert "--constraint requirements-lock.txt --editable '.[all]'" in makefile


def test_readme_run_times_are_the_ones_in_chapters_py():
    from lsa_utils.run.chapters import CHAPTERS, SCALES

    readme = (ROOT / "README.md").read_text()
    for scale in SCALES:
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{scale}` |"))
        cells = [c.strip() for c in row.strip("|").split("|")][2:]
        assert cells == [c.run_time[scale] for c in CHAPTERS.values()], scale


@pytest.mark.parametrize("user_dir", [None, "/tmp/my-data"])
def test_make_data_never_fetches_into_the_shared_folder(user_dir, tmp_path):
    import os
    import subprocess

    # run as its own make, not as a sub-make of `make test` (which would print "Entering directory")
    outer = ("LSA_DATA_DIR", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")
    env = {k: v for k, v in os.environ.items() if k not in outer} | {"XDG_CACHE_HOME": str(tmp_path)}
    if user_dir:
        env["LSA_DATA_DIR"] = user_dir
    out = subprocess.run(["make", "--no-print-directory", "-n", "data"], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True)
    fetch = next(line for line in out.stdout.splitlines() if "lsa_utils data fetch" in line).strip()
    if user_dir:  # the folder you name
        assert fetch.endswith("-m lsa_utils data fetch")
    elif (ROOT.parent / "shared" / "datasets").is_dir():  # make reads ../shared: fetch still goes to the default
        assert fetch.endswith(f"-m lsa_utils data fetch --dir {tmp_path}/lsa_utils/data")
    else:  # nothing set: the fetch's own default is the default folder
        assert fetch.endswith("-m lsa_utils data fetch")
