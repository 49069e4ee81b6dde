# Every command of the template. `make` alone lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := python3.11
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
ARGS ?=
PORT ?= 3000
MODEL_NAME := $(shell sed -n 's/^model_name: *\([^ #]*\).*/\1/p' params.yaml)

.PHONY: help setup spark pipeline serve batch bento containerize lab test lint bench

help: ## list every target with one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	python3.11 -m pip install --quiet --user uv

# The optional spark group (pyspark, a 478 MB source build) stays installed once `make spark`
# or `make test` added it: a plain `uv sync` would remove it again.
SPARK_STAMP := $(VENV)/.spark
DVC_STAMP := $(VENV)/.dvc
SYNC_GROUPS = $(if $(wildcard $(SPARK_STAMP)),--group spark) $(if $(wildcard $(DVC_STAMP)),--group dvc)

# The stamp makes `setup` a no-op until the lock or the project file changes.
$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen $(SYNC_GROUPS)
	@touch $@

setup: $(VENV)/.synced ## create .venv from uv.lock (installs uv with pip if missing)

$(SPARK_STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen $(SYNC_GROUPS) --group spark
	$(BIN)/python -m scripts.batch.spark_session
	@touch $@ $(VENV)/.synced

spark: setup $(SPARK_STAMP) ## add the optional spark group (pyspark, Java 17) and warm Spark's JVM class archive

# The optional dvc group (about 100 packages) stays installed the same way.
$(DVC_STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen $(SYNC_GROUPS) --group dvc
	@touch $@ $(VENV)/.synced

.PHONY: dvc
dvc: setup $(DVC_STAMP) ## add the optional dvc group: data versions (dvc.yaml, make retrain) and dvc exp run

pipeline: setup ## run the notebooks and export the model; ARGS="-p name=value ..."
	$(BIN)/python -m scripts.pipeline $(ARGS)

# `name:champion` resolves through the store's alias file (service/model/aliases.py). Only a
# store with no version of the model yet (resolve's exit code 3) makes the pipeline run; any
# other reason the champion does not resolve stops here with its line.
CHAMPION_OR_PIPELINE = $(BIN)/python -m scripts.lifecycle resolve $(MODEL_NAME):champion >/dev/null || { [ $$? -eq 3 ] && $(MAKE) --no-print-directory pipeline; }
LIFECYCLE = $(BIN)/python -m scripts.lifecycle
.PHONY: promote rollback models

promote: setup ## make the newest challenger (or TAG=name:version) champion if it passes the promotion gate; FORCE=1 overrides; DATA=path names its data file; SHADOW_URL=a service shadowing it
	$(LIFECYCLE) promote --name $(MODEL_NAME) $(if $(TAG),--tag $(TAG)) $(if $(DATA),--data $(DATA)) $(if $(SHADOW_URL),--shadow-url $(SHADOW_URL)) $(if $(filter 1 true yes,$(FORCE)),--force)

rollback: setup ## point champion back at the previous champion, and say which version serves
	$(LIFECYCLE) rollback --name $(MODEL_NAME)

models: setup ## list the model's versions, newest first: created, aliases, data, commit, estimator, held-out metrics
	@$(LIFECYCLE) models --name $(MODEL_NAME)

serve: setup ## serve the champion on 127.0.0.1:3000 (PORT=...; https with SSL_CERTFILE=... SSL_KEYFILE=...); runs the pipeline first if needed
	@$(CHAMPION_OR_PIPELINE)
	$(BIN)/bentoml serve service.service:ModelService --host 127.0.0.1 --port $(PORT) $(if $(SSL_CERTFILE),--ssl-certfile $(SSL_CERTFILE) --ssl-keyfile $(SSL_KEYFILE))

batch: setup $(if $(findstring spark,$(ARGS)),$(SPARK_STAMP)) ## score a file: ARGS="--input IN --output OUT [--engine spark] [--keep COL]"
	$(BIN)/python -m scripts.batch $(ARGS)

# The serving pins depend on the version packed (does it need GX, scikit-learn?): written anew.
bento: setup ## build the bento: service code, the champion version, the serving deps that version needs
	@$(CHAMPION_OR_PIPELINE)
	$(BIN)/python -m scripts.tools.release.requirements
	$(BIN)/bentoml build --output tag

containerize: bento ## build the image <model_name>:<version> (Docker, else buildah); TRACK=blue|green
	$(BIN)/python -m scripts.tools.release.containerize $(if $(TRACK),--track $(TRACK))

.PHONY: pipeline-image
pipeline-image: setup ## build the pipeline image the CronJobs in deploy/k8s/jobs run (buildah); JOBS=1 points deploy/k8s/jobs at it
	$(BIN)/python -m scripts.tools.release.pipeline_image $(if $(filter 1 true yes,$(JOBS)),--jobs)

bench: setup ## benchmark the service (needs wrk), then replay hostile input against it
	$(BIN)/python -m scripts.tools.bench.service $(ARGS)
	$(BIN)/python -m scripts.tools.bench.hostile_probe

lab: setup ## open the notebooks in JupyterLab
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) notebooks/

# The site is mkdocs.yml plus docs/; --strict fails on a broken link or anchor and on a page
# missing from nav, as tests/test_docs.py does. NO_MKDOCS_2_WARNING quiets Material's banner.
DOCS_PORT ?= 8000
.PHONY: docs
docs: setup ## build the documentation site strictly and serve it on 127.0.0.1:8000 (DOCS_PORT=...)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict -a 127.0.0.1:$(DOCS_PORT)

.PHONY: retrain
retrain: setup ## a challenger from the prediction log's labelled rows, judged on held-out and recent production rows: ARGS="-p log_dir=DIR"; SHADOW=1 then serves it as the champion's shadow on PORT
	$(BIN)/python -m scripts.lifecycle.retrain $(ARGS) $(if $(filter 1 true yes,$(SHADOW)),--shadow --port $(PORT))

.PHONY: monitor
monitor: setup ## drift and live accuracy from the service's prediction log: ARGS="-p log_dir=DIR [--fail-on-drift]"
	$(BIN)/python -m scripts.monitor $(ARGS)

test: setup $(SPARK_STAMP) $(DVC_STAMP) ## run every test: units, notebooks (nbmake), pipeline, service and Spark end to end
	$(BIN)/pytest $(ARGS)

lint: setup ## ruff (checks and format) on the code and the notebooks, and notebooks committed without outputs
	$(BIN)/ruff check service scripts tests deploy/grafana notebooks
	$(BIN)/ruff format --check service scripts tests deploy/grafana notebooks
	$(BIN)/nbstripout --verify notebooks/*.ipynb
