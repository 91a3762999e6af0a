#!/usr/bin/env bash
# `openwfp sim` prints the classify trace and the verdict with the final destination (S11.3).
# verify_proxy with no proxy registered fails closed (S14.8): the trace shows the callout's BLOCK
# at ALE_CONNECT_REDIRECT_V4 and the driver's one line saying why.
set -u
out=$("$1" sim --driver "$2" --connect 127.0.0.2:8080 --pid 99 --app /usr/bin/curl 2>&1)
rc=$?
echo "$out"
[ $rc -eq 0 ] || { echo "FAIL: exit $rc"; exit 1; }
for want in ALE_CONNECT_REDIRECT_V4 /usr/bin/curl 127.0.0.2:8080 "verify_proxy: TCP connects" "-> BLOCK" \
    "no proxy registered: blocking connects" "result: verdict BLOCK"; do
  echo "$out" | grep -q -- "$want" || { echo "FAIL: output lacks '$want'"; exit 1; }
done
"$1" sim --driver "$2" --connect 127.0.0.2:8080 --json 2>/dev/null | python3 -c '
import json, sys
lines = [json.loads(l) for l in sys.stdin if l.strip()]
layers = [l.get("layer") for l in lines[:-1]]
assert "ALE_CONNECT_REDIRECT_V4" in layers, layers
assert "ALE_AUTH_CONNECT_V4" not in layers, layers  # blocked before the AUTH layer
assert lines[-1]["operation"] == "connect" and lines[-1]["final_destination"] == "127.0.0.2:8080", lines[-1]
' || { echo "FAIL: JSON lines"; exit 1; }
echo PASS
