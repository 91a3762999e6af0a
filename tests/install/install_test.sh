#!/usr/bin/env bash
# SPEC S16.1: openwfp installed like a library, used with no build tree in sight.
#   install_test.sh SOURCE_DIR BUILD_DIR CASE
# tree      cmake --install into a temporary prefix: the file list, no build or source path in
#           any installed text file or ELF dynamic section, RUNPATH $ORIGIN/../lib, the soname,
#           only the public ABI exported, every symbol the shipped drivers need exported, the
#           tree still works after being moved.
# consumer  a separate CMake project (tests/install/consumer) with find_package(openwfp CONFIG):
#           a driver built with openwfp_add_driver() and its GoogleTest with the verifier helper,
#           passing, and failing (EngineOwnedContextFreed) for the driver with the mistake; a C
#           proxy built with `pkg-config --cflags --libs openwfp`; a driver built with
#           `pkg-config --cflags openwfp-km` and clang, run by the installed `openwfp sim`.
# demo      (real) the installed `openwfp demo` passes with the source and build trees hidden
#           (a private mount namespace with an empty tmpfs over the source tree).
set -eu  # no pipefail: `producer | grep -q` may end the producer with SIGPIPE
src=$(cd "$1" && pwd); build=$(cd "$2" && pwd); case_=$3
flags=${4:-}  # compiler flags of the consumers (the sanitizers, when libopenwfp has them)
tmp=$(mktemp -d /tmp/openwfp-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "cmake --install"; }
ver=$(sed -n 's/^project(openwfp VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[ -n "$ver" ] || fail "no version in project()"
mm=${ver%.*}

case $case_ in
tree)
  for f in bin/openwfp lib/libopenwfp.so lib/libopenwfp.so.$mm lib/libopenwfp.so.$ver \
      lib/openwfp/drivers/verify_proxy.so lib/openwfp/drivers/policy.so \
      include/openwfp/openwfp.h include/openwfp/verifier.h include/openwfp/gtest_verifier.h \
      include/openwfp/version.h include/openwfp/km/fwpsk.h include/openwfp/km/wdf.h \
      lib/pkgconfig/openwfp.pc lib/pkgconfig/openwfp-km.pc lib/cmake/openwfp/openwfpConfig.cmake \
      lib/cmake/openwfp/openwfpConfigVersion.cmake lib/cmake/openwfp/OpenwfpDriver.cmake \
      lib/systemd/user/openwfp-engine.service share/man/man1/openwfp.1 \
      share/bash-completion/completions/openwfp share/doc/openwfp/LICENSE \
      share/doc/openwfp/CHANGELOG.md share/doc/openwfp/testing-your-callout.md \
      share/doc/openwfp/spec.md; do
    [ -e "$prefix/$f" ] || fail "not installed: $f"
  done
  if [ -d "$src/include/openwfp/um" ]; then
    [ -e "$prefix/include/openwfp/um/fwpmu.h" ] || fail "not installed: include/openwfp/um/fwpmu.h"
  fi
  echo "installed: $(find "$prefix" -type f | wc -l) files"
  # No path into the source or build tree: text files, and the ELF files' dynamic sections.
  if grep -rIl -e "$src" -e "$build" "$prefix"; then fail "installed text files name the source/build tree"; fi
  while IFS= read -r elf; do
    if readelf -d "$elf" | grep -e "$src" -e "$build"; then fail "$elf: dynamic section names the build tree"; fi
  done < <(find "$prefix" -type f \( -name '*.so*' -o -path '*/bin/*' \))
  readelf -d "$prefix/bin/openwfp" | grep -q 'RUNPATH.*\[\$ORIGIN/../lib\]' || fail "bin/openwfp: RUNPATH is not \$ORIGIN/../lib"
  readelf -d "$prefix/lib/libopenwfp.so.$ver" | grep -q "SONAME.*\[libopenwfp.so.$mm\]" || fail "soname is not libopenwfp.so.$mm"
  [ "$(readlink "$prefix/lib/libopenwfp.so")" = "libopenwfp.so.$mm" ] || fail "libopenwfp.so does not link to the soname"
  # Only the public ABI: C names of the WDK / openwfp_ / WSA, C++ names of the public classes.
  nm -D --defined-only "$prefix/lib/libopenwfp.so.$ver" | awk '{print $3}' >"$tmp/exports"
  echo "exported symbols: $(wc -l <"$tmp/exports")"
  bad=$(grep -v '^_Z' "$tmp/exports" | grep -Ev '^(Fwp|Wdf|Rtl|Ke|Kf|Io|Ps|Ex|Ob|Dbg|Zw|Mm|Se|Nt|Inet|Ndis|WSA|SDDL_DEVOBJ_|FWPM_|FWPS_|openwfp_|Openwfp)' || true)
  [ -z "$bad" ] || fail "exported C symbols outside the public ABI: $bad"
  grep '^_Z' "$tmp/exports" | c++filt | sed -E 's/^(typeinfo name for |typeinfo for |vtable for |VTT for )//' >"$tmp/cxx"
  bad=$(grep -Ev '^openwfp::(Runtime|Endpoint|Classifier|ConnectionLookup|control::(defaultEnginePath|ControlServer)|device::(open|ioctl|close)|host::DriverHost|linux_backend::(Interceptor|Supervisor|connectionLookup|checkLinuxFeatures|exitStatusOf)|sim::(PendingConnect|Process|Stack)|trace::Tracer|verify::)' "$tmp/cxx" || true)
  [ -z "$bad" ] || fail "exported C++ symbols outside the public API: $(echo "$bad" | head -5)"
  grep -q '^openwfp_cli_main$' "$tmp/exports" || fail "openwfp_cli_main not exported"
  grep -q '^openwfp_verifier_get$' "$tmp/exports" || fail "openwfp_verifier_get not exported"
  # What the shipped drivers call resolves in the installed openwfp process: libopenwfp's
  # exports, or those of a library the binary loads (libc, libstdc++, and in the asan build the
  # sanitizer runtimes).
  cp "$tmp/exports" "$tmp/resolvable"
  for lib in $(ldd "$prefix/bin/openwfp" | awk '$3 ~ /^\// {print $3}'); do
    nm -D --defined-only "$lib" | awk '{sub(/@.*/, "", $3); print $3}' >>"$tmp/resolvable"
  done
  sort -u -o "$tmp/resolvable" "$tmp/resolvable"
  for d in "$prefix"/lib/openwfp/drivers/*.so; do
    for s in $(nm -u "$d" | awk '{sub(/@.*/, "", $2); print $2}' | grep -Ev '^(_ITM_.*|__gmon_start__|__cxa_finalize)$'); do
      grep -qx "$s" "$tmp/resolvable" || fail "$d needs $s, which neither libopenwfp nor a library it loads exports"
    done
  done
  # Moved elsewhere, the tree still works (nothing absolute inside).
  mv "$prefix" "$tmp/moved"
  out=$("$tmp/moved/bin/openwfp" version) || fail "moved tree: openwfp version"
  [ "$(echo "$out" | head -1)" = "openwfp $ver" ] || fail "openwfp version says '$out', want 'openwfp $ver'"
  [ "$("$tmp/moved/bin/openwfp" --version)" = "openwfp $ver" ] || fail "--version"
  PKG_CONFIG_PATH=$tmp/moved/lib/pkgconfig pkg-config --cflags openwfp | grep -q -- "-I$tmp/moved/" || fail "openwfp.pc is not relative to its folder"
  ;;
