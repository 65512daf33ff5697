# streamt: the developer's commands.  `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: test test-fast fuzz lint pyz bench hostile-figures services-up services-down services-status clean example docs-screenshot

$(VPY): requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r requirements-test.txt
	touch $(VPY)

## test: the whole suite; fetches and starts the real services it needs (Kafka, Connect, Flink)
test: $(VPY)
	$(VPY) -m pytest -ra $(PYTEST_ARGS) tests

## test-fast: the unit tests only (no services)
test-fast: $(VPY)
	$(VPY) -m pytest -ra -m "not services" $(PYTEST_ARGS) tests

## fuzz: the fuzz harnesses (tests/test_fuzz_*.py) with 20 times the cases of `make test`
fuzz: $(VPY)
	STREAMT_FUZZ_SCALE=20 $(VPY) -m pytest -ra $(PYTEST_ARGS) tests/test_fuzz_artifact.py

## test-quick: the inner loop, under a minute: layout, loading, validation, compile, SQL, CLI parsing
test-quick: $(VPY)
	$(VPY) -m pytest -q -m "not services and not slow" $(PYTEST_ARGS) tests/test_structure.py \
		tests/test_canonical_json.py tests/test_project.py tests/test_validate.py \
		tests/test_compile.py tests/test_sql.py tests/test_cli_parser.py

## lint: streamt.py must run on CPython 3.6 (vermin) and pass the linter
lint: $(VPY)
	# str.decode: vermin takes `files["x"].decode()` (bytes values) for Python 2's str.decode
	$(VENV)/bin/vermin -q -t=3.6- --violations --no-tips --exclude str.decode streamt.py build_zipapp.py
	$(VENV)/bin/vermin -t=3.6- --no-tips --exclude str.decode streamt.py build_zipapp.py | grep "Minimum required versions: 3\.[0-6]$$" >/dev/null
	# errors and undefined/unused names; style is left to review
	$(VENV)/bin/ruff check --select E9,F,B006,B008 streamt.py build_zipapp.py tests
	# pyflakes too: it reports a name bound twice (F811) where ruff's selection does not
	$(VENV)/bin/python -m pyflakes streamt.py build_zipapp.py tests

## pyz: dist/streamt.pyz, reproducibly
pyz:
	$(PYTHON) build_zipapp.py

## example: build the bundled example project for the dev environment into dist/shop-dev/
example:
	$(PYTHON) streamt.py build -p examples/shop -e dev -o dist/shop-dev --force

## docs-screenshot: docs/img/shop-docs.png, the README's picture of the example's docs page
## (headless Chromium, tests/services/chromium.py; fails if the page makes a request or logs an error)
docs-screenshot:
	$(PYTHON) streamt.py docs generate -p examples/shop -e dev -o dist/shop-docs
	mkdir -p docs/img
	$(PYTHON) -m tests.services.chromium screenshot dist/shop-docs/index.html docs/img/shop-docs.png 1000 620

## bench: speed and memory (see tests/bench/)
bench: $(VPY)
	$(VPY) tests/bench/run.py $(BENCH_ARGS)

## hostile-figures: issue 17's hostile inputs (tests/bench/hostile_figures.py), one row each:
## time, peak RSS, exit code, traceback, what a user sees.  OLD=<commit>: that commit's
## streamt.py too (exported with git archive), side by side.  HOSTILE_ARGS=--only=gzip,...
hostile-figures: $(VPY)
	@if [ -n "$(OLD)" ]; then \
		tmp=$$(mktemp -d) && git archive $(OLD) streamt.py | tar -x -C $$tmp && \
		$(VPY) tests/bench/hostile_figures.py $$tmp/streamt.py streamt.py \
			--names="$(OLD),working tree" $(HOSTILE_ARGS); \
		rc=$$?; rm -rf $$tmp; exit $$rc; \
	else \
		$(VPY) tests/bench/hostile_figures.py streamt.py $(HOSTILE_ARGS); \
	fi

## services-up / services-down / services-status: the real services of the test suite
services-up: $(VPY)
	$(VPY) -m tests.services up

services-down: $(VPY)
	$(VPY) -m tests.services down

services-status: $(VPY)
	$(VPY) -m tests.services status

clean:
	rm -rf dist build .pytest_cache .hypothesis .ruff_cache
