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
# The capacity runs (1,500 calls in 500 conferences on each IO backend, one conference
# of 200) need the machine to themselves: alone, one at a time, after everything else.
cargo test -p mediagw --lib media::tests::confs -- --ignored --test-threads=1 2>&1
