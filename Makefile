# The course's commands. `make demo` and `make test` set everything up on a fresh clone.
# Without make (Windows): the same steps are `python -m inpaint_lib.course.install`, then
# `.venv\Scripts\python -m inpaint_lib.course demo` or `... test` (README, "Install").
#
# The first Python 3.11, 3.12 or 3.13 on the PATH (inpaint_lib/course/install.py says which are supported);
# name another with `make PYTHON=/path/to/python3.12`. CPU=1: no CUDA libraries (Linux; torch's CPU build).
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3 python; do \
	$$p -m inpaint_lib.course.install --check >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CPU    ?=
# Jupyter refuses to run as root unless told it may (containers, CI machines).
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: venv demo test test-unit test-fast lint lab exercises pretrained site site-check lock lock-check test-lowest-torch clean-runs \
	data-tinyimagenet32 data-cifar10

venv: $(STAMP)

# The pinned stack (requirements.lock) and the course package, installed with uv, bytecode compiled.
$(STAMP): requirements.lock pyproject.toml inpaint_lib/course/install.py
	@test -n "$(PYTHON)" || { echo "make: no Python 3.11, 3.12 or 3.13 found on the PATH; install one (python.org or your \
	package manager) or name it: make PYTHON=/path/to/python3.12"; exit 1; }
	$(PYTHON) -m inpaint_lib.course.install --venv $(VENV) $(if $(CPU),--cpu)

# Every lecture notebook at its CPU demo size on the sample data set; results under runs/demo/.
demo: $(STAMP)
	$(BIN)/python -m inpaint_lib.course demo

# Unit tests, then the notebooks and solutions under nbval (their assert cells are the checks).
test: $(STAMP)
	$(BIN)/python -m inpaint_lib.course test

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests --durations=15

# The unit tests without those marked slow (subprocesses, torchrun, executed notebooks): a quick check while editing.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" tests

# The fast unit tests once more, on the newest supported Python with the lowest supported torch (pyproject.toml),
# installed the way a hosted notebook adds the course to the torch it has: pip install -e ".[course]" keeps it.
LOWEST_TORCH   := 2.6.0
LOWEST_VISION  := 0.21.0
NEWEST_PYTHON  ?= python3.13
LOWEST_ENV     := runs/lowest-torch
test-lowest-torch: $(STAMP)
	rm -rf $(LOWEST_ENV) && $(BIN)/uv venv --quiet --seed --python $(NEWEST_PYTHON) $(LOWEST_ENV)
	$(BIN)/uv pip install --quiet --python $(LOWEST_ENV)/bin/python torch==$(LOWEST_TORCH) torchvision==$(LOWEST_VISION)
	$(LOWEST_ENV)/bin/python -m pip install --quiet -e ".[course]"
	$(LOWEST_ENV)/bin/python -c "import torch; v = torch.__version__.split('+')[0]; \
	assert v == '$(LOWEST_TORCH)', f'pip replaced the installed torch $(LOWEST_TORCH) by {v}'; print('torch', v, 'kept')"
	$(LOWEST_ENV)/bin/python -m pytest -m "not slow" tests -p no:cacheprovider -q

# Ruff, configured in pyproject.toml ([tool.ruff]); the notebooks are not linted.
lint: $(STAMP)
	$(BIN)/ruff check inpaint_lib tests benchmarks

# exercises/ is generated from solutions/ (never edited by hand).
exercises: $(STAMP)
	$(BIN)/python -m inpaint_lib.course.exercises

# The shipped models (inpaint_lib/pretrained/): each trained by its recorded command on Tiny ImageNet 32
# ($$INPAINT_DATA), then exported with its card. About 6 hours on a 2-core CPU (4.5 of them the
# PixelCNN++'s training, which resumes if run again); one model: MODELS=pixelcnnpp.
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

# Real photographs: Tiny ImageNet (CS231n) downloaded (248 MB, checked by MD5, resumable) and converted to
# $$INPAINT_DATA (or data/)/tinyimagenet32/{train,val}.npz; nothing to do when it is already there.
data-tinyimagenet32: $(STAMP)
	$(BIN)/python -m inpaint_lib.data download tinyimagenet32

data-cifar10: $(STAMP)
	$(BIN)/python -m inpaint_lib.data download cifar10

lab: $(STAMP)
	$(BIN)/jupyter lab $(ROOT_FLAG)

# One universal lock for every supported platform and Python (environment markers on the platform-specific pins);
# lock-check resolves it for each row of the support table (uv's --python-platform), installing nothing.
lock:
	$(BIN)/uv pip compile --universal requirements.in --python-version 3.11 -o requirements.lock

lock-check: $(STAMP)
	$(BIN)/python -m inpaint_lib.course.install --check-lock

clean-runs:
	rm -rf runs/demo
