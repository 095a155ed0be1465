# The course's commands. `make demo` and `make test` set everything up on a fresh clone.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP  := $(VENV)/.installed
# Jupyter refuses to run as root unless told it may (containers, CI machines).
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: venv demo test test-unit test-fast lint lab exercises pretrained site site-check lock clean-runs

venv: $(STAMP)

# The pinned stack (requirements.lock) and the course package, installed with uv, bytecode compiled.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# Every lecture notebook at its CPU demo size on the sample data set; results under runs/demo/.
demo: $(STAMP)
	$(BIN)/python -m inpaint_lib.course demo

# Unit tests, then the notebooks and solutions under nbval (their assert cells are the checks).
test: $(STAMP)
	$(BIN)/python -m pytest tests --durations=15
	$(BIN)/python -m pytest --nbval-lax notebooks solutions -p no:cacheprovider

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests --durations=15

# The unit tests without those marked slow (subprocesses, torchrun, executed notebooks): a quick check while editing.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" tests

# Ruff, configured in pyproject.toml ([tool.ruff]); the notebooks are not linted.
lint: $(STAMP)
	$(BIN)/ruff check inpaint_lib tests benchmarks

# exercises/ is generated from solutions/ (never edited by hand).
exercises: $(STAMP)
	$(BIN)/python -m inpaint_lib.course.exercises

# The shipped models (inpaint_lib/pretrained/): each trained by its recorded command on Tiny ImageNet 32
# ($$INPAINT_DATA), then exported with its card. About 3 hours on a 2-core CPU; one model: MODELS=pixelcnnpp.
MODELS ?= pixelcnnpp unet_l1 pix2pix_pixelgan pix2pix_patchgan pix2pix_dropout
pretrained: $(STAMP)
	for name in $(MODELS); do \
	  $(BIN)/python -m inpaint_lib.pretrained train $$name && \
	  $(BIN)/python -m inpaint_lib.pretrained export $$name || exit 1; \
	done

# The course as a website in runs/site/ (Sphinx and myst-nb): make demo's executed notebooks are reused when newer
# than their sources, the others are executed first. EXECUTED=DIR builds from another folder of executed copies.
EXECUTED ?= runs/demo
site: $(STAMP)
	$(BIN)/python -m inpaint_lib.course site --executed $(EXECUTED)

# Every page of the built site in headless Chromium (Debian's chromium and chromium-driver); screenshots in
# runs/site/screenshots/.
site-check: $(STAMP)
	$(BIN)/python -m inpaint_lib.course.site_check

lab: $(STAMP)
	$(BIN)/jupyter lab $(ROOT_FLAG)

lock:
	$(BIN)/uv pip compile requirements.in --python-version 3.11 -o requirements.lock

clean-runs:
	rm -rf runs/demo
