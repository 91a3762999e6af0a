#!/usr/bin/env bash
# check-published-flags.sh BUILD_DIR SOURCE... - compiles each driver source with nothing but
# `pkg-config --cflags openwfp-km` (the build tree's openwfp-km.pc) and its cc / cxx compiler,
# .c as C11 and .cpp as C++17, with -Wall -Wextra -Werror. Fails on the first error.
set -eu
build="$1"
shift
export PKG_CONFIG_PATH="$build/pkgconfig"
flags="$(pkg-config --cflags openwfp-km)"
cc="$(pkg-config --variable=cc openwfp-km)"
cxx="$(pkg-config --variable=cxx openwfp-km)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for src in "$@"; do
  case "$src" in
    *.c) comp="$cc -std=c11" ;;
    *) comp="$cxx -std=c++17" ;;
  esac
  # shellcheck disable=SC2086
  $comp $flags -Wall -Wextra -Werror -shared -o "$out/$(basename "$src").so" "$src"
  echo "OK $src"
done
