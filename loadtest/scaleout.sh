#!/usr/bin/env bash
# Calls through the Kamailio dispatcher to N mediagw nodes (issue 13): a thin wrapper
# around `mediagw-load scaleout`, which starts the release-built nodes on 127.0.0.2..,
# the deployable proxy (deploy/kamailio/kamailio.cfg) on 127.0.0.10, places calls with
# SIPp at rising rates and media channels with the generator's own RTP, and writes
# loadtest/report/scaleout.md and scaleout.json (per-node and total calls per second
# and channels, loss and lateness, what bounded the top rate, the proxy's CPU per call).
#
#   loadtest/scaleout.sh [mediagw-load scaleout options]   (--help lists them)
#
# Builds the release binaries first when they are missing.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
if [ ! -x "$target/release/mediagw" ] || [ ! -x "$target/release/mediagw-load" ]; then
  (cd "$root" && cargo build --release -p mediagw -p mediagw-load --quiet)
fi
cd "$root"
exec "$target/release/mediagw-load" scaleout "$@"
