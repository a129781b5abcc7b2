//===- KernelsQuantGeneric.cpp - portable int8/int4 weight-only linear kernels -===//
//
// QuantLinearTiles.inc at 4 lanes for the baseline ISA (SSE2 on x86-64).
//
//===----------------------------------------------------------------------===//
#include "QuantKernels.h"

#include "llmc/QuantLayout.h"

#include <cstdint>

#define LLMC_VW 4
#define LLMC_KFN __attribute__((always_inline)) inline
#define LLMC_KENTRY
#define LLMC_FMA 0

namespace llmc::rt::kern::quant_generic {
#include "SimdOps.inc"
#include "QuantLinearTiles.inc"
} // namespace llmc::rt::kern::quant_generic

const llmc::rt::kern::QuantKernelTable *llmc::rt::kern::quantGenericKernels() {
  using namespace quant_generic;
  static const QuantKernelTable t{"generic", quantGemv, quantDequantize};
  return &t;
}
