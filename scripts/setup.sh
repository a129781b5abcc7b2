#!/usr/bin/env bash
# Installs what llmc needs (Debian packages, Python packages) and builds it.
#   scripts/setup.sh            # install + configure + build into ./build
# Environment: BUILD_DIR (default build), LLMC_SKIP_INSTALL=1 to only build.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}

if [[ "${LLMC_SKIP_INSTALL:-0}" != 1 ]]; then
  SUDO=""
  if [[ $(id -u) != 0 ]]; then SUDO=sudo; fi
  APT_PACKAGES=(
    cmake ninja-build build-essential pkg-config
    llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools clang-22
    libonnx-dev libprotobuf-dev protobuf-compiler
    nlohmann-json3-dev libpcre2-dev libgtest-dev libcpp-httplib-dev
  )
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
  fi
  python3 -m pip install -q -r python/requirements.txt
fi

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22
cmake --build "$BUILD_DIR" -j "$(nproc)"
echo "setup: built into $BUILD_DIR (tools in $BUILD_DIR/bin)"