consumer)
  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
  cmake -S "$src/tests/install/consumer" -B "$tmp/cb" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_C_FLAGS="$flags" \
      -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_MODULE_LINKER_FLAGS="$flags" >"$tmp/cfg.log" 2>&1 \
    || { cat "$tmp/cfg.log"; fail "consumer: configure"; }
  cmake --build "$tmp/cb" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "consumer: build"; }
  if grep -rl -e "$build" -e "$src/include" "$tmp/cb/CMakeCache.txt" "$tmp/cb/build.ninja"; then
    fail "the consumer build uses the build or source tree"
  fi
  "$tmp/cb/port80_driver_test" >"$tmp/t.log" 2>&1 || { cat "$tmp/t.log"; fail "consumer: its GoogleTest fails"; }
  grep -q '\[  PASSED  \] 1 test' "$tmp/t.log" || { cat "$tmp/t.log"; fail "consumer: test did not pass"; }
  echo "consumer (find_package): the driver's GoogleTest passes"
  # The same test fails when the driver frees the engine-owned context.
  cc=$(pkg-config --variable=cc openwfp-km)
  # shellcheck disable=SC2046
  $cc $flags -shared -DMISTAKE $(pkg-config --cflags openwfp-km) "$src/tests/install/consumer/port80_driver.c" \
      -o "$tmp/port80_mistake.so" || fail "pkg-config openwfp-km: driver with the mistake"
  if PORT80_DRIVER=$tmp/port80_mistake.so "$tmp/cb/port80_driver_test" >"$tmp/m.log" 2>&1; then
    cat "$tmp/m.log"; fail "the test passed with a driver that frees the engine-owned context"
  fi
  grep -q 'EngineOwnedContextFreed \[port80_mistake\]' "$tmp/m.log" || { cat "$tmp/m.log"; fail "failure does not name the violation"; }
  echo "consumer: the same test fails on the mistake (EngineOwnedContextFreed)"
  # A C proxy with pkg-config.
  # shellcheck disable=SC2046
  gcc $flags -Wall -Werror "$src/tests/install/consumer/proxy.c" $(pkg-config --cflags --libs openwfp) \
      -Wl,-rpath,"$(pkg-config --variable=libdir openwfp)" -o "$tmp/proxy" || fail "pkg-config openwfp: proxy"
  "$tmp/proxy" | grep -qx "proxy: ok $ver" || fail "the C proxy"
  echo "consumer (pkg-config openwfp): the C proxy runs"
  # The pkg-config driver under the installed CLI.
  # shellcheck disable=SC2046
  $cc $flags -shared $(pkg-config --cflags openwfp-km) "$src/tests/install/consumer/port80_driver.c" -o "$tmp/port80.so"
  out=$("$prefix/bin/openwfp" sim --driver "$tmp/port80.so" --connect 192.0.2.80:80 2>&1) || { echo "$out"; fail "installed openwfp sim"; }
  echo "$out" | grep -q "result: verdict PERMIT.*127.0.0.1:8080" || { echo "$out"; fail "openwfp sim: no redirect to 127.0.0.1:8080"; }
  echo "consumer (pkg-config openwfp-km, clang): the driver redirects under the installed openwfp sim"
  ;;
