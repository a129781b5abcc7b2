#!/usr/bin/env bash
# Regenerates docs/generated/ from the ODS (.td) definitions of the dialects
# and passes, so the reference documentation cannot drift from the code.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake --build "$BUILD_DIR" --target mlir-doc
mkdir -p docs/generated
cp "$BUILD_DIR"/docs/Dialects/*.md "$BUILD_DIR"/docs/Passes/*.md docs/generated/
ls docs/generated
