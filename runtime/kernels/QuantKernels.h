//===- QuantKernels.h - per-ISA kernels of the weight-quantized linear layer -*- C++ -*-===//
//
// Weight-only int8 / int4 kernels on the QuantLayout.h code format
// (include/llmc/QuantLayout.h), f32 activations. Two kernels per ISA:
//  - gemv: a few rows (decode) against one panel, reading every code byte
//    once and widening codes to f32 in registers;
//  - dequantize: one panel to f32 [Kd][nr], for prefill, where the f32
//    micro-tiles of the active KernelTable then do the arithmetic.
// Codes are used centered (int8: code - 128, int4: code - 8; a sign
// extension after an xor, as cheap as a plain zero extension), so symmetric
// schemes need no zero-point term at all.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_RUNTIME_QUANTKERNELS_H
#define LLMC_RUNTIME_QUANTKERNELS_H

#include "KernelDispatch.h"

#include <cstdint>

namespace llmc::rt::kern {

/// One panel's quantized weights.
struct QuantPanel {
  const uint8_t *codes;    ///< the panel's codes
  const uint16_t *scales;  ///< fp16 [numGroups][nr]
  const uint8_t *zeros;    ///< uint8 [numGroups][nr]; null for symmetric schemes
  int bits;                ///< 8 or 4
  int64_t nr, Kd, G;       ///< panel width, padded K, group size
};

/// c[mr][nr] = x[mr][Kd] * dequantize(panel).
struct QuantGemvArgs {
  QuantPanel w;
  const float *a;    ///< activations [Kd][mr] (zero padded past K)
  const float *asum; ///< [numGroups][mr] sums of a per group (asymmetric only)
  int mr;            ///< 1..kQuantGemvRows
  float *c;
  int64_t ldc;
};

constexpr int kQuantGemvRows = 4;

struct QuantKernelTable {
  const char *name;
  void (*gemv)(const QuantGemvArgs &);
  /// out[Kd][nr] = dequantize(panel) (scale * (code - zero), exactly as QuantLayout.h).
  void (*dequantize)(const QuantPanel &, float *out);
};

const QuantKernelTable *quantGenericKernels();
const QuantKernelTable *quantAvx2Kernels(); ///< null where not built

/// The quantized kernels that go with `kt` (AVX2 for the avx2 and avx512
/// tables on a CPU with AVX2, otherwise generic).
const QuantKernelTable &quantKernelsFor(const KernelTable &kt);

} // namespace llmc::rt::kern

#endif
