# Every command of the template. `make` alone lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := python3.11
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
ARGS ?=

.PHONY: help setup pipeline lab test lint

help: ## list every target with one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	python3.11 -m pip install --quiet --user uv

# The stamp makes `setup` a no-op until the lock or the project file changes.
$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen
	@touch $@

setup: $(VENV)/.synced ## create .venv from uv.lock (installs uv with pip if missing)

pipeline: setup ## run the notebooks and export the model; ARGS="-p name=value ..."
	$(BIN)/python scripts/pipeline.py $(ARGS)

lab: setup ## open the notebooks in JupyterLab
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) notebooks/

test: setup ## run every test: units, notebooks (nbmake), pipeline and service end to end
	$(BIN)/pytest $(ARGS)

lint: setup ## ruff on the code, and notebooks committed without outputs
	$(BIN)/ruff check service scripts tests
	$(BIN)/nbstripout --verify notebooks/*.ipynb
