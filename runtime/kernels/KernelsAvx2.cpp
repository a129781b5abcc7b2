//===- KernelsAvx2.cpp - AVX2+FMA variant of the packed linear and attention kernels -===//
//
// 8-lane (ymm) build of the shared kernel sources: 6x16 f32 tiles (12
// accumulators of the 16 registers), 4x16 bf16 tiles (weights widened from
// bf16 pairs by shift/mask, so the activations are bf16-rounded floats).
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

#define LLMC_VW 8
#define LLMC_KFN __attribute__((target("avx2,fma"), always_inline)) inline
#define LLMC_KENTRY __attribute__((target("avx2,fma")))
#define LLMC_FMA 1
#define LLMC_DPBF16 0
#define LLMC_MR_F32 6
#define LLMC_MR_BF16 4

namespace llmc::rt::kern::avx2 {
#include "SimdOps.inc"
#include "PackedLinearTiles.inc"
#include "AttentionTiles.inc"
} // namespace llmc::rt::kern::avx2

const llmc::rt::kern::KernelTable *llmc::rt::kern::avx2Kernels() {
  using namespace avx2;
  static const KernelTable t{"avx2",   mrMax,         BF16Input::RoundedF32, tileF32, tileBF16,
                             epilogue, kAttnMaxRows,  attention};
  return &t;
}

#else
const llmc::rt::kern::KernelTable *llmc::rt::kern::avx2Kernels() { return nullptr; }
#endif
