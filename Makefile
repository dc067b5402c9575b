# Every target installs what it needs from this repository's own files; `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KAFKA_LOCAL := deploy/kafka/kafka-local

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F ':.*?## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/activate: pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(BIN)/activate

# Debian packages the tests use as real parts: Prometheus + promtool (rules, PromQL), Chromium +
# ChromeDriver (the approver page), kcat (debugging topics). Skipped when all are present.
SYSTEM_TOOLS := prometheus promtool chromium chromedriver kcat
SYSTEM_PACKAGES := prometheus chromium chromium-driver kcat

system-deps: ## Install the Debian packages the tests need (prometheus, chromium, chromedriver, kcat)
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
		echo "system-deps: missing$$missing; installing $(SYSTEM_PACKAGES)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends $(SYSTEM_PACKAGES); \
	fi

install: system-deps $(BIN)/activate ## Debian packages, .venv with the package and dev tools, Kafka's jars
	$(KAFKA_LOCAL) fetch
	deploy/s3proxy/s3proxy-local fetch

lint: install ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## Apply ruff's formatter and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install ## Run the whole test suite against a real local Kafka (started and stopped by it)
	$(BIN)/pytest

demo: install ## Local Kafka + simulator + streamer + consumers, live until Ctrl-C
	$(BIN)/python -m streamer demo

simulate: install ## Serve the API simulator on :8080 (100 coding sessions) until Ctrl-C
	$(BIN)/streamer simulate --port 8080 --sessions 100 --scenario coding --speed 5

bench-sim: install ## Simulator load benchmark (see docs/BENCHMARKS.md)
	$(BIN)/python bench/simulator_load.py --sessions 2500 --connections 10000 --workers 2 --rate 25000 --duration 15

dashboards: install ## Regenerate deploy/grafana/dashboards/*.json from deploy/grafana/dashboards.py
	$(BIN)/python deploy/grafana/dashboards.py

kafka-start: install ## Start the local broker (prints its bootstrap address)
	$(KAFKA_LOCAL) start

kafka-stop: ## Stop the local broker started by kafka-start
	$(KAFKA_LOCAL) stop

clean: ## Remove the virtualenv, caches and the local broker's data
	-$(KAFKA_LOCAL) stop
	rm -rf $(VENV) deploy/kafka/target deploy/kafka/.data .pytest_cache .mypy_cache .ruff_cache

.PHONY: help system-deps install lint format test demo simulate bench-sim kafka-start kafka-stop clean
.PHONY: dashboards
