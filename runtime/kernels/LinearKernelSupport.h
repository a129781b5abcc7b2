//===- LinearKernelSupport.h - shared pieces of the linear kernels -*- C++ -*-===//
//
// The packed, quantized and sparse linear kernels differ in how they read
// weights, not in how they report bad calls or hand a finished tile to the
// fused epilogue: those live here once.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_RUNTIME_KERNELS_LINEARKERNELSUPPORT_H
#define LLMC_RUNTIME_KERNELS_LINEARKERNELSUPPORT_H

#include "../support/ThreadPool.h"
#include "KernelDispatch.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace llmc::rt::kern {

/// Prints "llmc runtime: <fn>: <message>" and aborts (a malformed call).
[[noreturn]] inline void failCall(const char *fn, const char *fmt, ...) {
  std::fprintf(stderr, "llmc runtime: %s: ", fn);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  std::abort();
}

/// Rows cut into micro-tiles of MR rows. A short last tile runs below the
/// FMA peak (2 rows: one broadcast load per 2 FMAs, so the loads bind; 4
/// rows: 8 accumulator chains, just enough to cover the FMA latency), so the
/// rest is absorbed by turning a few full tiles into tiles of MR-1 rows,
/// which run at the rate of full ones: 128 rows at MR=6 are 18 x 6 + 4 x 5,
/// not 21 x 6 + 2. Where that does not fit (too few full tiles) the rest is
/// one last tile. Packing A and running the tiles use the same cut (the
/// packed A of a tile at row m0 with mr rows and k block [k0, k0+kc) is
/// [k][mr] at M*k0 + m0*kc).
struct RowTiling {
  int64_t MR = 1, full = 0, alt = 0, numAlt = 0, tail = 0;
  RowTiling() = default;
  RowTiling(int64_t M, int64_t mr) : MR(mr), full(M / mr), alt(mr - 1) {
    const int64_t rest = M % mr;
    tail = rest;
    if (rest == 0 || alt < 2)
      return;
    // j full tiles plus the rest make a whole number of (MR-1)-row tiles
    // when j = -rest (mod MR-1).
    const int64_t j = (alt - rest % alt) % alt;
    if (j <= full) {
      full -= j;
      numAlt = (j * mr + rest) / alt;
      tail = 0;
    }
  }
  int64_t count() const { return full + numAlt + (tail > 0); }
  int64_t start(int64_t b) const {
    return std::min(b, full) * MR + std::clamp<int64_t>(b - full, 0, numAlt) * alt +
           (b > full + numAlt ? tail : 0);
  }
  int64_t rows(int64_t b) const { return b < full ? MR : (b < full + numAlt ? alt : tail); }
};

namespace detail {
typedef float PackV8 __attribute__((ext_vector_type(8)));

/// Columns [k, k + 8) of MR <= 8 rows of x (unit inner stride) stored
/// k-major: out[j * MR + r] = row r's column k + j. An 8x8 transpose in
/// three rounds of two-source shuffles (the unpack / shuffle / 128-bit
/// permute pattern on AVX2), then MR floats per column: 16 stores for 6
/// rows where the element-wise copy did 48.
template <int MR>
__attribute__((always_inline)) inline void packColumns8(const float *x, int64_t xs0, float *out) {
  PackV8 r[8];
  for (int i = 0; i < 8; ++i)
    if (i < MR)
      __builtin_memcpy(&r[i], x + i * xs0, sizeof(PackV8));
    else
      r[i] = PackV8(0.f);
  PackV8 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4)
    for (int h = 0; h < 2; ++h) {
      u[i + 2 * h] = __builtin_shufflevector(t[i + h], t[i + 2 + h], 0, 1, 8, 9, 4, 5, 12, 13);
      u[i + 2 * h + 1] = __builtin_shufflevector(t[i + h], t[i + 2 + h], 2, 3, 10, 11, 6, 7, 14, 15);
    }
  // u[q] (q < 4) holds columns q and q + 4 of rows 0-3; u[4 + q] of rows 4-7.
  for (int q = 0; q < 4; ++q) {
    PackV8 lo = __builtin_shufflevector(u[q], u[4 + q], 0, 1, 2, 3, 8, 9, 10, 11);
    PackV8 hi = __builtin_shufflevector(u[q], u[4 + q], 4, 5, 6, 7, 12, 13, 14, 15);
    __builtin_memcpy(out + q * MR, &lo, MR * sizeof(float));
    __builtin_memcpy(out + (q + 4) * MR, &hi, MR * sizeof(float));
  }
}

