//===- KernelsSparseGeneric.cpp - portable 2:4 / unstructured sparse linear kernels -===//
//
// Plain C++ for any CPU and any panel width (lanes = 1): the same loop
// structure as SparseLinearTiles.inc, one column or row at a time. Also the
// fallback for panel widths the vector variants cannot take.
//
//===----------------------------------------------------------------------===//
#include "SparseKernels.h"

#include "llmc/QuantLayout.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace llmc::rt::kern::sparse_generic {

constexpr int kTileRows = 8;

void gemv24(const Sparse24Panel &w, const SparseGemvArgs &t) {
  for (int r = 0; r < t.mr; ++r)
    for (int64_t j = 0; j < w.nr; ++j) {
      const float *x = t.x + r * t.ldx;
      float acc = 0.f;
      for (int64_t b = 0; b < w.numBlocks; ++b) {
        uint32_t m = w.meta[(b / 8) * w.nr + j] >> (4 * (b % 8));
        acc += w.values[(2 * b) * w.nr + j] * x[4 * b + (m & 3)];
        acc += w.values[(2 * b + 1) * w.nr + j] * x[4 * b + ((m >> 2) & 3)];
      }
      t.c[r * t.ldc + j] = acc;
    }
}

void gemvEll(const SparseEllPanel &w, const SparseGemvArgs &t) {
  for (int r = 0; r < t.mr; ++r)
    for (int64_t j = 0; j < w.nr; ++j) {
      float acc = 0.f;
      for (int64_t c = 0; c < w.numChunks; ++c) {
        const float *x = t.x + r * t.ldx + c * 256;
        for (int64_t row = w.rowStart[c]; row < w.rowStart[c + 1]; ++row)
          acc += w.values[row * w.nr + j] * x[w.offsets[row * w.nr + j]];
      }
      t.c[r * t.ldc + j] = acc;
    }
}

void tile24(const Sparse24Panel &w, const SparseTileArgs &t) {
  const int64_t b0 = t.chunk * 64, b1 = std::min(w.numBlocks, b0 + 64);
  for (int64_t j = 0; j < w.nr; ++j) {
    float *c = t.ccol + j * t.mrp;
    if (!t.accumulate)
      std::fill(c, c + t.mrp, 0.f);
    for (int64_t b = b0; b < b1; ++b) {
      uint32_t m = w.meta[(b / 8) * w.nr + j] >> (4 * (b % 8));
      const float *x0 = t.a + (4 * (b - b0) + (m & 3)) * t.mrp;
      const float *x1 = t.a + (4 * (b - b0) + ((m >> 2) & 3)) * t.mrp;
      float v0 = w.values[(2 * b) * w.nr + j], v1 = w.values[(2 * b + 1) * w.nr + j];
      for (int r = 0; r < t.mrp; ++r)
        c[r] += v0 * x0[r] + v1 * x1[r];
    }
  }
}

void tileEll(const SparseEllPanel &w, const SparseTileArgs &t) {
  for (int64_t j = 0; j < w.nr; ++j) {
    float *c = t.ccol + j * t.mrp;
    if (!t.accumulate)
      std::fill(c, c + t.mrp, 0.f);
    for (int64_t row = w.rowStart[t.chunk]; row < w.rowStart[t.chunk + 1]; ++row) {
      const float *x = t.a + int64_t(w.offsets[row * w.nr + j]) * t.mrp;
      float v = w.values[row * w.nr + j];
      for (int r = 0; r < t.mrp; ++r)
        c[r] += v * x[r];
    }
  }
}

float code(const Sparse24Q4Panel &w, int64_t b, int64_t j, int t) {
  return float(((w.codes[b * w.nr + j] >> (4 * t)) & 15) - 8) *
         ::llmc::quant::fromF16(w.scales[(b / 8) * w.nr + j]);
}

void gemv24q4(const Sparse24Q4Panel &w, const SparseGemvArgs &t) {
  for (int r = 0; r < t.mr; ++r)
    for (int64_t j = 0; j < w.nr; ++j) {
      const float *x = t.x + r * t.ldx;
      float acc = 0.f;
      for (int64_t b = 0; b < w.numBlocks; ++b) {
        uint32_t m = w.meta[(b / 8) * w.nr + j] >> (4 * (b % 8));
        acc += code(w, b, j, 0) * x[4 * b + (m & 3)] + code(w, b, j, 1) * x[4 * b + ((m >> 2) & 3)];
      }
      t.c[r * t.ldc + j] = acc;
    }
}

void dequant24q4(const Sparse24Q4Panel &w, int64_t chunk, float *values) {
  for (int64_t b = chunk * 64; b < std::min(w.numBlocks, chunk * 64 + 64); ++b)
    for (int64_t j = 0; j < w.nr; ++j)
      for (int t = 0; t < 2; ++t)
        values[(2 * b + t) * w.nr + j] = code(w, b, j, t);
}

} // namespace llmc::rt::kern::sparse_generic

const llmc::rt::kern::SparseKernelTable *llmc::rt::kern::sparseGenericKernels() {
  using namespace sparse_generic;
  static const SparseKernelTable t{"generic", 1, kTileRows, gemv24, gemvEll, tile24, tileEll, gemv24q4, dequant24q4};
  return &t;
}
