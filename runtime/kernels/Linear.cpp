//===- Linear.cpp - f32 linear-layer kernel called by generated code ------===//
//
// y[M, N] = x[M, K] * W, W stored [K, N] (transposeW = 0) or [N, K] (1).
// Function multiversioning picks AVX-512 / AVX2 / baseline at load time, so
// one library runs on any x86-64. Rows of x are processed four at a time so
// each weight row streamed from memory is used four times.
//
//===----------------------------------------------------------------------===//
#include "../api/MemRefDescriptor.h"
#include "../support/Multiversion.h"
#include "../support/ThreadPool.h"

#include <algorithm>
#include <cstring>
#include <vector>

using llmc::rt::MemRef;

namespace {


LLMC_MULTIVERSION
void linearKN(const float *x, int64_t ldx, const float *w, int64_t ldw, float *y,
              int64_t ldy, int64_t M, int64_t K, int64_t N) {
  int64_t m = 0;
  for (; m + 4 <= M; m += 4) {
    float *y0 = y + m * ldy, *y1 = y0 + ldy, *y2 = y1 + ldy, *y3 = y2 + ldy;
    std::memset(y0, 0, N * sizeof(float));
    std::memset(y1, 0, N * sizeof(float));
    std::memset(y2, 0, N * sizeof(float));
    std::memset(y3, 0, N * sizeof(float));
    const float *x0 = x + m * ldx;
    for (int64_t k = 0; k < K; ++k) {
      const float *wr = w + k * ldw;
      float a0 = x0[k], a1 = x0[ldx + k], a2 = x0[2 * ldx + k], a3 = x0[3 * ldx + k];
      for (int64_t n = 0; n < N; ++n) {
        float wv = wr[n];
        y0[n] += a0 * wv;
        y1[n] += a1 * wv;
        y2[n] += a2 * wv;
        y3[n] += a3 * wv;
      }
    }
  }
  for (; m < M; ++m) {
    float *yr = y + m * ldy;
    std::memset(yr, 0, N * sizeof(float));
    const float *xr = x + m * ldx;
    for (int64_t k = 0; k < K; ++k) {
      const float *wr = w + k * ldw;
      float a = xr[k];
      for (int64_t n = 0; n < N; ++n)
        yr[n] += a * wr[n];
    }
  }
}

LLMC_MULTIVERSION
void linearNK(const float *x, int64_t ldx, const float *w, int64_t ldw, float *y,
              int64_t ldy, int64_t M, int64_t K, int64_t N) {
  for (int64_t m = 0; m < M; ++m) {
    const float *xr = x + m * ldx;
    for (int64_t n = 0; n < N; ++n) {
      const float *wr = w + n * ldw;
      float acc = 0.f;
      for (int64_t k = 0; k < K; ++k)
        acc += xr[k] * wr[k];
      y[m * ldy + n] = acc;
    }
  }
}

/// Row-major view of a 2-D memref with unit inner stride (copies if needed).
const float *contiguousRows(const MemRef<float, 2> &m, int64_t &ld,
                            std::vector<float> &scratch) {
  if (m.strides[1] == 1) {
    ld = m.strides[0];
    return m.data();
  }
  scratch.resize(m.sizes[0] * m.sizes[1]);
  for (int64_t i = 0; i < m.sizes[0]; ++i)
    for (int64_t j = 0; j < m.sizes[1]; ++j)
      scratch[i * m.sizes[1] + j] = m.data()[i * m.strides[0] + j * m.strides[1]];
  ld = m.sizes[1];
  return scratch.data();
}

} // namespace

extern "C" void _mlir_ciface_llmc_rt_linear_f32(MemRef<float, 2> *x, MemRef<float, 2> *w,
                                                MemRef<float, 2> *y, int32_t transposeW) {
  std::vector<float> sx, sw;
  int64_t ldx, ldw;
  const float *xp = contiguousRows(*x, ldx, sx);
  const float *wp = contiguousRows(*w, ldw, sw);
  int64_t M = x->sizes[0], K = x->sizes[1], N = y->sizes[1];
  float *yp = y->data();
  int64_t ldy = y->strides[0];
  // Threads split the output columns (each reads its own slice of W), in
  // blocks of 64 columns so slices stay cache-line aligned.
  int64_t blocks = (N + 63) / 64;
  llmc::rt::parallelFor(blocks, /*grain=*/std::max<int64_t>(1, 4096 / std::max<int64_t>(K, 1)),
                        [&](int64_t b0, int64_t b1) {
    int64_t n0 = b0 * 64, n1 = std::min(N, b1 * 64);
    if (transposeW)
      linearNK(xp, ldx, wp + n0 * ldw, ldw, yp + n0, ldy, M, K, n1 - n0);
    else
      linearKN(xp, ldx, wp + n0, ldw, yp + n0, ldy, M, K, n1 - n0);
  });
}
