# Quench: the two commands a newcomer needs are `make demo` and `make test`.
# Every target installs what it needs from this repository's own pinned files.

SHELL := /bin/bash
VENV := .venv
PIP := $(VENV)/bin/pip
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup setup-sam test demo lint bench chaos build deploy deploy-parameters schema validate-config fmt clippy fuzz clean

setup: $(VENV)/.installed

$(VENV)/.installed: tools/requirements.txt tools/constraints.txt
	python3 -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -q -r tools/requirements.txt -c tools/constraints.txt
	touch $@

test: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo test --workspace

demo: setup
	cargo run -q -p quench-e2e --bin quench-demo

# Release figures (see bench/src/main.rs). The init section measures the functions as
# deployed: cargo lambda's release build, binary and zip, beside a hello-world function;
# it is built only when that section runs.
LAMBDA_BINS := alarm-to-incident runbook-step chat-notifier escalation-ticker hello-lambda
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
BENCH_NEEDS_LAMBDAS := $(if $(ONLY),$(filter init,$(ONLY)),all)
bench: setup
	$(if $(BENCH_NEEDS_LAMBDAS),cargo lambda build --release $(addprefix --bin ,$(LAMBDA_BINS)))
	$(if $(BENCH_NEEDS_LAMBDAS),cargo lambda build --release --output-format zip $(addprefix --bin ,$(LAMBDA_BINS)))
	cargo build --release -p quench-bench
	$(TARGET_DIR)/release/quench-bench --lambdas $(TARGET_DIR)/lambda $(addprefix --only ,$(ONLY))

# Many incidents over simulated hours with random faults (crates/quench-e2e/tests/chaos.rs),
# a new seed each run; `make test` runs the same check with 40 and a fixed seed.
# CHAOS_SEED=<seed> replays a run.
CHAOS_INCIDENTS ?= 200
CHAOS_SEED ?= $(shell date +%s%N)
chaos:
	CHAOS_INCIDENTS=$(CHAOS_INCIDENTS) CHAOS_SEED=$(CHAOS_SEED) cargo test -q -p quench-e2e --test chaos -- --nocapture

