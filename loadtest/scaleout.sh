#!/usr/bin/env bash
# Calls through the Kamailio dispatcher to N mediagw nodes (issue 13): per-node and total
# calls per second and concurrent channels, and the proxy's own cost, all measured in the
# same run.
#
#   loadtest/scaleout.sh [options]
#
# Starts N release-built nodes on 127.0.0.2.. (one media worker each, each with its bench
# application answering its calls), the deployable proxy (deploy/kamailio/kamailio.cfg) on
# 127.0.0.10 in front of them, then offers calls through the proxy with SIPp at each rate
# of --cps for --step-secs. By default each call is answer + prompt + hang-up
# (loadtest/sipp/proxy_uac_wait_bye.xml, application `--mode hangup`: signalling and the
# gateway's prompt, no RTP from SIPp), the calls-per-second case; with --media each call
# also carries SIPp's A-law speech and an RFC 2833 digit that the application collects
# (loadtest/sipp/dispatch_load_ivr.xml, `--mode digit`, about 8 s per call; SIPp plays
# each call's audio from a thread of its own, which bounds the rate it can offer). For every step it reports the calls SIPp placed, completed and failed, the
# calls each node took (its call detail records), the most channels up at once on each node,
# and the CPU time spent per call by the proxy (all its processes), by the nodes and by
# SIPp, read from /proc. "Calls per second per proxy core" is 1 / (proxy CPU seconds per
# call): what one core running Kamailio would forward, measured, not extrapolated from a
# datasheet.
#
# Options:
#   --nodes N        mediagw nodes (default 3)
#   --cps "A B C"    offered calls per second, one step each (default "10 20 40")
#   --step-secs S    seconds each step offers calls (default 30)
#   --media          calls carry audio and a digit (see above)
#   --out DIR        logs and the report (default target/scaleout)
#
# Output: DIR/scaleout.md. Every process is bounded in time and killed at the end.
# On one small machine every component shares the same cores: the figures that carry over
# to real machines are the CPU costs per call; the rates say what this machine sustained.
set -euo pipefail

nodes=3 cps_list="10 20 40" step_secs=30 out="" media=0
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes="$2" ;;
    --cps) cps_list="$2" ;;
    --step-secs) step_secs="$2" ;;
    --out) out="$2" ;;
    --media)
      media=1
      shift
      continue
      ;;
    -h | --help)
      sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'
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
out="${out:-$root/target/scaleout}"
rm -rf "$out"
mkdir -p "$out"
for tool in sipp kamailio curl python3; do
  command -v "$tool" >/dev/null || {
    echo "$tool missing: run tests/setup.sh" >&2
    exit 1
  }
done
if [ ! -x "$root/target/release/mediagw" ] || [ ! -x "$root/target/release/mediagw-load" ]; then
  (cd "$root" && cargo build --release --workspace --quiet)
fi
mediagw="$root/target/release/mediagw"
load="$root/target/release/mediagw-load"
if [ "$media" = 1 ]; then
  scenario=dispatch_load_ivr mode=digit hold=8
else
  scenario=proxy_uac_wait_bye mode=hangup hold=2
fi
# Each step: its calls are placed within step_secs, the last ones live $hold s more.
longest=$((step_secs + 60))
bound=$((longest * $(wc -w <<<"$cps_list") + 120))

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${kam_pgid:-}" ] && kill -TERM -- "-$kam_pgid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

# /proc/PID/stat utime+stime of the given pids, in clock ticks.
ticks() {
  local sum=0 p t
  for p in "$@"; do
    t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
    sum=$((sum + t))
  done
  echo "$sum"
}
hz=$(getconf CLK_TCK)

node_pid=() node_timeout=() node_sip=() node_api=() node_cdr=()
for i in $(seq 1 "$nodes"); do
  ip="127.0.0.$((i + 1))"
  d="$out/node$i"
  mkdir -p "$d/media/records"
  first=$((20000 + (i - 1) * 6000))
  cat >"$d/mediagw.toml" <<EOF
