#!/usr/bin/env bash
# S10.3 (and S10.2) on real processes: curl under `openwfp run` with the verify_proxy driver.
#  - reachable: curl gets the loopback HTTP server's body through the proxy;
#  - unreachable (closed port): curl fails at once with "connection refused" and the proxy never
#    accepted a connection for it;
#  - the trace shows the proxy's outbound connection carrying the records
#    (IS_PROXY_CONNECTION, REDIRECTED_BY_SELF) and permitted to the original destination,
#    never redirected again.
set -u
OPENWFP=$1
DRIVER=$2
work=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; echo "--- proxy log"; cat "$work/proxy.log" 2>/dev/null; echo "--- session"; cat "$work/session.log" 2>/dev/null; exit 1; }

echo "body from the loopback upstream server" > "$work/index.html"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2",0)); print(s.getsockname()[1])')
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.3",0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.2 --directory "$work" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.2',$port),1)" 2>/dev/null && break
  sleep 0.1
done

cat > "$work/session.sh" <<SH
"$OPENWFP" proxy > "$work/proxy.log" 2>&1 &
proxy=\$!
for _ in \$(seq 100); do grep -q "proxy: listening" "$work/proxy.log" && break; sleep 0.05; done
curl -s -m 10 "http://127.0.0.2:$port/index.html" > "$work/body" 2> "$work/curl1.err"; echo "curl1=\$?"
start=\$(date +%s%N)
curl -sS -m 10 "http://127.0.0.3:$closed/" > /dev/null 2> "$work/curl2.err"; echo "curl2=\$?"
echo "curl2_ms=\$(( (\$(date +%s%N) - start) / 1000000 ))"
kill -TERM \$proxy; wait \$proxy
SH
"$OPENWFP" run --driver "$DRIVER" --verifier --trace "$work/trace.jsonl" -- sh "$work/session.sh" > "$work/session.log" 2>&1 \
  || fail "openwfp run exited $?"

grep -q "curl1=0" "$work/session.log" || fail "curl through the proxy failed: $(cat "$work/curl1.err")"
grep -q "body from the loopback upstream server" "$work/body" || fail "curl did not get the upstream body"
grep -q "curl2=7" "$work/session.log" || fail "curl to the closed port did not fail with 'couldn't connect' (7)"
grep -qi "connection refused\|couldn't connect\|Failed to connect" "$work/curl2.err" || fail "curl error was: $(cat "$work/curl2.err")"
ms=$(sed -n 's/^curl2_ms=//p' "$work/session.log")
[ "${ms:-99999}" -lt 2000 ] || fail "refusal took ${ms} ms, not 'at once'"
grep -q "1 upstream ok, 1 failed, 1 accepted" "$work/proxy.log" || fail "proxy accepted something for the unreachable destination"
grep -q "verifier" "$work/session.log" && fail "verifier violations reported"
python3 - "$work/trace.jsonl" "127.0.0.2:$port" <<'PY' || fail "trace does not show the proxy connection as its own"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
dest = sys.argv[2]
proxy = [r for r in recs if "CONNECT_REDIRECT" in r.get("layer", "") and r.get("remote") == dest
         and "IS_PROXY_CONNECTION" in r.get("flags", [])]
assert proxy, "no proxy connect record"
for r in proxy:
    assert r.get("verdict") == "PERMIT", r
    assert r.get("finalDestination", r.get("final_destination")) == dest, r
    assert "BY_SELF" in r.get("redirectState", r.get("redirect_state", "")), r
print("ok:", len(proxy), "proxy connect(s) permitted unchanged and seen as REDIRECTED_BY_SELF")
PY
echo "PASS"
