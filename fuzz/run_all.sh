#!/usr/bin/env bash
# Fuzzes every target in turn (one at a time: the machine is shared) for SECONDS each
# and appends one line of figures per target to fuzz/logs/summary.txt.
#
#   fuzz/run_all.sh SECONDS [TARGET...]
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ $# -ge 1 && "$1" =~ ^[0-9]+$ ]] || { echo "usage: $0 SECONDS [TARGET...]" >&2; exit 2; }
SECS="$1"; shift
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || mapfile -t TARGETS < <("$HERE/run.sh" list)
mkdir -p "$HERE/logs"
status=0
for t in "${TARGETS[@]}"; do
  "$HERE/run.sh" "$t" "$SECS" > "$HERE/logs/$t.log" 2>&1 || status=1
  line=$(grep '^target=' "$HERE/logs/$t.log" || echo "target=$t failed: see logs/$t.log")
  echo "$(date -u +%FT%TZ) $line" | tee -a "$HERE/logs/summary.txt"
done
exit $status
