#!/usr/bin/env bash
# `openwfp sim` loads a driver .so that applies with the re-authorize flag inline and leaks pool:
# the verifier must name both (S11.1, S11.2), and classification still runs (exit 0).
set -u
out=$("$1" sim --driver "$2" --connect 127.0.0.2:80 2>&1)
rc=$?
echo "$out"
[ $rc -eq 0 ] || { echo "FAIL: exit $rc"; exit 1; }
echo "$out" | grep -q "ReauthorizeFlagInline" || { echo "FAIL: no ReauthorizeFlagInline report"; exit 1; }
echo "$out" | grep -q "PoolLeak" || { echo "FAIL: no PoolLeak report"; exit 1; }
echo "$out" | grep -q "Leak" || { echo "FAIL: leak report lacks the tag"; exit 1; }
json=$("$1" sim --driver "$2" --connect 127.0.0.2:80 --json 2>/dev/null | tail -1)
echo "$json" | python3 -c 'import json,sys; j=json.load(sys.stdin); codes={v["code"] for v in j["violations"]}; assert {"ReauthorizeFlagInline","PoolLeak"} <= codes, codes' \
  || { echo "FAIL: JSON result lacks the violations"; exit 1; }
# Bad input: a clear message and a non-zero exit.
"$1" sim --driver "$2" --connect not-an-address >/dev/null 2>&1 && { echo "FAIL: bad address accepted"; exit 1; }
"$1" sim --driver /nonexistent.so --connect 127.0.0.2:80 >/dev/null 2>&1 && { echo "FAIL: missing driver accepted"; exit 1; }
echo PASS
