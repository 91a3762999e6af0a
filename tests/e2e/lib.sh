# tests/e2e/lib.sh - what the end-to-end scripts share; source it after setting $work (the
# script's temporary directory, removed at exit). Gives:
#   pids+=(PID)               processes killed and reaped at exit
#   fail MESSAGE              prints FAIL, every $work/*.log, and exits 1
#   wait_for WHAT COMMAND...  runs COMMAND until it succeeds, at most 10 s, else fail
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done  # reaped quietly
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done
  exit 1
}
wait_for() {
  local what=$1; shift
  for _ in $(seq 200); do "$@" && return 0; sleep 0.05; done
  fail "timed out (10 s) waiting for: $what"
}
