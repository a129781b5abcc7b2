//===- QuantEmbedding.h - token embedding from a quantized table -*- C++ -*-===//
//
// A quantized embedding table [V, E] is stored as the QuantLayout.h weight
// W = table^T ([K = E, N = V], groups along E), the layout of an LM head
// over the same vocabulary: with tied embeddings one quantized tensor serves
// both. The row of token v is column v of W, dequantized on the fly.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_RUNTIME_QUANTEMBEDDING_H
#define LLMC_RUNTIME_QUANTEMBEDDING_H

#include "llmc/QuantLayout.h"

#include <cstdint>

namespace llmc::rt {

/// out[m][0, l.K) = dequantized column clamp(ids[m], 0, l.N - 1) of W, for
/// m < M; out rows are `ldo` floats apart. `zeros` may be null for
/// symmetric schemes.
void gatherQuantizedRows(const quant::Layout &l, const uint8_t *codes, const uint16_t *scales,
                         const uint8_t *zeros, const int64_t *ids, int64_t M, float *out, int64_t ldo);

} // namespace llmc::rt

#endif
