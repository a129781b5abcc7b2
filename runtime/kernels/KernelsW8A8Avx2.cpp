//===- KernelsW8A8Avx2.cpp - AVX2 int8 x int8 linear kernels ----------------===//
//
// 8-lane (ymm) build of W8A8LinearTiles.inc. One 32-byte code load holds 8
// columns x 4 k. Without VNNI the u8 x s8 products go through vpmaddubsw
// (pairs, int16 with saturation) and vpmaddwd against ones (int32), with the
// sign trick: vpmaddubsw(|w|, sign(a, w)) with w = code - 128.
// No saturation: |w| <= 128 (vpabsb(-128) is 0x80 = 128 read unsigned) and
// |sign(a, w)| = |a| <= 127 (activations are quantized to [-127, 127], so
// negating one is exact), so a product is at most 128 * 127 = 16256 and a
// pair sum at most 32512 < 32767.
// Also the W4A8 tile (W4A8LinearTiles.inc) with its int16 block sums.
//
//===----------------------------------------------------------------------===//
#include "W8A8Kernels.h"

#include "llmc/QuantLayout.h"

#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>

#define LLMC_VW 8
#define LLMC_KFN __attribute__((target("avx2,fma"), always_inline)) inline
#define LLMC_KENTRY __attribute__((target("avx2,fma")))
#define LLMC_FMA 1

namespace llmc::rt::kern::w8a8_avx2 {
#include "SimdOps.inc"
#include "F16Ops.inc"

constexpr int kCodeOffset = 128;
/// Codes - 128 (for the signs) and their magnitudes (unsigned).
struct W8Vec {
  __m256i sgn, mag;
};
LLMC_KFN W8Vec loadW8(const uint8_t *p) {
  __m256i x = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)),
                               _mm256_set1_epi8(char(0x80)));
  return {x, _mm256_abs_epi8(x)};
}
LLMC_KFN VI dot4(VI acc, const W8Vec &w, uint32_t a4) {
  __m256i p = _mm256_maddubs_epi16(w.mag, _mm256_sign_epi8(_mm256_set1_epi32(int(a4)), w.sgn));
  return acc + __builtin_bit_cast(VI, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

#include "W8A8LinearTiles.inc"

// W4A8: a block of 32 k accumulates in int16 lanes (vpmaddubsw of the u8
// nibbles with the s8 activations, then vpaddw) and is widened once per
// block (vpmaddwd with ones). No saturation: a lane sums 16 products of at
// most 15 * 127, 30480 < 32767.
#define LLMC_W4_DOT_HOOKS 1
typedef __m256i W4Acc;
LLMC_KFN W4Acc w4Zero() { return _mm256_setzero_si256(); }
LLMC_KFN W4Acc w4Dot(W4Acc acc, VU lo, VU hi, uint32_t alo, uint32_t ahi) {
  __m256i p = _mm256_maddubs_epi16(__builtin_bit_cast(__m256i, lo), _mm256_set1_epi32(int(alo)));
  __m256i q = _mm256_maddubs_epi16(__builtin_bit_cast(__m256i, hi), _mm256_set1_epi32(int(ahi)));
  return _mm256_add_epi16(acc, _mm256_add_epi16(p, q));
}
LLMC_KFN VI w4Sum(W4Acc acc) { return __builtin_bit_cast(VI, _mm256_madd_epi16(acc, _mm256_set1_epi16(1))); }
#include "W4A8LinearTiles.inc"
} // namespace llmc::rt::kern::w8a8_avx2

const llmc::rt::kern::W8A8KernelTable *llmc::rt::kern::w8a8Avx2Kernels() {
  using namespace w8a8_avx2;
  static const W8A8KernelTable t{"avx2", /*needsSums=*/false, w8a8TileEntry, w8a8QuantizeRow,
                                 w4a8TileEntry, w4a8QuantizeBlocks};
  return &t;
}

#else
const llmc::rt::kern::W8A8KernelTable *llmc::rt::kern::w8a8Avx2Kernels() { return nullptr; }
#endif
