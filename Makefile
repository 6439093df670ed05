# The README's two commands are `make demo` and `make test`; both install what is missing.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test test-deps lint format system-deps venv bench bench-ingest bench-outbox bench-checkout bench-alerts bench-parking model check-cpus clean

demo: system-deps $(STAMP)
	$(BIN)/tianshan demo

# System packages first: on a fresh Debian even Python's venv module may be missing.
test: test-deps $(STAMP) lint
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy wire edge cloud firmware_bridge provisioning models tianshan bench tests

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

system-deps:
	@scripts/install-system-deps.sh

# The browser tests drive Debian's Chromium; the model's tests on other CPUs run under QEMU
# in an ARM64 root that debootstrap downloads.
test-deps:
	@scripts/install-system-deps.sh chromium qemu-user debootstrap

venv: $(STAMP)

# Reinstall when the dependency list or the lock changes.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

bench: bench-ingest bench-outbox bench-checkout bench-alerts bench-parking

bench-ingest: system-deps $(STAMP)
	$(BIN)/python -m bench.ingest

bench-outbox: system-deps $(STAMP)
	$(BIN)/python -m bench.outbox_drain

bench-alerts: system-deps $(STAMP)
	$(BIN)/python -m bench.alerts

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

# Regenerates the synthetic trays, trains on the CPU and exports the ONNX model
# with its sha256. Installs the training extra (torch 2.13.0 CPU, onnxscript) first, once:
# reinstalling on every build cost minutes of pip before the build's own clock started.
TRAIN_STAMP := $(VENV)/.installed-train

$(TRAIN_STAMP): $(STAMP) pyproject.toml constraints.txt
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,train]'
	@touch $(TRAIN_STAMP)

model: $(TRAIN_STAMP)
	$(BIN)/python -m models.traycolour.build

bench-checkout: $(STAMP)
	$(BIN)/python -m bench.checkout

# The model pair's answers here and, under QEMU, as on a Zen 3, a Nehalem, a Raspberry Pi 4
# and a Raspberry Pi 5, compared tray by tray (ARGS: e.g. --trays 200 --target pi4).
check-cpus: $(STAMP)
	@scripts/install-system-deps.sh qemu-user debootstrap
	@scripts/arm64-root.sh var/arm64-root
	$(BIN)/python -m models.traycolour.portability $(ARGS)

# Stud advertisements decoded and run through the parking logic, per second on one core.
bench-parking: $(STAMP)
	$(BIN)/python -m bench.parking
