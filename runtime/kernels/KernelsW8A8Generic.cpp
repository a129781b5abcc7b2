//===- KernelsW8A8Generic.cpp - portable int8 x int8 linear kernels ---------===//
//
// W8A8LinearTiles.inc at 4 lanes for the baseline ISA: each 32-bit lane
// holds 4 k of one column; the 4 centered codes are sign-extended by shifts
// and multiplied in int32 (no saturation to worry about); the W4A8 tile
// reads the nibbles (0..15) the same way.
//
//===----------------------------------------------------------------------===//
#include "W8A8Kernels.h"

#include "llmc/QuantLayout.h"

#include <cstdint>

#define LLMC_VW 4
#define LLMC_KFN __attribute__((always_inline)) inline
#define LLMC_KENTRY
#define LLMC_FMA 0

namespace llmc::rt::kern::w8a8_generic {
#include "SimdOps.inc"
#include "F16Ops.inc"

constexpr int kCodeOffset = 128;
/// Codes - 128 as 4 int8 per lane.
typedef VI W8Vec;
LLMC_KFN W8Vec loadW8(const uint8_t *p) { return __builtin_bit_cast(VI, vloadU(p) ^ 0x80808080u); }
LLMC_KFN VI dot4(VI acc, W8Vec w, uint32_t a4) {
  const int a0 = int8_t(a4), a1 = int8_t(a4 >> 8), a2 = int8_t(a4 >> 16), a3 = int8_t(a4 >> 24);
  return acc + ((w << 24) >> 24) * a0 + ((w << 16) >> 24) * a1 + ((w << 8) >> 24) * a2 + (w >> 24) * a3;
}

#include "W8A8LinearTiles.inc"
#include "W4A8LinearTiles.inc"
} // namespace llmc::rt::kern::w8a8_generic

const llmc::rt::kern::W8A8KernelTable *llmc::rt::kern::w8a8GenericKernels() {
  using namespace w8a8_generic;
  static const W8A8KernelTable t{"generic", /*needsSums=*/false, w8a8TileEntry, w8a8QuantizeRow,
                                 w4a8TileEntry, w4a8QuantizeBlocks};
  return &t;
}