template <int MR>
__attribute__((always_inline)) inline int64_t packColumnsBy8(const float *x, int64_t xs0,
                                                             int64_t kv, float *o) {
  int64_t k = 0;
  for (; k + 8 <= kv; k += 8)
    packColumns8<MR>(x + k, xs0, o + k * MR);
  return k;
}
} // namespace detail

/// Packs rows [m0, m0 + mr) of x (strides xs0, xs1; K columns), k block
/// [k0, k0 + kc), as [k][mr] at o, zeros past K. Contiguous rows of up to 8
/// (the AVX2 and generic tiles) go 8 columns at a time through an in-register
/// transpose; otherwise row by row: each row of x is one sequential read (the
/// rows were just written, half of them by the other core; reading the mr
/// rows k by k left those misses unprefetched).
__attribute__((always_inline)) inline void packTileRows(const float *x, int64_t xs0, int64_t xs1,
                                                        int64_t K, int64_t m0, int64_t mr,
                                                        int64_t k0, int64_t kc, float *o) {
  const int64_t kv = std::clamp<int64_t>(K - k0, 0, kc);
  const float *x0 = x + m0 * xs0 + k0 * xs1;
  int64_t kDone = 0;
  if (xs1 == 1) {
    switch (mr) {
    case 8: kDone = detail::packColumnsBy8<8>(x0, xs0, kv, o); break;
    case 7: kDone = detail::packColumnsBy8<7>(x0, xs0, kv, o); break;
    case 6: kDone = detail::packColumnsBy8<6>(x0, xs0, kv, o); break;
    case 5: kDone = detail::packColumnsBy8<5>(x0, xs0, kv, o); break;
    case 4: kDone = detail::packColumnsBy8<4>(x0, xs0, kv, o); break;
    default: break;
    }
  }
  for (int64_t r = 0; r < mr; ++r) {
    const float *xr = x0 + r * xs0;
    for (int64_t k = kDone; k < kv; ++k)
      o[k * mr + r] = xr[k * xs1];
    for (int64_t k = kv; k < kc; ++k)
      o[k * mr + r] = 0.f;
  }
}

/// RMSNorm factor of one row: 1 / sqrt(mean_k(x[k]^2) + eps), summed in
/// double (K can be thousands, and the factor scales every output of the
/// row). Eight partial sums when the row is contiguous, so that callers
/// built with LLMC_MULTIVERSION get it vectorized.
inline float rmsNormRowScale(const float *xr, int64_t xs1, int64_t K, float eps) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t k = 0;
  if (xs1 == 1)
    for (; k + 8 <= K; k += 8)
      for (int j = 0; j < 8; ++j)
        acc[j] += double(xr[k + j]) * xr[k + j];
  for (; k < K; ++k)
    acc[0] += double(xr[k * xs1]) * xr[k * xs1];
  const double ss = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  const double mean = K > 0 ? ss / double(K) : 0.0;
  return float(1.0 / std::sqrt(mean + double(eps)));
}

/// Outputs at least this large are written with non-temporal stores: they
/// exceed the last-level cache (e.g. the logits of every prompt position),
/// so caching them only costs the read-for-ownership of every line.
constexpr int64_t kStreamOutputBytes = 8 << 20;
inline bool streamsOutput(int64_t M, int64_t N) { return M * N * 4 >= kStreamOutputBytes; }

/// Orders a work item's non-temporal stores before the thread pool hands
/// its results to another thread.
inline void fenceStreamedStores() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_sfence();
#endif
}

