# Entry points people type. Every target sets up what it needs on a fresh machine.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
FR := $(VENV)/bin/fittingroom
STAMP := $(VENV)/.installed
SAMPLES := shared/fittingroom/samples
OUT ?= out

.PHONY: venv demo test weights data bench protos lock clean help

help:
	@echo "make demo       try-on of the bundled sample pair (embedded mode) -> $(OUT)/demo/"
	@echo "make test       the whole test suite (sets up the venv first)"
	@echo "make weights    retrain the starter models on synthetic data (~15 min on 2 cores)"
	@echo "make data       write a synthetic DeepFashion2-format dataset to $(OUT)/synth"
	@echo "make bench      per-stage latency table + plot -> $(OUT)/bench/"

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip==26.3"
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(FR) tryon --person $(SAMPLES)/person.jpg --style $(SAMPLES)/style.jpg \
		--out $(OUT)/demo/tryon.png --sheet $(OUT)/demo/sheet.png

test: $(STAMP)
	$(VENV)/bin/pytest -q -p no:cacheprovider tests

weights: $(STAMP)
	$(FR) models build-starter --work-dir $(OUT)/starter

data: $(STAMP)
	$(FR) data synth --out $(OUT)/synth --n 350

bench: $(STAMP)
	$(FR) bench stages --out-dir $(OUT)/bench

# Generated code lands in shared/fittingroom/v1 and is never edited by hand.
protos: $(STAMP)
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=shared --pyi_out=shared \
		--grpc_python_out=shared protos/fittingroom/v1/*.proto
	touch shared/fittingroom/v1/__init__.py

lock:
	$(PY) -m pip freeze --all --exclude-editable | grep -v '^fittingroom' > requirements.lock

clean:
	rm -rf $(OUT) .pytest_cache
