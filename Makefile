# crmflow — build, test, demo and benchmark. Every target works on a fresh Debian/Ubuntu machine with Swift 6.3.
SWIFT ?= swift
BIN_DEBUG := .build/debug/crmflow
BIN_RELEASE := .build/release/crmflow
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup build release test conformance demo bench clean

# Installs libcsv-dev only when its header is missing (idempotent).
setup:
	@if [ ! -f /usr/include/csv.h ]; then \
	  echo "installing libcsv-dev"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq libcsv-dev; \
	fi

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

test: setup
	$(SWIFT) test

# The suites live in shared/ beside the checkout; a local clone of a checkout finds them beside its origin.
ORIGIN := $(shell git config --get remote.origin.url 2>/dev/null)
SUITES ?= $(firstword $(wildcard ../shared/conformance $(ORIGIN)/../shared/conformance) ../shared/conformance)

conformance: build
	scripts/conformance.sh $(BIN_DEBUG) $(SUITES)

demo: release
	@mkdir -p out/demo
	$(BIN_RELEASE) profile sample-data/salesforce/contacts.csv
	$(BIN_RELEASE) convert sample-data/salesforce/contacts.csv out/demo/contacts.ndjson
	$(BIN_RELEASE) convert sample-data/legacy/customers_1252.csv out/demo/legacy_customers.csv
	$(BIN_RELEASE) convert sample-data/hubspot/deals.json out/demo/deals.md
	@echo
	@echo "demo outputs are in out/demo/:"; ls -l out/demo

bench: release
	Benchmarks/bench.sh

clean:
	rm -rf .build out
