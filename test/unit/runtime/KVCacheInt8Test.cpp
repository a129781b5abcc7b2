// The int8 KV cache (--kv-cache=int8, runtime/kernels/KVQuant.h): rows of D
// int8 codes + a f32 scale.
//  * the row quantizer and llmc_rt_kv_store_q8 (with and without rotating the
//    keys) against a plain double-precision quantizer written here;
//  * llmc_rt_attention_kv8_f32 (contiguous cache) and
//    llmc_rt_paged_attention_kv8_f32 / _rope_f32 (paged pools; they also
//    quantize the new rows into their blocks) for every kernel variant this
//    CPU runs, against a double-precision attention over the dequantized K/V
//    (codes * scale): the cases of KVCacheAttentionCheck.h.
#include "KVCacheAttentionCheck.h"
#include "TestSupport.h"
#include "api/MemRefDescriptor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using llmc::rt::MemRef;
using llmc::test::desc;
using llmc::test::randomVec;

extern "C" void _mlir_ciface_llmc_rt_kv_store_q8(MemRef<float, 4> *x, MemRef<float, 4> *cos,
                                                 MemRef<float, 4> *sin, MemRef<int8_t, 4> *dst,
                                                 int32_t rope, int32_t interleaved);
extern "C" void _mlir_ciface_llmc_rt_attention_kv8_f32(
    MemRef<float, 4> *q, MemRef<int8_t, 4> *k, MemRef<int8_t, 4> *v, MemRef<float, 4> *mask,
    MemRef<float, 4> *out, int32_t hasMask, int32_t causal, float scale);
extern "C" void _mlir_ciface_llmc_rt_paged_attention_kv8_f32(
    MemRef<float, 4> *q, MemRef<float, 4> *kNew, MemRef<float, 4> *vNew,
    MemRef<int8_t, 4> *kPool, MemRef<int8_t, 4> *vPool, MemRef<int32_t, 2> *blockTables,
    MemRef<int32_t, 1> *seqStarts, MemRef<int32_t, 1> *seqPos, MemRef<float, 4> *out,
    float scale);
extern "C" void _mlir_ciface_llmc_rt_paged_attention_kv8_rope_f32(
    MemRef<float, 4> *q, MemRef<float, 4> *kNew, MemRef<float, 4> *vNew,
    MemRef<int8_t, 4> *kPool, MemRef<int8_t, 4> *vPool, MemRef<int32_t, 2> *blockTables,
    MemRef<int32_t, 1> *seqStarts, MemRef<int32_t, 1> *seqPos, MemRef<float, 4> *cos,
    MemRef<float, 4> *sin, MemRef<float, 4> *out, float scale, int32_t interleaved);

namespace {

float rowScale(const int8_t *row, int D) {
  float s;
  std::memcpy(&s, row + D, 4);
  return s;
}

/// The plain reference: scale = max|x| / 127, code = round(x / scale).
/// Returns the codes as exact quotients so the caller can allow a tie.
struct RefRow {
  float scale;
  std::vector<double> quotient; // x / scale
};
RefRow refQuantize(const double *x, int D) {
  double amax = 0;
  for (int d = 0; d < D; ++d)
    amax = std::max(amax, std::fabs(x[d]));
  RefRow r{float(amax / 127.0), std::vector<double>(D, 0.0)};
  for (int d = 0; d < D; ++d)
    r.quotient[d] = r.scale > 0 ? x[d] / double(r.scale) : 0.0;
  return r;
}

/// Checks a stored row against the reference: same scale, codes the rounded
/// quotients (either neighbour when the quotient is within 1e-4 of a tie).
void expectRow(const int8_t *row, const double *x, int D, const std::string &what) {
  RefRow r = refQuantize(x, D);
  ASSERT_FLOAT_EQ(rowScale(row, D), r.scale) << what;
  for (int d = 0; d < D; ++d) {
    const double qd = r.quotient[d], frac = std::fabs(qd - std::trunc(qd));
    const bool tie = std::fabs(frac - 0.5) < 1e-4;
    const double want = std::round(qd);
    if (tie)
      ASSERT_LE(std::fabs(row[d] - qd), 0.5 + 1e-4) << what << " d " << d;
    else
      ASSERT_EQ(row[d], int(want)) << what << " d " << d << " quotient " << qd;
  }
}

double dequant(const int8_t *row, int D, int d) { return double(row[d]) * rowScale(row, D); }

// ---------------------------------------------------------------------------

TEST(KVQuant, StoreQuantizesRowsLikeTheReference) {
  // [B=2, H=3, R=5, D] new rows, viewed transposed; the destination is a
  // strided window of a larger cache (rows of D + 4 bytes + 3 padding).
  for (int D : {8, 64, 6}) {
    const int B = 2, H = 3, R = 5, rowBytes = D + 4 + 3, cap = 9;
    auto x = randomVec(size_t(B) * R * H * D, 100 + D, -3.f, 3.f);
    for (int d = 0; d < D; ++d)
      x[size_t(2) * H * D + d] = 0.f; // one all-zero row: scale 0, codes 0
    x[5] = 127.f * 0.25f;             // exact multiples of the scale
    std::vector<int8_t> cache(size_t(B) * H * cap * rowBytes, 42);
    auto xm = desc<float, 4>(x.data(), {B, H, R, D}, {int64_t(R) * H * D, D, H * D, 1});
    auto dm = desc<int8_t, 4>(cache.data() + 2 * rowBytes, {B, H, R, D + 4},
                              {int64_t(H) * cap * rowBytes, cap * rowBytes, rowBytes, 1});
    _mlir_ciface_llmc_rt_kv_store_q8(&xm, &xm, &xm, &dm, /*rope=*/0, 0);
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < H; ++h)
        for (int c = 0; c < cap; ++c) {
          const int8_t *row = cache.data() + ((size_t(b) * H + h) * cap + c) * rowBytes;
          if (c < 2 || c >= 2 + R) {
            for (int i = 0; i < rowBytes; ++i)
              ASSERT_EQ(row[i], 42) << "a row outside the window changed";
            continue;
          }
          std::vector<double> xd(D);
          for (int d = 0; d < D; ++d)
            xd[d] = x[((size_t(b) * R + (c - 2)) * H + h) * D + d];
          expectRow(row, xd.data(), D, "D=" + std::to_string(D));
          for (int i = D + 4; i < rowBytes; ++i)
            ASSERT_EQ(row[i], 42) << "row padding changed";
          // Round trip within half a step of the scale.
          for (int d = 0; d < D; ++d)
            ASSERT_LE(std::fabs(dequant(row, D, d) - xd[d]), 0.5 * rowScale(row, D) + 1e-7);
        }
  }
}

