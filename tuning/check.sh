#!/usr/bin/env bash
# Check this host against the mediagw tuning (tuning/README.md), or apply the sysctls.
#
#   tuning/check.sh [CONFIG.toml]           check only; changes nothing
#   tuning/check.sh --apply [CONFIG.toml]   as root: write /etc/sysctl.d/60-mediagw.conf
#                                           from tuning/sysctl.conf, load it, then check
#
# CONFIG.toml (optional) is a mediagw config: media.rtp_ports, media.workers and
# sip.max_calls are read from it; without it the embedded defaults are assumed.
# Exit status: 0 all OK, 1 something is LOW or WARN, 2 usage or apply error.
set -euo pipefail

readonly DEST=/etc/sysctl.d/60-mediagw.conf
# Locked memory one io_uring worker needs (rings + provided-buffer ring, default
# WorkerConfig), measured on Linux 6.18: see README "memlock".
readonly MEMLOCK_KIB_PER_WORKER=232

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
src="$here/sysctl.conf"

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

apply=0
toml=""
for arg in "$@"; do
    case "$arg" in
        --apply) apply=1 ;;
        -h | --help) usage; exit 0 ;;
        -*) usage >&2; exit 2 ;;
        *)
            if [[ -n "$toml" ]]; then usage >&2; exit 2; fi
            toml=$arg
            ;;
    esac
done
if [[ -n "$toml" && ! -r "$toml" ]]; then
    echo "check.sh: cannot read $toml" >&2
    exit 2
fi
if [[ ! -r "$src" ]]; then
    echo "check.sh: missing $src" >&2
    exit 2
fi

# "key = value" lines of sysctl.conf, as "key<TAB>value".
sysctl_entries() {
    sed -n 's/^[[:space:]]*\([a-z0-9_.]*\)[[:space:]]*=[[:space:]]*\(.*[^[:space:]]\)[[:space:]]*$/\1\t\2/p' "$src"
}

# Current value of a sysctl with runs of blanks squeezed to one space; empty if absent.
current() {
    local v
    v=$(sysctl -n "$1" 2>/dev/null) || return 0
    tr -s ' \t' '  ' <<<"$v"
}
exists() { sysctl -n "$1" >/dev/null 2>&1; }

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

if ((apply)); then
    if ((EUID != 0)); then
        echo "check.sh --apply: run as root" >&2
        exit 2
    fi
    tmp=$(mktemp)
    trap 'rm -f "$tmp"' EXIT
    {
        echo "# Written by mediagw tuning/check.sh --apply from tuning/sysctl.conf on $(date -u +%F)."
        while IFS= read -r line; do
            if [[ "$line" =~ ^[[:space:]]*([a-z0-9_.]+)[[:space:]]*=[[:space:]]*([0-9]+)[[:space:]]*$ ]]; then
                key=${BASH_REMATCH[1]} want=${BASH_REMATCH[2]}
                cur=$(current "$key")
                if is_uint "$cur" && ((cur > want)); then
                    echo "# kept the higher current value (tuning/sysctl.conf says $want)"
                    echo "$key = $cur"
                    continue
                fi
            fi
            echo "$line"
        done <"$src"
    } >"$tmp"
    install -m 0644 "$tmp" "$DEST"
    echo "wrote $DEST"
    if ! sysctl -p "$DEST"; then
        echo "check.sh: sysctl -p reported errors (above); checking what is in effect" >&2
    fi
    echo
fi

problems=0
row() { printf '%-36s %-22s %-22s %s\n' "$@"; }
bad() { problems=$((problems + 1)); }

