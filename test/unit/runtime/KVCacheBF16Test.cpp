// The bf16 KV cache (--kv-cache=bf16, runtime/kernels/KVQuant.h): rows of D
// bf16 values (uint16_t bit patterns), no scale.
//  * llmc_rt_kv_store_bf16 (with and without rotating the keys) against a
//    rounding reference written here (the nearer of the two neighbouring
//    bf16 values in double precision, ties to the even one), including ties,
//    overflow to infinity, subnormals, signed zero and NaN;
//  * llmc_rt_attention_kvbf16_f32 (contiguous cache) and
//    llmc_rt_paged_attention_kvbf16_f32 / _rope_f32 (paged pools; they also
//    round the new rows into their blocks) for every kernel variant this CPU
//    runs, against a double-precision attention over the widened K/V
//    (AttentionReference.h): GQA, masks, causal T > S, odd sizes, padded
//    rows, ragged batches, and few work items so keys are split across threads.
#include "AttentionReference.h"
#include "KernelVariants.h"
#include "TestSupport.h"
#include "api/MemRefDescriptor.h"
#include "kernels/KernelDispatch.h"
#include "support/ThreadPool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

using llmc::rt::MemRef;
using llmc::test::attendRow;
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

TEST(KVBF16, StoreRotatesKeysBeforeRounding) {
  for (bool interleaved : {false, true}) {
    const int B = 1, H = 2, R = 4, D = 16;
    auto x = randomVec(size_t(B) * H * R * D, 7);
    // cos/sin [1, 1, R, D], broadcast over heads.
    auto cs = randomVec(size_t(R) * D, 8), sn = randomVec(size_t(R) * D, 9);
    std::vector<uint16_t> dst(size_t(B) * H * R * D);
    auto xm = desc<float, 4>(x.data(), {B, H, R, D}, {H * R * D, R * D, D, 1});
    auto cm = desc<float, 4>(cs.data(), {1, 1, R, D}, {R * D, R * D, D, 1});
    auto sm = desc<float, 4>(sn.data(), {1, 1, R, D}, {R * D, R * D, D, 1});
    auto dm = desc<uint16_t, 4>(dst.data(), {B, H, R, D}, {H * R * D, R * D, D, 1});
    _mlir_ciface_llmc_rt_kv_store_bf16(&xm, &cm, &sm, &dm, 1, interleaved);
    for (int h = 0; h < H; ++h)
      for (int r = 0; r < R; ++r) {
        const float *xr = x.data() + (size_t(h) * R + r) * D;
        const float *c = cs.data() + r * D, *s = sn.data() + r * D;
        for (int p = 0; p < D / 2; ++p) {
          const int a = interleaved ? 2 * p : p, b = interleaved ? 2 * p + 1 : p + D / 2;
          const double ya = double(xr[a]) * c[a] - double(xr[b]) * s[a];
          const double yb = double(xr[b]) * c[b] + double(xr[a]) * s[b];
          // The kernel rotates in f32: within a bf16 half-ulp plus f32 noise.
          for (auto [i, y] : {std::pair{a, ya}, std::pair{b, yb}})
            ASSERT_NEAR(widen(dst[(size_t(h) * R + r) * D + i]), y,
                        std::ldexp(std::fabs(y), -8) + 1e-6)
                << "interleaved=" << interleaved << " h " << h << " r " << r << " d " << i;
        }
      }
  }
}

/// n random bf16 rows of rowLen values (padding included, must be ignored),
/// every 7th row all zero.
std::vector<uint16_t> randomRows(size_t n, int rowLen, unsigned seed) {
  auto f = randomVec(n * rowLen, seed, -2.f, 2.f);
  std::vector<uint16_t> rows(f.size());
  for (size_t i = 0; i < f.size(); ++i)
    rows[i] = (i / rowLen) % 7 == 3 ? 0 : refBF16(f[i]);
  return rows;
}

// ---------------------------------------------------------------------------
// Contiguous cache.

struct Case {
  int B, H, KVH, S, T, D, Dv;
  bool causal, mask;
  unsigned seed = 3;
};

