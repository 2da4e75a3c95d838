# make book   create .venv if needed, execute every chapter at the default scale, build the HTML
# make test   create .venv if needed, run the whole test suite
# make smoke  execute every chapter at the smoke scale (what CI checks), without building the book
# make bench  time lsa_utils' kernels against neural-tangents (several minutes; see benchmarks/)
# make data   download real MNIST and CIFAR-10 (about 180 MB) into ~/.cache/lsa_utils/data
# make gpu-check  on a CUDA machine: every chapter's smoke sizes and the kernels on the GPU, compared
#             with the CPU smoke runs (LSA_DEVICE=cpu make smoke first); see lsa_utils/run/gpu_check.py
# The lock file is Python 3.11's (neural-tangents' JAX/TensorFlow pins install only there).
PYTHON ?= $(shell command -v python3.11 >/dev/null 2>&1 && python3.11 -c 'pass' 2>/dev/null && echo python3.11 || echo python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Real MNIST and CIFAR-10: $LSA_DATA_DIR when you set it, else the folder `make data` fills
# (~/.cache/lsa_utils/data), else ../shared/datasets when it exists; without any of them the
# image chapters fall back to scikit-learn's digits and say so.
DEFAULT_DATA := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/lsa_utils/data
ifeq ($(origin LSA_DATA_DIR),undefined)
ifeq ($(wildcard $(DEFAULT_DATA)),)
ifneq ($(wildcard ../shared/datasets),)
export LSA_DATA_DIR := $(abspath ../shared/datasets)
endif
endif
endif

# torch's build (tools/torch_build.py): auto = a CUDA build from PyTorch's index for the driver's
# CUDA when nvidia-smi reports one, else whatever pip finds first; or cuda, cpu, default.
TORCH_BUILD ?= auto

.PHONY: book test smoke bench data venv clean gpu-check

book: $(STAMP)
	$(PY) -m lsa_utils book --scale default

test: $(STAMP)
	$(PY) -m pytest

smoke: $(STAMP)
	$(PY) -m lsa_utils run all --scale smoke

bench: $(STAMP)
	$(PY) benchmarks/kernels.py

gpu-check: $(STAMP)
	$(PY) -m lsa_utils gpu-check

# into $LSA_DATA_DIR when you set it, else into the default folder (never into ../shared)
data: $(STAMP)
	$(PY) -m lsa_utils data fetch $(if $(filter file,$(origin LSA_DATA_DIR)),--dir $(DEFAULT_DATA))

venv: $(STAMP)

# The package with every extra (pyproject.toml) at the locked versions (requirements-lock.txt).
$(STAMP): pyproject.toml requirements-lock.txt
	@$(PYTHON) -c 'import sys; sys.version_info[:2] == (3, 11) or print("warning: requirements-lock.txt is tested on Python 3.11, this is", sys.version.split()[0])'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	args=$$($(PYTHON) tools/torch_build.py --build $(TORCH_BUILD)) && \
	  if [ -n "$$args" ]; then $(PY) -m pip install --quiet --constraint requirements-lock.txt torch $$args; fi
	$(PY) -m pip install --quiet --constraint requirements-lock.txt --editable '.[all]'
	$(PY) tools/torch_build.py --build $(TORCH_BUILD) --verify $(PY)
	touch $(STAMP)

clean:
	rm -rf _build executed results