demo)
  unshare -rm true 2>/dev/null || fail "this test hides the source tree in a user + mount namespace: unshare -rm is refused here"
  # Hide the source tree (the build tree is inside it or named separately) and run the demo.
  hide="$src"; case $build in "$src"/*) ;; *) hide="$src $build" ;; esac
  out=$(unshare -rm sh -c "for d in $hide; do mount -t tmpfs none \"\$d\" || exit 97; done
        ls \"$src\" | grep -q . && exit 98; exec \"$prefix/bin/openwfp\" demo" 2>&1) || {
    rc=$?; echo "$out"; fail "installed openwfp demo with the trees hidden: exit $rc"; }
  echo "$out" | tail -3
  echo "$out" | grep -q "both cases behaved as specified" || fail "the demo did not pass"
  # The timeline names the WFP calls behind the records (S16.3).
  echo "$out" | grep -q "driver .*FwpsQueryConnectionSioFormatRedirectRecords0: STATUS_SUCCESS, records=[0-9]* bytes" \
    || fail "the timeline does not name FwpsQueryConnectionSioFormatRedirectRecords0"
  echo "$out" | grep -q "proxy .*(SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, [0-9]* bytes): connected" \
    || fail "the timeline does not name SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS"
  echo "$out" | grep -q "proxy .*paired by SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT ([0-9]* bytes)" \
    || fail "the timeline does not name SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT"
  ;;
*) fail "unknown case $case_" ;;
esac
echo PASS
