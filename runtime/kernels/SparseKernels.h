//===- SparseKernels.h - per-ISA kernels of the pruned-weight linear layer -*- C++ -*-===//
//
// Kernels on the formats of include/llmc/SparseLayout.h (f32 values, f32
// activations). They touch only the stored (kept) weights: fewer bytes and
// fewer multiply-adds than the dense kernels. Two shapes per format:
//  - gemv (decode, a few rows): columns in vector lanes. 2:4 picks each
//    lane's activation with an in-register permute of the block's 4
//    activations; unstructured gathers them by the stored offsets.
//  - tile (prefill): rows in vector lanes. Per stored weight, one broadcast
//    and one fused multiply-add per vector of rows, at the row vector of
//    the packed activations at the weight's k. Accumulates a column-major
//    [nr][mrp] tile over the k chunks of a panel.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_RUNTIME_SPARSEKERNELS_H
#define LLMC_RUNTIME_SPARSEKERNELS_H

#include "KernelDispatch.h"

#include <cstdint>

namespace llmc::rt::kern {

/// One 2:4 panel (SparseLayout.h): values [numBlocks][2][nr], meta [numGroups][nr].
struct Sparse24Panel {
  const float *values;
  const uint32_t *meta;
  int64_t nr, numBlocks;
};

/// One 2:4 panel with int4 values (SparseLayout.h Sparse24Q4): codes
/// [numBlocks][nr] (kept 0 low nibble, kept 1 high), meta [numBlocks/8][nr],
/// fp16 scales [numBlocks/8][nr]; numBlocks is a multiple of 8.
struct Sparse24Q4Panel {
  const uint8_t *codes;
  const uint32_t *meta;
  const uint16_t *scales;
  int64_t nr, numBlocks;
};

/// One unstructured panel: the rows of chunk c are [rowStart[c], rowStart[c+1])
/// of the format's values / offsets arrays (rowStart points into its starts).
struct SparseEllPanel {
  const float *values;
  const uint8_t *offsets;
  const int32_t *rowStart; ///< numChunks + 1 entries
  int64_t nr, numChunks;
};

/// Decode: c[mr][nr] = x[mr][K] * W (x rows zero padded to a multiple of 4).
struct SparseGemvArgs {
  const float *x;
  int64_t ldx;
  int mr; ///< 1..kSparseGemvRows
  float *c;
  int64_t ldc;
};

constexpr int kSparseGemvRows = 4;

/// Prefill: ccol[nr][mrp] (+)= (A chunk * W's rows of k in the chunk)^T.
/// The A chunk is [kc][mrp] (k from 256 * chunk, rows zero padded to mrp,
/// a multiple of the variant's vector width, at most tileRows).
struct SparseTileArgs {
  const float *a;
  int mrp;
  int64_t chunk; ///< 256-k chunk (2:4: blocks [64 chunk, 64 chunk + 64))
  float *ccol;
  bool accumulate;
};

struct SparseKernelTable {
  const char *name;
  int lanes;    ///< vector width (floats); panel widths must be multiples of it
  int tileRows; ///< largest mrp of a tile
  void (*gemv24)(const Sparse24Panel &, const SparseGemvArgs &);
  void (*gemvEll)(const SparseEllPanel &, const SparseGemvArgs &);
  void (*tile24)(const Sparse24Panel &, const SparseTileArgs &);
  void (*tileEll)(const SparseEllPanel &, const SparseTileArgs &);
  void (*gemv24q4)(const Sparse24Q4Panel &, const SparseGemvArgs &);
  /// values[b][t][nr] = dequantized kept weights of the chunk's blocks
  /// [64 chunk, 64 chunk + 64) (the f32 2:4 layout, for tile24).
  void (*dequant24q4)(const Sparse24Q4Panel &, int64_t chunk, float *values);
};

const SparseKernelTable *sparseGenericKernels();
const SparseKernelTable *sparseAvx2Kernels(); ///< null where not built

/// The sparse kernels that go with `kt` (AVX2 for the avx2 and avx512 tables
/// on a CPU with AVX2, otherwise generic).
const SparseKernelTable &sparseKernelsFor(const KernelTable &kt);

} // namespace llmc::rt::kern

#endif
