#!/usr/bin/env bash
# Hand-off (openwfp extension, docs/performance.md "Hand-off"): `openwfp proxy --hand-off` offers
# the connection with SIO_OPENWFP_HAND_OFF_WITH_RECORDS and no relay runs. Outside the session
# (engine case) the proxy connects the application's own socket, which the driver's NEXT reply
# carried (hand-off in place: the same socket, every option kept); inside the session it offers
# its own upstream socket, which replaces the application's (SECCOMP_IOCTL_NOTIF_ADDFD).
# Loopback only (127.0.0.0/8). Usage: hand_off.sh OPENWFP VERIFY_PROXY_SO CASE
# Every wait is bounded (wait_for: 10 s; commands under `timeout`); a failure prints the logs.
set -u
OPENWFP=$1
VP=$2
CASE=$3
work=$(mktemp -d)
export OPENWFP_ENGINE="$work/run/engine.sock"
. "$(dirname "$0")/lib.sh"  # pids, cleanup at exit, fail, wait_for

# The upstream: answers "hello" with "world", then reports (on stdout, one line per connection)
# its peer and how long after the application's close the EOF reached it.
cat > "$work/upstream.py" <<'PY'
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.2", 0)); s.listen(16)
print("port", s.getsockname()[1], flush=True)
while True:
    c, peer = s.accept()
    c.settimeout(10)
    try:
        data = c.recv(5)
        c.sendall(b"world")
        c.recv(1)  # the application sends "c" just before it closes
        t = time.time()
        rest = c.recv(1)  # b"": the EOF
        print("peer %s:%d eof=%s after=%.2f" % (peer[0], peer[1], rest == b"", time.time() - t), flush=True)
    except OSError as e:
        print("peer %s:%d error %s" % (peer[0], peer[1], e), flush=True)
    c.close()
PY
# The application: options set before connect(), then what it sees after.
cat > "$work/app.py" <<'PY'
import fcntl, os, select, socket, sys
port = int(sys.argv[1])
s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 77)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, 5)  # not among the options ADDFD carries over
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 4321)
fd = s.fileno()
inode = os.fstat(fd).st_ino
s.connect(("127.0.0.2", port))
print("same-socket", os.fstat(fd).st_ino == inode)
print("kept", s.getsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY), s.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT))
print("blocking", not (fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK))
print("peer", "%s:%d" % s.getpeername())
print("same-fd", s.fileno() == fd)
print("nodelay", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0)
print("keepalive", s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0)
print("keepidle", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE))
print("cloexec", bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC))
s.sendall(b"hello"); print("reply", s.recv(5).decode())
# connect() on a connected socket fails with EISCONN, and the connection stays (not handed off
# again, not dropped).
try:
    s.connect(("127.0.0.2", port)); print("again connected")
except OSError as e:
    print("again", e.errno, "%s:%d" % s.getpeername())