std::string describe(const Case &c) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "B=%d H=%d KVH=%d S=%d T=%d D=%d Dv=%d causal=%d mask=%d kernels=%s threads=%d",
                c.B, c.H, c.KVH, c.S, c.T, c.D, c.Dv, c.causal, c.mask,
                llmc::rt::kern::activeKernels().name, llmc::rt::numThreads());
  return buf;
}

void checkContiguous(const Case &c) {
  const int B = c.B, H = c.H, KVH = c.KVH, S = c.S, T = c.T, D = c.D, Dv = c.Dv, G = H / KVH;
  const int cap = T + 3, kRow = D + 2, vRow = Dv + 1; // padded rows
  auto q = randomVec(size_t(B) * H * S * D, c.seed, -2.f, 2.f);
  auto kbuf = randomRows(size_t(B) * KVH * cap, kRow, c.seed + 1);
  auto vbuf = randomRows(size_t(B) * KVH * cap, vRow, c.seed + 2);
  std::vector<float> mask(size_t(B) * S * T, 0.f);
  std::mt19937 g(c.seed + 3);
  for (auto &m : mask) {
    int r = int(g() % 10);
    m = r == 0 ? -std::numeric_limits<float>::infinity() : (r < 4 ? float(int(g() % 7)) - 3.f : 0.f);
  }
  const float scale = 1.f / std::sqrt(float(D));
  std::vector<float> out(size_t(B) * H * S * Dv, 777.f);
  auto qm = desc<float, 4>(q.data(), {B, H, S, D}, {int64_t(H) * S * D, int64_t(S) * D, D, 1});
  auto km = desc<uint16_t, 4>(kbuf.data(), {B, KVH, T, D},
                              {int64_t(KVH) * cap * kRow, int64_t(cap) * kRow, kRow, 1});
  auto vm = desc<uint16_t, 4>(vbuf.data(), {B, KVH, T, Dv},
                              {int64_t(KVH) * cap * vRow, int64_t(cap) * vRow, vRow, 1});
  auto mm = desc<float, 4>(mask.data(), {B, 1, S, T}, {int64_t(S) * T, int64_t(S) * T, T, 1});
  auto om = desc<float, 4>(out.data(), {B, H, S, Dv}, {int64_t(H) * S * Dv, int64_t(S) * Dv, Dv, 1});
  _mlir_ciface_llmc_rt_attention_kvbf16_f32(&qm, &km, &vm, &mm, &om, c.mask, c.causal, scale);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int s = 0; s < S; ++s) {
        const size_t kv = size_t(b) * KVH + h / G;
        auto ref = attendRow(
            q.data() + ((size_t(b) * H + h) * S + s) * D, D, Dv, T, scale,
            [&](int t, int d) { return widen(kbuf[(kv * cap + t) * kRow + d]); },
            [&](int t, int d) { return widen(vbuf[(kv * cap + t) * vRow + d]); },
            [&](int t) {
              if (c.causal && t > T - S + s)
                return -std::numeric_limits<double>::infinity();
              return c.mask ? double(mask[(size_t(b) * S + s) * T + t]) : 0.0;
            });
        for (int d = 0; d < Dv; ++d) {
          const float got = out[((size_t(b) * H + h) * S + s) * Dv + d];
          ASSERT_NEAR(got, ref[d], 1e-5 * std::max(1.0, std::fabs(ref[d])))
              << "b " << b << " h " << h << " s " << s << " d " << d << " " << describe(c);
        }
      }
}

class KVBF16Attention : public ::testing::TestWithParam<const char *> {
protected:
  void SetUp() override {
    if (!selectKernels(GetParam()))
      GTEST_SKIP() << "this CPU cannot run the '" << GetParam() << "' kernels";
  }
  void TearDown() override {
    llmc::rt::kern::setKernelsForTesting("");
    llmc::rt::setNumThreads(1 << 20);
  }
};

