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

schema:
	cargo run -q -p quench-core --bin quench-config -- schema > schema/quench-config.schema.json

validate-config:
	cargo run -q -p quench-core --bin quench-config -- validate infra/quench.yaml

clean:
	rm -rf $(VENV)
