#!/usr/bin/env bash
# Wheels for a CUDA machine without internet whose python3 already has a CUDA torch (this
# workplace's device machine: Python 3.12, torch, numpy, scipy, matplotlib, seaborn, pandas,
# scikit-learn, scikit-image, tqdm): what the chapters need besides, downloaded here into .whl/
# (ignored by git) for tools/gpu_check_offline.sh to install there. About 20 MB.
#   tools/gpu_wheels.sh [PYTHON_VERSION]     # default 3.12
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-3.12}
if [ -d .git ]; then grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude; fi
rm -rf .whl && mkdir .whl
# papermill and its kernel (ipykernel), jupytext, pooch: the [book] and [data] extras without
# Jupyter Book (the check executes chapters, it builds no HTML); their own needs come along
python3 -m pip download --quiet --only-binary=:all: --python-version "$version" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 -d .whl \
  'papermill>=2.5' 'jupytext>=1.16' 'ipykernel>=6.25' 'pooch>=1.8' 'PyYAML>=6.0'
echo "tools/gpu_wheels.sh: $(ls .whl | wc -l) wheels, $(du -sh .whl | cut -f1) in .whl/"
