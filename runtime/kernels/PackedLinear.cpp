//===- PackedLinear.cpp - fused linear layers on compile-time packed weights -===//
//
// y[M, N] = epilogue(x[M, K] * W) with W packed in panels of nr columns
// (include/llmc/PackedLayout.h). Epilogue, in this order:
//   kRMSNorm: acc *= 1/sqrt(mean_k(x[m,k]^2) + eps)   (gamma is folded into W)
//   kBias:    acc += bias[n]
//   kSwiGLU:  y = silu(acc_gate) * acc_up   (gate/up panels interleaved)
//   kResidual: acc += residual[m, n]        (residual may be y itself)
// bf16 weights multiply bf16-rounded activations, accumulating in f32.
//
// Structure (Goto/BLIS style, B already packed by the compiler):
//  1. pack A once: rows in blocks of MR, each k block stored [k][mr] (or bf16
//     pairs), and the RMSNorm row factors;
//  2. work items = (row range, panel range), claimed by the thread pool;
//     per item (runItem): column blocks x k blocks of KC x row blocks of MC
//     x panels x micro-tiles of MR or MR-1 rows (RowTiling) from the per-ISA
//     table; bf16 weights on CPUs without a bf16 dot product are widened
//     to f32 per column block first when there are many rows. With several k
//     blocks the partial sums live in a per-thread C block; y is written
//     only by the epilogue, which is what makes y == residual safe.
// Decode (M <= MR) takes one k block, so every weight byte is read once.
//
//===----------------------------------------------------------------------===//
#include "../api/MemRefDescriptor.h"
#include "../support/Multiversion.h"
#include "../support/ThreadPool.h"
#include "../support/WeightStreaming.h"
#include "KernelDispatch.h"
#include "LinearKernelSupport.h"

#include "llmc/PackedLayout.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <vector>

using llmc::rt::MemRef;
using namespace llmc::rt::kern;
namespace packed = llmc::packed;

namespace {

// Cache budgets (bytes): a panel slice (KC x nr) read once per micro-tile
// row block (L1/L2), the A block (MC x KC) read once per panel (L2), the
// weight block (KC x NC) read once per row block (L2/L3), the C block of
// partial sums of an item's rows when K is split.
constexpr int64_t kPanelSliceBytes = 96 << 10;
constexpr int64_t kABlockBytes = 256 << 10;
constexpr int64_t kWBlockBytes = 1 << 20;
constexpr int64_t kCBlockBytes = 1 << 20;
// bf16 weights without a bf16 dot product (AVX2, AVX-512 without BF16):
// from this many rows on, the panel slices of each column block are widened
// to f32 once (for all its row blocks) and the f32 tiles run on them (6 rows
// on AVX2 instead of 4: the in-register widening needs the registers), at
// the f32 tiles' rate. Fewer rows stay on the bf16 tiles, which read half
// the bytes (decode).
constexpr int64_t kWidenMinRows = 32;
// Row blocks of at least this many micro-tiles prefetch the next panel
// (TileArgs::prefetch); with fewer (decode) each tile would have to ask for
// a large share, and the hardware prefetcher keeps up with one row's stream.
constexpr int64_t kPrefetchMinTiles = 4;
// Below this many multiply-adds a call runs on the calling thread.
constexpr int64_t kSerialWork = 1 << 15;

struct Problem {
  const KernelTable *kt;
  bool bf16, gated;
  bool widen; // bf16 weights widened to f32 per panel slice, f32 tiles (see kWidenMinRows)
  int flags;
  int64_t M, K, Kd, N, nr, P, g, MR, KC, nk, MC;
  const float *x;
  int64_t xs0, xs1;
  const void *w;
  int64_t panelStride; // elements between consecutive weight panels
  const float *bias, *res;
  int64_t ldr;
  float *y;
  int64_t ldy;
  RowTiling tiles;        // rows in micro-tiles of at most MR
  void *apack;            // packed A (see packRows)
  const float *rowScale;  // RMSNorm factors or null
  float eps;
  bool streamY;          // non-temporal stores to y (streamsOutput)
  bool streamWeights;    // weights come from DRAM every step (WeightStreaming.h)
};

/// Packs the rows of micro-tiles [b0, b1) of x for every k block and
/// computes their RMSNorm factors. Element (row m, k) of k block [k0, k0+kc)
/// lives in the tile starting at row m0 (mr rows): offset M*k0 + m0*kc, then
/// [k - k0][m - m0] (pairs: halve both offsets and k). Multiversioned: the
/// copies, the bf16 rounding and the sums of squares vectorize (a bf16
/// prefill spent ~4% here when built for baseline x86-64).
LLMC_MULTIVERSION
void packRows(const Problem &p, int64_t b0, int64_t b1, float *scale) {
  const bool pairs = p.bf16 && p.kt->bf16Input == BF16Input::Pairs;
  const bool round = p.bf16 && !pairs;
  const int64_t r0 = p.tiles.start(b0), r1 = p.tiles.start(b1);
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t m0 = p.tiles.start(b), mr = p.tiles.rows(b);
    for (int64_t k0 = 0; k0 < p.Kd; k0 += p.KC) {
      const int64_t kc = std::min(p.KC, p.Kd - k0);
      if (pairs) {
        uint32_t *o = static_cast<uint32_t *>(p.apack) + (p.M * k0 + m0 * kc) / 2;
        for (int64_t k = 0; k < kc; k += 2)
          for (int64_t r = 0; r < mr; ++r) {
            const float *xr = p.x + (m0 + r) * p.xs0;
            int64_t kk = k0 + k;
            uint32_t lo = kk < p.K ? packed::toBF16(xr[kk * p.xs1]) : 0;
            uint32_t hi = kk + 1 < p.K ? packed::toBF16(xr[(kk + 1) * p.xs1]) : 0;
            o[(k / 2) * mr + r] = lo | (hi << 16);
          }
      } else {
        float *o = static_cast<float *>(p.apack) + p.M * k0 + m0 * kc;
        packTileRows(p.x, p.xs0, p.xs1, p.K, m0, mr, k0, kc, o);
        if (round) // over the contiguous packed block, where it vectorizes
          for (int64_t i = 0; i < kc * mr; ++i)
            o[i] = packed::fromBF16(packed::toBF16(o[i]));
      }
    }
  }
  if (!scale)
    return;
  for (int64_t m = r0; m < r1; ++m)
    scale[m] = rmsNormRowScale(p.x + m * p.xs0, p.xs1, p.K, p.eps);
}

