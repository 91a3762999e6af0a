#!/usr/bin/env bash
# The engine as a service (SPEC S14.1-S14.3, S14.6, S14.7, S14.8) on real processes, through the
# CLI a user types: `openwfp engine`, `openwfp driver load|unload|list`, `openwfp proxy` outside
# any session, `openwfp run --attach`, `openwfp show state`. Loopback only (127.0.0.0/8).
# Usage: engine_service.sh OPENWFP VERIFY_PROXY_SO LEAKY_DRIVER_SO CASE
# Every wait is bounded (wait_for: 10 s; commands under `timeout`); a failure prints the logs.
set -u
OPENWFP=$1
VP=$2
LEAKY=$3
CASE=$4
work=$(mktemp -d)
chmod 0755 "$work"
export OPENWFP_ENGINE="$work/run/engine.sock"
. "$(dirname "$0")/lib.sh"  # pids, cleanup at exit, fail, wait_for
free_port() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"; }

start_engine() {  # extra engine arguments
  mkdir -p "$work/run"
  "$OPENWFP" engine "$@" > "$work/engine.log" 2>&1 &
  engine=$!
  pids+=("$engine")
  wait_for "the engine's socket" test -S "$OPENWFP_ENGINE"
  wait_for "the engine to answer" grep -q "serving" "$work/engine.log"
}
start_upstream() {
  echo "body from the loopback upstream server" > "$work/index.html"
  port=$(free_port 127.0.0.2)
  python3 -m http.server "$port" --bind 127.0.0.2 --directory "$work" > "$work/upstream.log" 2>&1 &
  pids+=("$!")
  wait_for "the upstream server" python3 -c "import socket; socket.create_connection(('127.0.0.2',$port),1)"
}
start_proxy() {  # outside any session
  "$OPENWFP" proxy > "$work/proxy.log" 2>&1 &
  proxy=$!
  pids+=("$proxy")
  wait_for "the proxy to register" grep -q "registered with" "$work/proxy.log"
}

case "$CASE" in
S14_1_OneEnginePerSocketAndACleanStopOnSigterm)
  start_engine
  timeout 10 "$OPENWFP" engine > "$work/second.log" 2>&1 && fail "a second engine on the same socket started"
  grep -q "another engine (pid $engine) serves $OPENWFP_ENGINE" "$work/second.log" \
    || fail "the second engine did not name the holder: $(cat "$work/second.log")"
  [ "$(wc -l < "$work/second.log")" -eq 1 ] || fail "the refusal is not one line"
  # A pended classify at SIGTERM completes as BLOCK: verify_proxy pends the connect, the proxy
  # is stopped (SIGSTOP) so nobody answers, then the engine gets SIGTERM.
  timeout 10 "$OPENWFP" driver load "$VP" > "$work/load.log" 2>&1 || fail "driver load failed"
  timeout 10 "$OPENWFP" driver load "$LEAKY" >> "$work/load.log" 2>&1 || fail "leaky driver load failed"
  start_upstream
  start_proxy
  kill -STOP "$proxy"
  timeout 20 "$OPENWFP" run --attach -- python3 -c "
import socket, sys, time
t = time.time()
try:
    socket.create_connection(('127.0.0.2', $port), 15)
    print('connected')
except OSError as e:
    print('refused', e.errno, round(time.time() - t, 1))
" > "$work/app.log" 2>&1 &
  app=$!
  wait_for "the connect to be pended" sh -c "timeout 5 '$OPENWFP' show state --json | grep -q '\"pended\": true'"
  kill -TERM "$engine"
  for _ in $(seq 200); do kill -0 "$engine" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$engine" 2>/dev/null && fail "the engine did not stop within 10 s of SIGTERM"
  wait "$engine"; rc=$?
  [ "$rc" -eq 0 ] || fail "the engine exited $rc after SIGTERM"
  wait "$app"
  grep -q "refused 111" "$work/app.log" || fail "the pended connect did not fail with ECONNREFUSED: $(cat "$work/app.log")"
  grep -q "1 pended classify completed as BLOCK" "$work/engine.log" || fail "no line for the pended classify"
  grep -q "leaky_driver leaked at unload" "$work/engine.log" || fail "no leak report at unload"
  [ -e "$OPENWFP_ENGINE" ] && fail "the socket was left behind"
  kill -CONT "$proxy"
  ;;
