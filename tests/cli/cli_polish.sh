#!/usr/bin/env bash
# The command line's answers (SPEC S16.2-S16.4).
#   cli_polish.sh OPENWFP MISUSE_DRIVER NO_TARGET_PID_DRIVER LEAKY_DRIVER CASE
set -u
openwfp=$1 misuse=$2 notarget=$3 leaky=$4 case_=$5
tmp=$(mktemp -d /tmp/openwfp-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# one_line FILE: the file is exactly one line
one_line() { [ "$(wc -l <"$1")" -eq 1 ] || { cat "$1"; fail "want one line in $1"; }; }
connect_py='import socket; s=socket.socket(); s.settimeout(2); s.connect_ex(("127.0.0.2", 80)); s.close()'

case $case_ in
S16_2_SimFailOnViolationExits3)
  "$openwfp" sim --driver "$misuse" --connect 127.0.0.2:80 >/dev/null 2>&1 || fail "sim without the flag: exit $?"
  "$openwfp" sim --fail-on-violation --driver "$misuse" --connect 127.0.0.2:80 >"$tmp/out" 2>&1
  rc=$?; [ $rc -eq 3 ] || { cat "$tmp/out"; fail "sim --fail-on-violation with violations: exit $rc, want 3"; }
  "$openwfp" sim --fail-on-violation --driver "$notarget" --connect 127.0.0.2:443 >"$tmp/out" 2>&1
  rc=$?; [ $rc -eq 0 ] || { cat "$tmp/out"; fail "sim --fail-on-violation without violations: exit $rc, want 0"; }
  ;;
S16_4_BadInputIsNamedInOneLine)
  "$openwfp" frobnicate >"$tmp/o" 2>"$tmp/e"; rc=$?
  [ $rc -eq 2 ] || fail "unknown command: exit $rc"
  [ -s "$tmp/o" ] && fail "unknown command wrote to stdout"
  one_line "$tmp/e"
  grep -q "^openwfp: unknown command 'frobnicate'; commands: demo .* sim version$" "$tmp/e" || fail "$(cat "$tmp/e")"
  "$openwfp" sm 2>"$tmp/e"; one_line "$tmp/e"
  grep -q "unknown command 'sm' (did you mean 'sim'?)" "$tmp/e" || fail "$(cat "$tmp/e")"
  "$openwfp" run --pend-timeout -1 -- true 2>"$tmp/e"; rc=$?
  [ $rc -eq 2 ] || fail "--pend-timeout -1: exit $rc"
  grep -q "^--pend-timeout: Value -1 not in range 0.000000 to 86400.000000$" "$tmp/e" || fail "$(cat "$tmp/e")"
  "$openwfp" sim --driver "$misuse" --connect 127.0.0.2:80 --pend-timeout -1 2>"$tmp/e"; rc=$?
  [ $rc -eq 2 ] || fail "sim --pend-timeout -1: exit $rc"
  one_line "$tmp/e"; [ "$(wc -c <"$tmp/e")" -lt 120 ] || fail "long message: $(cat "$tmp/e")"
  "$openwfp" run --trace /nonexistent-dir/trace.json -- true 2>"$tmp/e"; rc=$?
  [ $rc -eq 1 ] || fail "unwritable trace: exit $rc"
  one_line "$tmp/e"
  grep -qx "openwfp run: cannot write trace file /nonexistent-dir/trace.json: No such file or directory" "$tmp/e" || fail "$(cat "$tmp/e")"
  LEAKY_DRIVER_FAIL=1 "$openwfp" sim --driver "$leaky" --connect 127.0.0.2:80 >/dev/null 2>"$tmp/e"
  [ "$(grep -c 'DriverEntry of .* failed' "$tmp/e")" -eq 1 ] || { cat "$tmp/e"; fail "DriverEntry failure not said once"; }
  # --block-errno: any name the system knows, in any case; a bad one lists them in one line.
  "$openwfp" run --block-errno enotconn --standalone -- true 2>"$tmp/e"; rc=$?
  [ $rc -eq 0 ] || fail "--block-errno enotconn (lower case, not in the short list): exit $rc: $(cat "$tmp/e")"
  "$openwfp" run --block-errno ENOSUCH -- true 2>"$tmp/e"; rc=$?
  [ $rc -eq 2 ] || fail "--block-errno ENOSUCH: exit $rc"
  one_line "$tmp/e"
  grep -q "unknown errno 'ENOSUCH' (a name the system knows, any case: EPERM ENOENT .* ECONNREFUSED .*; or a number 1..4095)" "$tmp/e" \
    || fail "$(cat "$tmp/e")"
  OPENWFP_LOG=loud "$openwfp" version 2>"$tmp/e"; rc=$?
  [ $rc -eq 2 ] || fail "OPENWFP_LOG=loud: exit $rc"
  grep -q "OPENWFP_LOG='loud': expected error, warn, info, debug or trace" "$tmp/e" || fail "$(cat "$tmp/e")"
  ;;
