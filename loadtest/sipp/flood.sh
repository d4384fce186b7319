#!/usr/bin/env bash
# The carrier tests with SIPp, on loopback:
#
#   flood.sh inbound  [options]   calls into the gateway at a given CPS and concurrency,
#                                 each carrying A-law RTP and an RFC 2833 digit; the bench
#                                 application answers, collects the digit over a prompt and
#                                 hangs up, so a call succeeds only when its digit arrived.
#   flood.sh outbound [options]   the application dials out through the API to SIPp UAS
#                                 processes (which echo the RTP), plays a prompt, hangs up.
#
# Options:
#   --cps R        calls per second in all (default 20)
#   --calls N      calls in all (default 200)
#   --limit L      most calls up at once, in all (default 100)
#   --procs P      SIPp processes sharing the load, when one SIPp is the bottleneck (default 1)
#   --hold-ms MS   outbound: how long the application holds each answered call (default 2000)
#   --workers W    media workers of the gateway this script starts (default 1)
#   --gateway IP:PORT --api WS_URL   use a running gateway instead of starting one
#   --out DIR      where logs, SIPp statistics and summary.md go (default target/flood)
#
# It prints a summary (calls, failures by kind, response times in percentiles, digits) and
# exits 0 only when every call succeeded. Every run is bounded: SIPp stops after N calls
# and each process is killed after a deadline derived from N / R.
set -euo pipefail

mode="${1:-}"
case "$mode" in
  inbound | outbound) shift ;;
  *)
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
cps=20 calls=200 limit=100 procs=1 hold_ms=2000 workers=1 gateway="" api="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --cps) cps="$2" ;;
    --calls) calls="$2" ;;
    --limit) limit="$2" ;;
    --procs) procs="$2" ;;
    --hold-ms) hold_ms="$2" ;;
    --workers) workers="$2" ;;
    --gateway) gateway="$2" ;;
    --api) api="$2" ;;
    --out) out="$2" ;;
    *)
      echo "unknown option $1" >&2
      exit 2
      ;;
  esac
  shift 2
done

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${out:-$root/target/flood}"
rm -rf "$out"
mkdir -p "$out"
command -v sipp >/dev/null || {
  echo "SIPp missing: run tests/setup.sh (Debian package sip-tester)" >&2
  exit 1
}
if [ ! -x "$root/target/release/mediagw" ] || [ ! -x "$root/target/release/mediagw-load" ]; then
  (cd "$root" && cargo build --release --workspace --quiet)
fi
mediagw="$root/target/release/mediagw"
load="$root/target/release/mediagw-load"

# Each process gets its share; the last takes the remainder of the calls.
share() { awk -v t="$1" -v p="$procs" 'BEGIN { v = t / p; if (v < 1) v = 1; printf "%g", v }'; }
per_calls=$((calls / procs))
[ "$per_calls" -ge 1 ] || per_calls=1
per_cps="$(share "$cps")"
per_limit=$((limit / procs))
[ "$per_limit" -ge 1 ] || per_limit=1
# Bound: the time to place the calls, plus hold and slack.
bound=$((calls / (cps > 0 ? cps : 1) + hold_ms / 1000 + 60))

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

if [ -z "$gateway" ]; then
  cat >"$out/mediagw.toml" <<EOF
[sip]
listen = "127.0.0.1:0"
# SIPp is one source placing many calls per second: no per-source rate limit.
max_invites_per_second_per_source = 0
[api]
listen = "127.0.0.1:0"
[media]
workers = $workers
root = "$out/media"
record_root = "$out/media/records"
EOF
  mkdir -p "$out/media/records"
  MEDIAGW_LOG="warn,mediagw::server=info" "$mediagw" --config "$out/mediagw.toml" 2>"$out/mediagw.log" &
  pids+=($!)
  for _ in $(seq 1 300); do
    grep -q "mediagw listening" "$out/mediagw.log" 2>/dev/null && break
    sleep 0.1
  done
  line="$(grep -m1 "mediagw listening" "$out/mediagw.log")" || {
    echo "the gateway did not start; see $out/mediagw.log" >&2
    exit 1
  }
  gateway="$(sed -E 's/.*sip=udp:([^ ]+).*/\1/' <<<"$line")"
  api="$(sed -E 's/.*api=(ws:[^ ]+).*/\1/' <<<"$line")"
fi
echo "gateway sip=$gateway api=$api; $mode: $calls calls at $cps cps, at most $limit up, $procs SIPp process(es)"

