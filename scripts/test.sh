#!/usr/bin/env bash
# Builds everything and runs all tests: lit, unit (GoogleTest), end to end
# (exporter vs ONNX Runtime, compiled models vs references, ONNX node tests).
#   scripts/test.sh [ctest args...]     e.g. scripts/test.sh -R lit
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  LLMC_SKIP_INSTALL=1 scripts/setup.sh
fi
cmake --build "$BUILD_DIR" -j "$(nproc)"
ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 3000 "$@"