[sip]
listen = "$ip:5060"
allow = ["127.0.0.10/32"]
max_invites_per_second_per_source = 0
[api]
listen = "127.0.0.1:0"
[media]
workers = 1
rtp_ports = "$first-$((first + 5998))"
root = "$d/media"
record_root = "$d/media/records"
[cdr]
path = "$d/cdr.jsonl"
EOF
  MEDIAGW_LOG="warn,mediagw::server=info" timeout "$bound" "$mediagw" --config "$d/mediagw.toml" 2>"$d/mediagw.log" &
  node_timeout+=($!)
  pids+=($!)
done
for i in $(seq 1 "$nodes"); do
  d="$out/node$i"
  for _ in $(seq 1 300); do
    grep -q "mediagw listening" "$d/mediagw.log" 2>/dev/null && break
    sleep 0.1
  done
  line="$(grep -m1 "mediagw listening" "$d/mediagw.log")" || {
    echo "node $i did not start; see $d/mediagw.log" >&2
    exit 1
  }
  node_sip+=("$(sed -E 's/.*sip=udp:([^ ]+).*/\1/' <<<"$line")")
  node_api+=("$(sed -E 's/.*api=(ws:[^ ]+).*/\1/' <<<"$line")")
  node_cdr+=("$d/cdr.jsonl")
  # The gateway itself (its CPU time is what counts), not the `timeout` around it.
  node_pid+=("$(pgrep -P "${node_timeout[$((i - 1))]}" -x mediagw || echo "${node_timeout[$((i - 1))]}")")
  timeout "$bound" "$load" app --url "${node_api[-1]}" --mode "$mode" --expect 1 --seconds "$bound" 2>"$d/app.log" &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q "bench app connected" "$d/app.log" 2>/dev/null && break
    sleep 0.1
  done
done

: >"$out/dispatcher.list"
for s in "${node_sip[@]}"; do echo "1 sip:$s" >>"$out/dispatcher.list"; done
proxy="127.0.0.10:5060"
setsid kamailio -f "$root/deploy/kamailio/kamailio.cfg" -DD -E -n 2 -m 64 -M 8 \
  -l "udp:$proxy" -A "DS_LIST=\"$out/dispatcher.list\"" -A PING_INTERVAL=2 \
  2>"$out/kamailio.log" &
kam_pgid=$!
for _ in $(seq 1 100); do
  grep -q "SO_RCVBUF is finally" "$out/kamailio.log" 2>/dev/null && break
  sleep 0.1
done
grep -q "SO_RCVBUF is finally" "$out/kamailio.log" || {
  echo "kamailio did not start; see $out/kamailio.log" >&2
  exit 1
}
kam_pids() { pgrep -g "$kam_pgid" || true; }

metric() { # series $2 on node $1's /metrics
  local url
  url="$(sed -E 's#ws://([^/]+)/rpc#http://\1/metrics#' <<<"${node_api[$1]}")"
  curl -s --max-time 5 "$url" | awk -v s="$2" '$1 == s { v = $2 } END { print v + 0 }'
}

printf 'cps\tplaced\tsucceeded\tfailed\tduration_s\tproxy_ticks\tnodes_ticks\tsipp_ticks' >"$out/steps.tsv"
for i in $(seq 1 "$nodes"); do printf '\tnode%s_calls\tnode%s_peak' "$i" "$i" >>"$out/steps.tsv"; done
printf '\n' >>"$out/steps.tsv"

