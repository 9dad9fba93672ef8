# The two commands of the README: `make demo` (the main job) and `make test`.
# Each creates .venv and installs what it needs when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RAY_AUTH_MODE ?= disabled
export WANDB_MODE ?= offline
export TOKENIZERS_PARALLELISM ?= false
# `make test` runs the fast suite; CI runs every test, the slow end-to-end ones included:
# `make test PYTEST_ARGS=` (.ci/run). Timings with the machine's RecSim anchor:
# docs/benchmarks.md#test-suite-and-demo-wall-times. Two pytest workers, one test file each
# at a time (a file's Ray session is shared by its tests): the suite waits on Ray more than
# it computes, so two files overlap well on 2 cores.
PYTEST_ARGS ?= -m "not slow"
PYTEST_WORKERS ?= -n 2 --dist loadfile

.PHONY: demo test coverage lint fetch-data bench results-tables clean browser

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -qq --upgrade pip
	# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build
	$(BIN)/pip install -qq -c constraints.txt torch==2.13.0
	$(BIN)/pip install -qq -c constraints.txt -e '.[dev]'
	touch $(STAMP)

fetch-data: $(STAMP)
	$(BIN)/marlrec data fetch movielens-100k

demo: $(STAMP) fetch-data
	$(BIN)/marlrec run experiments/quickstart.yaml

# Chromium for the browser test of report.html (tests/report/test_html_report.py, which skips
# without it); never fails the build.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
		|| (apt-get install -y chromium chromium-driver >/dev/null 2>&1 \
		|| (apt-get update -qq >/dev/null 2>&1 \
		    && apt-get install -y chromium chromium-driver >/dev/null 2>&1) \
		|| echo "no chromium: the browser test will skip")

test: $(STAMP) fetch-data browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Line coverage of marlrec/ and envs/ by the fast suite (PYTEST_ARGS= for every test).
coverage: $(STAMP) fetch-data
	$(BIN)/python -m pytest -q $(PYTEST_WORKERS) $(PYTEST_ARGS) --cov=marlrec --cov=envs \
		--cov-report=term:skip-covered --cov-report=json:coverage.json

lint: $(STAMP)
	$(BIN)/ruff check .

# Regenerates every result figure in README.md and docs/results/README.md from the committed
# scores.json files (make test fails when one disagrees).
results-tables: $(STAMP)
	$(BIN)/python -m marlrec.report.results_tables README.md docs/results/README.md docs/benchmarks.md \
		docs/recsim_parity.md

bench: $(STAMP)
	$(BIN)/python benchmarks/env_throughput.py

clean:
	rm -rf $(VENV) results wandb