s.sendall(b"c"); s.close()
# Non-blocking: connect_ex says EINPROGRESS or 0, the socket stays non-blocking and connects.
n = socket.socket(); n.setblocking(False)
rc = n.connect_ex(("127.0.0.2", port))
select.select([], [n], [], 5)
print("nonblocking", rc in (0, 115), bool(fcntl.fcntl(n.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK),
      n.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0)
n.setblocking(True); n.sendall(b"hello"); n.recv(5); n.sendall(b"c"); n.close()
# An AF_INET6 socket to the v4-mapped address: handed a socket of its own family.
m = socket.socket(socket.AF_INET6)
m.connect(("::ffff:127.0.0.2", port))
print("mapped", m.family == socket.AF_INET6, m.getpeername()[0], m.getpeername()[1] == port)
m.sendall(b"hello"); m.recv(5); m.sendall(b"c"); m.close()
# Unreachable: refused at connect(), as without hand-off.
r = socket.socket()
try:
    r.connect(("127.0.0.3", port)); print("unreachable connected")
except OSError as e:
    print("unreachable", e.errno)
# The refused socket is left unconnected: it connects again, to a reachable destination.
try:
    r.connect(("127.0.0.2", port)); print("retry", "%s:%d" % r.getpeername())
    r.sendall(b"hello"); r.recv(5); r.sendall(b"c")
except OSError as e:
    print("retry failed", e.errno)
r.close()
PY

check_app() {  # the application's view and the upstream's
  local out=$work/app.log
  grep -qx "peer 127.0.0.2:$port" "$out" || fail "the application's peer is not the original destination (no hand-off)"
  grep -qx "same-fd True" "$out" || fail "the descriptor number changed"
  grep -qx "nodelay True" "$out" || fail "TCP_NODELAY was not carried over"
  grep -qx "keepalive True" "$out" || fail "SO_KEEPALIVE was not carried over"
  grep -qx "keepidle 77" "$out" || fail "TCP_KEEPIDLE was not carried over"
  grep -qx "cloexec True" "$out" || fail "FD_CLOEXEC was lost"
  grep -qx "reply world" "$out" || fail "no reply from the upstream"
  grep -qx "nonblocking True True True" "$out" || fail "the non-blocking connect"
  grep -qx "mapped True ::ffff:127.0.0.2 True" "$out" || fail "the v4-mapped AF_INET6 connect"
  grep -qx "unreachable 111" "$out" || fail "an unreachable destination was not refused with ECONNREFUSED"
  grep -qx "retry 127.0.0.2:$port" "$out" || fail "the refused socket did not connect again"
  grep -qx "blocking True" "$out" || fail "the blocking socket did not stay blocking"
  grep -qx "again 106 127.0.0.2:$port" "$out" || fail "connect() on a connected socket did not fail with EISCONN, or dropped it"
  # $1 connections: outside the session the EISCONN connect was the proxy's too (its own
  # socket, since a connected one is not shared; the engine closed it unused).
  wait_for "the upstream to report $1 connections" test "$(grep -c '^peer ' "$work/upstream.log")" -ge "$1"
  # The EOF reaches the upstream at once: nobody else (proxy, engine) keeps the socket open.
  if grep '^peer ' "$work/upstream.log" | grep -v 'eof=True after=0\.[0-4]'; then
    fail "the upstream saw the application's close late, or not at all"
  fi
  if grep -q "paired by SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT" "$work/proxy.log"; then
    fail "a connection was relayed"
  fi
}

python3 "$work/upstream.py" > "$work/upstream.log" 2>&1 &
pids+=("$!")
wait_for "the upstream server" grep -q "^port " "$work/upstream.log"
port=$(awk '/^port /{print $2}' "$work/upstream.log")

case "$CASE" in
S10_2_HandOffGivesTheApplicationTheVerifiedUpstreamSocket)
  mkdir -p "$work/run"
  "$OPENWFP" engine > "$work/engine.log" 2>&1 &
  pids+=("$!")
  wait_for "the engine's socket" test -S "$OPENWFP_ENGINE"
  timeout 10 "$OPENWFP" driver load "$VP" > "$work/load.log" 2>&1 || fail "driver load failed"
  "$OPENWFP" proxy --hand-off > "$work/proxy.log" 2>&1 &
  proxy=$!
  pids+=("$proxy")
  wait_for "the proxy to register" grep -q "registered with" "$work/proxy.log"
  timeout 30 "$OPENWFP" run --attach --wait-for-device OpenwfpVerifyProxy --wait-timeout 10 -- \
    python3 "$work/app.py" "$port" > "$work/app.log" 2>&1 || fail "the application failed"
  check_app 5
  # In place: the application's own socket (same inode), options ADDFD would not carry kept.
  grep -q "connected in place" "$work/proxy.log" || fail "the proxy did not connect the application's socket in place"
  grep -qx "same-socket True" "$work/app.log" || fail "the application's socket was replaced (not in place)"
  grep -qx "kept 5 4321" "$work/app.log" || fail "SO_PRIORITY / TCP_USER_TIMEOUT were lost"
  kill -TERM "$proxy"
  wait_for "the proxy to stop" grep -q "stopped:" "$work/proxy.log"
  # The EISCONN connect's own upstream socket counts as offered (the engine closed it unused).
  grep -q "stopped: .* 0 accepted, 5 handed off" "$work/proxy.log" || fail "the proxy's counts"
  ;;
S10_2_HandOffWithTheProxyInsideTheSession)
  # The proxy's own connect is classified too (records: not redirected again), then handed off.
  timeout 30 "$OPENWFP" run --driver "$VP" -- /bin/sh -c '
    "$0" proxy --hand-off > "$1/proxy.log" 2>&1 & p=$!
    i=0; until grep -q "registered with" "$1/proxy.log"; do i=$((i+1)); [ $i -gt 200 ] && exit 97; sleep 0.05; done
    python3 "$1/app.py" "$2" > "$1/app.log" 2>&1; rc=$?
    kill $p; wait $p; exit $rc' "$OPENWFP" "$work" "$port" > "$work/run.log" 2>&1 || fail "the session failed"
  # Four: the EISCONN connect's socket (the proxy's, installed by ADDFD) carries its records, so
  # it is not redirected again.
  check_app 4
  # Supervised, the proxy offers a socket of its own: it replaces the application's.
  grep -q "socket handed to the application" "$work/proxy.log" || fail "the proxy did not hand off"
  grep -qx "same-socket False" "$work/app.log" || fail "the application's socket was not replaced"
  ;;
