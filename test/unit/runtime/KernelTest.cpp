// Hand-written kernels against plain reference loops, including strided
// (cache-like) operands and grouped-query attention.
#include "TestSupport.h"
#include "api/MemRefDescriptor.h"
#include "KernelVariants.h"
#include "kernels/KernelDispatch.h"
#include "support/ThreadPool.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <cstring>
#include <random>
#include <vector>

using llmc::rt::MemRef;

extern "C" void _mlir_ciface_llmc_rt_linear_f32(MemRef<float, 2> *, MemRef<float, 2> *,
                                                MemRef<float, 2> *, int32_t);
extern "C" void _mlir_ciface_llmc_rt_attention_f32(MemRef<float, 4> *, MemRef<float, 4> *,
                                                   MemRef<float, 4> *, MemRef<float, 4> *,
                                                   MemRef<float, 4> *, int32_t, int32_t, float);
extern "C" void memrefCopy(int64_t, void *, void *);

template <int R> MemRef<float, R> view(float *p, std::vector<int64_t> sizes,
                                       std::vector<int64_t> strides) {
  return llmc::test::desc<float, R>(p, std::move(sizes), std::move(strides));
}
using llmc::test::randomVec;

TEST(LinearKernel, MatchesReferenceBothLayouts) {
  // N = 130 covers full 64-column tiles and a right edge; M = 9 full 4-row
  // blocks and leftover rows.
  for (int64_t N : {53, 130})
  for (int64_t M : {1, 3, 4, 9})
    for (int trans : {0, 1}) {
      int64_t K = 37;
      auto x = randomVec(M * K, 1), w = randomVec(K * N, 2);
      std::vector<float> y(M * N), ref(M * N, 0.f);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n)
          for (int64_t k = 0; k < K; ++k)
            ref[m * N + n] += x[m * K + k] * (trans ? w[n * K + k] : w[k * N + n]);
      auto xm = view<2>(x.data(), {M, K}, {K, 1});
      auto wm = trans ? view<2>(w.data(), {N, K}, {K, 1}) : view<2>(w.data(), {K, N}, {N, 1});
      auto ym = view<2>(y.data(), {M, N}, {N, 1});
      _mlir_ciface_llmc_rt_linear_f32(&xm, &wm, &ym, trans);
      for (int64_t i = 0; i < M * N; ++i)
        ASSERT_NEAR(y[i], ref[i], 1e-4) << "M=" << M << " trans=" << trans;
    }
}

// Reference: repeat KV heads, softmax(scale QK^T + mask, causal) V.
static void referenceAttention(const std::vector<float> &q, const std::vector<float> &k,
                               const std::vector<float> &v, int H, int KVH, int S, int T,
                               int D, float scale, bool causal, std::vector<float> &out) {
  out.assign(H * S * D, 0.f);
  for (int h = 0; h < H; ++h) {
    int kh = h / (H / KVH);
    for (int s = 0; s < S; ++s) {
      std::vector<double> sc(T);
      double mx = -1e300;
      for (int t = 0; t < T; ++t) {
        double acc = 0;
        for (int d = 0; d < D; ++d)
          acc += q[(h * S + s) * D + d] * k[(kh * T + t) * D + d];
        sc[t] = (causal && t > T - S + s) ? -1e300 : acc * scale;
        mx = std::max(mx, sc[t]);
      }
      double sum = 0;
      for (int t = 0; t < T; ++t)
        sum += sc[t] = sc[t] <= -1e299 ? 0 : std::exp(sc[t] - mx);
      for (int t = 0; t < T; ++t)
        for (int d = 0; d < D; ++d)
          out[(h * S + s) * D + d] += sc[t] / sum * v[(kh * T + t) * D + d];
    }
  }
}

