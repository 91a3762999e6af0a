#!/usr/bin/env bash
# bench/per_connection_cost.sh - where one verify-before-accept connection's cost goes: CPU time
# and context switches per connection in the engine service and in `openwfp proxy` (outside any
# session), against the same client run directly in the same script (issue 13).
#
#   bench/per_connection_cost.sh [--build DIR] [--conns N] [--hand-off]
#
# Starts the bench's server (bench/proxy_paths/tool serve) on 127.0.0.2, `openwfp engine`, loads
# verify_proxy.so, starts `openwfp proxy` (with --hand-off if given), then runs
# `tool client ... N` once under `openwfp run --attach` and once directly. CPU comes from
# /proc/PID/stat (utime + stime, in clock ticks), context switches from every thread's
# /proc/PID/task/TID/status, read before and after the attached run. Loopback only; every
# process started here is ended by the exit trap; every wait is bounded.
set -euo pipefail
build=build/default conns=1000 handoff=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --hand-off) handoff=(--hand-off); shift ;;
    *) echo "per_connection_cost: unknown argument $1 (--build DIR --conns N --hand-off)" >&2; exit 2 ;;
  esac
done
build=$(cd "$build" && pwd)
ow=$build/openwfp tool=$build/bench/proxy_paths/tool driver=$build/drivers/verify_proxy.so
for f in "$ow" "$tool" "$driver"; do
  [ -e "$f" ] || { echo "per_connection_cost: $f missing (build the default preset first)" >&2; exit 1; }
done
tmp=$(mktemp -d /tmp/per_connection_cost.XXXXXX)
# Sockets in TIME_WAIT (each connection leaves one for 60 s) slow every path, the direct one too:
# the count is printed so that a run on a machine full of them can be told apart.
tw=$(awk '/^TCP:/ {for (i = 1; i < NF; i++) if ($i == "tw") print $(i + 1)}' /proc/net/sockstat 2>/dev/null || true)
echo "per_connection_cost: ${tw:-unknown} TCP sockets in TIME_WAIT at the start (thousands slow every path; wait 60 s)"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
wait_for() {  # FILE PATTERN SECONDS
  local i
  for i in $(seq $(($3 * 10))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "per_connection_cost: no '$2' in $1 within $3 s:" >&2; cat "$1" >&2; exit 1
}
export OPENWFP_ENGINE=$tmp/engine/engine.sock
unset OPENWFP_SOCKET
mkdir -m 700 "$tmp/engine"
"$tool" serve 127.0.0.2 0 0 1 >"$tmp/serve.log" 2>&1 & pids+=($!)
wait_for "$tmp/serve.log" "serve: ready" 10
read -r _ _ sport bport <"$tmp/serve.log"
"$ow" engine >"$tmp/engine.log" 2>&1 & engine=$!; pids+=($engine)
for _ in $(seq 100); do [ -S "$OPENWFP_ENGINE" ] && break; sleep 0.1; done
[ -S "$OPENWFP_ENGINE" ] || { echo "per_connection_cost: the engine did not start:" >&2; cat "$tmp/engine.log" >&2; exit 1; }
timeout 20 "$ow" driver load "$driver" >"$tmp/load.log" 2>&1 || { cat "$tmp/load.log" >&2; exit 1; }
"$ow" proxy "${handoff[@]}" >"$tmp/proxy.log" 2>&1 & proxy=$!; pids+=($proxy)
wait_for "$tmp/proxy.log" "proxy: listening" 10

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s}'; }
hz=$(getconf CLK_TCK)
e0=$(cpu "$engine") p0=$(cpu "$proxy") ec0=$(switches "$engine") pc0=$(switches "$proxy")
timeout 300 "$ow" run --attach --wait-for-device OpenwfpVerifyProxy --wait-timeout 10 -- \
  "$tool" client 127.0.0.2 "$sport" "$bport" "$conns" 1 >"$tmp/attached.log" 2>&1 ||
  { echo "per_connection_cost: the attached client failed:" >&2; cat "$tmp/attached.log" >&2; exit 1; }
e1=$(cpu "$engine") p1=$(cpu "$proxy") ec1=$(switches "$engine") pc1=$(switches "$proxy")
timeout 300 "$tool" client 127.0.0.2 "$sport" "$bport" "$conns" 1 >"$tmp/direct.log" 2>&1 ||
  { cat "$tmp/direct.log" >&2; exit 1; }
# The client makes 1 probe + 20 warm-up + N measured connections, then one download.
n=$((conns + 22))
proxied=$(grep -c -e "-> PERMIT; " "$tmp/proxy.log" || true)
[ "$proxied" -ge "$conns" ] || { echo "per_connection_cost: the proxy saw $proxied connections, expected $conns" >&2; exit 1; }
python3 - "$tmp" "$n" "$hz" "$e0" "$e1" "$p0" "$p1" "$ec0" "$ec1" "$pc0" "$pc1" "${handoff[*]:-relay}" <<'PY'
import re, sys
tmp, n, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
e0, e1, p0, p1, ec0, ec1, pc0, pc1 = map(int, sys.argv[4:12])
mode = sys.argv[12]
med = lambda f: float(re.search(r"median_us=([\d.]+)", open(f"{tmp}/{f}").read()).group(1))
a, d = med("attached.log"), med("direct.log")
us = lambda t0, t1: (t1 - t0) * 1e6 / hz / n
print(f"per_connection_cost ({mode}): {n} connections; setup median {a:.1f} us attached vs {d:.1f} us direct ({a/d:.2f}x)")
print(f"  engine: {us(e0, e1):.0f} us CPU and {(ec1 - ec0) / n:.1f} context switches per connection")
print(f"  proxy:  {us(p0, p1):.0f} us CPU and {(pc1 - pc0) / n:.1f} context switches per connection")
PY
