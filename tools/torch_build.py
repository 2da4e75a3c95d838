"""Which build of torch `make venv` installs; standard library only (it runs before .venv exists).

    python3 tools/torch_build.py                   # pip's arguments for torch on this machine (may be empty)
    python3 tools/torch_build.py --build cpu       # ... for a given build
    python3 tools/torch_build.py --verify .venv/bin/python   # check the installed torch is that build

``--build`` (``TORCH_BUILD`` in the Makefile):

- ``auto`` (default): ``cuda`` when ``nvidia-smi`` runs and reports the CUDA version its driver
  supports, else ``default``;
- ``cuda``: PyTorch's index of the newest CUDA build the driver runs (``CUDA_BUILDS``: a build for
  CUDA x.y needs a driver reporting at least x.y); an error when there is no driver, or it is
  older than every build;
- ``cpu``: PyTorch's CPU index (no CUDA libraries, about 200 MB instead of several GB);
- ``default``: no arguments: pip takes what it finds first, PyPI's Linux wheel (built with CUDA,
  so it also runs on a GPU) or a build lying in a wheel folder pip is configured to read (this
  workplace's machines keep a CPU build there).

The version is always the lock file's (``pip install --constraint requirements-lock.txt torch``);
only where it comes from changes, so ``torch==2.13.0`` becomes, for instance, ``2.13.0+cu130``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys

INDEX = "https://download.pytorch.org/whl"
# build tag -> the CUDA version the driver must support, newest first
CUDA_BUILDS = {"cu130": (13, 0), "cu128": (12, 8), "cu126": (12, 6)}
BUILDS = ("auto", "cuda", "cpu", "default")


def driver_cuda_version(nvidia_smi: str = "nvidia-smi") -> tuple[int, int] | None:
    """The CUDA version ``nvidia-smi`` reports (``CUDA Version: 13.0`` in its header), or ``None``
    when it is not installed, fails, or reports none."""
    path = shutil.which(nvidia_smi)
    if path is None:
        return None
    try:
        out = subprocess.run([path], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"CUDA Version:\s*(\d+)\.(\d+)", out)
    return (int(found.group(1)), int(found.group(2))) if found else None


def resolve_build(build: str, driver: tuple[int, int] | None) -> str:
    """``auto`` -> ``cuda`` with a driver, ``default`` without; other builds unchanged."""
    if build not in BUILDS:
        raise ValueError(f"TORCH_BUILD={build!r} is not allowed; choose among {', '.join(BUILDS)}")
    if build == "auto":
        return "cuda" if driver is not None else "default"
    return build


def pip_arguments(build: str, driver: tuple[int, int] | None) -> list[str]:
    """pip's arguments that make ``pip install torch`` take ``build`` (``resolve_build`` first)."""
    build = resolve_build(build, driver)
    if build == "default":
        return []
    if build == "cpu":
        tag = "cpu"
    else:
        if driver is None:
            raise ValueError("TORCH_BUILD=cuda needs an NVIDIA driver, and nvidia-smi reports none on this machine")
        tag = next((t for t, needed in CUDA_BUILDS.items() if driver >= needed), None)
        if tag is None:
            oldest = min(CUDA_BUILDS.values())
            raise ValueError(f"the NVIDIA driver supports CUDA {driver[0]}.{driver[1]}, older than every torch build "
                             f"we install (CUDA {oldest[0]}.{oldest[1]} or newer); update the driver, or use TORCH_BUILD=cpu")
    return ["--index-url", f"{INDEX}/{tag}", "--extra-index-url", "https://pypi.org/simple"]


def verify(python: str, build: str, driver: tuple[int, int] | None) -> str:
    """Check that ``python``'s torch is ``build``; return a one-line report, raise ``RuntimeError``
    when a CUDA build was asked for and another is installed."""
    build = resolve_build(build, driver)
    code = ("import torch; print(torch.__version__, torch.version.cuda or 'none', "
            "torch.cuda.is_available(), sep='|')")
    version, cuda, available = subprocess.run([python, "-c", code], capture_output=True, text=True,
                                              check=True).stdout.strip().split("|")
    report = f"torch {version} (CUDA {cuda}; GPU usable: {available}) for TORCH_BUILD={build}"
    if build == "cuda" and cuda == "none":
        raise RuntimeError(f"{report}: a CPU build was installed where a CUDA build was asked for "
                           "(pip found a CPU wheel first); remove .venv and run make again")
    if build == "cuda" and available != "True":
        raise RuntimeError(f"{report}: this build does not run on this machine's GPU (is it built for a newer CUDA "
                           "than the driver supports?); remove .venv and run make again with TORCH_BUILD=cpu, "
                           "or update the driver")
    if build == "cpu" and cuda != "none":
        raise RuntimeError(f"{report}: a CUDA build was installed where the CPU build was asked for")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default="auto", help=f"one of {', '.join(BUILDS)}")
    parser.add_argument("--verify", metavar="PYTHON", help="check the torch of this interpreter instead")
    args = parser.parse_args(argv)
    driver = driver_cuda_version()
    try:
        if args.verify:
            print(verify(args.verify, args.build, driver))
        else:
            print(" ".join(pip_arguments(args.build, driver)))
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