TEST(AttentionKernel, GroupedQueryCausalOverStridedCache) {
  const int H = 6, KVH = 2, S = 3, T = 7, D = 8, capacity = 16;
  auto q = randomVec(H * S * D, 3), kc = randomVec(KVH * T * D, 4), vc = randomVec(KVH * T * D, 5);
  // Cache buffers hold `capacity` positions; the kernel sees the first T.
  std::vector<float> kbuf(KVH * capacity * D), vbuf(KVH * capacity * D);
  for (int h = 0; h < KVH; ++h)
    for (int t = 0; t < T; ++t)
      for (int d = 0; d < D; ++d) {
        kbuf[(h * capacity + t) * D + d] = kc[(h * T + t) * D + d];
        vbuf[(h * capacity + t) * D + d] = vc[(h * T + t) * D + d];
      }
  std::vector<float> out(H * S * D), ref;
  float scale = 1.f / std::sqrt(float(D));
  referenceAttention(q, kc, vc, H, KVH, S, T, D, scale, true, ref);
  auto qm = view<4>(q.data(), {1, H, S, D}, {H * S * D, S * D, D, 1});
  auto km = view<4>(kbuf.data(), {1, KVH, T, D}, {KVH * capacity * D, capacity * D, D, 1});
  auto vm = view<4>(vbuf.data(), {1, KVH, T, D}, {KVH * capacity * D, capacity * D, D, 1});
  auto om = view<4>(out.data(), {1, H, S, D}, {H * S * D, S * D, D, 1});
  _mlir_ciface_llmc_rt_attention_f32(&qm, &km, &vm, &qm, &om, 0, 1, scale);
  for (size_t i = 0; i < out.size(); ++i)
    ASSERT_NEAR(out[i], ref[i], 1e-5) << i;
}

TEST(AttentionKernel, AdditiveMaskBroadcastsOverHeads) {
  const int H = 2, KVH = 1, S = 2, T = 4, D = 4;
  auto q = randomVec(H * S * D, 6), k = randomVec(KVH * T * D, 7), v = randomVec(KVH * T * D, 8);
  // Masking key 1 entirely must equal attention without key 1.
  std::vector<float> mask(S * T, 0.f);
  for (int s = 0; s < S; ++s)
    mask[s * T + 1] = -3.4e38f;
  std::vector<float> k3, v3;
  for (int t = 0; t < T; ++t)
    if (t != 1)
      for (int d = 0; d < D; ++d) {
        k3.push_back(k[t * D + d]);
        v3.push_back(v[t * D + d]);
      }
  std::vector<float> out(H * S * D), ref;
  referenceAttention(q, k3, v3, H, KVH, S, T - 1, D, 0.5f, false, ref);
  auto qm = view<4>(q.data(), {1, H, S, D}, {H * S * D, S * D, D, 1});
  auto km = view<4>(k.data(), {1, KVH, T, D}, {T * D, T * D, D, 1});
  auto vm = view<4>(v.data(), {1, KVH, T, D}, {T * D, T * D, D, 1});
  auto mm = view<4>(mask.data(), {1, 1, S, T}, {S * T, S * T, T, 1});
  auto om = view<4>(out.data(), {1, H, S, D}, {H * S * D, S * D, D, 1});
  _mlir_ciface_llmc_rt_attention_f32(&qm, &km, &vm, &mm, &om, 1, 0, 0.5f);
  for (size_t i = 0; i < out.size(); ++i)
    ASSERT_NEAR(out[i], ref[i], 1e-5) << i;
}

// A padding-only mask [1, 1, 1, T] (llmc-raise-causal-mask): all zeros (+0
// and -0) must give exactly the unmasked result, and a mask whose only
// non-zero is its last element must still remove that key.
TEST(AttentionKernel, PaddingMaskZeroOrLastKeyPadded) {
  const int H = 4, KVH = 2, S = 3, T = 7, D = 8;
  auto q = randomVec(H * S * D, 16), k = randomVec(KVH * T * D, 17), v = randomVec(KVH * T * D, 18);
  auto qm = view<4>(q.data(), {1, H, S, D}, {H * S * D, S * D, D, 1});
  auto km = view<4>(k.data(), {1, KVH, T, D}, {KVH * T * D, T * D, D, 1});
  auto vm = view<4>(v.data(), {1, KVH, T, D}, {KVH * T * D, T * D, D, 1});
  auto om = [](std::vector<float> &o) {
    return view<4>(o.data(), {1, H, S, D}, {H * S * D, S * D, D, 1});
  };
  std::vector<float> mask(T, 0.f);
  mask[2] = -0.f;
  auto mm = view<4>(mask.data(), {1, 1, 1, T}, {T, T, 0, 1});
  std::vector<float> plain(H * S * D), zeroMasked(H * S * D);
  auto pm = om(plain), zm = om(zeroMasked);
  _mlir_ciface_llmc_rt_attention_f32(&qm, &km, &vm, &mm, &pm, 0, 1, 0.3f);
  _mlir_ciface_llmc_rt_attention_f32(&qm, &km, &vm, &mm, &zm, 1, 1, 0.3f);
  EXPECT_EQ(plain, zeroMasked);

  mask[T - 1] = -3.4e38f;
  std::vector<float> k6, v6, out(H * S * D), ref;
  for (int h = 0; h < KVH; ++h)
    for (int t = 0; t < T - 1; ++t)
      for (int d = 0; d < D; ++d) {
        k6.push_back(k[(h * T + t) * D + d]);
        v6.push_back(v[(h * T + t) * D + d]);
      }
  referenceAttention(q, k6, v6, H, KVH, S, T - 1, D, 0.3f, false, ref);
  auto outm = om(out);
  _mlir_ciface_llmc_rt_attention_f32(&qm, &km, &vm, &mm, &outm, 1, 0, 0.3f);
  for (size_t i = 0; i < out.size(); ++i)
    ASSERT_NEAR(out[i], ref[i], 1e-5) << i;
}