sipp_common=(-i 127.0.0.1 -nostdin -trace_stat -fd 1 -trace_err -trace_rtt -rtt_freq 1)
start=$(date +%s.%N)
status=0
if [ "$mode" = inbound ]; then
  "$load" app --url "$api" --mode digit --expect 1 --seconds "$bound" 2>"$out/app.log" &
  app=$!
  pids+=($app)
  for _ in $(seq 1 100); do
    grep -q "bench app connected" "$out/app.log" 2>/dev/null && break
    sleep 0.1
  done
  sp=()
  for i in $(seq 0 $((procs - 1))); do
    n=$per_calls
    [ "$i" -eq $((procs - 1)) ] && n=$((calls - per_calls * (procs - 1)))
    (cd "$out" && exec timeout "$bound" sipp -sf "$here/load_uac_ivr.xml" "$gateway" "${sipp_common[@]}" \
      -p $((15100 + 2 * i)) -mp $((42000 + 1000 * i)) -r "$per_cps" -m "$n" -l "$per_limit" \
      -stf "sipp_$i.csv" -error_file "sipp_${i}_errors.log" -timeout_error >"sipp_$i.out" 2>&1) &
    sp+=($!)
  done
  for p in "${sp[@]}"; do wait "$p" || status=1; done
  sleep 1.5
  kill "$app" 2>/dev/null || true
  wait "$app" 2>/dev/null || true
else
  sp=()
  to=""
  for i in $(seq 0 $((procs - 1))); do
    port=$((15200 + 2 * i))
    n=$per_calls
    [ "$i" -eq $((procs - 1)) ] && n=$((calls - per_calls * (procs - 1)))
    (cd "$out" && exec timeout "$bound" sipp -sf "$here/uas_answer_wait_bye.xml" "${sipp_common[@]}" \
      -p "$port" -mp $((44000 + 1000 * i)) -rtp_echo -m "$n" \
      -stf "sipp_$i.csv" -error_file "sipp_${i}_errors.log" >"sipp_$i.out" 2>&1) &
    sp+=($!)
    to="${to:+$to,}sip:uas@127.0.0.1:$port"
  done
  sleep 0.5
  "$load" dial --url "$api" --to "$to" --cps "$cps" --calls "$calls" --limit "$limit" \
    --hold-ms "$hold_ms" --seconds "$bound" >"$out/dial.out" 2>&1 || status=1
  for p in "${sp[@]}"; do wait "$p" || status=1; done
fi
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

python3 - "$out" "$mode" "$calls" "$cps" "$elapsed" "$status" <<'EOF' | tee "$out/summary.md"
import csv, glob, os, sys
out, mode, calls, cps, elapsed, status = sys.argv[1:]
rows = []
for f in sorted(glob.glob(os.path.join(out, "sipp_*.csv"))):
    with open(f) as fh:
        r = list(csv.reader(fh, delimiter=";"))
    if len(r) >= 2:
        rows.append(dict(zip(r[0], r[-1])))
def total(col):
    return sum(int(float(x.get(col, 0) or 0)) for x in rows)
created = total("TotalCallCreated") if mode == "inbound" else total("IncomingCall(C)")
ok, failed = total("SuccessfulCall(C)"), total("FailedCall(C)")
kinds = {}
for x in rows:
    for k, v in x.items():
        if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)":
            n = int(float(v or 0))
            if n:
                kinds[k[:-3]] = kinds.get(k[:-3], 0) + n
rtts = []
for f in glob.glob(os.path.join(out, "*_rtt.csv")):
    for line in open(f):
        p = line.strip().split(";")
        if len(p) >= 2:
            try:
                rtts.append(float(p[1]))
            except ValueError:
                pass
rtts.sort()
def q(p):
    return rtts[min(len(rtts) - 1, int(p * len(rtts)))] if rtts else float("nan")
print(f"# SIPp {mode} flood\n")
print(f"{calls} calls at {cps} cps, {len(rows)} SIPp process(es), {elapsed} s\n")
print(f"| SIPp calls | successful | failed | failures by kind |")
print(f"|---:|---:|---:|---|")
print(f"| {created} | {ok} | {failed} | {', '.join(f'{k} {v}' for k, v in sorted(kinds.items())) or '-'} |\n")
if rtts:
    print(f"INVITE to 200 OK (SIPp rtd, ms, {len(rtts)} calls): p50 {q(0.5):.1f}, p90 {q(0.9):.1f}, p99 {q(0.99):.1f}, max {rtts[-1]:.1f}\n")
app = os.path.join(out, "app.log")
if os.path.exists(app):
    last = [l for l in open(app) if l.startswith("incoming ")]
    if last:
        print(f"application: {last[-1].strip()}\n")
dial = os.path.join(out, "dial.out")
if os.path.exists(dial):
    print("dialler (construct to answer through the API):\n")
    for l in open(dial):
        print(f"    {l.rstrip()}")
    print()
good = status == "0" and failed == 0 and ok == int(calls)
if mode == "inbound" and os.path.exists(app) and last:
    f = dict(zip(last[-1].split()[0::2], last[-1].split()[1::2]))
    good = good and f.get("digits_wrong") == "0" and f.get("digits_right") == calls
print("verdict: " + ("all calls succeeded" if good else "FAILURES (logs in " + out + ")"))
EOF
grep -q "^verdict: all calls succeeded" "$out/summary.md"
