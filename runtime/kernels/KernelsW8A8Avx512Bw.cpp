//===- KernelsW8A8Avx512Bw.cpp - AVX-512BW int4 x int8 (W4A8) kernels ---------===//
//
// 16-lane (zmm) build of W4A8LinearTiles.inc for AVX-512 CPUs without VNNI
// (the avx512 kernel tables there): one 64-byte code load holds 16 columns
// x 8 k, and the block sum is AVX2's (vpmaddubsw of the u8 nibbles with the
// s8 activations, vpaddw over the block, one vpmaddwd per block; a 16-bit
// lane sums 16 products of at most 15 * 127, 30480 < 32767) at twice the
// width, with 32 registers for 4 rows x 2 column vectors. AVX-512 has no
// vpsignb, so the W8A8 (int8 weight) tile of this table is AVX2's.
//
//===----------------------------------------------------------------------===//
#include "W8A8Kernels.h"

#include "llmc/QuantLayout.h"

#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>

#define LLMC_VW 16
#define LLMC_KFN __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"), always_inline)) inline
#define LLMC_KENTRY __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define LLMC_FMA 1
#define LLMC_W8A8_NO_TILE 1
#define LLMC_W4_DOT_HOOKS 1

namespace llmc::rt::kern::w8a8_avx512bw {
#include "SimdOps.inc"
#include "F16Ops.inc"
#include "W8A8LinearTiles.inc"

typedef __m512i W4Acc;
LLMC_KFN W4Acc w4Zero() { return _mm512_setzero_si512(); }
LLMC_KFN W4Acc w4Dot(W4Acc acc, VU lo, VU hi, uint32_t alo, uint32_t ahi) {
  __m512i p = _mm512_maddubs_epi16(__builtin_bit_cast(__m512i, lo), _mm512_set1_epi32(int(alo)));
  __m512i q = _mm512_maddubs_epi16(__builtin_bit_cast(__m512i, hi), _mm512_set1_epi32(int(ahi)));
  return _mm512_add_epi16(acc, _mm512_add_epi16(p, q));
}
LLMC_KFN VI w4Sum(W4Acc acc) { return __builtin_bit_cast(VI, _mm512_madd_epi16(acc, _mm512_set1_epi16(1))); }
#include "W4A8LinearTiles.inc"
} // namespace llmc::rt::kern::w8a8_avx512bw

const llmc::rt::kern::W8A8KernelTable *llmc::rt::kern::w8a8Avx512BwKernels() {
  using namespace w8a8_avx512bw;
  const W8A8KernelTable *avx2 = w8a8Avx2Kernels();
  if (!avx2)
    return nullptr;
  static const W8A8KernelTable t{"avx512bw",      /*needsSums=*/false, avx2->tile, avx2->quantizeRow,
                                 w4a8TileEntry, w4a8QuantizeBlocks};
  return &t;
}

#else
const llmc::rt::kern::W8A8KernelTable *llmc::rt::kern::w8a8Avx512BwKernels() { return nullptr; }
#endif