S14_2_DriversAreLoadedListedAndUnloadedInTheRunningEngine)
  start_engine
  timeout 10 "$OPENWFP" driver load "$VP" > "$work/load.log" 2>&1 || fail "driver load: $(cat "$work/load.log")"
  grep -qx "loaded verify_proxy" "$work/load.log" || fail "driver load said: $(cat "$work/load.log")"
  timeout 10 "$OPENWFP" driver list > "$work/list.log" 2>&1 || fail "driver list failed"
  grep -q "^verify_proxy .*$VP" "$work/list.log" || fail "driver list: $(cat "$work/list.log")"
  timeout 10 "$OPENWFP" driver load "$VP" > "$work/again.log" 2>&1 && fail "loading the same driver twice succeeded"
  [ "$(cat "$work/again.log")" = "openwfp driver load: driver verify_proxy is already loaded" ] \
    || fail "second load said: $(cat "$work/again.log")"
  timeout 10 "$OPENWFP" driver load /nonexistent.so > "$work/missing.log" 2>&1 && fail "a missing file loaded"
  [ "$(wc -l < "$work/missing.log")" -eq 1 ] || fail "missing file: not one line: $(cat "$work/missing.log")"
  timeout 10 "$OPENWFP" driver unload verify_proxy > "$work/unload.log" 2>&1 || fail "unload: $(cat "$work/unload.log")"
  grep -qx "unloaded verify_proxy" "$work/unload.log" || fail "unload said: $(cat "$work/unload.log")"
  timeout 10 "$OPENWFP" driver list > "$work/list2.log" 2>&1
  [ -s "$work/list2.log" ] && fail "driver list after unload: $(cat "$work/list2.log")"
  timeout 10 "$OPENWFP" driver unload verify_proxy > "$work/unload2.log" 2>&1 && fail "unloading an unloaded driver succeeded"
  grep -q "no driver named 'verify_proxy' is loaded" "$work/unload2.log" || fail "$(cat "$work/unload2.log")"
  # A failing DriverEntry is the caller's one line (and the engine keeps running).
  kill -TERM "$engine"; wait "$engine"
  LEAKY_DRIVER_FAIL=1 start_engine
  timeout 10 "$OPENWFP" driver load "$LEAKY" > "$work/fail.log" 2>&1 && fail "a failing DriverEntry loaded"
  head -1 "$work/fail.log" | grep -q "^openwfp driver load: DriverEntry of libleaky_driver.so failed: 0x" \
    || fail "failing DriverEntry said: $(cat "$work/fail.log")"
  timeout 10 "$OPENWFP" driver list > /dev/null 2>&1 || fail "the engine did not survive a failing DriverEntry"
  ;;
S14_3_TwoAttachedSessionsShareOneProxyStartedOutsideThem)
  start_engine --trace "$work/trace.jsonl"
  timeout 10 "$OPENWFP" driver load "$VP" > "$work/load.log" 2>&1 || fail "driver load failed"
  start_upstream
  start_proxy
  for i in 1 2; do
    timeout 60 "$OPENWFP" run --attach --wait-for-device OpenwfpVerifyProxy -- sh -c \
      "curl -s -m 10 http://127.0.0.2:$port/index.html > '$work/body$i'; echo curl=\$? > '$work/curl$i'; \
       for _ in \$(seq 400); do [ -e '$work/release' ] && exit 0; sleep 0.05; done; exit 3" \
      > "$work/session$i.log" 2>&1 &
    eval "run$i=\$!"
  done
  wait_for "both curls" test -s "$work/curl1" -a -s "$work/curl2"
  timeout 10 "$OPENWFP" show state --json > "$work/state.json" 2> "$work/state.err" || fail "show state: $(cat "$work/state.err")"
  touch "$work/release"
  wait "$run1" || fail "session 1 exited $?"
  wait "$run2" || fail "session 2 exited $?"
  for i in 1 2; do
    grep -qx "curl=0" "$work/curl$i" || fail "curl $i: $(cat "$work/curl$i")"
    grep -q "body from the loopback upstream server" "$work/body$i" || fail "curl $i did not get the body"
  done
  python3 - "$work/state.json" "$proxy" <<'PY' || fail "show state --json: $(cat "$work/state.json")"
import json, sys
s = json.load(open(sys.argv[1]))
proxy = int(sys.argv[2])
sessions = s["sessions"]
assert len(sessions) == 2, sessions
assert all("curl" in x["command"] for x in sessions), sessions
assert all(x["counters"]["redirected"] >= 0 and x["counters"]["notifications"] >= 1 for x in sessions), sessions
assert [d for d in s["drivers"] if d["name"] == "verify_proxy"], s["drivers"]
devs = [d for d in s["devices"] if d["openedBy"] == proxy and "OpenwfpVerifyProxy" in d["path"]]
assert devs and sum(d["pendedIrps"] for d in devs) >= 1, s["devices"]
assert len(s["callouts"]) == 2 and all(c["driver"] == "verify_proxy" for c in s["callouts"]), s["callouts"]
print("ok: 2 sessions, the proxy's device handles, 2 callouts")
PY
  [ "$(grep -c "proxy: id=.*-> PERMIT" "$work/proxy.log")" -eq 2 ] || fail "the proxy did not serve both sessions"
  timeout 10 "$OPENWFP" show state > "$work/state.txt" 2>&1 || fail "show state (text) failed"
  grep -q "^sessions attached (0)" "$work/state.txt" || fail "sessions still listed after they ended: $(cat "$work/state.txt")"
  ;;
