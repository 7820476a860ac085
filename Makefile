# sertack: the two README commands are `make demo` and `make test`.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
# The dev Slurm cluster lives here; tests find it through SLURM_CONF.
SLURM_ROOT ?= /tmp/sertack-slurm
export SLURM_ROOT

.PHONY: install demo test test-fast lint slurm-up slurm-down image image-constraints bench clean

$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; assert sys.version_info >= (3, 11), "sertack needs Python >= 3.11, found " + sys.version.split()[0]'
	@$(PY) -m venv $(VENV) || { echo "error: '$(PY) -m venv' failed; on Debian install python3-venv (apt-get install python3-venv)"; exit 1; }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# (1) The main job on the embedded synthetic corpus: data, training, every attack, reduce, report.
demo: install
	$(BIN)/python -m runner submit grids/demo.yaml --executor local --reduce

# (2) The whole test suite. As root, the dev Slurm cluster is brought up first and Apptainer installed and
#     the image built (or reused from the image cache) so the Slurm and container tests run; elsewhere they
#     skip with a reason.
test: install lint
	@bash slurm/dev-cluster/ensure.sh
	@if [ "$$(id -u)" = 0 ] && ! command -v chromium >/dev/null; then \
	  { apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; } >/dev/null 2>&1 || echo "chromium not installed: the browser test will skip" >&2; fi
	@if [ -f $(SLURM_ROOT)/etc/slurm.conf ]; then export SLURM_CONF=$(SLURM_ROOT)/etc/slurm.conf; fi; \
	  image=$$(PY=$(BIN)/python bash containers/ensure.sh) || exit 1; \
	  if [ -n "$$image" ]; then export SERTACK_TEST_IMAGE=$$image PATH="$$PATH:/usr/local/bin"; fi; \
	  $(BIN)/python -m pytest -q --durations=25

# Lint (pycodestyle, pyflakes, import order, pyupgrade, bugbear) and types; settings in pyproject.toml.
lint: install
	$(BIN)/ruff check sercore runner tests benchmarks
	$(BIN)/mypy

test-fast: install
	$(BIN)/python -m pytest -q -m 'not slow and not slurm and not container'

slurm-up:
	bash slurm/dev-cluster/up.sh

slurm-down:
	bash slurm/dev-cluster/down.sh

# The registry-free Apptainer image (containers/sertack-debootstrap.def), named by a content hash, in
# ${SERTACK_IMAGE_DIR:-/var/cache/sertack/images}; GPU=1 for the [gpu] extra. Prints its path.
image: install
	@bash containers/install-apptainer.sh >&2
	@PY=$(BIN)/python bash containers/build-image.sh

# Pin the image's package versions to this venv's (after a dependency change).
image-constraints: install
	@{ echo "# Versions the image installs (pip --constraint): the host venv's, as tested. Regenerate after a dependency"; \
	   echo "# change with: make image-constraints"; \
	   $(BIN)/python -m pip freeze --exclude-editable | grep -v -i -E '^(pytest|pytest-timeout|iniconfig|pluggy)=='; \
	 } > containers/constraints.txt
	@echo "wrote containers/constraints.txt"

bench: install
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/train.py
	$(BIN)/python benchmarks/attacks.py
	$(BIN)/python benchmarks/runner.py

clean:
	rm -rf $(VENV) runs .pytest_cache
