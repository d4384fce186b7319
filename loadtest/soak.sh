#!/usr/bin/env bash
# The soak: the gateway under a steady load of calls coming and going for a long time,
# its health sampled at a fixed interval into a table and a plot.
#
#   loadtest/soak.sh [options]
#
# SIPp (loadtest/sipp/load_uac_ivr.xml) calls the gateway without pause; every call
# carries 7 s of A-law speech then the RFC 2833 digit 1, and the bench application
# (mediagw-load app --mode digit) answers it, collects the digit over a prompt and hangs
# up, so about --channels calls are up at any moment, each living about 8 s. Every
# --sample-secs the script samples the gateway's resident memory, its open files, its
# live calls, its stuck calls (up for more than 60 s: no call of this load lives that
# long) and the lines of its call detail record file. At the end it lets the last calls
# finish, stops the gateway with SIGTERM and judges the run: no stuck call ever, no live
# call left, one CDR line per call SIPp placed, the gateway's open files back to where
# they were before the load, exit status 0.
#
# Options:
#   --minutes M      how long calls are placed (default 30)
#   --channels N     calls up at once (default: half the density of BENCHMARKS.md's
#                    "density: N channels/core" line, per media worker)
#   --sample-secs S  sampling interval (default 60)
#   --workers W      media workers (default 1)
#   --procs P        SIPp processes sharing the load (default: one per 400 channels)
#   --out DIR        samples (soak.tsv), report (soak.md), plot (soak.png), logs
#                    (default target/soak)
#
# Output: soak.md (the table and the verdict) and soak.png; exit 0 only when the
# verdict holds. Everything is bounded: SIPp places M minutes' worth of calls and
# every process is killed after M minutes plus a margin.
set -euo pipefail

minutes=30 channels="" sample_secs=60 workers=1 procs="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2" ;;
    --channels) channels="$2" ;;
    --sample-secs) sample_secs="$2" ;;
    --workers) workers="$2" ;;
    --procs) procs="$2" ;;
    --out) out="$2" ;;
    -h | --help)
      sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "unknown option $1 (--help lists them)" >&2
      exit 2
      ;;
  esac
  shift 2
done

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${out:-$root/target/soak}"
if [ -z "$channels" ]; then
  density="$(sed -nE 's/^density: ([0-9]+) channels\/core.*/\1/p' "$root/BENCHMARKS.md" | head -1)"
  [ -n "$density" ] || {
    echo "no 'density: N channels/core' line in BENCHMARKS.md: give --channels" >&2
    exit 2
  }
  channels=$((density * workers / 2))
fi
[ -n "$procs" ] || procs=$(((channels + 399) / 400))
call_secs=8
cps=$(awk -v c="$channels" -v d="$call_secs" 'BEGIN { printf "%.1f", c / d }')
calls=$(awk -v r="$cps" -v m="$minutes" 'BEGIN { printf "%d", r * m * 60 }')
bound=$((minutes * 60 + 120))

rm -rf "$out"
mkdir -p "$out/media/records"
command -v sipp >/dev/null || {
  echo "SIPp missing: run tests/setup.sh (Debian package sip-tester)" >&2
  exit 1
}
if [ ! -x "$root/target/release/mediagw" ] || [ ! -x "$root/target/release/mediagw-load" ]; then
  (cd "$root" && cargo build --release --workspace --quiet)
fi
mediagw="$root/target/release/mediagw"
load="$root/target/release/mediagw-load"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

cat >"$out/mediagw.toml" <<EOF
[sip]
listen = "127.0.0.1:0"
# SIPp is one source placing many calls per second: no per-source rate limit.
max_invites_per_second_per_source = 0
drain_seconds = 30
[api]
listen = "127.0.0.1:0"
[media]
workers = $workers
rtp_ports = "20000-39998"
root = "$out/media"
record_root = "$out/media/records"
[cdr]
path = "$out/cdr.jsonl"
EOF
MEDIAGW_LOG="warn,mediagw::server=info" "$mediagw" --config "$out/mediagw.toml" 2>"$out/mediagw.log" &
gw=$!
pids+=($gw)
for _ in $(seq 1 300); do
  grep -q "mediagw listening" "$out/mediagw.log" 2>/dev/null && break
  sleep 0.1
done
line="$(grep -m1 "mediagw listening" "$out/mediagw.log")" || {
  echo "the gateway did not start; see $out/mediagw.log" >&2
  exit 1
}
sip="$(sed -E 's/.*sip=udp:([^ ]+).*/\1/' <<<"$line")"
api="$(sed -E 's/.*api=(ws:[^ ]+).*/\1/' <<<"$line")"
metrics_url="$(sed -E 's#ws://([^/]+)/rpc#http://\1/metrics#' <<<"$api")"

"$load" app --url "$api" --mode digit --expect 1 --seconds "$bound" 2>"$out/app.log" &
app=$!
pids+=($app)
for _ in $(seq 1 100); do
  grep -q "bench app connected" "$out/app.log" 2>/dev/null && break
  sleep 0.1
done