S14_3_EngineKilledWhileSessionsAreAttachedFailsThemClosed)
  start_engine
  start_upstream
  timeout 30 "$OPENWFP" run --attach -- python3 -c "
import socket, time, os
socket.create_connection(('127.0.0.2', $port), 5).close()
print('first connected', flush=True)
for _ in range(200):
    if os.path.exists('$work/killed'): break
    time.sleep(0.05)
try:
    socket.create_connection(('127.0.0.2', $port), 5)
    print('second connected')
except OSError as e:
    print('second failed', e.errno)
" > "$work/app.log" 2> "$work/run.err" &
  app=$!
  wait_for "the first connect" grep -q "first connected" "$work/app.log"
  kill -KILL "$engine"
  touch "$work/killed"
  wait "$app"; rc=$?
  [ "$rc" -ne 0 ] || fail "openwfp run --attach exited 0 after the engine died"
  grep -q "second failed" "$work/app.log" || fail "the connect after the engine died: $(cat "$work/app.log")"
  grep -q "the engine (pid $engine) went away" "$work/run.err" || fail "run --attach did not say why: $(cat "$work/run.err")"
  ;;
S14_3_AnAttachedTreeCannotSignalTheEngine)
  start_engine
  timeout 20 "$OPENWFP" run --attach -- sh -c "kill -TERM $engine; echo kill=\$?; kill -KILL $engine; echo kill9=\$?" \
    > "$work/kill.log" 2>&1
  grep -qx "kill=1" "$work/kill.log" || fail "SIGTERM to the engine from the tree: $(cat "$work/kill.log")"
  grep -qx "kill9=1" "$work/kill.log" || fail "SIGKILL to the engine from the tree: $(cat "$work/kill.log")"
  grep -q "Operation not permitted" "$work/kill.log" || fail "not EPERM: $(cat "$work/kill.log")"
  kill -0 "$engine" 2>/dev/null || fail "the engine died"
  timeout 10 "$OPENWFP" driver list > /dev/null 2>&1 || fail "the engine stopped answering"
  ;;
S14_3_AttachWithoutAnEngineSaysSoInOneLine)
  timeout 10 "$OPENWFP" run --attach -- true > "$work/out.log" 2>&1 && fail "run --attach without an engine succeeded"
  [ "$(cat "$work/out.log")" = "openwfp run --attach: no openwfp engine at $OPENWFP_ENGINE (start one with \`openwfp engine\`)" ] \
    || fail "said: $(cat "$work/out.log")"
  ;;
S14_6_DriverLoadingAndStateAreRefusedToOtherUsers)
  command -v setpriv > /dev/null || fail "setpriv (util-linux) is needed"
  [ "$(id -u)" -eq 0 ] || fail "running a program as another uid needs root (run the suite as root, as CI does)"
  start_engine
  chmod 0755 "$work/run"
  chmod 0755 "$(dirname "$OPENWFP")" 2>/dev/null
  timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups "$OPENWFP" driver load "$VP" > "$work/other.log" 2>&1 \
    && fail "another uid loaded a driver"
  grep -q "access denied: the engine (uid 0) takes this from its own uid and root only" "$work/other.log" \
    || fail "another uid got: $(cat "$work/other.log")"
  timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups "$OPENWFP" show state > "$work/other2.log" 2>&1 \
    && fail "another uid read the state"
  timeout 10 "$OPENWFP" driver list > /dev/null 2>&1 || fail "the engine's own uid was refused"
  ;;
