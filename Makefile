# Quench: the two commands a newcomer needs are `make demo` and `make test`.
# Every target installs what it needs from this repository's own pinned files.

SHELL := /bin/bash
VENV := .venv
PIP := $(VENV)/bin/pip
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup test demo lint bench schema validate-config fmt clippy fuzz clean

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

# Release figures for alarm-to-incident: cold init vs a hello-world lambda_runtime
# function, binary size, peak RSS, decision throughput, AWS calls per transition.
BENCH_BIN := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/release
bench: setup
	cargo build --release -p alarm-to-incident -p quench-bench
	$(BENCH_BIN)/quench-bench --handler $(BENCH_BIN)/alarm-to-incident --hello $(BENCH_BIN)/hello-lambda $(addprefix --only ,$(ONLY))

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
	cargo run -q -p quench-core --bin quench-config -- validate infra/quench.yaml

clean:
	rm -rf $(VENV)

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