// ---------------------------------------------------------------------------
// Flash attention for every kernel variant this CPU runs, against a general
// double-precision reference: batches, GQA/MQA, causal with T > S, additive
// broadcast masks, strided caches with non-unit inner strides, Dv != D, and
// decode (S = 1) where the keys are split across threads and merged.

struct AttnCase {
  int B, H, KVH, S, T, D, Dv;
  bool causal, mask;
  int kInner = 1, vInner = 1; // inner strides of the K/V views
  int capacity = 0;           // cache positions (>= T); 0: T + 5
  unsigned seed = 11;
};

static std::string describe(const AttnCase &c) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "B=%d H=%d KVH=%d S=%d T=%d D=%d Dv=%d causal=%d mask=%d kInner=%d vInner=%d "
                "kernels=%s threads=%d",
                c.B, c.H, c.KVH, c.S, c.T, c.D, c.Dv, c.causal, c.mask, c.kInner, c.vInner,
                llmc::rt::kern::activeKernels().name, llmc::rt::numThreads());
  return buf;
}

static void checkAttention(const AttnCase &c) {
  const int B = c.B, H = c.H, KVH = c.KVH, S = c.S, T = c.T, D = c.D, Dv = c.Dv, G = H / KVH;
  const int cap = c.capacity ? c.capacity : T + 5;
  auto q = randomVec(size_t(B) * H * S * D, c.seed);
  // Cache buffers [B][KVH][cap][D * inner]; the kernel sees the first T.
  auto kbuf = randomVec(size_t(B) * KVH * cap * D * c.kInner, c.seed + 1);
  auto vbuf = randomVec(size_t(B) * KVH * cap * Dv * c.vInner, c.seed + 2);
  // Mask [B][1][S][T] broadcast over heads, some keys fully masked.
  std::vector<float> mask(size_t(B) * S * T, 0.f);
  std::mt19937 g(c.seed + 3);
  for (auto &m : mask) {
    int r = int(g() % 10);
    m = r == 0 ? -std::numeric_limits<float>::infinity()
               : (r < 4 ? float(int(g() % 7)) - 3.f : 0.f);
  }
  if (c.mask && S > 1)
    for (int t = 0; t < T; ++t)
      mask[size_t(S - 1) * T + t] = -std::numeric_limits<float>::infinity(); // a row sees nothing
  const float scale = 1.f / std::sqrt(float(D));
  auto K = [&](int b, int h, int t, int d) {
    return kbuf[((size_t(b) * KVH + h) * cap + t) * D * c.kInner + size_t(d) * c.kInner];
  };
  auto Vv = [&](int b, int h, int t, int d) {
    return vbuf[((size_t(b) * KVH + h) * cap + t) * Dv * c.vInner + size_t(d) * c.vInner];
  };
  std::vector<double> ref(size_t(B) * H * S * Dv, 0.0);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int s = 0; s < S; ++s) {
        std::vector<double> sc(T);
        double mx = -INFINITY;
        for (int t = 0; t < T; ++t) {
          double acc = 0;
          for (int d = 0; d < D; ++d)
            acc += double(q[((size_t(b) * H + h) * S + s) * D + d]) * K(b, h / G, t, d);
          acc *= scale;
          if (c.mask)
            acc += mask[(size_t(b) * S + s) * T + t];
          if (c.causal && t > T - S + s)
            acc = -INFINITY;
          sc[t] = acc;
          mx = std::max(mx, acc);
        }
        if (mx == -INFINITY)
          continue; // sees nothing: 0
        double sum = 0;
        for (int t = 0; t < T; ++t)
          sum += sc[t] = std::exp(sc[t] - mx);
        for (int t = 0; t < T; ++t)
          for (int d = 0; d < Dv; ++d)
            ref[((size_t(b) * H + h) * S + s) * Dv + d] += sc[t] / sum * Vv(b, h / G, t, d);
      }

  std::vector<float> out(size_t(B) * H * S * Dv, 777.f);
  auto qm = view<4>(q.data(), {B, H, S, D}, {int64_t(H) * S * D, int64_t(S) * D, D, 1});
  auto km = view<4>(kbuf.data(), {B, KVH, T, D},
                    {int64_t(KVH) * cap * D * c.kInner, int64_t(cap) * D * c.kInner,
                     int64_t(D) * c.kInner, c.kInner});
  auto vm = view<4>(vbuf.data(), {B, KVH, T, Dv},
                    {int64_t(KVH) * cap * Dv * c.vInner, int64_t(cap) * Dv * c.vInner,
                     int64_t(Dv) * c.vInner, c.vInner});
  auto mm = view<4>(mask.data(), {B, 1, S, T}, {int64_t(S) * T, int64_t(S) * T, T, 1});
  auto om = view<4>(out.data(), {B, H, S, Dv}, {int64_t(H) * S * Dv, int64_t(S) * Dv, Dv, 1});
  _mlir_ciface_llmc_rt_attention_f32(&qm, &km, &vm, &mm, &om, c.mask, c.causal, scale);
  for (size_t i = 0; i < out.size(); ++i)
    ASSERT_NEAR(out[i], ref[i], 2e-5) << "element " << i << " " << describe(c);
}

