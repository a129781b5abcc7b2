//===- KernelsAvx512Emulated.cpp - the AVX-512 kernel code, runnable on AVX2 -===//
//
// The AVX-512 variant's source (16 lanes, 8x32 tiles, bf16 pair layout with
// vdpbf16ps) compiled for AVX2, with vdpbf16ps emulated. Slow (the compiler
// splits each 16-lane vector in two and spills), but it runs the same tiling,
// pair addressing and tails as the real AVX-512 build, so the tests check that
// algorithm on machines without AVX-512. Compiled into the unit tests only,
// selected with setKernelTableForTesting(avx512EmulatedKernels()).
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

#define LLMC_VW 16
#define LLMC_KFN __attribute__((target("avx2,fma"), always_inline)) inline
#define LLMC_KENTRY __attribute__((target("avx2,fma")))
#define LLMC_FMA 1
#define LLMC_DPBF16 2
#define LLMC_MR_F32 8
#define LLMC_MR_BF16 8

namespace llmc::rt::kern::avx512emu {
#include "SimdOps.inc"
/// vdpbf16ps: acc += a.lo*b.lo + a.hi*b.hi (products of bf16 are exact in f32).
LLMC_KFN V dpbf16(V acc, VU a, VU b) {
  return vfma(bf16Hi(a), bf16Hi(b), vfma(bf16Lo(a), bf16Lo(b), acc));
}
#include "PackedLinearTiles.inc"
#include "AttentionTiles.inc"
} // namespace llmc::rt::kern::avx512emu

const llmc::rt::kern::KernelTable *llmc::rt::kern::avx512EmulatedKernels() {
  using namespace avx512emu;
  static const KernelTable t{"avx512-emulated", mrMax,        BF16Input::Pairs, tileF32, tileBF16,
                             epilogue,          kAttnMaxRows, attention};
  return &t;
}

#else
const llmc::rt::kern::KernelTable *llmc::rt::kern::avx512EmulatedKernels() { return nullptr; }
#endif
