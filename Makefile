# make book   create .venv if needed, execute every chapter at the default scale, build the HTML
# make test   create .venv if needed, run the whole test suite
# make smoke  execute every chapter at the smoke scale (what CI checks), without building the book
# make bench  time lsa_utils' kernels against neural-tangents (several minutes; see benchmarks/)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Real MNIST and CIFAR-10: ../shared/datasets when it exists, unless LSA_DATA_DIR is set;
# without either the chapters fall back to scikit-learn's digits and say so.
ifneq ($(wildcard ../shared/datasets),)
export LSA_DATA_DIR ?= $(abspath ../shared/datasets)
endif

.PHONY: book test smoke bench venv clean

book: $(STAMP)
	$(PY) -m lsa_utils book --scale default

test: $(STAMP)
	$(PY) -m pytest

smoke: $(STAMP)
	$(PY) -m lsa_utils run all --scale smoke

bench: $(STAMP)
	$(PY) benchmarks/kernels.py

venv: $(STAMP)

# The pinned stack (pyproject.toml) with every transitive version fixed (requirements-lock.txt).
$(STAMP): pyproject.toml requirements-lock.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --constraint requirements-lock.txt --editable .
	touch $(STAMP)

clean:
	rm -rf _build executed results
