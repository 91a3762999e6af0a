#!/usr/bin/env bash
# Runs every benchmark program built under BUILD/bench and every bench/*.sh script; each prints
# its own ratio vs baseline.
set -euo pipefail
build=${1:-build/default}
status=0
for b in "$build"/bench/*; do
  [ -x "$b" ] && [ -f "$b" ] || continue
  echo "=== $(basename "$b") ==="
  "$b" || { echo "benchmark $(basename "$b") failed" >&2; status=1; }
done
# Script benchmarks (bench/*.sh) take the build directory.
for s in "$(dirname "$0")"/../bench/*.sh; do
  [ -f "$s" ] || continue
  echo "=== $(basename "$s" .sh) ==="
  "$s" --build "$build" || { echo "benchmark $(basename "$s") failed" >&2; status=1; }
done
exit $status
