//===- PackedLinearEpilogue.h - scalar epilogue of the packed linear kernels -===//
//
// The order of the fused epilogue (shared by every ISA variant; the vector
// variants use it for the columns past their last full vector):
//   a = acc * rowScale (RMSNorm) + bias;  a = silu(a) * up (SwiGLU);  a += res.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_RUNTIME_PACKEDLINEAREPILOGUE_H
#define LLMC_RUNTIME_PACKEDLINEAREPILOGUE_H

#include "KernelDispatch.h"

#include <cmath>

namespace llmc::rt::kern {

inline void epilogueScalarRange(const EpilogueArgs &e, int r, int64_t j0, int64_t j1) {
  const float *c = e.c + r * e.ldc;
  const float *cu = e.cu ? e.cu + r * e.ldc : nullptr;
  const float *res = e.res ? e.res + r * e.ldr : nullptr;
  float *y = e.y + r * e.ldy;
  float s = e.rowScale ? e.rowScale[r] : 1.f;
  for (int64_t j = j0; j < j1; ++j) {
    float a = c[j];
    if (e.rowScale)
      a *= s;
    if (e.bias)
      a += e.bias[j];
    if (cu) {
      float u = e.rowScale ? cu[j] * s : cu[j];
      a = a / (1.f + std::exp(-a)) * u;
    }
    if (res)
      a += res[j];
    y[j] = a;
  }
}

} // namespace llmc::rt::kern

#endif
