//===- KernelsQuantAvx2.cpp - AVX2+FMA int8/int4 weight-only linear kernels -===//
//
// 8-lane (ymm) build of QuantLinearTiles.inc: one 32-byte load gives 8
// columns x 4 (int8) or 8 (int4) k.
//
//===----------------------------------------------------------------------===//
#include "QuantKernels.h"

#include "llmc/QuantLayout.h"

#include <cstdint>

#if defined(__x86_64__)

#define LLMC_VW 8
#define LLMC_KFN __attribute__((target("avx2,fma"), always_inline)) inline
#define LLMC_KENTRY __attribute__((target("avx2,fma")))
#define LLMC_FMA 1

namespace llmc::rt::kern::quant_avx2 {
#include "SimdOps.inc"
#include "QuantLinearTiles.inc"
} // namespace llmc::rt::kern::quant_avx2

const llmc::rt::kern::QuantKernelTable *llmc::rt::kern::quantAvx2Kernels() {
  using namespace quant_avx2;
  static const QuantKernelTable t{"avx2", quantGemv, quantDequantize};
  return &t;
}

#else
const llmc::rt::kern::QuantKernelTable *llmc::rt::kern::quantAvx2Kernels() { return nullptr; }
#endif