/// The int8 row format for KVCacheAttentionCheck.h.
struct Int8KV {
  using Elem = int8_t;
  static constexpr int kRowExtra = 4; // the f32 scale
  /// Random int8 rows [n][D + 4]: codes in [-127, 127], scales in [0.002, 0.03]
  /// (every 7th row all zero with scale 0, as a zero K/V row is stored).
  static std::vector<int8_t> randomRows(size_t n, int D, int rowBytes, unsigned seed) {
    std::mt19937 g(seed);
    std::vector<int8_t> buf(n * rowBytes);
    for (size_t i = 0; i < n; ++i) {
      int8_t *row = buf.data() + i * rowBytes;
      const bool zero = i % 7 == 3;
      for (int d = 0; d < rowBytes; ++d)
        row[d] = int8_t(int(g() % 255) - 127); // padding bytes too: must be ignored
      float s = zero ? 0.f : 0.002f + 0.028f * float(g() % 1000) / 1000.f;
      for (int d = 0; d < D && zero; ++d)
        row[d] = 0;
      std::memcpy(row + D, &s, 4);
    }
    return buf;
  }
  static double value(const int8_t *row, int D, int d) { return dequant(row, D, d); }
  static void expectStored(const int8_t *row, const float *x, int D, const std::string &what) {
    const std::vector<double> xd(x, x + D);
    expectRow(row, xd.data(), D, what);
  }
  /// Rotated in f32 by the kernel: the codes may be a step off, so check the
  /// scale and the dequantized row instead of exact codes.
  static void expectRotated(const int8_t *row, const double *y, int D, const std::string &what) {
    RefRow ref = refQuantize(y, D);
    ASSERT_NEAR(rowScale(row, D), ref.scale, 1e-6 * ref.scale) << what;
    for (int d = 0; d < D; ++d)
      ASSERT_LE(std::fabs(dequant(row, D, d) - y[d]), 0.5 * ref.scale + 1e-5) << what << " d " << d;
  }
  static constexpr auto store = _mlir_ciface_llmc_rt_kv_store_q8;
  static constexpr auto attention = _mlir_ciface_llmc_rt_attention_kv8_f32;
  static constexpr auto paged = _mlir_ciface_llmc_rt_paged_attention_kv8_f32;
  static constexpr auto pagedRope = _mlir_ciface_llmc_rt_paged_attention_kv8_rope_f32;
};

TEST(KVQuant, StoreRotatesKeysBeforeQuantizing) {
  for (bool interleaved : {false, true})
    llmc::test::checkStoreRotates<Int8KV>(interleaved);
}

using KVInt8Attention = llmc::test::KVAttentionTest<Int8KV>;

TEST_P(KVInt8Attention, ContiguousPrefillGQAAndMasks) { contiguousPrefillGQAAndMasks(); }
TEST_P(KVInt8Attention, ContiguousDecodeSplitsKeys) { contiguousDecodeSplitsKeys(); }
TEST_P(KVInt8Attention, PagedRaggedBatches) { pagedRaggedBatches(); }
TEST_P(KVInt8Attention, PagedRotatesKeysBeforeQuantizing) { pagedRotatesKeys(); }
TEST_P(KVInt8Attention, PagedFewItemsSplitKeys) { pagedFewItemsSplitKeys(); }

INSTANTIATE_TEST_SUITE_P(Kernels, KVInt8Attention, ::testing::Values(LLMC_KERNEL_VARIANTS),
                         VariantName());

} // namespace