S10_2_InPlaceConnectionOfABlockedConnectIsDropped)
  # A proxy (ctypes over libopenwfp's device API) that asks for the application's socket,
  # connects it in place, then reports a failure: the application's connect fails, and the
  # engine drops the connection the proxy made (the upstream sees a reset; the socket is left
  # unconnected), never a failed connect() with a live connection behind it.
  lib=$(ldd "$OPENWFP" | awk '/libopenwfp/ {print $3}')
  [ -f "$lib" ] || fail "libopenwfp not found next to $OPENWFP"
  cat > "$work/blocker.py" <<'PY'
import ctypes, os, socket, struct, sys
lib = ctypes.CDLL(sys.argv[1])
lib.openwfp_device_open.argtypes = [ctypes.c_char_p]
lib.openwfp_device_ioctl.argtypes = [ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t,
                                     ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
ctl = lambda n: (0x12 << 16) | ((0x800 + n) << 2)
h = lib.openwfp_device_open(b"\\\\.\\OpenwfpVerifyProxy")
assert h >= 0, "open"
listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen(4)
reg = ctypes.create_string_buffer(struct.pack("<HHII", listener.getsockname()[1], 0, 0, 1), 12)
assert lib.openwfp_device_ioctl(h, ctl(0), reg, 12, None, 0, None) == 0, "REGISTER"
print("registered", flush=True)
req = ctypes.create_string_buffer(560); n = ctypes.c_size_t(0)
assert lib.openwfp_device_ioctl(h, ctl(1), None, 0, req, 560, ctypes.byref(n)) == 0, "NEXT"
rid, = struct.unpack_from("<Q", req.raw, 0)
port, = struct.unpack_from("<H", req.raw, 10)
ip = socket.inet_ntoa(req.raw[12:16])
flags, = struct.unpack_from("<I", req.raw, 36)
fd = lib.openwfp_device_take_descriptor()
print("flags", flags & 1, "descriptor", fd >= 0, flush=True)
s = socket.socket(fileno=fd)
s.connect((ip, port))
print("connected in place", flush=True)
out = ctypes.create_string_buffer(struct.pack("<Qi4x", rid, 113), 16)
print("outcome", lib.openwfp_device_ioctl(h, ctl(2), out, 16, None, 0, None), flush=True)
s.detach(); os.close(fd)
PY
  cat > "$work/blocked.py" <<'PY'
import socket, sys
r = socket.socket()
try:
    r.connect(("127.0.0.2", int(sys.argv[1]))); print("blocked connected")
except OSError as e:
    print("blocked refused", e.errno)
try:
    r.getpeername(); print("after connected")
except OSError as e:
    print("after", e.errno)
PY
  mkdir -p "$work/run"
  "$OPENWFP" engine > "$work/engine.log" 2>&1 &
  pids+=("$!")
  wait_for "the engine's socket" test -S "$OPENWFP_ENGINE"
  timeout 10 "$OPENWFP" driver load "$VP" > "$work/load.log" 2>&1 || fail "driver load failed"
  # A sanitizer build's library needs its runtime first in the process (python is not built
  # with it): preloaded, leak checking off (the interpreter's own allocations).
  preload=$(ldd "$lib" | awk '/lib(asan|ubsan)\.so/ {printf "%s ", $3}')
  LD_PRELOAD="$preload" ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}" \
    timeout 30 python3 "$work/blocker.py" "$lib" > "$work/proxy.log" 2>&1 &
  pids+=("$!")
  wait_for "the proxy to register" grep -q "registered" "$work/proxy.log"
  timeout 30 "$OPENWFP" run --attach --wait-for-device OpenwfpVerifyProxy --wait-timeout 10 -- \
    python3 "$work/blocked.py" "$port" > "$work/app.log" 2>&1 || fail "the application failed"
  grep -qx "flags 1 descriptor True" "$work/proxy.log" || fail "the NEXT reply did not carry the application's socket"
  grep -qx "connected in place" "$work/proxy.log" || fail "the proxy did not connect in place"
  grep -q "^blocked refused" "$work/app.log" || fail "the blocked connect did not fail"
  grep -qx "after 107" "$work/app.log" || fail "the application's socket stayed connected (ENOTCONN expected)"
  wait_for "the upstream to see the connection end" grep -q "^peer " "$work/upstream.log"
  grep -q "^peer .* error .*reset" "$work/upstream.log" || fail "the upstream did not see the connection reset"
  ;;
*) fail "unknown case $CASE" ;;
esac
echo PASS
