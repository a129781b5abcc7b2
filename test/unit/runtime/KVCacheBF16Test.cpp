// The bf16 KV cache (--kv-cache=bf16, runtime/kernels/KVQuant.h): rows of D
// bf16 values (uint16_t bit patterns), no scale.
//  * llmc_rt_kv_store_bf16 (with and without rotating the keys) against a
//    rounding reference written here (the nearer of the two neighbouring
//    bf16 values in double precision, ties to the even one), including ties,
//    overflow to infinity, subnormals, signed zero and NaN;
//  * llmc_rt_attention_kvbf16_f32 (contiguous cache) and
//    llmc_rt_paged_attention_kvbf16_f32 / _rope_f32 (paged pools; they also
//    round the new rows into their blocks) for every kernel variant this CPU
//    runs, against a double-precision attention over the widened K/V: the
//    cases of KVCacheAttentionCheck.h.
#include "KVCacheAttentionCheck.h"
#include "TestSupport.h"
#include "api/MemRefDescriptor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using llmc::rt::MemRef;
using llmc::test::desc;
using llmc::test::randomVec;

extern "C" void _mlir_ciface_llmc_rt_kv_store_bf16(MemRef<float, 4> *x, MemRef<float, 4> *cos,
                                                   MemRef<float, 4> *sin,
                                                   MemRef<uint16_t, 4> *dst, int32_t rope,
                                                   int32_t interleaved);
extern "C" void _mlir_ciface_llmc_rt_attention_kvbf16_f32(
    MemRef<float, 4> *q, MemRef<uint16_t, 4> *k, MemRef<uint16_t, 4> *v, MemRef<float, 4> *mask,
    MemRef<float, 4> *out, int32_t hasMask, int32_t causal, float scale);
extern "C" void _mlir_ciface_llmc_rt_paged_attention_kvbf16_f32(
    MemRef<float, 4> *q, MemRef<float, 4> *kNew, MemRef<float, 4> *vNew,
    MemRef<uint16_t, 4> *kPool, MemRef<uint16_t, 4> *vPool, MemRef<int32_t, 2> *blockTables,
    MemRef<int32_t, 1> *seqStarts, MemRef<int32_t, 1> *seqPos, MemRef<float, 4> *out,
    float scale);
extern "C" void _mlir_ciface_llmc_rt_paged_attention_kvbf16_rope_f32(
    MemRef<float, 4> *q, MemRef<float, 4> *kNew, MemRef<float, 4> *vNew,
    MemRef<uint16_t, 4> *kPool, MemRef<uint16_t, 4> *vPool, MemRef<int32_t, 2> *blockTables,
    MemRef<int32_t, 1> *seqStarts, MemRef<int32_t, 1> *seqPos, MemRef<float, 4> *cos,
    MemRef<float, 4> *sin, MemRef<float, 4> *out, float scale, int32_t interleaved);

