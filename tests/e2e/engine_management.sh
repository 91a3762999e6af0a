#!/usr/bin/env bash
# User-mode management against the engine service (SPEC S14.4-S14.7), through a C program written
# as a Windows service would write it (examples/manage_filters: <windows.h> and <fwpmu.h> only)
# and `openwfp show`. Loopback only; 127.0.0.9:9 is the blocked destination (a listener of the
# test's own answers there, so a refused connect can only be the filter's doing).
# Usage: engine_management.sh OPENWFP MANAGE_FILTERS VERIFY_PROXY_SO CASE
set -u
OPENWFP=$1
MANAGE=$2
VP=$3
CASE=$4
# Port 9 needs root. Without root, the cases that listen there run in a user and network
# namespace of their own (root inside it, loopback only), so they need no privilege; running a
# program as another uid does need root.
if [ "$(id -u)" -ne 0 ]; then
  [ "$CASE" = S14_6_ManagementFromAnotherUidIsAccessDenied ] &&
    { echo "FAIL: running a program as another uid needs root (run the suite as root, as CI does)"; exit 1; }
  exec unshare --user --map-root-user --net sh -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi
work=$(mktemp -d)
chmod 0755 "$work"
export OPENWFP_ENGINE="$work/run/engine.sock"
. "$(dirname "$0")/lib.sh"  # pids, cleanup at exit, fail, wait_for
start_engine() {
  mkdir -p "$work/run"
  : > "$work/engine.log"
  "$OPENWFP" engine --state-dir "$work/state" "$@" >> "$work/engine.log" 2>&1 &
  engine=$!
  pids+=("$engine")
  wait_for "the engine to serve" grep -q "serving" "$work/engine.log"
}
stop_engine() {
  kill -TERM "$engine"
  for _ in $(seq 200); do kill -0 "$engine" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$engine" 2>/dev/null && fail "the engine did not stop within 10 s"
  wait "$engine"
}
# The destination the filter blocks: a listener on 127.0.0.9:9 (port 9 needs root).
start_listener() {
  python3 -c "
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.9', 9)); s.listen(64)
while True:
    c, _ = s.accept(); c.close()
" > "$work/listener.log" 2>&1 &
  listener=$!
  pids+=("$listener")
  wait_for "the listener on 127.0.0.9:9" python3 -c "import socket; socket.create_connection(('127.0.0.9',9),1)"
  # The answer must be ours: another process on 127.0.0.9:9 would make the test meaningless.
  kill -0 "$listener" 2>/dev/null || fail "could not listen on 127.0.0.9:9: $(cat "$work/listener.log")"
}
# connect_result: "connected" or "failed ERRNO", for a connect made inside an attached session.
connect_result() {
  timeout 20 "$OPENWFP" run --attach -- python3 -c "
import socket
try:
    socket.create_connection(('127.0.0.9', 9), 5).close(); print('connected')
except OSError as e:
    print('failed', e.errno)" 2>&1
}

case "$CASE" in
S14_4_AWindowsManagementProgramBlocksTheNextAttachedConnect)
  start_engine
  start_listener
  [ "$(connect_result)" = "connected" ] || fail "before the filter: $(connect_result)"
  timeout 10 "$MANAGE" add > "$work/add.log" 2>&1 || fail "manage_filters add failed"
  for step in FwpmEngineOpen0 FwpmTransactionBegin0 FwpmProviderAdd0 FwpmSubLayerAdd0 FwpmFilterAdd0 FwpmTransactionCommit0; do
    grep -qx "$step: ok" "$work/add.log" || fail "no '$step: ok'"
  done
  r=$(connect_result)
  [ "$r" = "failed 111" ] || fail "the attached connect after the filter: $r"
  timeout 10 "$OPENWFP" show filters > "$work/show.log" 2>&1 || fail "show filters failed"
  grep -q "manage_filters" "$work/show.log" || fail "show filters does not list the filter"
  grep -q "ALE_AUTH_CONNECT_V4" "$work/show.log" || fail "show filters does not name the layer"
  grep -q "127.0.0.9" "$work/show.log" || fail "show filters does not render the address condition"
  timeout 10 "$OPENWFP" show filters --json > "$work/show.json" 2>&1 || fail "show filters --json failed"
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d" "$work/show.json" || fail "not JSON"
  timeout 10 "$MANAGE" delete > "$work/delete.log" 2>&1 || fail "manage_filters delete failed"
  r=$(connect_result)
  [ "$r" = "connected" ] || fail "after delete: $r"
  ;;