struct Scratch {
  std::vector<float> c;    // C block or one tile
  std::vector<float> wide; // widened bf16 panel slices (gate and up)
};

/// bf16 pair rows (k even in the low half, nr uint32 each) of a panel
/// slice to kc rows of nr floats: the exact f32 values of the bf16 weights.
/// Multiversioned: 256-bit shifts and masks where the CPU has them.
LLMC_MULTIVERSION
void widenSlice(const uint32_t *src, int64_t kc, int64_t nr, float *dst) {
  for (int64_t k2 = 0; k2 < kc / 2; ++k2) {
    const uint32_t *s = src + k2 * nr;
    uint32_t *lo = reinterpret_cast<uint32_t *>(dst + 2 * k2 * nr), *hi = lo + nr;
    for (int64_t c = 0; c < nr; ++c) {
      lo[c] = s[c] << 16;
      hi[c] = s[c] & 0xffff0000u;
    }
  }
}

/// Micro-tiles [b0, b1) x output panels [q0, q1), in BLIS order: column
/// block (its weights, KC x NC, stay in cache while all row blocks use
/// them), k block, row block of MC (A block in L2), panel, micro-tile.
void runItem(const Problem &p, int64_t b0, int64_t b1, int64_t q0, int64_t q1) {
  const int64_t m0 = p.tiles.start(b0), m1 = p.tiles.start(b1);
  static thread_local Scratch scratch;
  const bool split = p.nk > 1;
  const int wElem = p.bf16 ? 2 : 4;
  // (Widened weights: the block is the f32 copy.)
  int64_t ncb = std::max<int64_t>(1, kWBlockBytes / (p.KC * p.nr * p.g * (p.widen ? 4 : wElem)));
  if (split)
    ncb = std::min(ncb, std::max<int64_t>(1, kCBlockBytes / ((m1 - m0) * p.nr * p.g * 4)));
  ncb = std::min(ncb, q1 - q0);
  const int64_t ldcBig = ncb * p.g * p.nr;
  const size_t need = split ? size_t((m1 - m0) * ldcBig) : size_t(p.g * p.MR * p.nr);
  if (scratch.c.size() < need)
    scratch.c.resize(need);
  float *cbuf = scratch.c.data();
  void (*tile)(const TileArgs &) = p.bf16 && !p.widen ? p.kt->tileBF16 : p.kt->tileF32;
  if (p.widen && scratch.wide.size() < size_t(ncb * p.g * p.KC * p.nr))
    scratch.wide.resize(ncb * p.g * p.KC * p.nr);
  const bool pairs = p.bf16 && p.kt->bf16Input == BF16Input::Pairs;

  for (int64_t nc0 = q0; nc0 < q1; nc0 += ncb) {
    const int64_t nc1 = std::min(q1, nc0 + ncb);
    for (int64_t kb = 0; kb < p.nk; ++kb) {
      const int64_t k0 = kb * p.KC, kc = std::min(p.KC, p.Kd - k0);
      const bool last = kb == p.nk - 1;
      auto panelSlice = [&](int64_t q, int64_t gi) {
        return static_cast<const char *>(p.w) +
               ((q * p.g + gi) * p.panelStride + k0 * p.nr) * wElem;
      };
      auto wideSlice = [&](int64_t q, int64_t gi) {
        return scratch.wide.data() + ((q - nc0) * p.g + gi) * kc * p.nr;
      };
      const int64_t mcTiles = std::max<int64_t>(1, p.MC / p.MR);
      for (int64_t bc0 = b0; bc0 < b1; bc0 += mcTiles) {
        const int64_t bc1 = std::min(b1, bc0 + mcTiles);
        for (int64_t q = nc0; q < nc1; ++q) {
          // Widened once per column block and k block, for all row blocks:
          // panel by panel as the first row block reaches it, so that the
          // copy is fresh when its tiles read it (measured 0.5-2.7% faster
          // prefill than widening the whole block first).
          if (p.widen && bc0 == b0)
            for (int64_t gi = 0; gi < p.g; ++gi)
              widenSlice(reinterpret_cast<const uint32_t *>(panelSlice(q, gi)), kc, p.nr,
                         wideSlice(q, gi));
          // The tiles of this panel ask for the next panel's slice, a share
          // each: without it the first tile of every panel (f32 weights) or
          // the widening (bf16) waits on DRAM. Measured per call on the lm
          // head: the first f32 tile took 2.7x as long as the others, the
          // widening of a slice twice as long. Widened slices are not asked
          // for again in later row blocks (2% slower at 2 threads).
          const int64_t nTiles = bc1 - bc0;
          const bool prefetchNext = nTiles >= kPrefetchMinTiles && q + 1 < nc1 &&
                                    (!p.bf16 || (p.widen && bc0 == b0));
          const int64_t nextLines = (kc * p.nr * wElem + 63) / 64;
          for (int64_t b = bc0; b < bc1; ++b) {
            const int64_t ir = p.tiles.start(b);
            const int mr = int(p.tiles.rows(b));
            TileArgs t;
            const int64_t aoff = p.M * k0 + ir * kc;
            if (pairs)
              t.a = static_cast<const uint32_t *>(p.apack) + aoff / 2;
            else
              t.a = static_cast<const float *>(p.apack) + aoff;
            t.mr = mr;
            t.nr = p.nr;
            t.kc = kc;
            t.accumulate = kb > 0;
            t.streamWeights = p.streamWeights;
            float *cg[2];
            int64_t ldc;
            if (split) {
              ldc = ldcBig;
              for (int64_t gi = 0; gi < p.g; ++gi)
                cg[gi] = cbuf + (ir - m0) * ldc + ((q - nc0) * p.g + gi) * p.nr;
            } else {
              ldc = p.nr;
              for (int64_t gi = 0; gi < p.g; ++gi)
                cg[gi] = cbuf + gi * p.MR * p.nr;
            }
            t.ldc = ldc;
            if (last)
              prefetchPanelOutput(p, q, ir, mr);
            for (int64_t gi = 0; gi < p.g; ++gi) {
              t.w = p.widen ? static_cast<const void *>(wideSlice(q, gi)) : panelSlice(q, gi);
              t.c = cg[gi];
              if (prefetchNext) {
                const int64_t l0 = nextLines * (b - bc0) / nTiles;
                t.prefetch = panelSlice(q + 1, gi) + 64 * l0;
                t.prefetchLines = nextLines * (b - bc0 + 1) / nTiles - l0;
              }
              tile(t);
            }
            if (!last)
              continue;
            runPanelEpilogue(p, q, ir, mr, cg[0], p.gated ? cg[1] : nullptr, ldc, p.streamY);
          }
        }
      }
    }
  }
  if (p.streamY)
    fenceStreamedStores();
}

