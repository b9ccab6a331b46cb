# tidemark — `make` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CONFIG ?= examples/demo/tidemark.toml
NEXTEST_PROFILE ?= default
ASL_VALIDATOR := tools/asl-validator/node_modules/.bin/asl-validator
VENV := tools/python/.venv
PYTHON := $(VENV)/bin/python
EMULATOR_VENV := tools/emulator/.venv
EMULATOR_PYTHON := $(EMULATOR_VENV)/bin/python

# Deployment (infra/): ENV picks infra/envs/<ENV>, SOURCE the <SOURCE>.tfvars
# there (default terraform.tfvars) and its own state key.
ENV ?= dev
SOURCE ?=
TERRAFORM ?= terraform
TF_DIR = infra/envs/$(ENV)
TF_VARS = $(if $(SOURCE),$(SOURCE).tfvars,terraform.tfvars)
TF_STATE_KEY = tidemark/$(ENV)/$(or $(SOURCE),default).tfstate
LAMBDA_DIR := dist/lambda
LAMBDA_ARCH ?= arm64
LAMBDA_VENV := tools/lambda/.venv
LAMBDA_TOOLS := $(LAMBDA_VENV)/bin/cargo-lambda
FUNCTIONS := $(notdir $(wildcard functions/*))
# The CAs of RDS and Aurora, shipped in extract-metadata's zip for sslmode=verify-full.
RDS_CA_BUNDLE_URL := https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
RDS_CA_BUNDLE ?= dist/rds-ca-bundle.pem

.PHONY: pg pg-stop pg-clean bench-pg help run test check lint-asl lint-infra build plan deploy tf-init demo-data clean bench bench-merge bench-age bench-validate bench-rebuild bench-peers bench-freshness soak

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

run: ## build, then run the daily pipeline locally: on `make pg`'s PostgreSQL when it runs, else the bundled demo (ARGS="...")
	@CONFIG=$(CONFIG) scripts/run-demo.sh $(ARGS)

test: lint-asl lint-infra $(PYTHON) $(EMULATOR_PYTHON) ## the whole test suite: Rust tests (cargo-nextest; the AWS adapters and the six functions on an emulator), the state-machine lint and checkov
	cargo build --workspace --bins --tests  # the function binaries the deployed-shape test runs as Lambdas
	TIDEMARK_PYTHON=$(abspath $(PYTHON)) TIDEMARK_EMULATOR_PYTHON=$(abspath $(EMULATOR_PYTHON)) \
	  cargo nextest run --workspace --profile $(NEXTEST_PROFILE)
	cargo test --doc -p tidemark-asl  # the interpreter's usage example (nextest runs no doctests)

soak: ## every property test with 10,000 cases (SOAK_CASES=n) instead of CI's few hundred: cases/s and failures
	@scripts/soak.sh

check: lint-asl lint-infra ## formatting (Rust; Terraform when terraform is on PATH), clippy with warnings as errors, the state-machine lint and checkov over infra/
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	@if command -v $(TERRAFORM) >/dev/null; then $(TERRAFORM) fmt -check -recursive infra; \
	else echo "$(TERRAFORM) is not on PATH: terraform fmt -check skipped (checkov and tests/infra.rs still check infra/)"; fi

lint-asl: $(ASL_VALIDATOR) ## validate statemachines/*.asl.json with the public asl-validator
	$(ASL_VALIDATOR) $(patsubst %,--json-path %,$(wildcard statemachines/*.asl.json))

lint-infra: $(PYTHON) ## checkov over infra/ (Terraform and secrets); every skip carries its reason inline
	$(VENV)/bin/checkov --directory infra --framework terraform secrets --quiet --compact --skip-download

$(ASL_VALIDATOR): tools/asl-validator/package.json tools/asl-validator/package-lock.json
	npm ci --prefix tools/asl-validator --no-audit --no-fund --loglevel=error
	@touch $@

$(PYTHON): tools/python/requirements.txt ## the Python tools the tests call, in a venv
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/python/requirements.txt
	@touch $@

$(EMULATOR_PYTHON): tools/emulator/requirements.txt ## the AWS-API emulator (ministack) the AWS contract tests start, in a venv of its own
	python3 -m venv $(EMULATOR_VENV)
	$(EMULATOR_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/emulator/requirements.txt
	@touch $@

build: $(LAMBDA_TOOLS) ## the six Lambda zips (provided.al2023; LAMBDA_ARCH=arm64|x86_64) in dist/lambda/<function>/bootstrap.zip, with cargo-lambda
	@arch=$(LAMBDA_ARCH); \
	if [ "$$arch" = arm64 ] && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu \
	   && ! rustup target add aarch64-unknown-linux-gnu; then \
	  echo "build: the arm64 Rust target cannot be installed here: building x86_64 (deploy with LAMBDA_ARCH=x86_64)"; arch=x86_64; fi; \
	PATH=$(abspath $(LAMBDA_VENV))/bin:$$PATH cargo lambda build --profile lambda \
	  $$([ "$$arch" = arm64 ] && echo --arm64 || echo --x86-64) --output-format zip \
	  --lambda-dir $(LAMBDA_DIR) $(addprefix --package ,$(FUNCTIONS)) && \
	if [ -s $(RDS_CA_BUNDLE) ] || curl -fsSL --max-time 60 --create-dirs -o $(RDS_CA_BUNDLE) $(RDS_CA_BUNDLE_URL); then \
	  python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "a"); z.write(sys.argv[2], "rds-ca-bundle.pem"); z.close()' \
	    $(LAMBDA_DIR)/extract-metadata/bootstrap.zip $(RDS_CA_BUNDLE); \
	else rm -f $(RDS_CA_BUNDLE); echo "build: $(RDS_CA_BUNDLE_URL) cannot be fetched: extract-metadata ships no CA bundle (RDS_CA_BUNDLE=<pem> names one)"; fi && \
	for f in $(FUNCTIONS); do printf '%-20s %s %8d KiB\n' $$f $$arch $$(( $$(stat -c %s $(LAMBDA_DIR)/$$f/bootstrap.zip) / 1024 )); done

$(LAMBDA_TOOLS): tools/lambda/requirements.txt ## cargo-lambda and zig (PyPI), in a venv
	python3 -m venv $(LAMBDA_VENV)
	$(LAMBDA_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/lambda/requirements.txt
	@touch $@

tf-init: # terraform init of infra/envs/$(ENV) with the remote state of $(SOURCE)
	@case "$(ENV)" in dev|preprod|prod) ;; *) echo "ENV must be dev, preprod or prod"; exit 2;; esac
	@test -f $(TF_DIR)/backend.hcl || { echo "$(TF_DIR)/backend.hcl is missing: copy backend.hcl.example and name your state bucket"; exit 2; }
	@test -f $(TF_DIR)/$(TF_VARS) || { echo "$(TF_DIR)/$(TF_VARS) is missing: copy terraform.tfvars.example and describe the source"; exit 2; }
	$(TERRAFORM) -chdir=$(TF_DIR) init -input=false -reconfigure -backend-config=backend.hcl -backend-config=key=$(TF_STATE_KEY)

plan: build tf-init ## build the zips, then terraform plan ENV=dev|preprod|prod [SOURCE=name]
	$(TERRAFORM) -chdir=$(TF_DIR) plan -input=false -var-file=$(TF_VARS) -var lambda_architecture=$(LAMBDA_ARCH) -out=tidemark.tfplan

deploy: build tf-init ## build the zips, then terraform apply ENV=dev|preprod|prod [SOURCE=name]
	$(TERRAFORM) -chdir=$(TF_DIR) apply -input=false -var-file=$(TF_VARS) -var lambda_architecture=$(LAMBDA_ARCH)

bench: bench-merge bench-age bench-validate bench-rebuild bench-peers bench-freshness ## every benchmark; each prints its figures as a Markdown table and writes them to target/bench/*.json

# The benchmarks build with the profile the tests and `make run` build with
# (DuckDB is its own release library either way), so they compile nothing twice.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

bench-merge: ## SCD2 merge on DuckDB: 10k/100k/1M changes into 1M- and 10M-row histories
	cargo build --quiet --workspace --tests --examples
	BENCH_DIR=$(abspath $(TARGET_DIR)) $(TARGET_DIR)/debug/examples/bench_merge

bench-age: ## the same 1% batch merged into tables 1, 10 and 100 days old (BENCH_KEYS=100000: 10M history rows at 100)
	cargo build --quiet --workspace --tests --examples
	BENCH_DIR=$(abspath $(TARGET_DIR)) $(TARGET_DIR)/debug/examples/bench_age

bench-rebuild: ## a rebuild beside the daily runs it replaces: 1M landed rows of a 20-column table (BENCH_ROWS=1000000)
	cargo build --quiet --workspace --tests --examples
	BENCH_DIR=$(abspath $(TARGET_DIR)) $(TARGET_DIR)/debug/examples/bench_rebuild

PEERS_VENV := tools/peers/.venv
PEERS_PYTHON := $(PEERS_VENV)/bin/python
PEERS_ARGS ?=

$(PEERS_PYTHON): tools/peers/requirements.txt ## dbt-duckdb and dlt, pinned, in a venv of their own
	python3 -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/peers/requirements.txt
	@touch $@

bench-peers: $(PEERS_PYTHON) ## tidemark beside dbt snapshots and dlt scd2: 200k keys x 5 daily extracts (PEERS_ARGS="--keys 2000000")
	cargo build --quiet --workspace --tests  # the build `make run` runs
	$(PEERS_PYTHON) tools/peers/bench_peers.py --tidemark $(TARGET_DIR)/debug/tidemark \
	  --out $(TARGET_DIR)/bench/peers.json $(PEERS_ARGS)

# Validation needs only tidemark-core (no DuckDB), so it builds in release, as
# the Lambda functions do; its ~1 GB files are generated once, outside git.
BENCH_DATA ?= $(TARGET_DIR)/bench-data
BENCH_MB ?= 1024
BENCH_ROUNDS ?= 3

bench-validate: ## validation: rows/s and peak memory on ~1 GB Parquet and CSV files, medians of 3 rounds (BENCH_MB=1024 BENCH_ROUNDS=3)
	cargo build --release --quiet -p tidemark-bench --bin bench-validate
	$(TARGET_DIR)/release/bench-validate --data $(BENCH_DATA) --mb $(BENCH_MB) \
	  --rounds $(BENCH_ROUNDS) --out $(TARGET_DIR)/bench/validate.json

bench-pg: ## PostgreSQL source: changes/s from the slot to Parquet, and end to end for 1M changes (BENCH_CHANGES=1000000; needs make pg)
	cargo build --quiet --workspace --tests --examples
	$(or $(CARGO_TARGET_DIR),target)/debug/examples/bench_pg

bench-freshness: ## commit-to-query latency of run --follow beside a steady writer: p50/p95/max, CPU, RSS, slot lag (BENCH_SECONDS=600 BENCH_RATE=200 BENCH_TABLES=10 BENCH_EVERY=30s BENCH_CADENCE=frequent|daily; needs make pg)
	cargo build --quiet --workspace --bins --tests --examples
	BENCH_DIR=$(abspath $(TARGET_DIR)) $(TARGET_DIR)/debug/examples/bench_freshness

pg: ## install (as root, with apt) and start a throwaway PostgreSQL 15 on 127.0.0.1:54329 with wal_level=logical
	@scripts/pg.sh start

pg-stop: ## stop the throwaway PostgreSQL (pg-clean also removes its folder)
	@scripts/pg.sh stop

pg-clean: # stop the throwaway PostgreSQL and remove /var/tmp/tidemark-pg
	@scripts/pg.sh clean

demo-data: ## regenerate examples/demo/replay from its generator
	cargo run --quiet -p demo-generator

clean: ## remove the local lake (.tidemark) and build output
	rm -rf .tidemark
	cargo clean
