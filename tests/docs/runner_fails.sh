#!/usr/bin/env bash
# scripts/doc-blocks.py can fail (docs/writing-docs.md): each fixture of tests/docs/fixtures is a
# page with one kind of bad block; the runner must exit non-zero naming FILE:LINE and the reason,
# and leave nothing running. good.md must pass (state kept across blocks, the checkout layout).
#   runner_fails.sh SOURCE_DIR BUILD_DIR
set -u
src=$1 build=$2
py=$(python3 -c "import sys; print(sys.executable)") || { echo "FAIL: python3 is not on PATH"; exit 1; }
runner="$src/scripts/doc-blocks.py" fx="$src/tests/docs/fixtures" fx_rel=tests/docs/fixtures
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect_fail NAME EXPECTED_TEXT... -- COMMAND...: COMMAND exits non-zero and prints each text.
expect_fail() {
  local name=$1; shift
  local texts=()
  while [ "$1" != "--" ]; do texts+=("$1"); shift; done
  shift
  local out rc
  out=$(timeout 60 "$@" 2>&1); rc=$?
  if [ $rc -eq 0 ]; then fail "$name: the runner exited 0:"; echo "$out"; return; fi
  if [ $rc -eq 124 ]; then fail "$name: the runner itself did not finish within 60 s"; return; fi
  for t in "${texts[@]}"; do
    grep -qF -- "$t" <<<"$out" || { fail "$name: no \"$t\" in:"; echo "$out"; return; }
  done
  echo "ok   $name (exit $rc): $(head -1 <<<"$out")"
}
# no_process PATTERN NAME: nothing matching PATTERN (a fixture's unique sleep) is alive.
no_process() {
  if pgrep -f "$1" >/dev/null; then fail "$2: left running: $(pgrep -af "$1")"; kill $(pgrep -f "$1"); fi
}

expect_fail unmarked "$fx_rel/unmarked.md:5: unmarked sh block" -- \
  "$py" "$runner" --check "$fx/unmarked.md"
out=$("$py" "$runner" --check "$fx/unmarked.md" 2>&1)
[ "$(grep -c unmarked <<<"$out")" -eq 1 ] || fail "unmarked: the skipped bash block or the c block was reported: $out"
expect_fail bad-markers "$fx_rel/bad-markers.md:3: doc-test skip needs a reason" \
  "$fx_rel/bad-markers.md:8: needs=no-such-tool: unknown command" \
  "$fx_rel/bad-markers.md:13: doc-test run before a toml block" \
  "$fx_rel/bad-markers.md:18: doc-test marker not followed by a block" -- \
  "$py" "$runner" --check "$fx/bad-markers.md"
expect_fail failing "$fx_rel/failing.md:9: the block failed: the shell exited with status 1" \
  "the failing block says this" -- "$py" "$runner" --run "$fx/failing.md" --build "$build"
out=$("$py" "$runner" --run "$fx/failing.md" --build "$build" 2>&1)
grep -q "never printed" <<<"$out" && fail "failing: the block went on after its failing command"
expect_fail leftover "$fx_rel/leftover.md: the blocks left 1 process(es) running" "sleep 37.5" -- \
  "$py" "$runner" --run "$fx/leftover.md" --build "$build"
no_process "sleep 37.5" leftover
expect_fail daemon "$fx_rel/daemon.md: the blocks left" "sleep 38.5" -- \
  "$py" "$runner" --run "$fx/daemon.md" --build "$build"
no_process "sleep 38.5" daemon
expect_fail timeout "$fx_rel/timeout.md:4: the block did not finish within 1 s" "waiting forever" -- \
  "$py" "$runner" --run "$fx/timeout.md" --build "$build"
no_process "sleep 39.5" timeout
expect_fail expect "$fx_rel/expect.md:4: no line of the output from the block's start on matches expect='^200\$'" "404" -- \
  "$py" "$runner" --run "$fx/expect.md" --build "$build"
expect_fail needs "$fx_rel/needs.md:4: needs microsocks, which is not on PATH: install it (bash scripts/install-deps.sh" -- \
  env PATH=/nonexistent "$py" "$runner" --run "$fx/needs.md" --build "$build"
expect_fail no-build "not a built openwfp tree" -- "$py" "$runner" --run "$fx/good.md" --build "$fx"

out=$(timeout 60 "$py" "$runner" --run "$fx/good.md" --build "$build" 2>&1) \
  && echo "ok   good: $out" || { fail "good: the passing fixture failed:"; echo "$out"; }

[ $failures -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo PASS
