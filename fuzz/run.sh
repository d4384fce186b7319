#!/usr/bin/env bash
# Builds one fuzz target with afl.rs on the stable toolchain and fuzzes it for a stated
# time, then prints afl's figures (executions, paths, crashes, hangs).
#
#   fuzz/run.sh TARGET SECONDS        e.g. fuzz/run.sh sip_parse 600
#   fuzz/run.sh list                  the targets
#
# Installs what it needs: make and a C compiler (Debian's build-essential, for the AFL++
# that cargo-afl builds from its own sources) and cargo-afl from crates.io. Output goes
# to fuzz/out/TARGET (git-ignored); a fresh run replaces it, RESUME=1 continues it.
# Exit status: 0 when afl found no crash, 1 when it did (inputs in out/TARGET/default/crashes).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
TARGETS="sip_parse sip_transaction sdp rtp rtcp rfc4733 jsonrpc engine"
CARGO_AFL_VERSION=0.18.2

usage() { echo "usage: $0 TARGET SECONDS   (targets: $TARGETS)" >&2; exit 2; }
[[ "${1:-}" == list ]] && { echo "$TARGETS" | tr ' ' '\n'; exit 0; }
[[ $# -eq 2 ]] || usage
TARGET="$1" SECONDS_TO_RUN="$2"
[[ " $TARGETS " == *" $TARGET "* ]] || usage
[[ "$SECONDS_TO_RUN" =~ ^[0-9]+$ ]] || usage

case "$TARGET" in
  sip_parse|sip_transaction) DICT=sip.dict ;;
  engine) DICT=sip.dict ;;
  sdp) DICT=sdp.dict ;;
  jsonrpc) DICT=jsonrpc.dict ;;
  *) DICT= ;;
esac

# --- tools -------------------------------------------------------------------------
if ! command -v make >/dev/null || ! command -v cc >/dev/null; then
  apt-get update -qq && apt-get install -y -qq build-essential >/dev/null
fi
if ! cargo afl --version 2>/dev/null | grep -q "$CARGO_AFL_VERSION"; then
  cargo install --locked cargo-afl --version "$CARGO_AFL_VERSION"
fi
# The AFL++ runtime and afl-fuzz for this rustc (built from cargo-afl's sources; a no-op
# once done). No LLVM plugins: those need nightly's -Z llvm-plugins.
cargo afl config --build >/dev/null 2>&1 || true

# --- build -------------------------------------------------------------------------
# Its own target directory: cargo-afl's RUSTFLAGS would otherwise invalidate the normal build.
export CARGO_TARGET_DIR="$ROOT/target/afl"
(cd "$ROOT" && cargo afl build --release -p mediagw-fuzz --features afl --bin "fuzz_$TARGET")
BIN="$CARGO_TARGET_DIR/release/fuzz_$TARGET"

# --- fuzz --------------------------------------------------------------------------
OUT="$HERE/out/$TARGET"
INPUT="$HERE/corpus/$TARGET"
if [[ "${RESUME:-0}" == 1 && -d "$OUT/default" ]]; then
  INPUT=-
else
  rm -rf "$OUT"
fi
mkdir -p "$OUT"
DICT_ARGS=()
[[ -n "$DICT" ]] && DICT_ARGS=(-x "$HERE/dict/$DICT")

# A shared machine: no CPU binding, no CPU-governor check; crashes are seen by afl
# itself (a piped core_pattern would otherwise stop it).
export AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
echo "fuzzing $TARGET for $SECONDS_TO_RUN s: $BIN -> $OUT"
started=$(date +%s)
cargo afl fuzz -V "$SECONDS_TO_RUN" -t 1000 -m none -i "$INPUT" -o "$OUT" "${DICT_ARGS[@]}" -- "$BIN" \
  > "$OUT/afl.log" 2>&1 || { tail -30 "$OUT/afl.log"; exit 3; }
elapsed=$(( $(date +%s) - started ))

stats="$OUT/default/fuzzer_stats"
get() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
crashes=$(get saved_crashes) hangs=$(get saved_hangs)
printf 'target=%s seconds=%s execs=%s execs_per_sec=%s paths=%s crashes=%s hangs=%s stability=%s bitmap_cvg=%s\n' \
  "$TARGET" "$elapsed" "$(get execs_done)" "$(get execs_per_sec)" "$(get corpus_count)" \
  "$crashes" "$hangs" "$(get stability)" "$(get bitmap_cvg)"
if [[ "$crashes" != 0 ]]; then
  echo "crashing inputs: $OUT/default/crashes (minimise with: cargo afl tmin -i FILE -o MIN -- $BIN)"
  exit 1
fi
[[ "$hangs" == 0 ]] || echo "slow inputs (over 1 s): $OUT/default/hangs"
