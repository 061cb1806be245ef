# The two commands of the README: `make demo` runs the main job, `make test` runs every test.
# Both build .venv from nothing but a Python >= 3.11 on PATH.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SMOKE  := ../shared/acceptance/contract-smoke.sh

.PHONY: venv demo test pytest smoke postgres clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: venv
	$(BIN)/scidex-replay demo

# PostgreSQL server binaries for the registry tests on PostgreSQL (the tests start a throwaway server).
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then :; \
	else apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; fi

pytest: venv postgres
	$(BIN)/python -m pytest

smoke: venv
	@if [ -f $(SMOKE) ]; then bash $(SMOKE); else echo "no $(SMOKE): contract smoke test skipped"; fi

test: pytest smoke

clean:
	rm -rf $(VENV) build dist .pytest_cache
