#!/usr/bin/env bash
# bench/proxy_paths.sh - connection setup and bulk throughput through each way of proxying an
# application on Linux, side by side in one run (issue 13, issue 14's bench line).
#
#   bench/proxy_paths.sh [--build DIR] [--rounds R] [--conns N] [--bulk-mib M] [--pin CPU]
#                        (defaults: build/default, 3 rounds, 300 connections, 256 MiB)
#
# --pin CPU runs every proxy service on that CPU (taskset): microsocks, and the engines with their
# `openwfp proxy`. The applications and the server stay where the scheduler puts them. On a VM
# where a wake-up across CPUs is dear, this keeps each proxy next to what it talks to most.
#
# The client (bench/proxy_paths/tool client) is the same program under every path; it times each
# connection itself (socket + connect + send 16 B + read the 64-byte reply + close), so the
# start-up of `openwfp run` is not in the figures, then downloads M MiB once. Paths:
#   direct        the client alone
#   proxychains4  proxychains4 (LD_PRELOAD) -> microsocks (SOCKS5)
#   policy        openwfp run --policy: a socks5 rule to the same microsocks
#   policy-handoff the same with --hand-off: the application gets the socket to microsocks
#   vp-session    openwfp run --driver verify_proxy.so, `openwfp proxy` inside the session
#   vp-engine     openwfp engine + driver load verify_proxy.so + `openwfp proxy` outside any
#                 session + openwfp run --attach
#   vp-handoff    the same with `openwfp proxy --hand-off`: the application gets the verified
#                 upstream socket itself, no relay (a second engine)
# Every round runs every path once (alternating the cases); the table gives the median over the
# rounds of each round's median setup time, and the median of the rounds' bulk MB/s. Loopback only:
# the server listens on 127.0.0.2, microsocks on 127.0.0.1. Every process started here is ended by
# the exit trap; every wait is bounded.
set -euo pipefail

build=build/default rounds=3 conns=300 mib=256 pin=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --bulk-mib) mib=$2; shift 2 ;;
    --pin)
      [[ "${2:-}" =~ ^[0-9]+$ ]] && [ "$2" -lt "$(nproc)" ] ||
        { echo "proxy_paths: --pin takes a CPU number below $(nproc), not '${2:-}'" >&2; exit 2; }
      pin=(taskset -c "$2"); shift 2 ;;
    *) echo "proxy_paths: unknown argument $1 (--build DIR --rounds R --conns N --bulk-mib M --pin CPU)" >&2; exit 2 ;;
  esac
done
build=$(cd "$build" && pwd)
ow=$build/openwfp
tool=$build/bench/proxy_paths/tool
driver=$build/drivers/verify_proxy.so
for f in "$ow" "$tool" "$driver"; do
  [ -e "$f" ] || { echo "proxy_paths: $f missing (build the default preset first)" >&2; exit 1; }
done
for p in proxychains4 microsocks python3; do
  command -v "$p" >/dev/null || { echo "proxy_paths: $p not installed (scripts/install-deps.sh)" >&2; exit 1; }
