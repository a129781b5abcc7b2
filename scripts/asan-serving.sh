#!/usr/bin/env bash
# Builds the serving unit tests (llmc_serving_tests: block manager, scheduler
# with concurrent submitters, preemption, cancellation) with AddressSanitizer
# in a build directory of their own, and runs them. Only that target and its
# small dependencies are built, not the compiler.
#   scripts/asan-serving.sh                      # build dir: build-asan-serving
#   SANITIZER=thread scripts/asan-serving.sh     # ThreadSanitizer instead (build-tsan-serving)
# Environment: ASAN_BUILD_DIR (build directory), CMAKE_ARGS (extra), SANITIZER
# (address or thread). Arguments are passed to the test binary (--gtest_filter=...).
set -euo pipefail
cd "$(dirname "$0")/.."
SANITIZER=${SANITIZER:-address}
case "$SANITIZER" in
  address) BUILD_DIR=${ASAN_BUILD_DIR:-build-asan-serving} ;;
  thread) BUILD_DIR=${ASAN_BUILD_DIR:-build-tsan-serving} ;;
  *) echo "SANITIZER must be address or thread" >&2; exit 2 ;;
esac
SAN="-fsanitize=$SANITIZER -fno-omit-frame-pointer -fno-sanitize-recover=all"
LAUNCHER=()
if command -v ccache >/dev/null; then
  LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
start=$(date +%s)
mkdir -p "$BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 "${LAUNCHER[@]}" \
  -DCMAKE_C_FLAGS="$SAN" -DCMAKE_CXX_FLAGS="$SAN" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=$SANITIZER" ${CMAKE_ARGS:-} >"$BUILD_DIR/configure.log" 2>&1 ||
  { cat "$BUILD_DIR/configure.log"; exit 1; }
cmake --build "$BUILD_DIR" -j "$(nproc)" --target llmc_serving_tests
# detect_leaks: also fail on leaked requests, sessions or blocks.
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 TSAN_OPTIONS=halt_on_error=1 \
  "$BUILD_DIR/bin/llmc_serving_tests" "$@"
echo "asan-serving: $SANITIZER sanitizer clean ($(($(date +%s) - start)) s including the build)"