lint: setup tools/node_modules/.installed
	cfn-lint --append-rules cfn_lint_serverless.rules -- infra/template.yaml
	tools/node_modules/.bin/asl-validator $(addprefix --json-path ,$(wildcard infra/statemachines/*.asl.json))

# asl-validator, pinned by tools/package-lock.json.
tools/node_modules/.installed: tools/package.json tools/package-lock.json
	cd tools && npm ci --no-audit --no-fund
	touch $@

schema:
	cargo run -q -p quench-core --bin quench-config -- schema > schema/quench-config.schema.json

validate-config:
	cargo run -q -p quench-core --bin quench-config -- validate $(CONFIG)

# SAM CLI in its own virtualenv, pinned by tools/sam-requirements.txt and
# tools/sam-constraints.txt (its boto3 pins differ from moto's).
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
setup-sam: $(SAM_VENV)/.installed

$(SAM_VENV)/.installed: tools/sam-requirements.txt tools/sam-constraints.txt
	python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --disable-pip-version-check -q -r tools/sam-requirements.txt -c tools/sam-constraints.txt
	touch $@

# The deployable artifacts: every function through cargo lambda (release, with zig),
# into .aws-sam/build. ARCH=x86_64 builds here; arm64 needs the aarch64 Rust target,
# which the deploy workflow installs.
ARCH ?= arm64
build: setup setup-sam
	SAM_CLI_TELEMETRY=0 $(SAM) build --template-file infra/template.yaml --beta-features \
		--parameter-overrides Architecture=$(ARCH)

# The template parameters that scope the roles to what CONFIG uses. CONFIG is the config
# the functions run with: infra/quench.yaml, built in, or, with CONFIG_PARAMETER, the
# SSM parameter make deploy stores CONFIG in.
CONFIG ?= infra/quench.yaml
PARTITION ?= aws
DEPLOY_PARAMETERS = cargo run -q -p quench-core --bin quench-config -- deploy-parameters $(CONFIG) $(PARTITION)
deploy-parameters:
	@$(DEPLOY_PARAMETERS)

# Needs credentials for the target account. STACK names the stack; PARAMS adds
# overrides, e.g. PARAMS='OperatorEmail=leads@example.com'; DEPLOY_FLAGS adds sam deploy
# flags (the workflow's --no-confirm-changeset and tags). CONFIG_PARAMETER=/quench/config
# stores CONFIG as that SSM parameter (quench-op put-config: SecureString, Advanced tier
# once past Standard's 4 KB, up to 8 KB) and points the functions at it
# (ConfigParameterName); without it they run the config built in.
# A config that fails to derive its parameters stops the deploy; `set -f` keeps the ARN
# patterns' `*` and `?` from meeting the shell's globbing. After the stack, the contacts'
# email subscriptions on the pages topic are brought in line with the config.
STACK ?= quench
DEPLOY_FLAGS ?=
CONFIG_PARAMETER ?=
deploy: validate-config build
	set -euf; \
	scoped=$$($(DEPLOY_PARAMETERS)); \
	$(if $(CONFIG_PARAMETER),cargo run -q -p quench-op -- put-config $(CONFIG_PARAMETER) $(CONFIG); \
	scoped="$$scoped ConfigParameterName=$(CONFIG_PARAMETER)";) \
	SAM_CLI_TELEMETRY=0 $(SAM) deploy --stack-name $(STACK) --resolve-s3 \
		--capabilities CAPABILITY_IAM --no-fail-on-empty-changeset $(DEPLOY_FLAGS) \
		--parameter-overrides Architecture=$(ARCH) $$scoped $(PARAMS)
	@# Each contact's email on the pages topic, filtered to that contact (quench-op).
	set -euo pipefail; \
	topic=$$($(SAM) list stack-outputs --stack-name $(STACK) --output json \
		| python3 -c 'import json,sys; print(next(o["OutputValue"] for o in json.load(sys.stdin) if o["OutputKey"] == "PagesTopicArn"))'); \
	QUENCH_CONFIG_FILE=$(CONFIG) cargo run -q -p quench-op -- sync-subscriptions "$$topic"

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam

# Fuzz quench-core's untrusted-input parsers (fuzz/fuzz_targets/), FUZZ_SECONDS per target.
# cargo-fuzz passes nightly-only flags (-Zsanitizer=address, ...); RUSTC_BOOTSTRAP=1 lets
# the stable toolchain accept them, so no nightly toolchain is needed. libFuzzer is built
# from C++ source, so a C++ compiler must be installed. fuzz/ is its own workspace (not a
# member of the root one). Seeds (fuzz/seeds/) are copied into the ignored fuzz/corpus/;
# a crash stops the run and leaves its input in fuzz/artifacts/<target>/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= alarm_event config
# The sample events and the example config seed the corpora; fuzz/seeds/ adds the rest.
FUZZ_SEEDS_alarm_event := events/alarm-to-incident/*.json
FUZZ_SEEDS_config := infra/quench.yaml
FUZZ_TARGET_DIR ?= $(CURDIR)/fuzz/target
FUZZ_ARGS ?=
CARGO_FUZZ_VERSION := 0.13.2

fuzz:
	cargo install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root $(CURDIR)/.tools
	set -e; for target in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$target; \
		if [ -d fuzz/seeds/$$target ]; then cp fuzz/seeds/$$target/* fuzz/corpus/$$target/; fi; \
		case $$target in \
			alarm_event) cp $(FUZZ_SEEDS_alarm_event) fuzz/corpus/$$target/ ;; \
			config) cp $(FUZZ_SEEDS_config) fuzz/corpus/$$target/ ;; \
		esac; \
		PATH="$(CURDIR)/.tools/bin:$$PATH" RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$(FUZZ_TARGET_DIR)" \
			cargo fuzz run $$target fuzz/corpus/$$target -- \
			-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(FUZZ_ARGS); \
	done
