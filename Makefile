# crmflow — build, test, demo and benchmark. Every target works on a fresh Debian/Ubuntu machine with Swift 6.3.
SWIFT ?= swift
BIN_DEBUG := .build/debug/crmflow
BIN_RELEASE := .build/release/crmflow
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup spark-setup build release test conformance fuzz demo report-png docs bench clean

# Installs what the build and the tests need when missing (idempotent): libcsv-dev, libsqlite3-dev and the sqlite3
# shell (the tests' independent reader), libpq-dev (PostgreSQL's client library) and the PostgreSQL server and psql
# (the tests start a throw-away server, scripts/with-postgres.sh).
PG_INITDB := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb))
setup:
	@if [ ! -f /usr/include/csv.h ] || [ ! -f /usr/include/sqlite3.h ] || [ ! -x /usr/bin/sqlite3 ] \
	    || [ ! -f /usr/include/postgresql/libpq-fe.h ] || [ -z "$(PG_INITDB)" ] || [ ! -x /usr/bin/psql ]; then \
	  echo "installing libcsv-dev libsqlite3-dev sqlite3 libpq-dev postgresql"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libcsv-dev libsqlite3-dev sqlite3 libpq-dev postgresql postgresql-client; \
	fi

# For --engine spark and its tests: Debian's Java 17 and PyPI's pyspark (with the Spark Connect server) in a
# virtual environment at /opt/crmflow-spark (scripts/with-spark.sh finds it there). About 500 MB.
SPARK_VERSION ?= 4.0.1
spark-setup:
	@command -v java >/dev/null || { echo "installing openjdk-17-jre-headless"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless; }
	@/opt/crmflow-spark/bin/python3 -c 'import pyspark, sys; sys.exit(pyspark.__version__ != "$(SPARK_VERSION)")' 2>/dev/null || { \
	  echo "installing pyspark $(SPARK_VERSION) into /opt/crmflow-spark"; \
	  $(SUDO) python3 -m venv /opt/crmflow-spark && $(SUDO) /opt/crmflow-spark/bin/pip install --quiet pyspark==$(SPARK_VERSION); }

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

# The whole suite, with a real PostgreSQL server and (where pyspark is installed: make spark-setup) a Spark Connect
# server started for it on 127.0.0.1, both stopped at the end.
test: setup
	scripts/with-postgres.sh scripts/with-spark.sh $(SWIFT) test

# The suites live in shared/ beside the checkout; a local clone of a checkout finds them beside its origin.
ORIGIN := $(shell git config --get remote.origin.url 2>/dev/null)
SUITES ?= $(firstword $(wildcard ../shared/conformance $(ORIGIN)/../shared/conformance) ../shared/conformance)

conformance: build
	scripts/conformance.sh $(BIN_DEBUG) $(SUITES)

# The libFuzzer targets (CSV, JSON, pipeline loader, expressions; one binary) with AddressSanitizer, FUZZ_SECONDS each (see README, Security).
FUZZ_SECONDS ?= 60
fuzz: setup
	scripts/fuzz.sh $(FUZZ_SECONDS)

# The nightly consolidation pipeline on sample-data/ (fixed --as-of so the outputs are reproducible).
demo: release
	$(BIN_RELEASE) validate pipelines/nightly.yaml
	$(BIN_RELEASE) run pipelines/nightly.yaml --as-of 2024-12-31 --summary out/nightly-consolidation/run-summary.json
	@echo
	@echo "outputs, rejects, the report (report.html, report.md, report/) and the run manifest are in out/nightly-consolidation/:"
	@ls -l out/nightly-consolidation

# Renders the demo's whole HTML report with headless Chromium (installed when missing) to docs/report.png, checks it as
# laid out (scripts/check-report.py) and prints it to docs/report.pdf.
report-png: demo
	scripts/render-report.sh out/nightly-consolidation/report.html docs/report.png

# Regenerates the stage reference and the pipeline JSON Schema from the stage specs (a test fails when either is stale).
docs: build
	$(BIN_DEBUG) stages --markdown > docs/stages.md
	$(BIN_DEBUG) schema -o docs/pipeline.schema.json

bench: release
	Benchmarks/bench.sh

clean:
	rm -rf .build .build-fuzz out
