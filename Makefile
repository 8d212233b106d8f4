# Cadence Commerce — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/cadence-target
# Development secret for HS256 dev tokens; production configures a JWKS instead.
export COMMERCE__AUTH__HS256_SECRET ?= dev-only-secret-change-me-0123456789

NEXTEST := $(shell cargo nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: run test services build fmt lint guards k8s-check alerts-check contract bench clean-test-data

## Start Postgres and NATS if needed, migrate, seed a demo catalog, serve everything on :8080.
run: services build
	@deploy/local/run.sh

## fmt check, clippy -D warnings, and every test against the real Postgres and NATS.
test: services fmt guards k8s-check alerts-check lint clean-test-data
ifeq ($(NEXTEST),yes)
	cargo nextest run --workspace --no-fail-fast
else
	cargo test --workspace --no-fail-fast
endif

services:
	@deploy/local/services.sh

build:
	cargo build --workspace

fmt:
	cargo fmt --all -- --check

lint:
	cargo clippy --workspace --all-targets -- -D warnings

## Crate boundaries (no service depends on another; a pure kernel), lines rustfmt gave up on, and
## role checks before any extractor that reads the request.
guards:
	python3 deploy/ci/boundaries.py
	python3 deploy/ci/long-lines.py
	python3 deploy/ci/roles-first.py

clean-test-data:
	@deploy/local/clean-test-data.sh

## Render every k8s/ overlay, validate it strictly, check its rules and NetworkPolicies; hadolint.
k8s-check:
	deploy/ci/k8s-check.sh

## The Prometheus alert rules (deploy/prometheus/): promtool check rules and their unit tests.
alerts-check:
	deploy/ci/alerts-check.sh

## The API contract: the platform on a free port, schemathesis over its /api/openapi.json with
## every check, as a learner, a billing-admin and anonymous; any finding fails.
contract: services
	deploy/ci/contract.sh

## The purchase benchmark (release build), swept over LEARNERS; SECONDS and COURSES tune it.
LEARNERS ?= 8 32 64
SECONDS ?= 20
COURSES ?= 20
bench: services
	cargo build --release -p bench --bin purchase-bench
	tests/bench/cpu.sh $(CARGO_TARGET_DIR)/release/purchase-bench "$(LEARNERS)" $(SECONDS) $(COURSES)
