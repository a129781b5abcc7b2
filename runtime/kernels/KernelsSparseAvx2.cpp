//===- KernelsSparseAvx2.cpp - AVX2+FMA 2:4 / unstructured sparse linear kernels -===//
//
// 8-lane (ymm) build of SparseLinearTiles.inc: vpermps picks 2:4 activations
// (its index reads 3 bits, and the 4 activations fill both 128-bit halves,
// so bit 2 does not matter); unstructured ones are loaded one by one and
// inserted (faster than vgatherdps on Zen 3).
//
//===----------------------------------------------------------------------===//
#include "SparseKernels.h"

#include <algorithm>
#include <cstdint>
#include <type_traits>

#if defined(__x86_64__)
#include <immintrin.h>

#define LLMC_VW 8
#define LLMC_KFN __attribute__((target("avx2,fma"), always_inline)) inline
#define LLMC_KENTRY __attribute__((target("avx2,fma")))
#define LLMC_FMA 1
// 16 rows (2 vectors; a 256-k chunk of them is 16 KB, half of L1): 24 and 32
// measured no faster on SmolLM2's shapes.
#define LLMC_SPARSE_TILE_ROWS 16

namespace llmc::rt::kern::sparse_avx2 {
#include "SimdOps.inc"

LLMC_KFN V permute4(V tab, VI idx) {
  return (V)_mm256_permutevar8x32_ps((__m256)tab, (__m256i)idx);
}
LLMC_KFN V bcast4(const float *p) { return (V)_mm256_broadcast_ps((const __m128 *)p); }
/// 8 scalar loads and inserts, the offsets taken from one 64-bit load: 1.65x
/// the rate of vgatherdps on Zen 3 (measured, 3.7 vs 2.2 G elements/s).
LLMC_KFN V gatherBytes(const float *base, const uint8_t *offsets) {
  uint64_t o;
  __builtin_memcpy(&o, offsets, 8);
  __m128 lo = _mm_load_ss(base + (o & 255));
  lo = _mm_insert_ps(lo, _mm_load_ss(base + ((o >> 8) & 255)), 0x10);
  lo = _mm_insert_ps(lo, _mm_load_ss(base + ((o >> 16) & 255)), 0x20);
  lo = _mm_insert_ps(lo, _mm_load_ss(base + ((o >> 24) & 255)), 0x30);
  __m128 hi = _mm_load_ss(base + ((o >> 32) & 255));
  hi = _mm_insert_ps(hi, _mm_load_ss(base + ((o >> 40) & 255)), 0x10);
  hi = _mm_insert_ps(hi, _mm_load_ss(base + ((o >> 48) & 255)), 0x20);
  hi = _mm_insert_ps(hi, _mm_load_ss(base + (o >> 56)), 0x30);
  return (V)_mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
}

#include "SparseLinearTiles.inc"
} // namespace llmc::rt::kern::sparse_avx2

const llmc::rt::kern::SparseKernelTable *llmc::rt::kern::sparseAvx2Kernels() {
  using namespace sparse_avx2;
  static const SparseKernelTable t{"avx2", W, LLMC_SPARSE_TILE_ROWS, gemv24, gemvEll, tile24, tileEll,
                                   gemv24q4, dequant24q4};
  return &t;
}

#else
const llmc::rt::kern::SparseKernelTable *llmc::rt::kern::sparseAvx2Kernels() { return nullptr; }
#endif
