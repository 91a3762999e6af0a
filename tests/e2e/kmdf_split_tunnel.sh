#!/usr/bin/env bash
# S15.1 / S15.4 on real processes: the KMDF split-tunnel example under `openwfp run`.
#  - st_config's IOCTLs reach the driver's EvtIoDeviceControl over the control channel;
#  - curl (configured by its path) connecting to 127.0.0.2 lands on the "tunnel" server at
#    127.0.0.4; python3 (not configured for connects) reaches the origin server at 127.0.0.2;
#  - python3 configured with a bind rule binds 127.0.0.1 and gets 127.0.0.5 (port kept);
#  - the driver's flowDeleteFn ran once for curl's connection after curl closed it.
# Loopback only.
set -u
OPENWFP=$1
DRIVER=$2
STCONFIG=$3
work=$(mktemp -d)
trap 'kill $origin $tunnel 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; echo "--- session"; cat "$work/session.log" 2>/dev/null; exit 1; }

mkdir -p "$work/o" "$work/t"
echo "origin body" > "$work/o/index.html"
echo "tunnel body" > "$work/t/index.html"
free_port() { python3 -c "import socket; s=socket.socket(); s.bind(('$1',0)); print(s.getsockname()[1])"; }
oport=$(free_port 127.0.0.2)
tport=$(free_port 127.0.0.4)
python3 -m http.server "$oport" --bind 127.0.0.2 --directory "$work/o" >/dev/null 2>&1 &
origin=$!
python3 -m http.server "$tport" --bind 127.0.0.4 --directory "$work/t" >/dev/null 2>&1 &
tunnel=$!
for hp in "127.0.0.2 $oport" "127.0.0.4 $tport"; do
  set -- $hp
  for _ in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('$1',$2),1)" 2>/dev/null && break
    sleep 0.1
  done
done

curl_path=$(readlink -f "$(command -v curl)")
# The interpreter's own image (python3 may be a launcher script that execs it).
py_path=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')
cat > "$work/session.sh" <<SH
"$STCONFIG" add "$curl_path" --connect-from 127.0.0.2 --connect-to 127.0.0.4:$tport --target-pid $tunnel || exit 10
"$STCONFIG" add "$py_path" --bind-to 127.0.0.5 || exit 11
curl -s -m 10 "http://127.0.0.2:$oport/index.html" > "$work/curl.body"; echo "curl=\$?"
python3 - > "$work/py.out" <<'PY'
import socket, urllib.request
print(urllib.request.urlopen("http://127.0.0.2:$oport/index.html", timeout=10).read().decode().strip())
s = socket.socket(); s.bind(("127.0.0.1", 0)); print("bound", s.getsockname()[0], s.getsockname()[1] != 0)
PY
echo "python=\$?"
for _ in \$(seq 100); do
  "$STCONFIG" stats > "$work/stats"
  grep -q "deleted=1" "$work/stats" && break
  sleep 0.05
done
cat "$work/stats"
SH
"$OPENWFP" run --driver "$DRIVER" --verifier -- sh "$work/session.sh" > "$work/session.log" 2>&1 \
  || fail "openwfp run exited $?"

grep -q "curl=0" "$work/session.log" || fail "curl failed"
grep -qx "tunnel body" "$work/curl.body" || fail "curl was not redirected to the tunnel server: $(cat "$work/curl.body")"
grep -q "python=0" "$work/session.log" || fail "python3 failed: $(cat "$work/py.out")"
grep -qx "origin body" "$work/py.out" || fail "python3 (no connect rule) did not reach the origin: $(cat "$work/py.out")"
grep -qx "bound 127.0.0.5 True" "$work/py.out" || fail "python3's bind was not moved to 127.0.0.5: $(cat "$work/py.out")"
stats=$(cat "$work/stats")
case "$stats" in *"rules=2 "*) ;; *) fail "rules: $stats" ;; esac
case "$stats" in *" connect=1 "*) ;; *) fail "one connect redirect expected: $stats" ;; esac
case "$stats" in *" bind=1 "*) ;; *) fail "one bind redirect expected: $stats" ;; esac
case "$stats" in *" flows=1 "*) ;; *) fail "one flow context expected: $stats" ;; esac
case "$stats" in *" deleted=1 "*) ;; *) fail "flowDeleteFn did not run once after curl closed its connection: $stats" ;; esac
grep -q "violation" "$work/session.log" && fail "verifier violations"
echo "PASS: $stats"
