//===- Calibration.cpp - input statistics of linear layers (GPTQ) ---------===//
//
// A library compiled with llmc-instrument-linears calls
// llmc_rt_calibration_observe(x, id, N) before every quantization candidate
// linear with its input x [M, K]. The runtime accumulates per linear the Gram
// matrix H = sum_t x_t x_t^T in double and the row count; `llmc compile
// --calibration` runs the library on calibration text and saves them with
// llmc_calibration_write (format: include/llmc/CalibrationStats.h).
//
// H is stored as the upper-triangle tiles (bi <= bj) of 64 x 64. A call
// copies x into a zero-padded contiguous buffer and updates each tile from
// an f32 product over at most kRowsPerBlock rows, added into the double
// tile (the f32 part sums few terms, the long sum is in double). Tiles are
// independent: they are spread over the kernel thread pool.
//
//===----------------------------------------------------------------------===//
#include "../api/MemRefDescriptor.h"
#include "../support/Multiversion.h"
#include "../support/ThreadPool.h"

#include "llmc/CalibrationStats.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

using llmc::rt::MemRef;

namespace {

constexpr int64_t kTile = 64;
constexpr int64_t kRowsPerBlock = 256;

struct Linear {
  int64_t K = 0, N = 0, tokens = 0, tiles = 0; ///< tiles per side
  std::vector<double> H;                       ///< tiles (bi <= bj), each kTile x kTile
  double *tile(int64_t bi, int64_t bj) {
    // Row bi of the tile triangle starts after sum_{r<bi} (tiles - r) tiles.
    int64_t index = bi * tiles - bi * (bi - 1) / 2 + (bj - bi);
    return H.data() + index * kTile * kTile;
  }
};

std::mutex mu;
std::vector<Linear> linears;

/// acc[i][j] = sum_t a[t][i] * b[t][j] over `rows` rows of stride ld, in
/// blocks of 4 x 16 accumulators that stay in registers over all rows.
LLMC_MULTIVERSION
void tileProduct(const float *a, const float *b, int64_t rows, int64_t ld, float *acc) {
  constexpr int R = 4, C = 16;
  for (int64_t i0 = 0; i0 < kTile; i0 += R)
    for (int64_t j0 = 0; j0 < kTile; j0 += C) {
      float c[R][C] = {};
      for (int64_t t = 0; t < rows; ++t) {
        const float *at = a + t * ld + i0, *bt = b + t * ld + j0;
#pragma clang loop unroll(full)
        for (int i = 0; i < R; ++i)
#pragma clang loop unroll(full)
          for (int j = 0; j < C; ++j)
            c[i][j] += at[i] * bt[j];
      }
      for (int i = 0; i < R; ++i)
        for (int j = 0; j < C; ++j)
          acc[(i0 + i) * kTile + j0 + j] = c[i][j];
    }
}

[[noreturn]] void fail(const char *msg, int64_t id, int64_t a, int64_t b) {
  std::fprintf(stderr, "llmc runtime: calibration: linear %lld: %s (%lld vs %lld)\n", (long long)id, msg,
               (long long)a, (long long)b);
  std::abort();
}

} // namespace

extern "C" void _mlir_ciface_llmc_rt_calibration_observe(MemRef<float, 2> *x, int64_t id, int64_t n) {
  const int64_t M = x->sizes[0], K = x->sizes[1];
  std::lock_guard<std::mutex> lock(mu);
  if (id < 0)
    fail("negative id", id, id, 0);
  if (size_t(id) >= linears.size())
    linears.resize(size_t(id) + 1);
  Linear &L = linears[size_t(id)];
  if (L.K == 0) {
    L.K = K;
    L.N = n;
    L.tiles = (K + kTile - 1) / kTile;
    L.H.assign(size_t(L.tiles * (L.tiles + 1) / 2 * kTile * kTile), 0.0);
  } else if (L.K != K || L.N != n) {
    fail(L.K != K ? "input size changed" : "output size changed", id, L.K != K ? L.K : L.N,
         L.K != K ? K : n);
  }
  if (M == 0)
    return;
  const int64_t Kp = L.tiles * kTile;
  const int64_t pairs = L.tiles * (L.tiles + 1) / 2;
  std::vector<float> rows(size_t(std::min(M, kRowsPerBlock) * Kp), 0.f);
  for (int64_t m0 = 0; m0 < M; m0 += kRowsPerBlock) {
    const int64_t mc = std::min(kRowsPerBlock, M - m0);
    for (int64_t t = 0; t < mc; ++t) {
      const float *src = x->data() + (m0 + t) * x->strides[0];
      for (int64_t k = 0; k < K; ++k)
        rows[t * Kp + k] = src[k * x->strides[1]];
    }
    llmc::rt::parallelFor(pairs, 1, [&](int64_t p0, int64_t p1) {
      std::vector<float> acc(kTile * kTile);
      for (int64_t p = p0; p < p1; ++p) {
        int64_t bi = 0, rest = p; // p-th tile of the triangle, row-major
        while (rest >= L.tiles - bi)
          rest -= L.tiles - bi++;
        int64_t bj = bi + rest;
        tileProduct(rows.data() + bi * kTile, rows.data() + bj * kTile, mc, Kp, acc.data());
        double *h = L.tile(bi, bj);
        for (int64_t i = 0; i < kTile * kTile; ++i)
          h[i] += acc[i];
      }
    });
  }
  L.tokens += M;
}

/// Number of linears observed so far (the largest id + 1).
extern "C" int64_t llmc_calibration_linears(void) {
  std::lock_guard<std::mutex> lock(mu);
  return int64_t(linears.size());
}

extern "C" void llmc_calibration_reset(void) {
  std::lock_guard<std::mutex> lock(mu);
  linears.clear();
}

/// Writes the statistics (include/llmc/CalibrationStats.h); 0 on success.
extern "C" int llmc_calibration_write(const char *path) {
  std::lock_guard<std::mutex> lock(mu);
  std::FILE *f = std::fopen(path, "wb");
  if (!f)
    return 1;
  bool ok = llmc::calib::writeHeader(f, linears.size());
  std::vector<double> upper;
  for (Linear &L : linears) {
    if (!ok)
      break;
    upper.clear();
    for (int64_t r = 0; r < L.K; ++r)
      for (int64_t c = r; c < L.K; ++c) {
        int64_t bi = r / kTile, bj = c / kTile;
        upper.push_back(L.tile(bi, bj)[(r % kTile) * kTile + c % kTile]);
      }
    ok = llmc::calib::writeEntry(f, L.K, L.N, L.tokens, upper.data());
  }
  return (std::fclose(f) == 0 && ok) ? 0 : 1;
}
