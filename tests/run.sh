#!/usr/bin/env bash
# The project's test command: install test dependencies, then run every test
# (unit, integration with real SIPp and the real binary), clippy and fmt checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
# A clean CI build gains nothing from incremental caches; they only cost disk.
export CARGO_INCREMENTAL=0
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --all-targets 2>&1
