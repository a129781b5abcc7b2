//===- OldAttention.cpp - the previous attention kernel, as a baseline ----===//
//
// Verbatim body of llmc_rt_attention_f32 before the flash-attention rewrite
// (one (batch, head) pair per task, scalar softmax), kept here only so the
// benchmark can show the old and new kernels side by side.
//
//===----------------------------------------------------------------------===//
#include "OldAttention.h"

#include "support/Multiversion.h"
#include "support/ThreadPool.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

using llmc::rt::MemRef;

namespace {

LLMC_MULTIVERSION
float dot(const float *a, const float *b, int64_t n) {
  float acc = 0.f;
  for (int64_t i = 0; i < n; ++i)
    acc += a[i] * b[i];
  return acc;
}

LLMC_MULTIVERSION
void axpy(float a, const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    y[i] += a * x[i];
}

} // namespace

void oldAttentionF32(MemRef<float, 4> *q, MemRef<float, 4> *k, MemRef<float, 4> *v,
                     MemRef<float, 4> *mask, MemRef<float, 4> *out, int32_t hasMask,
                     int32_t causal, float scale) {
  const int64_t B = q->sizes[0], H = q->sizes[1], S = q->sizes[2], D = q->sizes[3];
  const int64_t KVH = k->sizes[1], T = k->sizes[2], Dv = v->sizes[3];
  const int64_t group = KVH > 0 ? H / KVH : 1;
  bool kContig = k->strides[3] == 1, vContig = v->strides[3] == 1;
  auto mstride = [&](int i) { return mask->sizes[i] == 1 ? 0 : mask->strides[i]; };
  llmc::rt::parallelFor(B * H, 1, [&](int64_t p0, int64_t p1) {
    std::vector<float> scores(T), qrow(D), krow, vrow;
    if (!kContig)
      krow.resize(D);
    if (!vContig)
      vrow.resize(Dv);
    for (int64_t p = p0; p < p1; ++p) {
      int64_t b = p / H, h = p % H;
      int64_t kh = h / group;
      for (int64_t s = 0; s < S; ++s) {
        const float *qp = q->data() + b * q->strides[0] + h * q->strides[1] + s * q->strides[2];
        for (int64_t d = 0; d < D; ++d)
          qrow[d] = qp[d * q->strides[3]];
        int64_t limit = causal ? std::min<int64_t>(T, T - S + s + 1) : T;
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t t = 0; t < limit; ++t) {
          const float *kp = k->data() + b * k->strides[0] + kh * k->strides[1] + t * k->strides[2];
          if (!kContig) {
            for (int64_t d = 0; d < D; ++d)
              krow[d] = kp[d * k->strides[3]];
            kp = krow.data();
          }
          float sc = dot(qrow.data(), kp, D) * scale;
          if (hasMask)
            sc += mask->data()[b * mstride(0) + h * mstride(1) + s * mstride(2) + t * mstride(3)];
          scores[t] = sc;
          mx = std::max(mx, sc);
        }
        float *op = out->data() + b * out->strides[0] + h * out->strides[1] + s * out->strides[2];
        std::vector<float> acc(Dv, 0.f);
        if (limit == 0 || std::isinf(mx)) {
          for (int64_t d = 0; d < Dv; ++d)
            op[d * out->strides[3]] = 0.f;
          continue;
        }
        float sum = 0.f;
        for (int64_t t = 0; t < limit; ++t) {
          float e = std::exp(scores[t] - mx);
          sum += e;
          const float *vp = v->data() + b * v->strides[0] + kh * v->strides[1] + t * v->strides[2];
          if (!vContig) {
            for (int64_t d = 0; d < Dv; ++d)
              vrow[d] = vp[d * v->strides[3]];
            vp = vrow.data();
          }
          axpy(e, vp, acc.data(), Dv);
        }
        float inv = 1.f / sum;
        for (int64_t d = 0; d < Dv; ++d)
          op[d * out->strides[3]] = acc[d] * inv;
      }
    }
  });
}
