//===- KernelsW8A8Avx512.cpp - AVX-512 VNNI int8 x int8 linear kernels -------===//
//
// 16-lane (zmm) build of W8A8LinearTiles.inc for CPUs with AVX512_VNNI: one
// 64-byte code load holds 16 columns x 4 k, and vpdpbusd multiplies the u8
// codes as stored with the s8 activations and adds each lane's 4 products
// to an int32 accumulator (no int16 intermediate, so no saturation); the
// tile then subtracts zero * sum_k a per group (kCodeOffset = 0, needsSums).
// Tested on other CPUs through the same source built for AVX2 with
// vpdpbusd emulated (KernelsW8A8Avx512Emulated.cpp). Also the W4A8 tile
// (W4A8LinearTiles.inc: two vpdpbusd on the nibbles per 8 k).
//
//===----------------------------------------------------------------------===//
#include "W8A8Kernels.h"

#include "llmc/QuantLayout.h"

#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>

#define LLMC_VW 16
#define LLMC_KFN                                                                                   \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma"), always_inline)) inline
#define LLMC_KENTRY __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma")))
#define LLMC_FMA 1

namespace llmc::rt::kern::w8a8_avx512vnni {
#include "SimdOps.inc"
#include "F16Ops.inc"

constexpr int kCodeOffset = 0;
typedef __m512i W8Vec;
LLMC_KFN W8Vec loadW8(const uint8_t *p) { return _mm512_loadu_si512(p); }
LLMC_KFN VI dot4(VI acc, W8Vec w, uint32_t a4) {
  return __builtin_bit_cast(
      VI, _mm512_dpbusd_epi32(__builtin_bit_cast(__m512i, acc), w, _mm512_set1_epi32(int(a4))));
}

#include "W8A8LinearTiles.inc"
#include "W4A8LinearTiles.inc"
} // namespace llmc::rt::kern::w8a8_avx512vnni

const llmc::rt::kern::W8A8KernelTable *llmc::rt::kern::w8a8Avx512VnniKernels() {
  using namespace w8a8_avx512vnni;
  static const W8A8KernelTable t{"avx512-vnni", /*needsSums=*/true, w8a8TileEntry, w8a8QuantizeRow,
                                 w4a8TileEntry, w4a8QuantizeBlocks};
  return &t;
}

#else
const llmc::rt::kern::W8A8KernelTable *llmc::rt::kern::w8a8Avx512VnniKernels() { return nullptr; }
#endif
