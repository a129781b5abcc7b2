//===- KernelsGeneric.cpp - portable variant of the packed linear and attention kernels -===//
//
// Plain C++ for any CPU and any panel width nr: linear tiles accumulate in
// the output tile with the column loop innermost (the compiler vectorizes
// it for the baseline ISA); attention is the shared source at 4 lanes.
//
//===----------------------------------------------------------------------===//
#include "KernelDispatch.h"
#include "PackedLinearEpilogue.h"
#include "KVQuant.h"
#include "Rope.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "llmc/PackedLayout.h"

namespace llmc::rt::kern::generic {

constexpr int kMR = 4;

void tileF32(const TileArgs &t) {
  const float *a = static_cast<const float *>(t.a), *w = static_cast<const float *>(t.w);
  for (int r = 0; r < t.mr; ++r)
    if (!t.accumulate)
      std::memset(t.c + r * t.ldc, 0, t.nr * sizeof(float));
  for (int64_t k = 0; k < t.kc; ++k) {
    const float *wr = w + k * t.nr;
    for (int r = 0; r < t.mr; ++r) {
      float av = a[k * t.mr + r];
      float *c = t.c + r * t.ldc;
      for (int64_t j = 0; j < t.nr; ++j)
        c[j] += av * wr[j];
    }
  }
}

// Activations arrive as bf16-rounded floats [k][mr]; weights are pairs.
void tileBF16(const TileArgs &t) {
  const float *a = static_cast<const float *>(t.a);
  const uint16_t *w = static_cast<const uint16_t *>(t.w);
  for (int r = 0; r < t.mr; ++r)
    if (!t.accumulate)
      std::memset(t.c + r * t.ldc, 0, t.nr * sizeof(float));
  for (int64_t k2 = 0; k2 < t.kc / 2; ++k2) {
    const uint16_t *wr = w + k2 * t.nr * 2;
    for (int r = 0; r < t.mr; ++r) {
      float a0 = a[2 * k2 * t.mr + r], a1 = a[(2 * k2 + 1) * t.mr + r];
      float *c = t.c + r * t.ldc;
      for (int64_t j = 0; j < t.nr; ++j)
        c[j] += a0 * packed::fromBF16(wr[2 * j]) + a1 * packed::fromBF16(wr[2 * j + 1]);
    }
  }
}

int mrMax(int64_t nr, bool) { return nr > 0 ? kMR : 0; }

void epilogue(const EpilogueArgs &e) {
  for (int r = 0; r < e.mr; ++r)
    epilogueScalarRange(e, r, 0, e.ncols);
}

#define LLMC_VW 4
#define LLMC_KFN __attribute__((always_inline)) inline
#define LLMC_KENTRY
#define LLMC_FMA 0
#include "SimdOps.inc"
#include "AttentionTiles.inc"

} // namespace llmc::rt::kern::generic

const llmc::rt::kern::KernelTable *llmc::rt::kern::genericKernels() {
  using namespace generic;
  static const KernelTable t{"generic", mrMax,        BF16Input::RoundedF32, tileF32, tileBF16,
                             epilogue,  kAttnMaxRows, attention};
  return &t;
}