# --- what the gateway will run with -------------------------------------------------
toml_get() { # FILE SECTION KEY -> value without quotes, or nothing
    awk -v sec="$2" -v key="$3" '
        /^[[:space:]]*\[/ { s = $0; gsub(/[][[:space:]]/, "", s); sub(/#.*/, "", s); cur = s; next }
        cur == sec {
            line = $0; sub(/#.*/, "", line)
            if (match(line, "^[[:space:]]*" key "[[:space:]]*=")) {
                v = substr(line, RLENGTH + 1); gsub(/["[:space:]]/, "", v); print v; exit
            }
        }' "$1"
}
rtp_ports=20000-39999 workers=0 max_calls=0 cfg_name="embedded defaults"
if [[ -n "$toml" ]]; then
    cfg_name=$toml
    v=$(toml_get "$toml" media rtp_ports); [[ -n "$v" ]] && rtp_ports=$v
    v=$(toml_get "$toml" media workers); [[ -n "$v" ]] && workers=$v
    v=$(toml_get "$toml" sip max_calls); [[ -n "$v" ]] && max_calls=$v
fi
cpus=$(nproc)
online=$(nproc --all)
if ! is_uint "$workers" || ! is_uint "$max_calls"; then
    echo "check.sh: media.workers and sip.max_calls must be integers in $cfg_name" >&2
    exit 2
fi
eff_workers=$workers
((eff_workers > 0)) || eff_workers=$cpus

echo "mediagw host check: kernel $(uname -r), config: $cfg_name"
echo
row SETTING CURRENT RECOMMENDED STATUS

# --- sysctls ---------------------------------------------------------------------------
while IFS=$'\t' read -r key want; do
    cur=$(current "$key")
    if ! exists "$key"; then
        row "$key" "(absent)" "$want" MISSING; bad
    elif is_uint "$want"; then
        if is_uint "$cur" && ((cur >= want)); then
            row "$key" "$cur" ">= $want" OK
        else
            row "$key" "$cur" ">= $want" LOW; bad
        fi
    else
        # Ranges and lists: the RTP port check below gives the verdict.
        row "$key" "${cur:-(empty)}" "$want" INFO
    fi
done < <(sysctl_entries)

udp_mem=$(current net.ipv4.udp_mem)
if [[ -n "$udp_mem" ]]; then
    read -r _ _ umax <<<"$udp_mem"
    pg=$(getconf PAGESIZE)
    row net.ipv4.udp_mem "$udp_mem" "boot default" "INFO (max $((umax * pg / 1048576)) MiB of UDP buffers, all sockets)"
fi

# --- RTP ports ---------------------------------------------------------------------------
echo
if [[ ! "$rtp_ports" =~ ^([0-9]+)-([0-9]+)$ ]]; then
    row media.rtp_ports "$rtp_ports" LOW-HIGH "WARN (not LOW-HIGH)"; bad
    lo=0 hi=0
else
    lo=${BASH_REMATCH[1]} hi=${BASH_REMATCH[2]}
fi
pairs=0
if ((lo >= 1024 && hi > lo && hi <= 65535)); then
    first=$((lo + lo % 2)) # RTP on even ports, RTCP on the next odd one
    if ((hi > first)); then pairs=$(((hi - first + 1) / 2)); fi
    row media.rtp_ports "$rtp_ports" "" "INFO ($pairs RTP/RTCP pairs = most calls at once)"
elif ((lo != 0 || hi != 0)); then
    row media.rtp_ports "$rtp_ports" "1024 <= LOW < HIGH" "WARN (mediagw refuses it)"; bad
fi
if ((max_calls > 0 && pairs > 0)); then
    need_pairs=$(((max_calls * 5 + 3) / 4)) # 1.25 x calls, rounded up
    if ((pairs >= need_pairs)); then
        row "pairs for sip.max_calls=$max_calls" "$pairs" ">= $need_pairs (x1.25)" OK
    else
        row "pairs for sip.max_calls=$max_calls" "$pairs" ">= $need_pairs (x1.25)" LOW; bad
    fi
fi

# Ports of [lo, hi] that are in the ephemeral range and not reserved.
if ((pairs > 0)); then
    read -r elo ehi <<<"$(current net.ipv4.ip_local_port_range)"
    a=$((lo > elo ? lo : elo)) b=$((hi < ehi ? hi : ehi))
    if ((a > b)); then
        row "rtp_ports vs ephemeral ports" "$elo-$ehi" "no overlap" OK
    else
        # Walk the reserved list ("20000-39999,5060") to see whether it covers [a, b].
        reserved=$(current net.ipv4.ip_local_reserved_ports)
        IFS=, read -r -a ranges <<<"${reserved// /}"
        cursor=$a moved=1
        while ((moved && cursor <= b)); do
            moved=0
            for r in "${ranges[@]}"; do
                [[ -n "$r" ]] || continue
                rlo=${r%-*} rhi=${r#*-}
                if ((rlo <= cursor && rhi >= cursor)); then cursor=$((rhi + 1)) moved=1; fi
            done
        done
        if ((cursor > b)); then
            row "rtp_ports vs ephemeral ports" "$elo-$ehi" "no overlap" "OK (overlap $a-$b is reserved)"
        else
            row "rtp_ports vs ephemeral ports" "$elo-$ehi" "no overlap" "LOW (port $cursor of $a-$b is ephemeral)"; bad
        fi
    fi
fi

# --- limits --------------------------------------------------------------------------------
echo
calls=$max_calls
((calls > 0)) || calls=$pairs
# 2 sockets per call, a recording per call, 3 per worker, 320 for SIP/API/runtime and
# up to 256 API connections.
need_nofile=$((3 * calls + 3 * eff_workers + 320))
nofile=$(ulimit -n)
if [[ "$nofile" == unlimited ]] || ((nofile >= need_nofile)); then
    row "ulimit -n (this shell)" "$nofile" ">= $need_nofile" OK
else
    row "ulimit -n (this shell)" "$nofile" ">= $need_nofile" LOW; bad
fi
need_memlock=$((MEMLOCK_KIB_PER_WORKER * eff_workers))
memlock=$(ulimit -l)
if [[ "$memlock" == unlimited ]] || ((memlock >= need_memlock)); then
    row "ulimit -l KiB (this shell)" "$memlock" ">= $need_memlock" OK
else
    row "ulimit -l KiB (this shell)" "$memlock" ">= $need_memlock" LOW; bad
fi
echo "  (for $calls calls, $eff_workers workers; a systemd service gets LimitNOFILE=/LimitMEMLOCK= instead)"

# --- io_uring --------------------------------------------------------------------------------
echo
kver=$(uname -r)
kmaj=${kver%%.*} rest=${kver#*.}
kmin=${rest%%[!0-9]*}
if ((kmaj > 6 || (kmaj == 6 && kmin >= 1))); then
    row "kernel for io_uring backend" "$kmaj.$kmin" ">= 6.1" OK
else
    row "kernel for io_uring backend" "$kmaj.$kmin" ">= 6.1" "LOW (workers use epoll)"; bad
fi
if [[ -r /proc/sys/kernel/io_uring_disabled ]]; then
    d=$(</proc/sys/kernel/io_uring_disabled)
    case "$d" in
        0) row kernel.io_uring_disabled 0 0 OK ;;
        1)
            g=$(current kernel.io_uring_group)
            [[ "$g" == -1 ]] && g="none set" || g="gid $g"
            row kernel.io_uring_disabled 1 0 "LOW (CAP_SYS_ADMIN or io_uring_group, $g; others get epoll)"; bad
            ;;
        *) row kernel.io_uring_disabled "$d" 0 "LOW (io_uring off: workers use epoll)"; bad ;;
    esac
else
    row kernel.io_uring_disabled "(absent)" 0 "INFO (kernel < 6.6: no such switch)"
fi
seccomp=$(awk '/^Seccomp:/ { print $2 }' /proc/self/status)
if [[ "$seccomp" == 2 ]]; then
    row "seccomp filter on this shell" yes no "INFO (container? io_uring may be blocked: see README)"
else
    row "seccomp filter on this shell" no no OK
fi

# --- CPUs ---------------------------------------------------------------------------------------
echo
isolated=$(cat /sys/devices/system/cpu/isolated 2>/dev/null || true)
nohz=$(cat /sys/devices/system/cpu/nohz_full 2>/dev/null || true)
row "CPUs usable / online" "$cpus / $online" "" "INFO (isolated: ${isolated:-none}, nohz_full: ${nohz:-none})"
if ((workers == 0)); then
    row media.workers "0 (= $cpus)" "$((cpus > 1 ? cpus - 1 : 1)) or fewer" "INFO (one per usable CPU leaves none for SIP/API/IRQs)"
elif ((workers > cpus)); then
    row media.workers "$workers" "<= $cpus" "WARN (more workers than CPUs: pinned workers share cores)"; bad
else
    row media.workers "$workers" "<= $cpus" OK
fi

echo
if ((problems)); then
    echo "$problems item(s) need attention (tuning/README.md explains each)."
    exit 1
fi
echo "All OK."
