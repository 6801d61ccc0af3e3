#!/usr/bin/env bash
# Every test of the project, from a fresh clone: installs what it needs (project venv, Python
# tools), checks formatting and lints, then runs the Rust tests, the Terraform checks and the
# tests against the local stack (which start and stop their own processes on 127.0.0.1).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }

step "project venv (scripts/bootstrap.sh)"
bash scripts/bootstrap.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings (the workspace with the local-stack tests; the core alone)"
cargo clippy --workspace --all-targets --features sensor-shared/stack-tests --quiet -- -D warnings
cargo clippy -p sensor-shared --all-targets --quiet -- -D warnings

step "Terraform: fmt, checkov, HCL invariants"
bash scripts/check-terraform.sh

step "Rust tests (unit, property, handler, CLI; no local stack)"
cargo test --workspace --quiet

step "Rust tests against the local stack (registry client; feature stack-tests)"
cargo test -p sensor-shared --features stack-tests --test registry_stack --quiet

step "local stack and end-to-end tests (pytest)"
.venv/bin/python -m pytest -q -p no:cacheprovider tests/functions tests/stack tests/e2e