metric() { # the value of one series on /metrics (0 when absent)
  curl -s --max-time 5 "$metrics_url" | awk -v s="$1" '$1 == s { v = $2 } END { print v + 0 }'
}
t0=$(date +%s)
sample() {
  local now rss fds live stuck cdr
  now=$(date +%s)
  rss=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$gw/status")
  fds=$(find "/proc/$gw/fd" -mindepth 1 -maxdepth 1 | wc -l)
  live=$(metric mediagw_calls)
  stuck=$(metric 'mediagw_calls_older_than{seconds="60"}')
  cdr=$(wc -l <"$out/cdr.jsonl" 2>/dev/null || echo 0)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.2f", (b - a) / 60 }')" \
    "$rss" "$fds" "$live" "$stuck" "$cdr" >>"$out/soak.tsv"
}
printf 'minute\trss_mib\topen_files\tlive_calls\tstuck_calls\tcdr_lines\n' >"$out/soak.tsv"
sample
fds_idle=$(find "/proc/$gw/fd" -mindepth 1 -maxdepth 1 | wc -l)

echo "soak: $minutes min, $channels channels ($cps cps, $calls calls, calls of ~${call_secs} s), $procs SIPp process(es), sampling every $sample_secs s; gateway sip=$sip"
per_calls=$((calls / procs))
per_cps=$(awk -v r="$cps" -v p="$procs" 'BEGIN { printf "%.2f", r / p }')
per_limit=$((channels / procs))
sp=()
for i in $(seq 0 $((procs - 1))); do
  n=$per_calls
  [ "$i" -eq $((procs - 1)) ] && n=$((calls - per_calls * (procs - 1)))
  (cd "$out" && exec timeout "$bound" sipp -sf "$here/sipp/load_uac_ivr.xml" "$sip" \
    -i 127.0.0.1 -nostdin -trace_stat -fd 10 -trace_err \
    -p $((15300 + 2 * i)) -mp $((46000 + 1000 * i)) -r "$per_cps" -m "$n" -l "$per_limit" \
    -stf "sipp_$i.csv" -error_file "sipp_${i}_errors.log" -timeout_error >"sipp_$i.out" 2>&1) &
  sp+=($!)
  pids+=($!)
done
sipp_running() {
  for p in "${sp[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done
  return 1
}
next=$((t0 + sample_secs))
while sipp_running; do
  sleep 1
  if [ "$(date +%s)" -ge "$next" ]; then
    sample
    next=$((next + sample_secs))
  fi
done
sipp_status=0
for p in "${sp[@]}"; do wait "$p" || sipp_status=1; done
# The last calls end (their BYE and records), then one more sample.
for _ in $(seq 1 120); do
  [ "$(metric mediagw_calls)" = 0 ] && break
  sleep 0.5
done
sample
fds_after=$(find "/proc/$gw/fd" -mindepth 1 -maxdepth 1 | wc -l)
kill -TERM "$gw"
gw_status=0
wait "$gw" || gw_status=$?
kill "$app" 2>/dev/null || true
wait "$app" 2>/dev/null || true

created=0
for f in "$out"/sipp_*.csv; do
  [ -f "$f" ] || continue
  n=$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "TotalCallCreated") c = i } END { print $c + 0 }' "$f")
  created=$((created + n))
done
cdr_lines=$(wc -l <"$out/cdr.jsonl" 2>/dev/null || echo 0)
"$load" soak-plot --table "$out/soak.tsv" --out "$out/soak.png" >/dev/null || echo "no plot (see above)" >&2

python3 - "$out" "$minutes" "$channels" "$cps" "$created" "$cdr_lines" "$fds_idle" "$fds_after" \
  "$gw_status" "$sipp_status" <<'EOF' | tee "$out/soak.md"
import os, sys
out, minutes, channels, cps, created, cdr, fds_idle, fds_after, gw_status, sipp_status = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(out, "soak.tsv"))][1:]
print(f"# Soak: {minutes} min at {channels} channels ({cps} calls per second)\n")
print("| minute | RSS MiB | open files | live calls | stuck calls | CDR lines |")
print("|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print("| " + " | ".join(r) + " |")
rss = [float(r[1]) for r in rows]
stuck = max(int(float(r[4])) for r in rows)
live_end = int(float(rows[-1][3]))
loaded = rss[1:-1] or rss
checks = [
    (stuck == 0, f"stuck calls (up > 60 s), most at any sample: {stuck}"),
    (live_end == 0, f"live calls once the load stopped: {live_end}"),
    (int(created) > 0 and int(cdr) == int(created), f"CDR lines {cdr} for {created} calls SIPp placed"),
    (int(fds_after) <= int(fds_idle) + 2, f"open files idle before {fds_idle}, idle after {fds_after}"),
    (gw_status == "0", f"gateway exit status after SIGTERM: {gw_status}"),
]
print(f"\nRSS under load: first {loaded[0]:.1f} MiB, last {loaded[-1]:.1f} MiB, most {max(loaded):.1f} MiB; "
      f"SIPp {'succeeded' if sipp_status == '0' else 'reported failed calls (see sipp_*.out)'}.\n")
for ok, what in checks:
    print(f"- {'ok' if ok else 'FAILED'}: {what}")
app = os.path.join(out, "app.log")
last = [l.strip() for l in open(app) if l.startswith("incoming ")] if os.path.exists(app) else []
if last:
    print(f"- application: {last[-1]}")
print("\nverdict: " + ("the soak held" if all(ok for ok, _ in checks) else f"FAILED (logs in {out})"))
EOF
grep -q "^verdict: the soak held" "$out/soak.md"