S16_4_LogsGoToStderrWithLevels)
  "$openwfp" sim --driver "$misuse" --connect 127.0.0.2:80 >"$tmp/o" 2>"$tmp/e"
  grep -q "\[info\] driver misuse_driver loaded" "$tmp/e" || fail "no info log on stderr: $(cat "$tmp/e")"
  grep -q "\[info\]\|\[warning\]" "$tmp/o" && fail "log lines on stdout"
  grep -q "^result: " "$tmp/o" || fail "no result on stdout"
  "$openwfp" -q sim --driver "$misuse" --connect 127.0.0.2:80 >/dev/null 2>"$tmp/e"
  [ -s "$tmp/e" ] && fail "-q still logs: $(cat "$tmp/e")"
  OPENWFP_LOG=error "$openwfp" sim --driver "$misuse" --connect 127.0.0.2:80 >/dev/null 2>"$tmp/e"
  [ -s "$tmp/e" ] && fail "OPENWFP_LOG=error still logs: $(cat "$tmp/e")"
  # Colour on a terminal, none with NO_COLOR (script(1) gives the command a pty).
  if command -v script >/dev/null; then
    script -qec "'$openwfp' sim --driver '$misuse' --connect 127.0.0.2:80" /dev/null >"$tmp/tty" 2>&1
    grep -q $'\e\[' "$tmp/tty" || fail "no colour on a terminal"
    NO_COLOR=1 script -qec "'$openwfp' sim --driver '$misuse' --connect 127.0.0.2:80" /dev/null >"$tmp/tty" 2>&1
    grep -q $'\e\[' "$tmp/tty" && fail "colour despite NO_COLOR"
  fi
  ;;
S16_2_RunFailOnViolationPrintsEachFindingOnce)
  "$openwfp" run --verifier --driver "$misuse" -- python3 -c "$connect_py" >"$tmp/o" 2>"$tmp/e"
  rc=$?; [ $rc -eq 0 ] || { cat "$tmp/e"; fail "run --verifier: exit $rc, want COMMAND's 0"; }
  for code in ReauthorizeFlagInline PoolLeak; do
    [ "$(grep -c "$code" "$tmp/e")" -eq 1 ] || { cat "$tmp/e"; fail "$code not printed exactly once"; }
  done
  "$openwfp" run --fail-on-violation --driver "$misuse" -- python3 -c "$connect_py" >"$tmp/o" 2>"$tmp/e"
  rc=$?; [ $rc -eq 3 ] || { cat "$tmp/e"; fail "run --fail-on-violation: exit $rc, want 3"; }
  grep -q "^openwfp run: 2 verifier violation(s): exit 3 (--fail-on-violation)$" "$tmp/e" || { cat "$tmp/e"; fail "no summary line"; }
  "$openwfp" run --fail-on-violation --driver "$misuse" -- sh -c 'exit 7' >/dev/null 2>&1
  rc=$?; [ $rc -eq 7 ] || fail "COMMAND's own failure wins: exit $rc, want 7"
  ;;
S16_3_RunPrintsRedirectNotAppliedAndTheRealDestination)
  "$openwfp" run --verifier --trace "$tmp/trace.json" --driver "$notarget" -- python3 -c "$connect_py" >"$tmp/o" 2>"$tmp/e"
  rc=$?; [ $rc -eq 0 ] || { cat "$tmp/e"; fail "run: exit $rc"; }
  [ "$(grep -c "RedirectNotApplied" "$tmp/e")" -eq 1 ] || { cat "$tmp/e"; fail "RedirectNotApplied not printed exactly once"; }
  grep "RedirectNotApplied" "$tmp/e" | grep -q "redirect to local address 127.0.0.1:8080 not applied: localRedirectTargetPID is not set (S5.5); the connection goes to 127.0.0.2:80" \
    || { cat "$tmp/e"; fail "the finding's reason"; }
  python3 - "$tmp/trace.json" <<'PY' || fail "trace: $(cat "$tmp/trace.json")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cr = [r for r in recs if r.get("layer") == "ALE_CONNECT_REDIRECT_V4"]
assert cr, recs
assert cr[0]["finalDestination"] == "127.0.0.2:80", cr[0]
PY
  # --trace-text: the same records for people.
  "$openwfp" run --trace-text "$tmp/trace.txt" --driver "$notarget" -- python3 -c "$connect_py" >/dev/null 2>&1 \
    || fail "run --trace-text failed"
  grep -q "ALE_CONNECT_REDIRECT_V4" "$tmp/trace.txt" || fail "trace text: $(cat "$tmp/trace.txt")"
  grep -q "127.0.0.2:80" "$tmp/trace.txt" || fail "trace text has no destination: $(cat "$tmp/trace.txt")"
  grep -q '^{' "$tmp/trace.txt" && fail "trace text is JSON"
  ;;
*) fail "unknown case $case_" ;;
esac
echo PASS
