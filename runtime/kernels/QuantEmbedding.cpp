//===- QuantEmbedding.cpp - llm.quantized_embedding -----------------------===//
//
// Gathers token rows from a quantized table (QuantEmbedding.h). A row is
// E values read from one column of the panel layout: for int4 each byte
// group [k/8][j][0..3] holds k..k+3 (low nibbles) and k+4..k+7 (high), for
// int8 each [k/4][j][0..3] holds k..k+3. Rows are few per step (the new
// tokens), so this is a plain loop.
//
//===----------------------------------------------------------------------===//
#include "QuantEmbedding.h"

#include "../api/MemRefDescriptor.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

using llmc::rt::MemRef;
namespace quant = llmc::quant;

void llmc::rt::gatherQuantizedRows(const quant::Layout &l, const uint8_t *codes, const uint16_t *scales,
                                   const uint8_t *zeros, const int64_t *ids, int64_t M, float *out,
                                   int64_t ldo) {
  const int bits = l.scheme.bits;
  const int64_t nr = l.nr, step = bits == 4 ? 8 : 4;
  for (int64_t m = 0; m < M; ++m) {
    const int64_t n = std::clamp<int64_t>(ids[m], 0, l.N - 1);
    const int64_t p = n / nr, j = n % nr;
    const uint8_t *col = codes + (p * (l.paddedK / step) * nr + j) * 4; // block 0 of the column
    float *row = out + m * ldo;
    for (int64_t k0 = 0; k0 < l.K; k0 += step) {
      const uint8_t *b = col + (k0 / step) * nr * 4;
      int64_t g = k0 / l.groupSize; // step divides the group size
      float scale = quant::fromF16(scales[l.paramIndex(g, n)]);
      int zero = quant::zeroAt(l, zeros, g, n);
      int64_t count = std::min(step, l.K - k0);
      for (int64_t i = 0; i < count; ++i) {
        int code = bits == 8 ? b[i] : (i < 4 ? b[i] & 0xf : b[i - 4] >> 4);
        row[k0 + i] = quant::dequantizeValue(uint8_t(code), scale, zero);
      }
    }
  }
}

namespace {

[[noreturn]] void fail(const char *msg) {
  std::fprintf(stderr, "llmc runtime: llmc_rt_embedding_quant: %s\n", msg);
  std::abort();
}

template <typename Id>
void embeddingQuant(MemRef<Id, 1> *ids, MemRef<uint8_t, 1> *codes, MemRef<uint16_t, 1> *scales,
                    MemRef<uint8_t, 1> *zeros, MemRef<float, 2> *out, int64_t vocab, int32_t panel, int32_t bits,
                    int32_t group, int32_t symmetric) {
  const int64_t M = ids->sizes[0], E = out->sizes[1];
  if (out->sizes[0] != M || out->strides[1] != 1)
    fail("the output must be [ids, E] with contiguous rows");
  std::string error;
  quant::Layout l = quant::makeLayout(quant::Scheme{bits, group, symmetric != 0}, E, vocab, panel, &error);
  if (!error.empty())
    fail(error.c_str());
  if (codes->sizes[0] != l.codeBytes() || scales->sizes[0] != l.numParams() ||
      (!symmetric && zeros->sizes[0] != l.numParams()))
    fail("the table's buffers do not match its layout");
  std::vector<int64_t> idv(M);
  for (int64_t m = 0; m < M; ++m)
    idv[m] = int64_t(ids->data()[m * ids->strides[0]]);
  llmc::rt::gatherQuantizedRows(l, codes->data(), scales->data(), symmetric ? nullptr : zeros->data(), idv.data(), M,
                      out->data(), out->strides[0]);
}

} // namespace

extern "C" void _mlir_ciface_llmc_rt_embedding_quant_i64(MemRef<int64_t, 1> *ids, MemRef<uint8_t, 1> *codes,
                                                         MemRef<uint16_t, 1> *scales, MemRef<uint8_t, 1> *zeros,
                                                         MemRef<float, 2> *out, int64_t vocab, int32_t panel,
                                                         int32_t bits, int32_t group, int32_t symmetric) {
  embeddingQuant(ids, codes, scales, zeros, out, vocab, panel, bits, group, symmetric);
}

extern "C" void _mlir_ciface_llmc_rt_embedding_quant_i32(MemRef<int32_t, 1> *ids, MemRef<uint8_t, 1> *codes,
                                                         MemRef<uint16_t, 1> *scales, MemRef<uint8_t, 1> *zeros,
                                                         MemRef<float, 2> *out, int64_t vocab, int32_t panel,
                                                         int32_t bits, int32_t group, int32_t symmetric) {
  embeddingQuant(ids, codes, scales, zeros, out, vocab, panel, bits, group, symmetric);
}