done
bytes=$((mib * 1024 * 1024))
# Sockets in TIME_WAIT (each connection leaves one for 60 s) slow every path, the direct one too:
# the count is printed so that a run on a machine full of them can be told apart.
tw=$(awk '/^TCP:/ {for (i = 1; i < NF; i++) if ($i == "tw") print $(i + 1)}' /proc/net/sockstat 2>/dev/null || true)
echo "proxy_paths: ${tw:-unknown} TCP sockets in TIME_WAIT at the start (thousands slow every path; wait 60 s)"
unset OPENWFP_ENGINE OPENWFP_SOCKET
tmp=$(mktemp -d /tmp/proxy_paths.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if [ -n "${PROXY_PATHS_KEEP:-}" ]; then echo "proxy_paths: logs kept in $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for FILE PATTERN SECONDS: until FILE contains PATTERN (or fail with a message).
wait_for() {
  local i
  for i in $(seq $(($3 * 10))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "proxy_paths: no '$2' in $1 within $3 s; it says:" >&2; cat "$1" >&2; exit 1
}

"$tool" serve 127.0.0.2 0 0 "$bytes" >"$tmp/serve.log" 2>&1 &
pids+=($!)
wait_for "$tmp/serve.log" "serve: ready" 10
read -r _ _ sport bport <"$tmp/serve.log"
# microsocks' port: below the ephemeral range, so no connection of another program can hold it.
msport=$(python3 -c '
import random, socket
for _ in range(200):
    p = random.randrange(20000, 30000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass')

"${pin[@]}" microsocks -i 127.0.0.1 -p "$msport" >"$tmp/microsocks.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$msport),1)" 2>/dev/null && break; sleep 0.1; done

cat >"$tmp/proxychains.conf" <<CONF
strict_chain
quiet_mode
tcp_read_time_out 15000
tcp_connect_time_out 8000
[ProxyList]
socks5 127.0.0.1 $msport
CONF
cat >"$tmp/policy.toml" <<TOML
[[rule]]
remote = "127.0.0.2"
protocol = "tcp"
proxy = "socks5://127.0.0.1:$msport"
TOML

# start_engine NAME [PROXY ARGS]: an engine service on $tmp/NAME/engine.sock with verify_proxy
# loaded and `openwfp proxy` outside any session (logs $tmp/NAME.log, $tmp/NAME.driver.log,
# $tmp/NAME.proxy.log).
start_engine() {
  local name=$1 sock=$tmp/$1/engine.sock
  shift
  mkdir -m 700 "$tmp/$name"
  env OPENWFP_ENGINE="$sock" "${pin[@]}" "$ow" engine >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
  [ -S "$sock" ] || { echo "proxy_paths: the engine $name did not start:" >&2; cat "$tmp/$name.log" >&2; exit 1; }
  env OPENWFP_ENGINE="$sock" timeout 20 "$ow" driver load "$driver" >"$tmp/$name.driver.log" 2>&1 ||
    { echo "proxy_paths: driver load ($name) failed:" >&2; cat "$tmp/$name.driver.log" >&2; exit 1; }
  env OPENWFP_ENGINE="$sock" "${pin[@]}" "$ow" proxy "$@" >"$tmp/$name.proxy.log" 2>&1 &
  pids+=($!)
  wait_for "$tmp/$name.proxy.log" "proxy: listening" 10
}
# vp-engine: the proxy relays; vp-handoff: it hands each verified upstream socket to the
# application (`openwfp proxy --hand-off`, no relay).
start_engine engine
start_engine engine2 --hand-off
export_engine="OPENWFP_ENGINE=$tmp/engine/engine.sock"
export_engine2="OPENWFP_ENGINE=$tmp/engine2/engine.sock"

client=("$tool" client 127.0.0.2 "$sport" "$bport" "$conns" "$bytes")
# Each path runs the client once per round; the run's output is in $tmp/PATH.ROUND.
run_path() {
  local path=$1 out=$2
  case "$path" in
    direct) timeout 300 "${client[@]}" ;;
    proxychains4) timeout 300 proxychains4 -q -f "$tmp/proxychains.conf" "${client[@]}" ;;
    policy) timeout 300 "$ow" run --policy "$tmp/policy.toml" -- "${client[@]}" ;;
    policy-handoff) timeout 300 "$ow" run --policy "$tmp/policy.toml" --hand-off -- "${client[@]}" ;;
    vp-session)
      # The proxy inside the session; the client retries its first request until the proxy
      # registered (verify_proxy blocks while none is, fail closed).
      timeout 300 "$ow" run --driver "$driver" -- /bin/sh -c \
        '"$0" proxy >"$1" 2>&1 & p=$!; shift; "$@"; rc=$?; kill $p; wait $p; exit $rc' \
        "$ow" "$out.proxy" "${client[@]}" ;;
    vp-engine)
      timeout 300 env "$export_engine" "$ow" run --attach --wait-for-device OpenwfpVerifyProxy --wait-timeout 10 \
        -- "${client[@]}" ;;
    vp-handoff)
      timeout 300 env "$export_engine2" "$ow" run --attach --wait-for-device OpenwfpVerifyProxy --wait-timeout 10 \
        -- "${client[@]}" ;;
  esac >"$out" 2>&1 || { echo "proxy_paths: path $path failed; its output:" >&2; cat "$out" >&2; exit 1; }
}

paths=(direct proxychains4 policy policy-handoff vp-session vp-engine vp-handoff)
for r in $(seq "$rounds"); do
  for p in "${paths[@]}"; do run_path "$p" "$tmp/$p.$r"; done
done

# Every proxied path must really have gone through its proxy: a silent bypass would look fast.
need=$((rounds * (conns + 1)))
proxied() { local n; n=$(grep -c -e "$2" "$1" 2>/dev/null || true); [ "${n:-0}" -ge "$3" ] ||
  { echo "proxy_paths: $1 shows ${n:-0} proxied connections, expected at least $3" >&2; exit 1; }; }
proxied "$tmp/microsocks.log" "connected to 127.0.0.2:" $((3 * need))   # proxychains4 + policy (x2)
proxied "$tmp/engine.proxy.log" "-> PERMIT; " "$need"                         # vp-engine
proxied "$tmp/engine2.proxy.log" "socket handed to the application\|connected in place" "$need"  # vp-handoff
for r in $(seq "$rounds"); do proxied "$tmp/vp-session.$r.proxy" "-> PERMIT; " $((conns + 1)); done

python3 - "$tmp" "$rounds" "$conns" "$mib" "${paths[@]}" <<'PY'
import re, statistics, sys
tmp, rounds, conns, mib, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
setup, bulk = {}, {}
for p in paths:
    s, b = [], []
    for r in range(1, rounds + 1):
        text = open(f"{tmp}/{p}.{r}").read()
        s.append(float(re.search(r"setup n=\d+ median_us=([\d.]+)", text).group(1)))
        b.append(float(re.search(r"bulk bytes=\d+ mbps=([\d.]+)", text).group(1)))
    setup[p], bulk[p] = statistics.median(s), statistics.median(b)
    print(f"  {p:13s} rounds: setup {' '.join(f'{x:.1f}' for x in s)} us; bulk {' '.join(f'{x:.0f}' for x in b)} MB/s")
print(f"proxy_paths: {rounds} rounds x {conns} connections (setup = socket+connect+send+64-byte reply+close), bulk {mib} MiB")
print(f"| path | setup median us | vs direct | vs proxychains4 | bulk MB/s | vs direct |")
print(f"|---|---|---|---|---|---|")
for p in paths:
    print(f"| {p} | {setup[p]:.1f} | {setup[p]/setup['direct']:.2f}x | {setup[p]/setup['proxychains4']:.2f}x "
          f"| {bulk[p]:.0f} | {bulk[p]/bulk['direct']:.2f}x |")
PY