using FlashAttention = KernelVariantTest;

TEST_P(FlashAttention, GroupedQueryPrefill) {
  // G = 3, 8, 1 and 40 (more heads than an item holds); causal T > S.
  for (bool causal : {false, true})
    for (bool mask : {false, true}) {
      checkAttention({1, 9, 3, 20, 26, 64, 64, causal, mask});
      checkAttention({2, 8, 1, 5, 70, 16, 16, causal, mask});
      checkAttention({1, 4, 4, 33, 33, 8, 8, causal, mask});
      checkAttention({1, 40, 1, 3, 9, 4, 4, causal, mask});
      if (HasFatalFailure())
        return;
    }
}

TEST_P(FlashAttention, DecodeSplitsKeysAcrossThreads) {
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    checkAttention({1, 9, 3, 1, 512, 64, 64, true, false});   // SmolLM2
    checkAttention({1, 32, 4, 1, 300, 64, 64, true, true});   // TinyLlama
    checkAttention({1, 9, 3, 2, 1000, 32, 32, true, false});  // two new tokens
    checkAttention({1, 2, 1, 1, 1, 8, 8, true, false});       // first token
    if (HasFatalFailure())
      return;
  }
}

TEST_P(FlashAttention, OddSizesAndStridedCache) {
  AttnCase c{2, 6, 2, 7, 45, 7, 5, true, true};
  c.kInner = 2;
  c.vInner = 3;
  checkAttention(c);
  checkAttention({1, 3, 1, 4, 130, 20, 40, false, true});
  checkAttention({1, 6, 2, 3, 0, 8, 8, false, false}); // empty cache: zeros
}

INSTANTIATE_TEST_SUITE_P(Kernels, FlashAttention,
                         ::testing::Values(LLMC_KERNEL_VARIANTS), VariantName());

TEST(MemRefCopy, StridedToContiguous) {
  std::vector<float> src(4 * 10);
  for (size_t i = 0; i < src.size(); ++i)
    src[i] = float(i);
  std::vector<float> dst(4 * 3, -1.f);
  // src view: rows 0..3, cols 2..4 of a 4x10 matrix.
  int64_t sdesc[7] = {(int64_t)src.data(), (int64_t)src.data(), 2, 4, 3, 10, 1};
  int64_t ddesc[7] = {(int64_t)dst.data(), (int64_t)dst.data(), 0, 4, 3, 3, 1};
  struct { int64_t rank; void *d; } s{2, sdesc}, d{2, ddesc};
  memrefCopy(sizeof(float), &s, &d);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 3; ++c)
      EXPECT_EQ(dst[r * 3 + c], float(r * 10 + 2 + c));
}
