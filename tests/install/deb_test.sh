#!/usr/bin/env bash
# SPEC S16.1: the Debian package.
#   deb_test.sh SOURCE_DIR BUILD_DIR OUT_DIR build|run
# build  `cpack -G DEB` from the built tree into OUT_DIR; dpkg-deb -I: the package, version and
#        Depends (the shared libraries the ELF files link, from dpkg-shlibdeps); dpkg-deb -c: the
#        files under /usr.
# run    (real) the package unpacked with `dpkg -x` into a scratch root (not `dpkg -i`: the test
#        machine's /usr is not the test's to change), the source and build trees hidden by a
#        private mount namespace: `openwfp version` and `openwfp demo` from the unpacked /usr,
#        the library found through the binary's RUNPATH ($ORIGIN/../lib).
set -eu  # no pipefail: `producer | grep -q` may end the producer with SIGPIPE
src=$(cd "$1" && pwd); build=$(cd "$2" && pwd); mkdir -p "$3"; out=$(cd "$3" && pwd); case_=$4
fail() { echo "FAIL: $*"; exit 1; }
ver=$(sed -n 's/^project(openwfp VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
deb=$out/openwfp_${ver}_amd64.deb
case $case_ in
build)
  rm -rf "$out"; mkdir -p "$out"
  (cd "$build" && cpack -G DEB -B "$out") >"$out/cpack.log" 2>&1 || { cat "$out/cpack.log"; fail "cpack -G DEB"; }
  [ -f "$deb" ] || fail "no $deb"
  info=$(dpkg-deb -I "$deb")
  echo "$info" | grep -E '^ (Package|Version|Depends):'
  echo "$info" | grep -q "^ Package: openwfp$" || fail "package name"
  echo "$info" | grep -q "^ Version: $ver$" || fail "version is not $ver"
  depends=$(echo "$info" | sed -n 's/^ Depends: //p')
  for lib in libc6 libstdc++6 libgcc-s1 libspdlog libfmt libsodium23 libseccomp2 libtomlplusplus3; do
    echo "$depends" | grep -q "$lib" || fail "Depends lacks $lib: $depends"
  done
  files=$(dpkg-deb -c "$deb" | awk '{print $6}')
  for f in ./usr/bin/openwfp ./usr/lib/libopenwfp.so.${ver%.*} ./usr/lib/libopenwfp.so.$ver \
      ./usr/lib/openwfp/drivers/verify_proxy.so ./usr/lib/openwfp/drivers/policy.so \
      ./usr/include/openwfp/verifier.h ./usr/include/openwfp/km/fwpsk.h ./usr/lib/pkgconfig/openwfp.pc \
      ./usr/lib/cmake/openwfp/openwfpConfig.cmake ./usr/lib/systemd/user/openwfp-engine.service \
      ./usr/share/man/man1/openwfp.1 ./usr/share/bash-completion/completions/openwfp \
      ./usr/share/doc/openwfp/LICENSE ./usr/share/doc/openwfp/CHANGELOG.md; do
    echo "$files" | grep -qx -- "$f" || fail "the package lacks $f"
  done
  echo "files: $(echo "$files" | grep -vc '/$')"
  ;;
run)
  [ -f "$deb" ] || fail "no $deb (the Package.S16_1_DebBuilds test makes it)"
  root=$(mktemp -d /tmp/openwfp-deb.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  dpkg -x "$deb" "$root"
  grep -q 'ExecStart=/usr/bin/openwfp engine' "$root/usr/lib/systemd/user/openwfp-engine.service" || fail "unit ExecStart"
  unshare -rm true 2>/dev/null || fail "this test hides the source tree in a user + mount namespace: unshare -rm is refused here"
  hide="$src"; case $build in "$src"/*) ;; *) hide="$src $build" ;; esac
  res=$(unshare -rm sh -c "for d in $hide; do mount -t tmpfs none \"\$d\" || exit 97; done
        ls \"$src\" | grep -q . && exit 98
        ldd \"$root/usr/bin/openwfp\" | grep libopenwfp
        \"$root/usr/bin/openwfp\" version && exec \"$root/usr/bin/openwfp\" demo" 2>&1) || {
    rc=$?; echo "$res"; fail "the unpacked openwfp with the trees hidden: exit $rc"; }
  echo "$res" | grep -q "libopenwfp.so.${ver%.*} => $root/usr/bin/../lib/libopenwfp.so.${ver%.*}" || { echo "$res"; fail "libopenwfp not found through RUNPATH"; }
  echo "$res" | grep -q "^openwfp $ver$" || { echo "$res"; fail "openwfp version"; }
  echo "$res" | grep -q "both cases behaved as specified" || { echo "$res"; fail "the demo did not pass"; }
  echo "$res" | head -2; echo "$res" | tail -2
  ;;
*) fail "unknown case $case_" ;;
esac
echo PASS
