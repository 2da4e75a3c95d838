#!/usr/bin/env bash
# The GPU check on a CUDA machine without internet whose python3 already has a CUDA torch (this
# workplace's device machine): installs from the wheels in .whl/ (tools/gpu_wheels.sh) only what
# python3 lacks, installs lsa_utils itself without its dependencies, then runs
# `python3 -m lsa_utils gpu-check` with the arguments given. The CPU runs it compares with are the
# project's results/<chapter>/smoke.json (carry results/ along). Prints how long the install took.
#   tools/gpu_check_offline.sh [gpu-check arguments, e.g. --out /tmp/check]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
start=$SECONDS
[ -d .whl ] || { echo "tools/gpu_check_offline.sh: no .whl/ folder: run tools/gpu_wheels.sh where pip reaches PyPI" >&2; exit 2; }
"$PY" -m pip install --quiet --no-index --find-links .whl 'papermill>=2.5' 'jupytext>=1.16' 'ipykernel>=6.25' 'pooch>=1.8'
"$PY" -m pip install --quiet --no-index --no-deps --no-build-isolation --editable .
echo "gpu-check: installed in $((SECONDS - start)) s on $("$PY" -c 'import sys, torch; print(f"Python {sys.version.split()[0]}, torch {torch.__version__} (CUDA {torch.version.cuda})")')"
exec "$PY" -m lsa_utils gpu-check "$@"