S14_8_VerifyProxyWithoutAProxyRefusesTheConnectAndSaysWhy)
  start_engine --trace "$work/trace.jsonl"
  timeout 10 "$OPENWFP" driver load "$VP" > "$work/load.log" 2>&1 || fail "driver load failed"
  start_upstream
  timeout 20 "$OPENWFP" run --attach -- curl -sS -m 5 "http://127.0.0.2:$port/index.html" > "$work/curl.log" 2>&1 \
    && fail "curl went through without a proxy"
  grep -qi "connection refused\|couldn't connect\|Failed to connect" "$work/curl.log" || fail "curl said: $(cat "$work/curl.log")"
  grep -q "no proxy registered: blocking connects" "$work/engine.log" || fail "the engine said nothing"
  grep -q "no proxy registered" "$work/trace.jsonl" || fail "the trace does not say why: $(cat "$work/trace.jsonl")"
  # --wait-for-device gives up after its timeout, in one line, without running COMMAND.
  timeout 20 "$OPENWFP" run --attach --wait-for-device OpenwfpVerifyProxy --wait-timeout 0.5 -- touch "$work/ran" \
    > "$work/wait.log" 2>&1 && fail "--wait-for-device without a proxy ran COMMAND"
  [ -e "$work/ran" ] && fail "COMMAND ran"
  grep -q "no proxy is waiting on" "$work/wait.log" || fail "wait said: $(cat "$work/wait.log")"
  # The documented setting: permit instead (write access to the device: not from inside a session).
  timeout 20 "$OPENWFP" run --attach -- "$OPENWFP" proxy when-absent permit > "$work/inside.log" 2>&1 \
    && fail "a supervised process turned the fail-closed default off"
  grep -q "refused: Permission denied" "$work/inside.log" || fail "inside a session: $(cat "$work/inside.log")"
  timeout 10 "$OPENWFP" proxy when-absent permit > "$work/policy.log" 2>&1 || fail "when-absent permit: $(cat "$work/policy.log")"
  timeout 20 "$OPENWFP" run --attach -- curl -sS -m 5 "http://127.0.0.2:$port/index.html" > "$work/curl2.log" 2>&1 \
    || fail "with when-absent permit, curl failed: $(cat "$work/curl2.log")"
  grep -q "body from the loopback upstream server" "$work/curl2.log" || fail "curl got: $(cat "$work/curl2.log")"
  grep -q "permitting connects unverified" "$work/engine.log" || fail "the engine did not say it permits"
  timeout 10 "$OPENWFP" proxy when-absent block > /dev/null 2>&1 || fail "when-absent block failed"
  timeout 20 "$OPENWFP" run --attach -- curl -sS -m 5 "http://127.0.0.2:$port/index.html" > "$work/curl3.log" 2>&1 \
    && fail "after when-absent block, curl went through"
  ;;
S17_3_PolicyLoadedIntoTheEngineAppliesToAttachedSessions)
  [ -x /usr/bin/microsocks ] || fail "microsocks (Debian package) is needed: scripts/install-deps.sh installs it"
  start_engine
  start_upstream
  socks=$(free_port 127.0.0.1)
  /usr/bin/microsocks -i 127.0.0.1 -p "$socks" -b 127.0.0.5 > "$work/socks.log" 2>&1 &
  pids+=("$!")
  wait_for "microsocks" python3 -c "import socket; socket.create_connection(('127.0.0.1',$socks),1)"
  cat > "$work/rules.toml" <<TOML
[[rule]]
remote = "127.0.0.1/32"
port = $socks
permit = true

[[rule]]
app = "*/curl"
remote = "127.0.0.2"
proxy = "socks5://127.0.0.1:$socks"

[[rule]]
remote = "127.0.0.2"
block = "EHOSTUNREACH"
TOML
  timeout 20 "$OPENWFP" policy load "$work/rules.toml" > "$work/policy.log" 2>&1 || fail "policy load: $(cat "$work/policy.log")"
  grep -q "3 rule(s) loaded" "$work/policy.log" || fail "policy load said: $(cat "$work/policy.log")"
  timeout 30 "$OPENWFP" run --attach -- curl -sS -m 10 "http://127.0.0.2:$port/index.html" > "$work/curl.log" 2>&1 \
    || fail "curl through socks5: $(cat "$work/curl.log")"
  grep -q "body from the loopback upstream server" "$work/curl.log" || fail "curl got: $(cat "$work/curl.log")"
  grep -q "\"GET /index.html" "$work/upstream.log" || fail "the upstream saw no request"
  # The upstream saw the connection from microsocks' address, not curl's own.
  grep -q "^127.0.0.5 " "$work/upstream.log" || fail "the request did not come through microsocks: $(cat "$work/upstream.log")"
  timeout 30 "$OPENWFP" run --attach -- python3 -c "
import socket
try:
    socket.create_connection(('127.0.0.2', $port), 5); print('connected')
except OSError as e:
    print('failed', e.errno)" > "$work/py.log" 2>&1
  grep -q "failed 113" "$work/py.log" || fail "the block rule (EHOSTUNREACH) did not apply: $(cat "$work/py.log")"
  timeout 20 "$OPENWFP" policy unload > "$work/unload.log" 2>&1 || fail "policy unload: $(cat "$work/unload.log")"
  timeout 30 "$OPENWFP" run --attach -- python3 -c "
import socket
socket.create_connection(('127.0.0.2', $port), 5); print('connected')" > "$work/py2.log" 2>&1
  grep -q "connected" "$work/py2.log" || fail "after unload the connect still failed: $(cat "$work/py2.log")"
  ;;
*)
  fail "unknown case $CASE"
  ;;
esac
echo "PASS $CASE"