/// Runs the fused epilogue (row scale, bias, SwiGLU, residual) on the
/// accumulators of output panel q, rows [ir, ir + mr): `c` (and `cu`, the up
/// half of a gated layer) with row stride ldc. `Problem` is any kernel's
/// call description with the fields used below; `stream`: non-temporal
/// stores to y (streamsOutput; the caller fences them).
template <class Problem>
inline void runPanelEpilogue(const Problem &p, int64_t q, int64_t ir, int mr, const float *c,
                             const float *cu, int64_t ldc, bool stream = false) {
  EpilogueArgs e;
  e.c = c;
  e.cu = cu;
  e.ldc = ldc;
  e.mr = mr;
  e.ncols = std::min<int64_t>(p.nr, p.N - q * p.nr);
  e.rowScale = p.rowScale ? p.rowScale + ir : nullptr;
  e.bias = p.bias ? p.bias + q * p.nr : nullptr;
  e.res = p.res ? p.res + ir * p.ldr + q * p.nr : nullptr;
  e.ldr = p.ldr;
  e.y = p.y + ir * p.ldy + q * p.nr;
  e.ldy = p.ldy;
  e.stream = stream;
  p.kt->epilogue(e);
}

/// Asks for the cache lines runPanelEpilogue will write (y) and read (the
/// residual) for output panel q, rows [ir, ir + mr), so that they arrive
/// while the tile computes. Without it the epilogue waited on every line it
/// wrote (y and the residual stream are too large to stay in L2 from one
/// layer to the next): SmolLM2 prefill 512, 1 thread, `perf` put 5.9% of
/// the time in the epilogue, 2.8-3.4% with it. Not for streamed outputs
/// (their lines must not come into the cache).
template <class Problem>
inline void prefetchPanelOutput(const Problem &p, int64_t q, int64_t ir, int mr) {
  if (p.streamY)
    return;
  const int64_t bytes = std::min<int64_t>(p.nr, p.N - q * p.nr) * int64_t(sizeof(float));
  for (int r = 0; r < mr; ++r) {
    const char *y = reinterpret_cast<const char *>(p.y + (ir + r) * p.ldy + q * p.nr);
    const char *res =
        p.res && p.res != p.y ? reinterpret_cast<const char *>(p.res + (ir + r) * p.ldr + q * p.nr) : nullptr;
    for (int64_t b = 0; b < bytes; b += 64) {
      __builtin_prefetch(y + b, /*rw=*/1, /*locality=*/3);
      if (res)
        __builtin_prefetch(res + b, 0, 3);
    }
  }
}

/// How many ranges to cut P panels into for `threads` threads: up to 4 per
/// thread (so a thread whose core is busy elsewhere delays little), but only
/// as many as keep the ranges even. The ranges differ by at most one panel,
/// so the slowest thread does ceil(c/threads) ranges of ceil(P/c) panels;
/// c is the largest multiple of the thread count for which that is least.
/// (E.g. 36 panels on 2 threads: 6 ranges of 6, where 8 ranges of 4-5 panels
/// let one thread do 20 panels to the other's 16.)
inline int64_t balancedPanelChunks(int64_t P, int threads) {
  if (threads <= 1 || P <= 1)
    return 1;
  if (P <= threads)
    return P;
  int64_t best = threads, bestSpan = ceilDiv(P, threads);
  for (int64_t c = 2 * threads; c <= std::min<int64_t>(P, 4 * threads); c += threads) {
    const int64_t span = ceilDiv(c, threads) * ceilDiv(P, c);
    if (span <= bestSpan) {
      best = c;
      bestSpan = span;
    }
  }
  return best;
}

/// Runs runPanels(p0, p1) over the P output panels of a call with `work`
/// multiply-adds: on the calling thread below kSerialLinearWork, else in
/// balancedPanelChunks ranges, so each thread streams the weights of its own
/// panels and no thread gets more than its share.
constexpr int64_t kSerialLinearWork = 1 << 15;
template <class F> void forPanelRanges(int64_t P, int64_t work, F &&runPanels) {
  const int threads = llmc::rt::numThreads();
  int64_t chunks = 1;
  if (threads > 1 && work >= kSerialLinearWork)
    chunks = balancedPanelChunks(P, threads);
  if (chunks <= 1) {
    runPanels(int64_t(0), P);
    return;
  }
  llmc::rt::parallelFor(chunks, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      runPanels(P * i / chunks, P * (i + 1) / chunks);
  });
}

} // namespace llmc::rt::kern

#endif
