#!/usr/bin/env bash
# Call setup time while one media worker is starved, before and after the engine stopped
# waiting for workers (issue 8), in one run on this machine.
#
#   loadtest/setup_under_load.sh [BEFORE_COMMIT] [CALLS] [CPS]
#
# For each gateway (BEFORE_COMMIT, default 81fa037 — the last commit where the engine
# blocked on `MediaPlane::open_call` — and the working tree), it starts the gateway with
# two media workers pinned to cores 0 and 1, the example IVR answering every call, and a
# SCHED_FIFO busy loop pinned to core 0 (the kernel's RT throttling leaves the worker
# there about 5% of the core: a saturated worker). SIPp then places CALLS calls (default
# 200) at CPS per second (default 20), each hung up by the caller 300 ms after the
# answer, and records every call's INVITE→200 time (-trace_rtt). The table gives p50,
# p90, p99 and max per gateway, and the failed calls. Without the hog, the same figures
# for both are printed first as the baseline.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BEFORE="${1:-81fa037}"
CALLS="${2:-200}"
CPS="${3:-20}"
WORK="$(mktemp -d /tmp/setup-under-load.XXXXXX)"
command -v sipp >/dev/null || { echo "sipp missing: run tests/setup.sh" >&2; exit 1; }
command -v chrt >/dev/null && command -v taskset >/dev/null || { echo "needs chrt and taskset (util-linux)" >&2; exit 1; }

echo "building the working tree and $BEFORE (release) in $WORK ..." >&2
(cd "$ROOT" && cargo build --release -q --bin mediagw --example ivr)
git -C "$ROOT" worktree add -q --detach "$WORK/before" "$BEFORE"
trap 'git -C "$ROOT" worktree remove --force "$WORK/before" >/dev/null 2>&1 || true; pkill -P $$ || true' EXIT
(cd "$WORK/before" && CARGO_TARGET_DIR="$WORK/before-target" cargo build --release -q --bin mediagw)

run() { # NAME BINARY HOG(0|1) -> prints one table row
  local name="$1" bin="$2" hog="$3" dir="$WORK/$1-$3"
  mkdir -p "$dir/media/records"
  cat >"$dir/gw.toml" <<EOF
[sip]
listen = "127.0.0.1:25160"
[api]
listen = "127.0.0.1:28160"
[media]
workers = 2
pin_cores = true
rtp_ports = "42000-43999"
root = "$dir/media"
record_root = "$dir/media/records"
EOF
  "$bin" --config "$dir/gw.toml" >"$dir/gw.log" 2>&1 &
  local gw=$!
  for _ in $(seq 100); do grep -q "mediagw listening" "$dir/gw.log" && break; sleep 0.1; done
  "$ROOT/target/release/examples/ivr" --url ws://127.0.0.1:28160/rpc --hangup-after 60 >"$dir/ivr.log" 2>&1 &
  local ivr=$!
  sleep 0.5
  local hogpid=""
  if [ "$hog" = 1 ]; then
    chrt -f 10 taskset -c 0 bash -c 'while :; do :; done' &
    hogpid=$!
    sleep 0.2
  fi
  (cd "$dir" && sipp -sn uac 127.0.0.1:25160 -s 95588 -i 127.0.0.1 -p 25161 -mp 26100 \
      -m "$CALLS" -r "$CPS" -l 50 -d 300 -nostdin -timeout 120s -trace_rtt -rtt_freq 1 \
      >"$dir/sipp.out" 2>&1) || true
  [ -n "$hogpid" ] && kill "$hogpid" 2>/dev/null
  kill "$ivr" "$gw" 2>/dev/null || true
  wait "$gw" 2>/dev/null || true
  python3 - "$dir" "$name" "$hog" <<'PY'
import csv, glob, re, sys
d, name, hog = sys.argv[1:]
rtts = []
for f in glob.glob(f"{d}/*_rtt.csv"):
    for row in csv.reader(open(f), delimiter=';'):
        if len(row) >= 3 and row[2].strip() == "1":
            try: rtts.append(float(row[1]))
            except ValueError: pass
out = open(f"{d}/sipp.out", errors="replace").read()
m = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", out)
failed = m[-1] if m else "?"
rtts.sort()
q = lambda p: rtts[min(len(rtts) - 1, int(p * len(rtts)))] if rtts else float("nan")
print(f"| {name} | {'worker 0 starved' if hog == '1' else 'idle'} | {len(rtts)} | {q(0.5):.1f} | {q(0.9):.1f} | {q(0.99):.1f} | {rtts[-1] if rtts else float('nan'):.1f} | {failed} |")
PY
}

echo
echo "| gateway | worker 0 | calls timed | p50 ms | p90 ms | p99 ms | max ms | failed |"
echo "|---|---|---|---|---|---|---|---|"
for hog in 0 1; do
  run "before ($BEFORE)" "$WORK/before-target/release/mediagw" "$hog"
  run "after (working tree)" "$ROOT/target/release/mediagw" "$hog"
done