step=0
for cps in $cps_list; do
  step=$((step + 1))
  calls=$((cps * step_secs))
  declare -a cdr_before=()
  for i in $(seq 0 $((nodes - 1))); do cdr_before[$i]=$(wc -l <"${node_cdr[$i]}" 2>/dev/null || echo 0); done
  # shellcheck disable=SC2046
  kam_before=$(ticks $(kam_pids))
  nodes_before=$(ticks "${node_pid[@]}")
  t0=$(date +%s.%N)
  # A 180 relayed after the 200 (the proxy's processes may reorder replies) is legal:
  # SIPp must not abort the call on it (-abortunexp off).
  (cd "$out" && exec timeout "$longest" sipp -sf "$here/sipp/$scenario.xml" "$proxy" \
    -i 127.0.0.1 -p 15400 -mp 47000 -nostdin -trace_stat -fd 5 -trace_err \
    -default_behaviors all,-abortunexp \
    -r "$cps" -m "$calls" -l $((cps * 30)) -stf "sipp_$step.csv" \
    -error_file "sipp_${step}_errors.log" >"sipp_$step.out" 2>&1) &
  sp=$!
  pids+=($sp)
  sipp_pid=""
  declare -a peak=()
  for i in $(seq 0 $((nodes - 1))); do peak[$i]=0; done
  sipp_ticks=0
  while kill -0 "$sp" 2>/dev/null; do
    [ -n "$sipp_pid" ] || sipp_pid=$(pgrep -P "$sp" -x sipp || true)
    [ -n "$sipp_pid" ] && sipp_ticks=$(ticks "$sipp_pid")
    for i in $(seq 0 $((nodes - 1))); do
      live=$(metric "$i" mediagw_calls)
      [ "${live%.*}" -gt "${peak[$i]}" ] && peak[$i]=${live%.*}
    done
    sleep 1
  done
  wait "$sp" || true
  t1=$(date +%s.%N)
  # The last calls' records.
  sleep 2
  # shellcheck disable=SC2046
  kam_after=$(ticks $(kam_pids))
  nodes_after=$(ticks "${node_pid[@]}")
  read -r placed ok failed < <(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "TotalCallCreated") a = i; if ($i == "SuccessfulCall(C)") b = i; if ($i == "FailedCall(C)") c = i } } END { print $a + 0, $b + 0, $c + 0 }' "$out/sipp_$step.csv")
  row="$cps\t$placed\t$ok\t$failed\t$(awk -v a="$t0" -v b="$t1" -v h="$hold" 'BEGIN { printf "%.1f", b - a - h }')\t$((kam_after - kam_before))\t$((nodes_after - nodes_before))\t$sipp_ticks"
  for i in $(seq 0 $((nodes - 1))); do
    now=$(wc -l <"${node_cdr[$i]}" 2>/dev/null || echo 0)
    row="$row\t$((now - cdr_before[i]))\t${peak[$i]}"
  done
  printf '%b\n' "$row" >>"$out/steps.tsv"
  echo "step $step: $cps cps offered: $placed placed, $ok succeeded, $failed failed"
done

python3 - "$out" "$nodes" "$hz" "$scenario" <<'EOF' | tee "$out/scaleout.md"
import sys
out, nodes, hz, scenario = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = [l.rstrip("\n").split("\t") for l in open(f"{out}/steps.tsv")]
head, rows = rows[0], rows[1:]
print(f"# Calls through the Kamailio dispatcher to {nodes} mediagw nodes ({scenario})\n")
print("| offered cps | placed | succeeded | failed | achieved cps | " +
      " | ".join(f"node {i+1} calls (peak channels)" for i in range(nodes)) +
      " | proxy CPU ms/call | proxy calls/s per core | nodes CPU ms/call | SIPp CPU ms/call |")
print("|" + "---:|" * (8 + nodes))
for r in rows:
    cps, placed, ok, failed, dur = r[0], int(r[1]), int(r[2]), int(r[3]), float(r[4])
    kam, nod, sipp = (int(x) * 1000 / hz for x in r[5:8])
    per = [f"{r[8 + 2*i]} ({r[9 + 2*i]})" for i in range(nodes)]
    calls = max(ok + failed, 1)
    kam_ms = kam / calls
    print(f"| {cps} | {placed} | {ok} | {failed} | {placed / max(dur, 1):.1f} | " + " | ".join(per) +
          f" | {kam_ms:.3f} | {1000 / kam_ms if kam_ms else float('inf'):.0f} | {nod / calls:.2f} | {sipp / calls:.2f} |")
print("\nAchieved cps: calls SIPp placed over the step's duration less one call's length. CPU from /proc (utime+stime, 1/%d s resolution) over each step; the proxy's figure "
      "covers all its processes (probes included). All processes share this machine's cores, "
      "so achieved rates are this machine's, and per-call CPU costs are what carries over." % hz)
EOF
