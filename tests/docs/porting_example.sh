#!/usr/bin/env bash
# docs/porting-a-callout.md section 6, run as written (with sh) from the source tree, the build
# tree given as B; OPENWFP_ENGINE points at a socket of the test's own (no clash with an engine
# the user runs). Checks curl's 200 through the proxy and that no process of the block is left.
#   porting_example.sh SOURCE_DIR BUILD_DIR
set -u
src=$1 build=$2
tmp=$(mktemp -d /tmp/openwfp-doc.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
awk '/^## 6\./{s=1} s&&/^```sh$/{b=1;next} b&&/^```$/{exit} b{print}' "$src/docs/porting-a-callout.md" >"$tmp/block.sh"
[ -s "$tmp/block.sh" ] || fail "no sh block in section 6"
grep -q '^B=build/default ' "$tmp/block.sh" || fail "the block does not start with B=build/default"
rel=$(python3 -c 'import os,sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$build" "$src")
sed -i "s|^B=build/default |B=$rel |" "$tmp/block.sh"
cp "$tmp/block.sh" "$tmp/run.sh"
(cd "$src" && OPENWFP_ENGINE=$tmp/engine.sock timeout 60 sh "$tmp/run.sh" >"$tmp/out" 2>"$tmp/err"); rc=$?
rm -f "$src/trace.jsonl"
[ $rc -eq 0 ] || { cat "$tmp/out" "$tmp/err"; fail "the block exited $rc"; }
grep -qx 200 "$tmp/out" || { cat "$tmp/out" "$tmp/err"; fail "curl did not get 200"; }
grep -q "verify_proxy" "$tmp/out" || { cat "$tmp/out"; fail "show state does not list the driver"; }
sleep 0.2
if pgrep -f "$tmp/engine.sock" >/dev/null || pgrep -f "http.server --bind 127.0.0.2 8080" >/dev/null; then
  pgrep -af "engine.sock|http.server --bind 127.0.0.2" ; fail "left running"
fi
echo PASS
