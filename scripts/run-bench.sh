#!/usr/bin/env bash
# Runs every benchmark program built under BUILD/bench; each prints its own ratio vs baseline.
set -euo pipefail
build=${1:-build/default}
status=0
for b in "$build"/bench/*; do
  [ -x "$b" ] && [ -f "$b" ] || continue
  echo "=== $(basename "$b") ==="
  "$b" || { echo "benchmark $(basename "$b") failed" >&2; status=1; }
done
exit $status
