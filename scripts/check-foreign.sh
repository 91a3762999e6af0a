#!/usr/bin/env bash
# check-foreign.sh CHECKOUT_PATH...  (SPEC S15.6, issue 11)
#
# Compiles, unchanged, the public Windows callout sources named in issue 11 with nothing but the
# published driver flags (`pkg-config --cflags openwfp-km`, compiler from its `cxx` variable)
# plus each project's own defines and include folders, as written in its .vcxproj. Prints one
# line per file: "OK  file" or "FAIL file: <first error>". Exit status: the number of failures
# (0 = all compiled).
#
# A CHECKOUT_PATH is the root of a checkout of microsoft/Windows-driver-samples (the files under
# network/trans/WFPSampler) or of Zensey/split-tunnel (the files under sys/); which one is told
# by what it contains.
#
# The WDK build runs the WPP preprocessor (tracewpp) before the compiler: it writes one
# <source>.tmh per source into the intermediate folder. The stand-in here is the same as
# openwfp_add_driver(... WPP): a generated <source>.tmh that includes <openwfp_wpp.h>.
#
# Environment: OPENWFP_BUILD_DIR (default: build/default of this repository) holds the
# generated pkgconfig/openwfp-km.pc; OPENWFP_KM_CFLAGS / OPENWFP_KM_CXX override it; VERBOSE=1
# prints the whole compiler output of failing files.
set -u

here="$(cd "$(dirname "$0")/.." && pwd)"
build="${OPENWFP_BUILD_DIR:-$here/build/default}"

if [ $# -eq 0 ]; then
  echo "usage: $0 CHECKOUT_PATH..." >&2
  exit 2
fi

if [ -n "${OPENWFP_KM_CFLAGS:-}" ]; then
  cflags="$OPENWFP_KM_CFLAGS"
  cxx="${OPENWFP_KM_CXX:-clang++}"
else
  export PKG_CONFIG_PATH="$build/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  if ! cflags="$(pkg-config --cflags openwfp-km 2>/dev/null)"; then
    echo "check-foreign: openwfp-km.pc not found under $build/pkgconfig (configure the build first)" >&2
    exit 2
  fi
  cxx="${OPENWFP_KM_CXX:-$(pkg-config --variable=cxx openwfp-km)}"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0

# compile SOURCE DEFINES INCLUDE_DIRS...
compile() {
  local src="$1" defs="$2"
  shift 2
  local base wpp incs=()
  base="$(basename "${src%.*}")"
  wpp="$work/wpp/$base"
  mkdir -p "$wpp"
  printf '#include <openwfp_wpp.h>\n' > "$wpp/$base.tmh"
  for d in "$@"; do incs+=("-I$d"); done
  local out
  # shellcheck disable=SC2086  # the flags are words
  if out="$($cxx $cflags $defs "${incs[@]}" "-I$wpp" -c "$src" -o "$work/$base.o" 2>&1)"; then
    echo "OK   $src"
  else
    failures=$((failures + 1))
    local first
    first="$(printf '%s\n' "$out" | grep -m1 -E 'error' || printf '%s\n' "$out" | head -1)"
    echo "FAIL $src: $first"
    if [ "${VERBOSE:-0}" = 1 ]; then printf '%s\n' "$out" | head -60; fi
  fi
}

for root in "$@"; do
  root="$(cd "$root" && pwd)" || { echo "check-foreign: no such folder" >&2; exit 2; }
  found=0
  wfps="$root/network/trans/WFPSampler"
  if [ -d "$wfps" ]; then
    found=1
    # WFPSamplerCalloutDriver.vcxproj / WFPSampler.vcxproj (syslib): KMDF 1.15, Windows 10.
    defs="-DWIN32_LEAN_AND_MEAN -DUNICODE -D_UNICODE -DNDIS630 -DKMDF_VERSION_MAJOR=1 -DKMDF_VERSION_MINOR=15"
    for f in ClassifyFunctions_ProxyCallouts NotifyFunctions_ProxyCallouts \
             HelperFunctions_ExposedCallouts Framework_WFPSamplerCalloutDriver; do
      compile "$wfps/sys/$f.cpp" "$defs" "$wfps/sys" "$wfps/inc" "$wfps/syslib"
    done
    for f in HelperFunctions_RedirectData HelperFunctions_ClassifyData HelperFunctions_FwpObjects; do
      compile "$wfps/syslib/$f.cpp" "$defs" "$wfps/syslib" "$wfps/inc"
    done
  fi
  if [ -f "$root/sys/callouts.cpp" ] && [ -f "$root/sys/pend.cpp" ]; then
    found=1
    # splitter.vcxproj: KMDF, Windows 10.
    defs="-DBINARY_COMPATIBLE=0 -DNT -DUNICODE -D_UNICODE -DNDIS60 -DNDIS_SUPPORT_NDIS6 -DPOOL_NX_OPTIN_AUTO -DKERNEL_MODE"
    for f in callouts wfp pend; do
      compile "$root/sys/$f.cpp" "$defs" "$root/sys"
    done
  fi
  if [ $found = 0 ]; then
    echo "check-foreign: $root is neither a Windows-driver-samples nor a split-tunnel checkout" >&2
    failures=$((failures + 1))
  fi
done
exit $failures
