//===- KernelsAvx512.cpp - AVX-512 variants of the packed linear and attention kernels -===//
//
// 16-lane (zmm) builds of the shared kernel sources, 8x32 tiles (16 of the
// 32 registers as accumulators): one with vdpbf16ps on bf16 pairs (CPUs with
// AVX512_BF16), one widening bf16 weights to f32 (AVX-512 without it).
//
//===----------------------------------------------------------------------===//
#include "KernelDispatch.h"
#include "PackedLinearEpilogue.h"
#include "KVQuant.h"
#include "Rope.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>

#define LLMC_VW 16
#define LLMC_FMA 1
// 12 rows x 2 vectors = 24 accumulators of the 32 zmm registers (BLIS's SKX
// sgemm shape): a third less weight traffic per FMA than 8 rows, measured
// ~10% faster prefill on a Skylake-SP (llmc-kernel-bench, best of 5).
#define LLMC_MR_F32 12
#define LLMC_MR_BF16 8

// --- AVX-512 F/BW/VL/DQ, bf16 weights widened to f32 ---
#define LLMC_KFN                                                               \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"), always_inline)) inline
#define LLMC_KENTRY __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define LLMC_DPBF16 0
namespace llmc::rt::kern::avx512 {
#include "SimdOps.inc"
#include "PackedLinearTiles.inc"
#include "AttentionTiles.inc"
} // namespace llmc::rt::kern::avx512
#undef LLMC_KFN
#undef LLMC_KENTRY
#undef LLMC_DPBF16

// --- plus AVX512_BF16: vdpbf16ps on bf16 pairs ---
#define LLMC_KFN                                                               \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma"),    \
                 always_inline)) inline
#define LLMC_KENTRY                                                            \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))
#define LLMC_DPBF16 1
namespace llmc::rt::kern::avx512bf16 {
#include "SimdOps.inc"
/// acc[i] += a.lo[i]*b.lo[i] + a.hi[i]*b.hi[i] over bf16 pairs.
LLMC_KFN V dpbf16(V acc, VU a, VU b) {
  return __builtin_bit_cast(V, _mm512_dpbf16_ps(__builtin_bit_cast(__m512, acc),
                                                __builtin_bit_cast(__m512bh, a),
                                                __builtin_bit_cast(__m512bh, b)));
}
#include "PackedLinearTiles.inc"
#include "AttentionTiles.inc"
} // namespace llmc::rt::kern::avx512bf16

const llmc::rt::kern::KernelTable *llmc::rt::kern::avx512Kernels() {
  using namespace avx512;
  static const KernelTable t{"avx512", mrMax,        BF16Input::RoundedF32, tileF32, tileBF16,
                             epilogue, kAttnMaxRows, attention};
  return &t;
}
const llmc::rt::kern::KernelTable *llmc::rt::kern::avx512Bf16Kernels() {
  using namespace avx512bf16;
  static const KernelTable t{"avx512-bf16", mrMax,        BF16Input::Pairs, tileF32, tileBF16,
                             epilogue,      kAttnMaxRows, attention};
  return &t;
}

#else
const llmc::rt::kern::KernelTable *llmc::rt::kern::avx512Kernels() { return nullptr; }
const llmc::rt::kern::KernelTable *llmc::rt::kern::avx512Bf16Kernels() { return nullptr; }
#endif
