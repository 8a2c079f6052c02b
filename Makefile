# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: run test lint unit integration schemas browser clean

$(VENV)/.run-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -e '.[dev]'
	touch $(VENV)/.run-installed $@

run: $(VENV)/.run-installed
	$(VENV)/bin/tike up --simulate

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

# The browser tests use Debian's chromium; Playwright never downloads a browser.
browser:
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium \
	  || { $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }; }

# pytest exits 5 when it collected no tests: that is a broken suite, not a pass.
test: lint browser
	$(PY) -m pytest -q -ra; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

unit: $(VENV)/.dev-installed
	$(PY) -m pytest -q -m "not integration"

integration: $(VENV)/.dev-installed
	$(PY) -m pytest -q -m integration

schemas: $(VENV)/.run-installed
	$(VENV)/bin/tike schemas --write docs/schemas

clean:
	rm -rf $(VENV) .tike .pytest_cache .mypy_cache .ruff_cache
