# `make demo` and `make test` create .venv on first use and reuse it after.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The gpu extra when nvidia-smi lists a GPU, else cpu (never both).
EXTRA  := $(shell nvidia-smi -L 2>/dev/null | grep -q '^GPU' && echo gpu || echo cpu)
ARGS   ?=

.PHONY: demo test test-slow bench install clean

install: $(VENV)/.installed-$(EXTRA)

$(VENV)/.installed-$(EXTRA): setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRA),test,serve]"
	rm -f $(VENV)/.installed-*
	touch $@

demo: install
	$(PY) scripts/train_autorec.py $(ARGS)

test: install
	$(PY) -m pytest -q tests

# The long kill -9 chains (28 kills each for MF, AutoRec and GMF).
test-slow: install
	$(PY) -m pytest -q -m slow tests

bench: install
	$(PY) bench/bench_book.py $(ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
