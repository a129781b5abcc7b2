//===- W8A8Kernels.h - per-ISA kernels of the int8 x int8 linear layer -*- C++ -*-===//
//
// W8A8: int8 weights in the QuantLayout.h code format times int8
// activations quantized per token (row) at run time, with int32 dot
// products per quantization group (QuantLayout.h, "W8A8"; the formula is
// referenceLinearQuantized). Two kernels per ISA:
//  - quantizeRow: one f32 row to int8 [-127, 127] and its f32 scale,
//    bit-exact with quant::quantizeActivationsPerToken;
//  - tile: up to kW8A8Rows quantized rows against one whole panel. Decode
//    (M <= kW8A8Rows) is one tile per panel, so each weight byte is read
//    once; prefill reuses the quantized rows for every panel.
// W4A8 (int4 weights, activations quantized per row and block of 32 k,
// QuantLayout.h "W4A8", referenceLinearW4A8) has its own pair of kernels in
// the same table: quantizeBlocks and tile4 (W4A8LinearTiles.inc).
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_RUNTIME_W8A8KERNELS_H
#define LLMC_RUNTIME_W8A8KERNELS_H

#include "QuantKernels.h"

#include <cstdint>

namespace llmc::rt::kern {

/// Rows per tile call (the register block of the micro-kernel).
constexpr int kW8A8Rows = 4;

/// c[r][0, nr) = sa[r] * sum_g scale[g] * (sum_{k in g} (code - 128) * a[r][k]
///                                         - (zero[g] - 128) * asum[r][g])
/// which equals referenceLinearQuantized (the 128 cancels).
struct W8A8TileArgs {
  QuantPanel w;         ///< an int8 panel (w.bits == 8)
  const int8_t *a;      ///< quantized rows, row r at a + r * lda, zero padded to w.Kd
  int64_t lda;
  const int32_t *asum;  ///< per-group sums of a, [r][group] (row stride w.Kd / w.G), for
                        ///< asymmetric schemes or a table with needsSums; else null
  const float *sa;      ///< per-row activation scales [mr]
  int mr;               ///< 1..kW8A8Rows
  float *c;             ///< output, row stride ldc
  int64_t ldc;
};

struct W8A8KernelTable {
  const char *name;
  /// The tile needs the per-group row sums for symmetric schemes too (VNNI:
  /// vpdpbusd takes the codes uncentered).
  bool needsSums;
  void (*tile)(const W8A8TileArgs &);
  /// q[0, Kd) = round(x * 127 / amax) (zero past K), *scale = amax / 127.
  void (*quantizeRow)(const float *x, int64_t K, int64_t Kd, int8_t *q, float *scale);
  /// W4A8: c[r][0, nr) = sum_g scale[g] * sum_{b in g} sa[r][b] * (sum_{k in b} code * a[r][k]
  ///                                                      - zero[g] * asum[r][b])
  /// for an int4 panel (w.bits == 4, w.G a multiple of 32 or w.Kd), with
  /// the mr rows interleaved: a[r][k] at a[((k/4) * mr + r) * 4 + k%4],
  /// sa[r][b] and asum[r][b] (every scheme) at [b * mr + r]; lda unused.
  void (*tile4)(const W8A8TileArgs &);
  /// W4A8: q[0, Kd) and per block of 32 k the scale sa[b] = amax / 127 and
  /// sums[b] = sum of the block's q (quant::quantizeActivationsPerBlock).
  void (*quantizeBlocks)(const float *x, int64_t K, int64_t Kd, int8_t *q, float *sa, int32_t *sums);
};

const W8A8KernelTable *w8a8GenericKernels();
const W8A8KernelTable *w8a8Avx2Kernels();       ///< null where not built
const W8A8KernelTable *w8a8Avx512VnniKernels(); ///< null where not built
/// AVX-512 without VNNI: the W4A8 tile 16 lanes wide (vpmaddubsw zmm), the
/// W8A8 one AVX2's. Null where not built.
const W8A8KernelTable *w8a8Avx512BwKernels();
/// The VNNI tile built 16 lanes wide for AVX2 with vpdpbusd emulated, so
/// tests run the VNNI algorithm anywhere. Only in the test binary
/// (KernelsW8A8Avx512Emulated.cpp).
const W8A8KernelTable *w8a8Avx512VnniEmulatedKernels();

/// Whether this CPU can run the AVX-512 VNNI W8A8 kernels.
bool w8a8VnniSupported();

/// The W8A8 kernels that go with `kt`: AVX-512 VNNI for the avx512 tables
/// on a CPU with AVX512_VNNI, AVX-512BW for the avx512 tables on other
/// CPUs, AVX2 for the avx2 tables on a CPU with AVX2, otherwise generic; or
/// the table forced for testing.
const W8A8KernelTable &w8a8KernelsFor(const KernelTable &kt);

/// Forces the W8A8 kernels (null: the automatic choice), for tests.
void setW8A8KernelsForTesting(const W8A8KernelTable *table);

} // namespace llmc::rt::kern

#endif
