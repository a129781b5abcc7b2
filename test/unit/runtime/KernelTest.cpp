// Hand-written kernels against plain reference loops, including strided
// (cache-like) operands and grouped-query attention.
#include "api/MemRefDescriptor.h"

#include <gtest/gtest.h>

#include <cmath>
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
  MemRef<float, R> m;
  m.allocated = m.aligned = p;
  m.offset = 0;
  for (int i = 0; i < R; ++i) {
    m.sizes[i] = sizes[i];
    m.strides[i] = strides[i];
  }
  return m;
}

std::vector<float> randomVec(size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto &x : v)
    x = d(g);
  return v;
}

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
