#!/usr/bin/env bash
# Installs the Debian 12 packages openwfp needs to build, test and demo.
# Only missing packages are installed; uses sudo when not root.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config g++ clang
  libgtest-dev libgmock-dev libbenchmark-dev
  libseccomp-dev libsodium-dev libcli11-dev libspdlog-dev libfmt-dev
  libtomlplusplus-dev nlohmann-json3-dev
  curl python3 busybox-static util-linux iproute2
  microsocks proxychains4 golang-go
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