void linearPacked(const char *fn, MemRef<float, 2> *x, const void *w, int64_t wSize,
                  MemRef<float, 1> *bias, MemRef<float, 2> *residual, MemRef<float, 2> *y,
                  int64_t K, int64_t N, int32_t nr, int32_t flags, float eps, bool bf16) {
  const int64_t M = x->sizes[0];
  if (nr < 1)
    failCall(fn, "panel width nr=%d must be >= 1", nr);
  if (x->sizes[1] != K)
    failCall(fn, "x is [%lld, %lld] but K=%lld", (long long)M, (long long)x->sizes[1], (long long)K);
  if (y->sizes[0] != M || y->sizes[1] != N)
    failCall(fn, "y is [%lld, %lld], expected [%lld, %lld]", (long long)y->sizes[0],
         (long long)y->sizes[1], (long long)M, (long long)N);
  if (N > 0 && M > 0 && y->strides[1] != 1)
    failCall(fn, "y needs a unit inner stride (got %lld)", (long long)y->strides[1]);
  const bool gated = flags & packed::kSwiGLU;
  const int64_t Kd = bf16 ? packed::paddedK(K) : K;
  const int64_t P = packed::numPanels(N, nr), g = gated ? 2 : 1;
  const int64_t wNeed = g * P * nr * Kd;
  if (wSize < wNeed)
    failCall(fn, "packed weight has %lld elements, K=%lld N=%lld nr=%d%s needs %lld", (long long)wSize,
         (long long)K, (long long)N, nr, gated ? " (gated)" : "", (long long)wNeed);
  if ((flags & packed::kBias) && bias->sizes[0] < N)
    failCall(fn, "bias has %lld elements, N=%lld", (long long)bias->sizes[0], (long long)N);
  if (flags & packed::kResidual) {
    if (residual->sizes[0] != M || residual->sizes[1] != N)
      failCall(fn, "residual is [%lld, %lld], expected [%lld, %lld]", (long long)residual->sizes[0],
           (long long)residual->sizes[1], (long long)M, (long long)N);
    if (M > 0 && N > 0 && residual->strides[1] != 1)
      failCall(fn, "residual needs a unit inner stride (got %lld)", (long long)residual->strides[1]);
  }
  if (M == 0 || N == 0)
    return;

  Problem p;
  p.kt = &activeKernels();
  if (!p.kt->mrMax(nr, bf16))
    p.kt = genericKernels();
  p.bf16 = bf16;
  p.gated = gated;
  p.flags = flags;
  p.M = M;
  p.K = K;
  p.Kd = Kd;
  p.N = N;
  p.nr = nr;
  p.P = P;
  p.g = g;
  p.widen = bf16 && p.kt->bf16Input == BF16Input::RoundedF32 && M >= kWidenMinRows &&
            p.kt->mrMax(nr, false) > 0;
  p.MR = p.kt->mrMax(nr, bf16 && !p.widen);
  p.x = x->data();
  p.xs0 = x->strides[0];
  p.xs1 = x->strides[1];
  p.w = w;
  p.panelStride = nr * Kd;
  p.bias = (flags & packed::kBias) ? bias->data() : nullptr;
  p.res = (flags & packed::kResidual) ? residual->data() : nullptr;
  p.ldr = (flags & packed::kResidual) ? residual->strides[0] : 0;
  p.y = y->data();
  p.ldy = y->strides[0];
  p.streamY = streamsOutput(M, N);
  p.streamWeights = llmc::rt::weightsStream();
  p.eps = eps;

  // Blocking. Few rows: one k block, so weights stream exactly once.
  const int64_t wElem = bf16 ? 2 : 4;
  // Bytes of packed A per row and k.
  const int64_t aPerK = (bf16 && p.kt->bf16Input == BF16Input::Pairs) ? 2 : 4;
  if (M <= p.MR || Kd == 0) {
    p.KC = std::max<int64_t>(Kd, 2);
  } else {
    int64_t kcMax = std::max<int64_t>(2, (kPanelSliceBytes / (nr * wElem)) & ~int64_t(1));
    int64_t nk = ceilDiv(Kd, kcMax);
    p.KC = (ceilDiv(Kd, nk) + 1) & ~int64_t(1);
  }
  p.nk = std::max<int64_t>(1, ceilDiv(Kd, p.KC));
  p.MC = std::max<int64_t>(p.MR, (kABlockBytes / (p.KC * aPerK)) / p.MR * p.MR);

  // Pack A (and the RMSNorm factors) once for all work items.
  static thread_local std::vector<float> apackBuf, scaleBuf;
  const size_t apackFloats = size_t(M * std::max<int64_t>(Kd, 2)) / (aPerK == 2 ? 2 : 1) + 1;
  if (apackBuf.size() < apackFloats)
    apackBuf.resize(apackFloats);
  p.apack = apackBuf.data();
  float *scale = nullptr;
  if (flags & packed::kRMSNorm) {
    if (scaleBuf.size() < size_t(M))
      scaleBuf.resize(M);
    scale = scaleBuf.data();
  }
  p.rowScale = scale;
  p.tiles = RowTiling(M, p.MR);
  const int64_t rowBlocks = p.tiles.count();
  if (M * Kd < (1 << 16)) {
    packRows(p, 0, rowBlocks, scale);
  } else {
    llmc::rt::parallelFor(rowBlocks, std::max<int64_t>(1, 4096 / std::max<int64_t>(Kd, 1)),
                          [&](int64_t b0, int64_t b1) { packRows(p, b0, b1, scale); });
  }

  // Work items: panel ranges first (each thread streams its own weights),
  // row ranges as well when there are few panels for many rows.
  const int threads = llmc::rt::numThreads();
  const int64_t work = M * Kd * P * nr * g;
  int64_t colChunks = 1, rowChunks = 1;
  if (threads > 1 && work >= kSerialWork) {
    colChunks = balancedPanelChunks(P, threads);
    if (colChunks < 2 * threads && M > p.MR)
      rowChunks = std::min(rowBlocks, ceilDiv(4 * threads, colChunks));
  }
  auto item = [&](int64_t i) {
    int64_t rc = i / colChunks, cc = i % colChunks;
    int64_t qa = P * cc / colChunks, qb = P * (cc + 1) / colChunks;
    int64_t ba = rowBlocks * rc / rowChunks, bb = rowBlocks * (rc + 1) / rowChunks;
    if (qa < qb && ba < bb)
      runItem(p, ba, bb, qa, qb);
  };
  const int64_t items = colChunks * rowChunks;
  if (items == 1)
    item(0);
  else
    llmc::rt::parallelFor(items, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        item(i);
    });
}

} // namespace

extern "C" void _mlir_ciface_llmc_rt_linear_packed_f32(MemRef<float, 2> *x, MemRef<float, 1> *w,
                                                       MemRef<float, 1> *bias,
                                                       MemRef<float, 2> *residual,
                                                       MemRef<float, 2> *y, int64_t K, int64_t N,
                                                       int32_t nr, int32_t flags, float rmsEps) {
  linearPacked("llmc_rt_linear_packed_f32", x, w->data(), w->sizes[0], bias, residual, y, K, N,
               nr, flags, rmsEps, /*bf16=*/false);
}

extern "C" void _mlir_ciface_llmc_rt_linear_packed_bf16(MemRef<float, 2> *x,
                                                        MemRef<uint16_t, 1> *w,
                                                        MemRef<float, 1> *bias,
                                                        MemRef<float, 2> *residual,
                                                        MemRef<float, 2> *y, int64_t K, int64_t N,
                                                        int32_t nr, int32_t flags, float rmsEps) {
  linearPacked("llmc_rt_linear_packed_bf16", x, w->data(), w->sizes[0], bias, residual, y, K, N,
               nr, flags, rmsEps, /*bf16=*/true);
}