TEST_P(KVBF16Attention, ContiguousPrefillGQAAndMasks) {
  for (bool causal : {false, true})
    for (bool mask : {false, true}) {
      checkContiguous({1, 9, 3, 20, 26, 64, 64, causal, mask});  // SmolLM2 heads, G = 3
      checkContiguous({2, 8, 4, 5, 70, 8, 8, causal, mask});     // stories260K heads
      checkContiguous({1, 40, 1, 3, 9, 16, 16, causal, mask});   // more heads than an item
      checkContiguous({1, 6, 2, 7, 45, 7, 5, causal, mask});     // odd D, Dv != D
      checkContiguous({1, 3, 1, 33, 131, 20, 40, causal, mask}); // odd T, several key blocks
      if (HasFatalFailure())
        return;
    }
}

TEST_P(KVBF16Attention, ContiguousDecodeSplitsKeys) {
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    checkContiguous({1, 9, 3, 1, 513, 64, 64, true, false});
    checkContiguous({1, 32, 4, 1, 300, 64, 64, true, true});
    checkContiguous({1, 9, 3, 2, 1001, 32, 32, true, false});
    checkContiguous({1, 2, 1, 1, 1, 8, 8, true, false});
    checkContiguous({1, 6, 2, 3, 0, 8, 8, false, false}); // empty cache: zeros
    if (HasFatalFailure())
      return;
  }
}

// ---------------------------------------------------------------------------
// Paged pools.

struct Seq {
  int past, n;
};

struct PagedCase {
  int H, KVH, D, Dv, BS;
  std::vector<Seq> seqs;
  unsigned seed = 5;
  bool rope = false, interleaved = false;
};

int ceilDiv(int a, int b) { return (a + b - 1) / b; }