namespace {

uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float floatOf(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
/// A stored bf16 value widened (its bits are the f32's high half).
double widen(uint16_t h) { return double(floatOf(uint32_t(h) << 16)); }

/// The reference rounding: of the two bf16 values around x (toward and away
/// from zero), the nearer one in exact (double) arithmetic, on a tie the one
/// with an even last bit; past the largest finite value the next one up is
/// 2^128, i.e. infinity. NaN maps to some NaN (the caller checks NaN-ness).
uint16_t refBF16(float x) {
  if (std::isnan(x))
    return 0x7fc0;
  const uint32_t u = bitsOf(x);
  const uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
  if (lo == u)
    return uint16_t(lo >> 16); // exact (also infinities and zeros)
  const double ax = std::fabs(double(x)), al = std::fabs(double(floatOf(lo)));
  const double ah = (hi & 0x7fffffffu) == 0x7f800000u ? std::ldexp(1.0, 128)
                                                      : std::fabs(double(floatOf(hi)));
  const double toLo = ax - al, toHi = ah - ax;
  if (toLo != toHi)
    return uint16_t((toLo < toHi ? lo : hi) >> 16);
  return uint16_t(((lo >> 16) & 1) ? hi >> 16 : lo >> 16);
}

void expectStored(uint16_t got, float x, const std::string &what) {
  if (std::isnan(x)) {
    EXPECT_TRUE(std::isnan(widen(got))) << what << " NaN must stay NaN";
    return;
  }
  EXPECT_EQ(got, refBF16(x)) << what << " x = " << x << " (bits 0x" << std::hex << bitsOf(x)
                             << ")";
}

TEST(KVBF16, ReferenceRoundingIsRight) {
  // Hand-checked values, so the reference itself can fail.
  EXPECT_EQ(refBF16(1.f), 0x3f80);
  EXPECT_EQ(refBF16(floatOf(0x3f808000u)), 0x3f80); // tie, even below
  EXPECT_EQ(refBF16(floatOf(0x3f818000u)), 0x3f82); // tie, even above
  EXPECT_EQ(refBF16(floatOf(0x3f808001u)), 0x3f81); // just above the tie
  EXPECT_EQ(refBF16(floatOf(0x7f7fffffu)), 0x7f80); // overflows to +inf
  EXPECT_EQ(refBF16(floatOf(0xff7f7fffu)), 0xff7f); // stays finite
}

TEST(KVBF16, StoreRoundsRowsLikeTheReference) {
  // [B=2, H=3, R=5, D] new rows, viewed transposed; the destination is a
  // strided window of a larger cache (rows of D + 3 padding values).
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> special = {
      floatOf(0x3f808000u), floatOf(0x3f818000u), floatOf(0xbf818000u), floatOf(0x7f7fffffu),
      inf,                  -inf,                 -0.f,                 0.f,
      floatOf(0x00008000u), floatOf(0x00018000u), floatOf(0x807fffffu), floatOf(0x3f7fffffu),
      std::numeric_limits<float>::quiet_NaN(), 1e-40f, -3.3895314e38f, 65504.f};
  for (int D : {8, 64, 6}) {
    const int B = 2, H = 3, R = 5, rowLen = D + 3, cap = 9;
    auto x = randomVec(size_t(B) * R * H * D, 100 + D, -3.f, 3.f);
    for (size_t i = 0; i < special.size() && i < x.size(); ++i)
      x[i * 7 % x.size()] = special[i];
    std::vector<uint16_t> cache(size_t(B) * H * cap * rowLen, 0x1234);
    auto xm = desc<float, 4>(x.data(), {B, H, R, D}, {int64_t(R) * H * D, D, H * D, 1});
    auto dm = desc<uint16_t, 4>(cache.data() + 2 * rowLen, {B, H, R, D},
                                {int64_t(H) * cap * rowLen, cap * rowLen, rowLen, 1});
    _mlir_ciface_llmc_rt_kv_store_bf16(&xm, &xm, &xm, &dm, /*rope=*/0, 0);
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < H; ++h)
        for (int c = 0; c < cap; ++c) {
          const uint16_t *row = cache.data() + ((size_t(b) * H + h) * cap + c) * rowLen;
          for (int i = 0; i < rowLen; ++i) {
            const bool inWindow = c >= 2 && c < 2 + R && i < D;
            if (!inWindow) {
              ASSERT_EQ(row[i], 0x1234) << "a value outside the new rows changed, D=" << D;
              continue;
            }
            const float xi = x[((size_t(b) * R + (c - 2)) * H + h) * D + i];
            expectStored(row[i], xi, "D=" + std::to_string(D));
            // Round trip within half a bf16 ulp (8 significant bits; 2^-134
            // for subnormals).
            if (std::isfinite(xi) && std::fabs(xi) < 1e38f)
              ASSERT_LE(std::fabs(widen(row[i]) - xi),
                        std::max(std::ldexp(double(std::fabs(xi)), -8), std::ldexp(1.0, -134)));
          }
        }
  }
}

/// The bf16 row format for KVCacheAttentionCheck.h.
struct BF16KV {
  using Elem = uint16_t;
  static constexpr int kRowExtra = 0;
  /// n random bf16 rows of rowLen values (padding included, must be ignored),
  /// every 7th row all zero.
  static std::vector<uint16_t> randomRows(size_t n, int /*D*/, int rowLen, unsigned seed) {
    auto f = randomVec(n * rowLen, seed, -2.f, 2.f);
    std::vector<uint16_t> rows(f.size());
    for (size_t i = 0; i < f.size(); ++i)
      rows[i] = (i / rowLen) % 7 == 3 ? 0 : refBF16(f[i]);
    return rows;
  }
  static double value(const uint16_t *row, int, int d) { return widen(row[d]); }
  static void expectStored(const uint16_t *row, const float *x, int D, const std::string &what) {
    for (int d = 0; d < D; ++d)
      ASSERT_EQ(row[d], refBF16(x[d])) << what << " d " << d;
  }
  /// Rotated in f32 by the kernel: within a bf16 half-ulp plus f32 noise.
  static void expectRotated(const uint16_t *row, const double *y, int D, const std::string &what) {
    for (int d = 0; d < D; ++d)
      ASSERT_NEAR(widen(row[d]), y[d], std::ldexp(std::fabs(y[d]), -8) + 1e-6) << what << " d " << d;
  }
  static constexpr auto store = _mlir_ciface_llmc_rt_kv_store_bf16;
  static constexpr auto attention = _mlir_ciface_llmc_rt_attention_kvbf16_f32;
  static constexpr auto paged = _mlir_ciface_llmc_rt_paged_attention_kvbf16_f32;
  static constexpr auto pagedRope = _mlir_ciface_llmc_rt_paged_attention_kvbf16_rope_f32;
};

TEST(KVBF16, StoreRotatesKeysBeforeRounding) {
  for (bool interleaved : {false, true})
    llmc::test::checkStoreRotates<BF16KV>(interleaved);
}

using KVBF16Attention = llmc::test::KVAttentionTest<BF16KV>;

TEST_P(KVBF16Attention, ContiguousPrefillGQAAndMasks) { contiguousPrefillGQAAndMasks(); }
TEST_P(KVBF16Attention, ContiguousDecodeSplitsKeys) { contiguousDecodeSplitsKeys(); }
TEST_P(KVBF16Attention, PagedRaggedBatches) { pagedRaggedBatches(); }
TEST_P(KVBF16Attention, PagedRotatesKeysBeforeRounding) { pagedRotatesKeys(); }
TEST_P(KVBF16Attention, PagedFewItemsSplitKeys) { pagedFewItemsSplitKeys(); }

INSTANTIATE_TEST_SUITE_P(Kernels, KVBF16Attention, ::testing::Values(LLMC_KERNEL_VARIANTS),
                         VariantName());

} // namespace
