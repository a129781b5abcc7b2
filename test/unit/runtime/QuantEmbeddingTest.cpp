// llm.quantized_embedding's runtime (llmc_rt_embedding_quant_{i64,i32}):
// rows gathered from a quantized [V, E] table must equal the rows of
// QuantLayout.h's full dequantize() of the same weight (W = table^T), for
// int8/int4, symmetric/asymmetric, grouped/per-channel, E not a multiple of
// the group (padding), and out-of-range ids clamped like llm.embedding.
#include "TestSupport.h"
#include "api/MemRefDescriptor.h"
#include "kernels/QuantEmbedding.h"

#include "llmc/QuantLayout.h"

#include <gtest/gtest.h>

#include <vector>

using llmc::rt::MemRef;
using llmc::test::desc;
namespace quant = llmc::quant;

extern "C" void _mlir_ciface_llmc_rt_embedding_quant_i64(MemRef<int64_t, 1> *, MemRef<uint8_t, 1> *,
                                                         MemRef<uint16_t, 1> *, MemRef<uint8_t, 1> *,
                                                         MemRef<float, 2> *, int64_t, int32_t, int32_t, int32_t,
                                                         int32_t);
extern "C" void _mlir_ciface_llmc_rt_embedding_quant_i32(MemRef<int32_t, 1> *, MemRef<uint8_t, 1> *,
                                                         MemRef<uint16_t, 1> *, MemRef<uint8_t, 1> *,
                                                         MemRef<float, 2> *, int64_t, int32_t, int32_t, int32_t,
                                                         int32_t);

namespace {

struct Case {
  int bits;
  int64_t group;
  bool sym;
  int64_t V, E, nr;
};

class QuantEmbedding : public testing::TestWithParam<Case> {};

TEST_P(QuantEmbedding, RowsEqualDequantizedTable) {
  const Case c = GetParam();
  auto table = llmc::test::randomVec(c.V * c.E, 11); // [V, E]
  std::string err;
  quant::Layout l = quant::makeLayout(quant::Scheme{c.bits, c.group, c.sym}, c.E, c.V, c.nr, &err);
  ASSERT_EQ(err, "");
  std::vector<uint8_t> codes(l.codeBytes()), zeros(l.numParams());
  std::vector<uint16_t> scales(l.numParams());
  ASSERT_EQ(quant::quantizeRTN(table.data(), /*transposed=*/true, l, codes.data(), scales.data(), zeros.data()), "");
  std::vector<float> w(c.E * c.V); // reference: W [E, V]
  quant::dequantize(l, codes.data(), scales.data(), zeros.data(), w.data());

  std::vector<int64_t> ids{0, c.V - 1, 3, c.V + 5, -2, c.V / 2, 3};
  std::vector<int32_t> ids32(ids.begin(), ids.end());
  const int64_t M = int64_t(ids.size()), ld = c.E + 3; // padded rows: only [0, E) written
  for (bool i32 : {false, true}) {
    std::vector<float> out(M * ld, -7.f);
    auto codesD = desc<uint8_t, 1>(codes.data(), {int64_t(codes.size())}, {1});
    auto scalesD = desc<uint16_t, 1>(scales.data(), {int64_t(scales.size())}, {1});
    auto zerosD = desc<uint8_t, 1>(zeros.data(), {int64_t(zeros.size())}, {1});
    auto outD = desc<float, 2>(out.data(), {M, c.E}, {ld, 1});
    if (i32) {
      auto idsD = desc<int32_t, 1>(ids32.data(), {M}, {1});
      _mlir_ciface_llmc_rt_embedding_quant_i32(&idsD, &codesD, &scalesD, &zerosD, &outD, c.V, int32_t(c.nr),
                                               c.bits, int32_t(c.group), c.sym);
    } else {
      auto idsD = desc<int64_t, 1>(ids.data(), {M}, {1});
      _mlir_ciface_llmc_rt_embedding_quant_i64(&idsD, &codesD, &scalesD, &zerosD, &outD, c.V, int32_t(c.nr),
                                               c.bits, int32_t(c.group), c.sym);
    }
    for (int64_t m = 0; m < M; ++m) {
      int64_t v = std::min(std::max<int64_t>(ids[m], 0), c.V - 1);
      for (int64_t e = 0; e < c.E; ++e)
        ASSERT_EQ(out[m * ld + e], w[e * c.V + v]) << "row " << m << " e " << e << " i32 " << i32;
      for (int64_t e = c.E; e < ld; ++e)
        ASSERT_EQ(out[m * ld + e], -7.f);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Schemes, QuantEmbedding,
                         testing::Values(Case{4, 32, true, 50, 64, 16}, Case{4, 32, false, 50, 64, 16},
                                         Case{4, 64, true, 37, 72, 16}, Case{8, 32, true, 50, 64, 32},
                                         Case{8, 0, false, 50, 44, 16}, Case{4, 0, true, 9, 40, 4},
                                         Case{8, 128, true, 33, 200, 16}));

} // namespace
