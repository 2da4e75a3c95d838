"""How `make venv` picks torch's build (tools/torch_build.py): a CUDA build where nvidia-smi
reports a driver, chosen by the CUDA version the driver supports; the check that follows."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]  # not project_root(): other tests point LSA_ROOT at a copy
TOOL = REPO / "tools" / "torch_build.py"
spec = importlib.util.spec_from_file_location("torch_build", TOOL)
torch_build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(torch_build)


def fake_command(folder, name, output, code=0):
    path = folder / name
    path.write_text(f"#!/bin/sh\ncat <<'END'\n{output}\nEND\nexit {code}\n")
    path.chmod(0o755)
    return path


SMI = """+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 580.159.03             Driver Version: 580.159.03     CUDA Version: {cuda}     |
|-----------------------------------------+------------------------+----------------------+"""


def run_tool(tmp_path, *args, cuda=None):
    """The tool as make runs it, with a fake nvidia-smi first on PATH (none when ``cuda`` is None)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if cuda is not None:
        fake_command(bin_dir, "nvidia-smi", SMI.format(cuda=cuda))
    path = f"{bin_dir}:/usr/bin:/bin" if cuda is not None else "/usr/bin:/bin"
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True,
                          env={**os.environ, "PATH": path}, timeout=60)


@pytest.mark.parametrize("cuda, tag", [("13.0", "cu130"), ("13.2", "cu130"), ("12.9", "cu128"), ("12.6", "cu126")])
def test_a_driver_gets_the_newest_cuda_build_it_runs(tmp_path, cuda, tag):
    proc = run_tool(tmp_path, cuda=cuda)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["--index-url", f"https://download.pytorch.org/whl/{tag}",
                                   "--extra-index-url", "https://pypi.org/simple"]


def test_without_a_driver_pip_takes_its_default(tmp_path):
    proc = run_tool(tmp_path, cuda=None)
    assert proc.returncode == 0 and proc.stdout.strip() == ""
    assert "download.pytorch.org/whl/cpu" in run_tool(tmp_path, "--build", "cpu").stdout
    proc = run_tool(tmp_path, "--build", "cuda")
    assert proc.returncode == 2 and "needs an NVIDIA driver" in proc.stderr


def test_an_old_driver_or_a_bad_build_is_refused(tmp_path):
    proc = run_tool(tmp_path, cuda="11.8")
    assert proc.returncode == 2 and "older than every torch build" in proc.stderr
    proc = run_tool(tmp_path, "--build", "rocm")
    assert proc.returncode == 2 and "TORCH_BUILD='rocm' is not allowed" in proc.stderr


def test_nvidia_smi_that_fails_counts_as_no_driver(tmp_path):
    fake_command(tmp_path, "nvidia-smi", "NVIDIA-SMI has failed because it couldn't communicate with the driver", 9)
    os.environ["PATH"], saved = f"{tmp_path}:{os.environ['PATH']}", os.environ["PATH"]
    try:
        assert torch_build.driver_cuda_version() is None
    finally:
        os.environ["PATH"] = saved


def test_verify_refuses_a_cpu_build_where_cuda_was_asked_for(tmp_path):
    cpu_python = fake_command(tmp_path, "python-cpu", "2.13.0+cpu|none|False")
    cuda_python = fake_command(tmp_path, "python-cuda", "2.13.0+cu130|13.0|True")
    with pytest.raises(RuntimeError, match="a CPU build was installed"):
        torch_build.verify(str(cpu_python), "auto", (13, 0))
    assert "CUDA 13.0" in torch_build.verify(str(cuda_python), "auto", (13, 0))
    unusable = fake_command(tmp_path, "python-unusable", "2.13.0+cu130|13.0|False")
    with pytest.raises(RuntimeError, match="does not run on this machine's GPU"):
        torch_build.verify(str(unusable), "auto", (12, 6))
    assert "for TORCH_BUILD=default" in torch_build.verify(str(cpu_python), "auto", None)
    with pytest.raises(RuntimeError, match="a CUDA build was installed"):
        torch_build.verify(str(cuda_python), "cpu", None)


def test_make_venv_installs_torch_through_the_tool_then_checks_it():
    out = subprocess.run(["make", "-n", "-B", "venv", "TORCH_BUILD=cuda"], cwd=REPO, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    lines = out.splitlines()
    pick = next(i for i, line in enumerate(lines) if "tools/torch_build.py --build cuda)" in line)
    everything = next(i for i, line in enumerate(lines) if "--editable '.[all]'" in line)
    check = next(i for i, line in enumerate(lines) if "--build cuda --verify" in line)
    assert pick < everything < check  # torch first (from the picked index), the rest, then the check
    assert "--constraint requirements-lock.txt torch $args" in out
