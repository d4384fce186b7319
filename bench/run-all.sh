#!/usr/bin/env bash
# Runs every criterion bench of the root package: the [[bench]] targets of
# Cargo.toml, read through `cargo metadata` (which lists them by name), so new
# ones are picked up. Then prints a summary table: each bench id's mean time in
# ns (criterion's new/estimates.json) and, where the ids pair it with a
# baseline, the ratio mean(id) / mean(baseline). The table is also written to
# <target dir>/bench-summary.md.
#
# Usage: bench/run-all.sh [--quick] [BENCH...]
#   --quick   pass `--warm-up-time 1 --measurement-time 2` to criterion (groups
#             that set their own times in code keep them)
#   BENCH...  run only these benches (default: all)
#
# Baseline pairing, within one criterion group: an id is a baseline when one of
# its `_ / + -`-separated parts is a marker word (naive, baseline, scalar,
# serde_json; override with BENCH_BASELINE_MARKERS="a b c"). An id X pairs with
# baseline B when (a) B without its marker is X (`ulaw_naive` -> `ulaw`), else
# (b) B with its marker replaced is X (`bank_scalar_8_channel_frames` ->
# `bank_avx2_8_channel_frames`, `value/serde_json` -> `value/simd_json`), else
# (c) B is the group's only baseline (`naive_allocating` -> `ours`).
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

quick=0
only=()
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        -h | --help)
            usage
            exit 0
            ;;
        -*)
            echo "run-all.sh: unknown option $arg" >&2
            usage >&2
            exit 2
            ;;
        *) only+=("$arg") ;;
    esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Root package name, its bench targets (sorted by name) and the target dir.
cargo metadata --no-deps --format-version 1 >"$work/metadata.json"
python3 - "$work/metadata.json" "$PWD/Cargo.toml" >"$work/targets" <<'PY'
import json, os, sys
meta = json.load(open(sys.argv[1]))
root = os.path.realpath(sys.argv[2])
pkg = next(p for p in meta["packages"] if os.path.realpath(p["manifest_path"]) == root)
print(meta["target_directory"])
print(pkg["name"])
for t in pkg["targets"]:
    if "bench" in t["kind"]:
        print(t["name"])
PY
mapfile -t lines <"$work/targets"
target_dir=${lines[0]}
package=${lines[1]}
benches=("${lines[@]:2}")

if ((${#only[@]} > 0)); then
    for b in "${only[@]}"; do
        if [[ " ${benches[*]} " != *" $b "* ]]; then
            echo "run-all.sh: no bench named $b (have: ${benches[*]})" >&2
            exit 2
        fi
    done
    benches=("${only[@]}")
fi
if ((${#benches[@]} == 0)); then
    echo "run-all.sh: no [[bench]] targets in Cargo.toml" >&2
    exit 2
fi

criterion_args=()
if ((quick)); then
    criterion_args=(--warm-up-time 1 --measurement-time 2)
fi

# Build everything first so a compile error stops us before any measuring.
bench_flags=()
for b in "${benches[@]}"; do
    bench_flags+=(--bench "$b")
done
cargo bench -p "$package" "${bench_flags[@]}" --no-run

failed=()
: >"$work/manifest"
for b in "${benches[@]}"; do
    echo "=== cargo bench --bench $b ${criterion_args[*]}" >&2
    touch "$work/stamp"
    if ! cargo bench -p "$package" --bench "$b" -- "${criterion_args[@]}"; then
        failed+=("$b")
    fi
    # The benchmark directories this run wrote, oldest first (= run order).
    if [[ -d "$target_dir/criterion" ]]; then
        find "$target_dir/criterion" -path '*/new/estimates.json' -newer "$work/stamp" \
            -printf "%T@\t$b\t%h\n" | sort -n | cut -f2- >>"$work/manifest"
    fi
done

summary="$target_dir/bench-summary.md"
python3 - "$work/manifest" "${BENCH_BASELINE_MARKERS:-naive baseline scalar serde_json}" \
    "$quick" >"$summary" <<'PY'
import json, os, re, sys
from collections import OrderedDict

manifest, markers, quick = sys.argv[1], sys.argv[2].split(), sys.argv[3] == "1"
SEP = "_/+-"
marker_re = re.compile(
    r"(?:^|(?<=[_/+\-]))(" + "|".join(map(re.escape, markers)) + r")(?=$|[_/+\-])"
)

groups = OrderedDict()  # (bench, group) -> [(id, mean_ns)]
for line in open(manifest):
    bench, new_dir = line.rstrip("\n").split("\t", 1)
    info = json.load(open(os.path.join(new_dir, "benchmark.json")))
    est = json.load(open(os.path.join(new_dir, "estimates.json")))
    bid = "/".join(p for p in (info.get("function_id"), info.get("value_str")) if p)
    groups.setdefault((bench, info["group_id"]), []).append(
        (bid or info["full_id"], est["mean"]["point_estimate"])
    )


def pair(ids):
    """id -> baseline id, by the rules in run-all.sh's header."""
    base = {i: marker_re.search(i) for i in ids}
    base = {i: m for i, m in base.items() if m}
    others = [i for i in ids if i not in base]
    out = {}
    stripped, replaced = {}, {}
    for b, m in base.items():
        left, right = b[: m.start(1)], b[m.end(1) :]
        if left and left[-1] in SEP:
            stripped[b] = left[:-1] + right
        elif right and right[0] in SEP:
            stripped[b] = left + right[1:]
        else:
            stripped[b] = left + right
        replaced[b] = re.compile(re.escape(left) + r"[^/]+?" + re.escape(right))
    for x in others:  # rule (a) first, then (b)
        b = next((b for b in base if stripped[b] == x), None)
        b = b or next((b for b in base if replaced[b].fullmatch(x)), None)
        if b:
            out[x] = b
    if len(base) == 1:
        (only,) = base
        for x in others:
            out.setdefault(x, only)
    return out


def ns(v):
    return f"{v:,.1f}" if v < 1e5 else f"{v:,.0f}"


rows = []
for (bench, group), items in groups.items():
    means = dict(items)
    pairs = pair([i for i, _ in items])
    for bid, mean in items:
        b = pairs.get(bid)
        if b:
            r = mean / means[b]
            speed = f"{1 / r:.2f}x faster" if r < 1 else f"{r:.2f}x slower"
            ratio = f"{r:.3f} ({speed})"
        else:
            ratio, b = "", ""
        rows.append((bench, group, bid, ns(mean), ratio, b))

head = ("bench", "group", "id", "mean ns", "ratio to baseline", "baseline")
widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
def fmt(r):
    cells = [str(c).rjust(w) if i == 3 else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
    return "| " + " | ".join(cells) + " |"

print("# Bench summary" + (" (--quick)" if quick else ""))
print()
print("Mean of criterion's estimate per iteration, in ns. ratio = mean / baseline mean")
print("(< 1: faster than the baseline).")
print()
print(fmt(head))
print("|" + "|".join(("-" * (w + 1) + ":") if i == 3 else "-" * (w + 2) for i, w in enumerate(widths)) + "|")
for r in rows:
    print(fmt(r))
PY

cat "$summary"
echo >&2
echo "summary written to $summary" >&2
if ((${#failed[@]} > 0)); then
    echo "run-all.sh: failed benches: ${failed[*]}" >&2
    exit 1
fi
