# tidemark — `make` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CONFIG ?= examples/demo/tidemark.toml
NEXTEST_PROFILE ?= default
ASL_VALIDATOR := tools/asl-validator/node_modules/.bin/asl-validator
VENV := tools/python/.venv
PYTHON := $(VENV)/bin/python

.PHONY: help run test check lint-asl build demo-data clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

run: ## build, then run the daily pipeline locally on the demo source (ARGS="..." for more options)
	@cargo run --quiet -p tidemark-cli -- run --config $(CONFIG) $(ARGS) || { \
	  status=$$?; echo; echo "tidemark exited with $$status. (The demo fails on purpose on 2026-11-04: its orders file has a null status.)"; exit $$status; }

test: lint-asl $(PYTHON) ## the whole test suite: Rust tests (cargo-nextest) and the state-machine lint
	TIDEMARK_PYTHON=$(abspath $(PYTHON)) cargo nextest run --workspace --profile $(NEXTEST_PROFILE)

check: lint-asl ## formatting, clippy with warnings as errors, and the state-machine lint
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

lint-asl: $(ASL_VALIDATOR) ## validate statemachines/*.asl.json with the public asl-validator
	$(ASL_VALIDATOR) $(patsubst %,--json-path %,$(wildcard statemachines/*.asl.json))

$(ASL_VALIDATOR): tools/asl-validator/package.json tools/asl-validator/package-lock.json
	npm ci --prefix tools/asl-validator --no-audit --no-fund --loglevel=error
	@touch $@

$(PYTHON): tools/python/requirements.txt ## the Python tools the tests call, in a venv
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/python/requirements.txt
	@touch $@

build: ## build every crate and Lambda binary (debug)
	cargo build --workspace

demo-data: ## regenerate examples/demo/replay from its generator
	cargo run --quiet -p demo-generator

clean: ## remove the local lake (.tidemark) and build output
	rm -rf .tidemark
	cargo clean