void checkPaged(const PagedCase &c) {
  const int H = c.H, KVH = c.KVH, D = c.D, Dv = c.Dv, BS = c.BS, G = H / KVH;
  const int S = int(c.seqs.size());
  std::mt19937 rng(c.seed);
  std::string what = "H=" + std::to_string(H) + " KVH=" + std::to_string(KVH) + " D=" +
                     std::to_string(D) + " BS=" + std::to_string(BS) + " rope=" +
                     std::to_string(c.rope) + std::to_string(c.interleaved) + " kernels=" +
                     llmc::rt::kern::activeKernels().name + " threads=" +
                     std::to_string(llmc::rt::numThreads()) + " seqs=";
  for (const Seq &s : c.seqs)
    what += std::to_string(s.past) + "+" + std::to_string(s.n) + " ";
  std::vector<int> start(S + 1, 0), pos(S);
  int MB = 1, used = 0;
  for (int s = 0; s < S; ++s) {
    start[s + 1] = start[s] + c.seqs[s].n;
    pos[s] = c.seqs[s].past;
    MB = std::max(MB, ceilDiv(c.seqs[s].past + c.seqs[s].n, BS));
    used += ceilDiv(c.seqs[s].past + c.seqs[s].n, BS);
  }
  const int T = start[S], NB = used + 2;
  std::vector<int> perm(NB);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<int32_t> table(size_t(S) * MB, -1);
  for (int s = 0, next = 0; s < S; ++s)
    for (int i = 0; i < ceilDiv(c.seqs[s].past + c.seqs[s].n, BS); ++i)
      table[size_t(s) * MB + i] = perm[next++];
  // Pools: random rows (the cached past, already bf16), new rows written by the call.
  auto kPool = randomRows(size_t(NB) * KVH * BS, D, c.seed + 1);
  auto vPool = randomRows(size_t(NB) * KVH * BS, Dv, c.seed + 2);
  auto slot = [&](std::vector<uint16_t> &pool, int row, int s, int h, int p) {
    int blk = table[size_t(s) * MB + p / BS];
    return pool.data() + ((size_t(blk) * KVH + h) * BS + p % BS) * row;
  };
  auto kNew = randomVec(size_t(KVH) * T * D, c.seed + 3, -2.f, 2.f);
  auto vNew = randomVec(size_t(KVH) * T * Dv, c.seed + 4, -2.f, 2.f);
  auto q = randomVec(size_t(H) * T * D, c.seed + 5, -2.f, 2.f);
  // Rotary tables [1, 1, T, D] (row t: token t), broadcast over heads.
  auto cs = randomVec(size_t(T) * D, c.seed + 6), sn = randomVec(size_t(T) * D, c.seed + 7);
  std::vector<float> out(size_t(H) * T * Dv, 777.f);
  const float scale = 1.f / std::sqrt(float(D));
  auto qm = desc<float, 4>(q.data(), {1, H, T, D}, {int64_t(H) * T * D, int64_t(T) * D, D, 1});
  auto knm = desc<float, 4>(kNew.data(), {1, KVH, T, D}, {int64_t(KVH) * T * D, int64_t(T) * D, D, 1});
  auto vnm = desc<float, 4>(vNew.data(), {1, KVH, T, Dv}, {int64_t(KVH) * T * Dv, int64_t(T) * Dv, Dv, 1});
  auto kpm = desc<uint16_t, 4>(kPool.data(), {NB, KVH, BS, D}, {int64_t(KVH) * BS * D, int64_t(BS) * D, D, 1});
  auto vpm = desc<uint16_t, 4>(vPool.data(), {NB, KVH, BS, Dv}, {int64_t(KVH) * BS * Dv, int64_t(BS) * Dv, Dv, 1});
  auto tm = desc<int32_t, 2>(table.data(), {S, MB}, {MB, 1});
  auto ssm = desc<int32_t, 1>(start.data(), {S + 1}, {1});
  auto spm = desc<int32_t, 1>(pos.data(), {S}, {1});
  auto om = desc<float, 4>(out.data(), {1, H, T, Dv}, {int64_t(H) * T * Dv, int64_t(T) * Dv, Dv, 1});
  auto cm = desc<float, 4>(cs.data(), {1, 1, T, D}, {int64_t(T) * D, int64_t(T) * D, D, 1});
  auto sm = desc<float, 4>(sn.data(), {1, 1, T, D}, {int64_t(T) * D, int64_t(T) * D, D, 1});
  const auto kBefore = kPool, vBefore = vPool;
  if (c.rope)
    _mlir_ciface_llmc_rt_paged_attention_kvbf16_rope_f32(&qm, &knm, &vnm, &kpm, &vpm, &tm, &ssm,
                                                         &spm, &cm, &sm, &om, scale,
                                                         c.interleaved);
  else
    _mlir_ciface_llmc_rt_paged_attention_kvbf16_f32(&qm, &knm, &vnm, &kpm, &vpm, &tm, &ssm, &spm,
                                                    &om, scale);

  // llm.rotary of row t of x (D values) in double, or x itself without rope.
  auto rotated = [&](const float *x, int t) {
    std::vector<double> y(x, x + D);
    if (!c.rope)
      return y;
    const float *co = cs.data() + size_t(t) * D, *si = sn.data() + size_t(t) * D;
    for (int p = 0; p < D / 2; ++p) {
      const int a = c.interleaved ? 2 * p : p, b = c.interleaved ? 2 * p + 1 : p + D / 2;
      y[a] = double(x[a]) * co[a] - double(x[b]) * si[a];
      y[b] = double(x[b]) * co[b] + double(x[a]) * si[b];
    }
    return y;
  };
  // New rows rounded at their slots (keys rotated first); every other pool
  // value unchanged.
  std::vector<char> isNew(kPool.size() / D, 0);
  for (int s = 0; s < S; ++s)
    for (int t = start[s]; t < start[s + 1]; ++t)
      for (int h = 0; h < KVH; ++h) {
        const int p = pos[s] + t - start[s];
        const float *kx = kNew.data() + (size_t(h) * T + t) * D;
        const float *vx = vNew.data() + (size_t(h) * T + t) * Dv;
        const uint16_t *kr = slot(kPool, D, s, h, p), *vr = slot(vPool, Dv, s, h, p);
        const std::vector<double> ky = rotated(kx, t);
        for (int d = 0; d < D; ++d) {
          if (c.rope) // rotated in f32 by the kernel: a half-ulp plus f32 noise
            ASSERT_NEAR(widen(kr[d]), ky[d], std::ldexp(std::fabs(ky[d]), -8) + 1e-6)
                << "new key " << what;
          else
            ASSERT_EQ(kr[d], refBF16(kx[d])) << "new key d " << d << " " << what;
        }
        for (int d = 0; d < Dv; ++d)
          ASSERT_EQ(vr[d], refBF16(vx[d])) << "new value d " << d << " " << what;
        isNew[(kr - kPool.data()) / D] = 1;
      }
  for (size_t r = 0; r < isNew.size(); ++r)
    if (!isNew[r]) {
      ASSERT_TRUE(std::equal(kPool.begin() + r * D, kPool.begin() + (r + 1) * D, kBefore.begin() + r * D))
          << "key pool row " << r << " changed " << what;
      ASSERT_TRUE(std::equal(vPool.begin() + r * Dv, vPool.begin() + (r + 1) * Dv, vBefore.begin() + r * Dv))
          << "value pool row " << r << " changed " << what;
    }
  if (::testing::Test::HasFatalFailure())
    return;

  // Reference over the stored pool rows (checked above), causal per sequence.
  for (int s = 0; s < S; ++s)
    for (int t = start[s]; t < start[s + 1]; ++t)
      for (int h = 0; h < H; ++h) {
        const int p = pos[s] + t - start[s];
        const std::vector<double> qd = rotated(q.data() + (size_t(h) * T + t) * D, t);
        const std::vector<float> qr(qd.begin(), qd.end());
        auto ref = attendRow(
            qr.data(), D, Dv, p + 1, scale,
            [&](int j, int d) { return widen(slot(kPool, D, s, h / G, j)[d]); },
            [&](int j, int d) { return widen(slot(vPool, Dv, s, h / G, j)[d]); },
            [](int) { return 0.0; });
        for (int d = 0; d < Dv; ++d) {
          const float got = out[(size_t(h) * T + t) * Dv + d];
          // With rope the reference query is rotated in double, then rounded to f32.
          ASSERT_NEAR(got, ref[d], (c.rope ? 1e-4 : 1e-5) * std::max(1.0, std::fabs(ref[d])))
              << "token " << t << " head " << h << " d " << d << " " << what;
        }
      }
}

