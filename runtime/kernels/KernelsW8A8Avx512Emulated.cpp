//===- KernelsW8A8Avx512Emulated.cpp - the VNNI W8A8 kernel code, runnable on AVX2 -===//
//
// KernelsW8A8Avx512.cpp's algorithm (16 lanes, 16 columns x 4 k per code
// vector, u8 codes as stored, zero-point term from the row sums) compiled
// for AVX2 with vpdpbusd emulated exactly (acc + sum of 4 u8 x s8 products,
// int32). Compiled into the unit tests only, selected with
// setW8A8KernelsForTesting(w8a8Avx512VnniEmulatedKernels()). With the
// W4A8 tile of the same source.
//
//===----------------------------------------------------------------------===//
#include "W8A8Kernels.h"

#include "llmc/QuantLayout.h"

#include <cstdint>

#if defined(__x86_64__)

#define LLMC_VW 16
#define LLMC_KFN __attribute__((target("avx2,fma"), always_inline)) inline
#define LLMC_KENTRY __attribute__((target("avx2,fma")))
#define LLMC_FMA 1

namespace llmc::rt::kern::w8a8_avx512emu {
#include "SimdOps.inc"
#include "F16Ops.inc"

constexpr int kCodeOffset = 0;
typedef VU W8Vec;
LLMC_KFN W8Vec loadW8(const uint8_t *p) { return vloadU(p); }
/// vpdpbusd: acc + sum_i u8(byte i of w) * s8(byte i of a4).
LLMC_KFN VI dot4(VI acc, W8Vec w, uint32_t a4) {
  const int a0 = int8_t(a4), a1 = int8_t(a4 >> 8), a2 = int8_t(a4 >> 16), a3 = int8_t(a4 >> 24);
  VI x = __builtin_bit_cast(VI, w);
  return acc + (x & 0xff) * a0 + ((x >> 8) & 0xff) * a1 + ((x >> 16) & 0xff) * a2 +
         __builtin_bit_cast(VI, w >> 24) * a3;
}

#include "W8A8LinearTiles.inc"
#include "W4A8LinearTiles.inc"
} // namespace llmc::rt::kern::w8a8_avx512emu

const llmc::rt::kern::W8A8KernelTable *llmc::rt::kern::w8a8Avx512VnniEmulatedKernels() {
  using namespace w8a8_avx512emu;
  static const W8A8KernelTable t{"avx512-vnni-emulated", /*needsSums=*/true, w8a8TileEntry, w8a8QuantizeRow,
                                 w4a8TileEntry, w4a8QuantizeBlocks};
  return &t;
}

#else
const llmc::rt::kern::W8A8KernelTable *llmc::rt::kern::w8a8Avx512VnniEmulatedKernels() { return nullptr; }
#endif
