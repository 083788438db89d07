# PrimeFlow: `make demo` builds the demo warehouse, `make test` runs the tests.
# Everything is installed from uv.lock into .venv (uv itself into .tools), so a fresh machine
# with python3.11 needs nothing else.

SHELL := /bin/bash
PYTHON ?= python3.11
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/dagster_home
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
PYTEST_ARGS ?=
UI_PORT ?= 3000

.PHONY: install install-scale demo test test-fast ui bench lint docs clean-warehouse workbench reliability rl check-real stream stream-serve stream-stop

$(UV):
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --compile-bytecode: every Python process (run workers, test workers, the CLI) then reads
# .pyc files instead of compiling ~8,000 modules from source, which it would do on each start
# where PYTHONDONTWRITEBYTECODE is set (importing the code location: 8.6 s -> 3.6 s here).
$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --python $(PYTHON) --compile-bytecode
	@touch $@

# the project's own modules too (quick when nothing changed; a stale .pyc is never used)
install: $(VENV)/.synced
	@$(BIN)/python -m compileall -q -j 0 primeflow_lib primeflow_pipelines

# the scale profile's extra (deploy/scale/, docs/scaling.md): dagster-postgres, deltalake, dask,
# and the local PostgreSQL / S3 servers its tests start; `make demo` does not need it.
# --inexact: keep what `make rl` installed with pip
$(VENV)/.synced-scale: $(VENV)/.synced
	$(UV) sync --frozen --python $(PYTHON) --compile-bytecode --extra scale --inexact
	@touch $@

install-scale: install $(VENV)/.synced-scale

# the optional RL extra (stable-baselines3 + torch): pip, not uv, because pip finds the CPU wheel
# of torch 2.13.0 on this machine's disk (PIP_FIND_LINKS) while uv would download a multi-GB CUDA
# build. Pins in requirements-rl.txt. `make install` after a relock removes them again (uv sync
# is exact): run `make rl` again then.
rl: install
	@$(BIN)/python -c "import torch, stable_baselines3" 2>/dev/null || \
		$(TOOLS)/bin/pip --python $(BIN)/python install --quiet -r requirements-rl.txt
	@$(BIN)/python -c "import torch, stable_baselines3; print('rl extra: torch', torch.__version__, '+ stable-baselines3', stable_baselines3.__version__)"

demo: install
	@mkdir -p var
	PRIMEFLOW_VENDOR=synthetic $(BIN)/primeflow demo

test: install-scale
	$(BIN)/pytest -q -n 2 --dist loadgroup $(PYTEST_ARGS)

test-fast: install-scale
	$(BIN)/pytest -q -n 2 --dist loadgroup -m "not slow" $(PYTEST_ARGS)

# dagster dev through a launcher that stops it on SIGTERM and SIGINT (primeflow_pipelines/ui.py)
ui: install
	@mkdir -p var
	exec $(BIN)/python -m primeflow_pipelines.ui --host 127.0.0.1 --port $(UI_PORT)

# the research and flow workbench (Streamlit) on the published read copy; settings and the dark
# theme in .streamlit/config.toml
workbench: install
	$(BIN)/streamlit run primeflow_workbench/app.py --server.address 127.0.0.1 --server.port 8501 \
		--server.headless true --browser.gatherUsageStats false

# every script in benchmarks/ at its default size, one after another; each prints its figures
# with the last line one JSON object (bench_workbench.py reads the demo's read copy: make demo first;
# bench_scale.py needs the scale extra)
bench: install-scale
	@set -e; for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

# the reliability suite (tests/reliability + the relay crash test): one table of figures, last
# line one JSON object (see tests/reliability/run.py)
reliability: install
	$(BIN)/python tests/reliability/run.py

# the flow engine, GEX and the CSV backtest path on the real samples (PRIMEFLOW_REAL_DATA,
# default ../shared/real-data): one table; exits 0 with a message when the folder is absent
check-real: install
	$(BIN)/primeflow check-real

# the streaming path (docs/stream.md), in the foreground until the replay ends or Ctrl-C / `make
# stream-stop` (it resumes from its journal when started again). Default: the synthetic replay of
# the latest completed session at 60x on the demo's read copy. Other sources through STREAM_ARGS:
#   make stream-serve                                   (terminal 1: a local Massive websocket)
#   make stream STREAM_ARGS="--source massive"         (terminal 2; POLYGON_MASSIVE_KEY=local,
#                                                        PRIMEFLOW_MASSIVE_WS_URL=ws://127.0.0.1:8765)
STREAM_ARGS ?= --source replay --from synthetic --speed 60
stream: install
	@mkdir -p var
	$(BIN)/primeflow stream run $(STREAM_ARGS)

stream-serve: install
	$(BIN)/primeflow stream serve $(STREAM_SERVE_ARGS)

stream-stop: install
	$(BIN)/primeflow stream stop

lint: install
	$(BIN)/ruff check .

docs: install
	$(BIN)/primeflow docs

clean-warehouse:
	rm -f var/primeflow.duckdb var/primeflow.duckdb.wal var/primeflow_read.duckdb