TEST_P(KVBF16Attention, PagedRaggedBatches) {
  const std::vector<Seq> fixed = {{0, 20}, {37, 13}, {50, 1}, {15, 1}, {16, 1}, {5, 0}, {100, 1}};
  unsigned seed = 1;
  for (auto [H, KVH] : {std::pair{9, 3}, std::pair{8, 4}})
    for (int D : {64, 8})
      for (int BS : {16, 4}) {
        checkPaged({H, KVH, D, D, BS, fixed, seed++});
        checkPaged({H, KVH, D, D, BS, {{3, 9}, {0, 1}, {30, 1}, {7, 33}}, seed++});
        if (HasFatalFailure())
          return;
      }
  checkPaged({6, 2, 7, 5, 4, {{9, 6}, {2, 1}}, 90}); // odd D, Dv != D
  checkPaged({20, 1, 16, 16, 8, {{12, 5}, {40, 1}}, 91});
}

TEST_P(KVBF16Attention, PagedRotatesKeysBeforeRounding) {
  for (bool interleaved : {false, true}) {
    checkPaged({9, 3, 64, 64, 16, {{0, 20}, {37, 13}, {50, 1}}, 60, true, interleaved});
    checkPaged({8, 4, 8, 8, 4, {{3, 9}, {30, 1}}, 61, true, interleaved});
    if (HasFatalFailure())
      return;
  }
}

TEST_P(KVBF16Attention, PagedFewItemsSplitKeys) {
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    checkPaged({9, 3, 64, 64, 16, {{1000, 1}}, 41});
    checkPaged({4, 4, 8, 8, 8, {{700, 1}}, 42});
    checkPaged({9, 3, 64, 64, 16, {{999, 2}}, 43});
    checkPaged({4, 1, 64, 64, 16, {{3, 1}, {600, 1}}, 45});
    if (HasFatalFailure())
      return;
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, KVBF16Attention, ::testing::Values(LLMC_KERNEL_VARIANTS),
                         VariantName());

} // namespace
