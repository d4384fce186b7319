#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine: SIPp (sip-tester), sox and
# espeak-ng (audio for prompts and DTMF talk-off), rtpengine, tshark-free. Idempotent and quiet.
set -euo pipefail
need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v sox >/dev/null 2>&1 || need+=(sox)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
# A record-routing proxy in front of mediagw (tests/proxy.rs, tests/session_timers.rs).
[ -x /usr/sbin/kamailio ] || need+=(kamailio)
# The NATS control bus's server (tests/nats.rs).
[ -x /usr/sbin/nats-server ] || command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
# Scanners from a disallowed address (tests/access.rs).
command -v svmap >/dev/null 2>&1 || need+=(sipvicious)
# rtpengine in userspace, the relay baseline of `mediagw-load bridge --rtpengine`
# (loadtest/tests/bridge_smoke.rs).
command -v rtpengine >/dev/null 2>&1 || need+=(rtpengine-daemon)
# The load report's plots render their text with DejaVu Sans.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v sipp >/dev/null
[ -x /usr/sbin/kamailio ]
[ -x /usr/sbin/nats-server ] || command -v nats-server >/dev/null
command -v rtpengine >/dev/null