S14_5_ADynamicSessionsFilterVanishesWhenTheProgramExits)
  start_engine
  start_listener
  mkfifo "$work/hold"
  "$MANAGE" --dynamic --hold add < "$work/hold" > "$work/add.log" 2>&1 &
  holder=$!   # the program itself (not a wrapper), so that SIGKILL is its death
  pids+=("$holder")
  exec 7> "$work/hold"   # keeps the program's stdin open
  wait_for "the dynamic filter" grep -q "FwpmTransactionCommit0: ok" "$work/add.log"
  r=$(connect_result)
  [ "$r" = "failed 111" ] || fail "while the dynamic session lives: $r"
  kill -KILL "$holder"   # the process dies: its session ends
  exec 7>&-
  wait "$holder" 2>/dev/null
  # The engine sees the connection end and closes the session: bounded, 10 s.
  wait_for "the dynamic filter to vanish" sh -c "timeout 5 '$MANAGE' list 2>&1 | grep -q '^listed 0'"
  r=$(connect_result)
  [ "$r" = "connected" ] || fail "the dynamic filter is gone from the list but the connect: $r"
  ;;
S14_5_APersistentFilterSurvivesAnEngineRestart)
  start_engine
  start_listener
  timeout 10 "$MANAGE" --persistent add > "$work/add.log" 2>&1 || fail "manage_filters --persistent add failed"
  stop_engine
  [ -s "$work/state/objects.bin" ] || fail "no state file in $work/state"
  start_engine
  grep -q "error\|corrupt" "$work/engine.log" && fail "the restart complained"
  r=$(connect_result)
  [ "$r" = "failed 111" ] || fail "after the restart, the persistent filter did not block: $r"
  timeout 10 "$MANAGE" list > "$work/list.log" 2>&1
  grep -q "^listed 1" "$work/list.log" || fail "list after restart: $(cat "$work/list.log")"
  timeout 10 "$MANAGE" delete > /dev/null 2>&1 || fail "delete failed"
  stop_engine
  start_engine
  r=$(connect_result); [ "$r" = "connected" ] || fail "a deleted persistent filter came back: $r; state: $(ls -la "$work/state"); list: $(timeout 10 "$MANAGE" list 2>&1)"
  # A corrupt state file is set aside with one line; the engine starts empty.
  stop_engine
  printf 'garbage' > "$work/state/objects.bin"
  start_engine
  [ "$(grep -c "objects.bin" "$work/engine.log")" -ge 1 ] || fail "no line about the corrupt state file"
  ls "$work/state" | grep -q "objects.bin.corrupt-" || fail "the corrupt file was not set aside: $(ls "$work/state")"
  timeout 10 "$OPENWFP" driver list > /dev/null 2>&1 || fail "the engine does not answer after a corrupt state file"
  ;;
S14_6_ManagementFromAnotherUidIsAccessDenied)
  start_engine
  chmod 0755 "$work/run"
  timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups "$MANAGE" add > "$work/other.log" 2>&1 \
    && fail "another uid added filters"
  grep -qx "FwpmEngineOpen0: failed 0x00000005" "$work/other.log" || fail "another uid got: $(cat "$work/other.log")"
  ;;
S14_7_ShowListsVerifyProxysFiltersWithTheirWeights)
  start_engine
  timeout 10 "$OPENWFP" driver load "$VP" > /dev/null 2>&1 || fail "driver load failed"
  timeout 10 "$OPENWFP" show filters > "$work/show.log" 2>&1 || fail "show filters: $(cat "$work/show.log")"
  grep -q "ALE_CONNECT_REDIRECT_V4" "$work/show.log" || fail "no V4 redirect filter: $(cat "$work/show.log")"
  grep -q "ALE_CONNECT_REDIRECT_V6" "$work/show.log" || fail "no V6 redirect filter"
  grep -qi "weight" "$work/show.log" || fail "no weights"
  timeout 10 "$OPENWFP" show filters --json > "$work/show.json" 2>&1 || fail "show filters --json failed"
  python3 - "$work/show.json" <<'PY' || fail "show filters --json: $(cat "$work/show.json")"
import json, sys
d = json.load(open(sys.argv[1]))
filters = d["filters"] if isinstance(d, dict) else d
vp = [f for f in filters if "REDIRECT" in json.dumps(f)]
assert len(vp) >= 2, filters
for f in vp:
    assert any(k.lower().startswith("effectiveweight") or k == "effectiveWeight" for k in f), f
print("ok:", len(vp), "redirect filters with weights")
PY
  for kind in callouts providers sublayers; do
    timeout 10 "$OPENWFP" show "$kind" > "$work/$kind.log" 2>&1 || fail "show $kind failed"
  done
  grep -qi "6f4d2c1e-5a43-4b8e-9c61-0d3f2a7b9e12\|verify" "$work/callouts.log" || fail "show callouts: $(cat "$work/callouts.log")"
  ;;
*)
  fail "unknown case $CASE"
  ;;
esac
echo "PASS $CASE"
