#!/usr/bin/env bash
# Installs every package fa-mlir needs to build and test, from Debian's
# registry only. Idempotent: when everything is present it returns in well
# under a second without touching the network.
set -euo pipefail

PACKAGES=(
  # Compiler toolchain: LLVM/MLIR 22 (docs/Toolchain.md) and a fast linker.
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools lld-22
  # Needed by the LLVM/MLIR CMake exports (and by the static bundle).
  libzstd-dev zlib1g-dev
  cmake ninja-build g++ make python3
  # Test-time Python packages, used under /usr/bin/python3; setuptools,
  # wheel, pip and venv build and install the wheel offline.
  python3-pytest python3-numpy python3-setuptools python3-wheel python3-pip
  python3-venv
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
      grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
