//===- SparseLinear.cpp - fused linear layers on pruned (2:4 / unstructured) weights -===//
//
// y[M, N] = epilogue(x[M, K] * W) with W in a format of
// include/llmc/SparseLayout.h: 2:4 (values + 2-bit positions) or
// unstructured (ELLPACK rows of values + 8-bit offsets per 256-k chunk).
// The epilogue flags and their order are those of PackedLinear.cpp; gated
// weights interleave gate and up panels (panel 2q and 2q+1 give output
// panel q).
//
// 2:4 with int4 values (Sparse24Q4): the decode GEMV widens the codes in
// registers; prefill dequantizes the work item's panels to f32 once and runs
// the 2:4 tiles on them.
//
// Decode (M <= kSparseGemvRows): per output panel one GEMV per row block
// that streams the panel's stored weights once (SparseKernels.h).
// Prefill: rows in blocks of the variant's tileRows, packed [chunk][k][rows]
// so a 256-k chunk of a row block (16 KB) stays in L1 while every panel
// of the work item streams its stored weights of that chunk past it; the
// column-major tile accumulates over the chunks, then is transposed into the
// shared epilogue. Work items are panel ranges; y is written only by the
// epilogue, so residual may alias y.
//
//===----------------------------------------------------------------------===//
#include "../api/MemRefDescriptor.h"
#include "../support/ThreadPool.h"
#include "KernelDispatch.h"
#include "LinearKernelSupport.h"
#include "SparseKernels.h"

#include "llmc/PackedLayout.h"
#include "llmc/SparseLayout.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using llmc::rt::MemRef;
using namespace llmc::rt::kern;
namespace packed = llmc::packed;
namespace sparse = llmc::sparse;

namespace {

struct Problem {
  const KernelTable *kt;
  const SparseKernelTable *st;
  bool ell, gated, decode;
  int64_t M, K, Kp, N, nr, P, g, numChunks, MR;
  // 2:4
  const float *values;
  const uint32_t *meta;
  int64_t numBlocks;
  // 2:4 with int4 values (q4): codes, meta and fp16 scales
  bool q4;
  const uint8_t *codes;
  const uint16_t *scales;
  // unstructured
  const uint8_t *offsets;
  const int32_t *starts;
  const float *apack; // decode: [M][Kp]; prefill: per row block [chunk][k][mrp]
  const float *rowScale;
  const float *bias, *res;
  int64_t ldr;
  float *y;
  int64_t ldy;

  Sparse24Panel panel24(int64_t p) const {
    return {values + p * numBlocks * 2 * nr,
            meta + p * ceilDiv(numBlocks, sparse::kSparse24GroupBlocks) * nr, nr, numBlocks};
  }
  Sparse24Q4Panel panel24q4(int64_t p) const {
    return {codes + p * numBlocks * nr, meta + (numBlocks / 8) * nr * p, scales + (numBlocks / 8) * nr * p, nr,
            numBlocks};
  }
  SparseEllPanel panelEll(int64_t p) const {
    return {values, offsets, starts + p * numChunks, nr, numChunks};
  }
  int64_t mrpOf(int64_t rows) const {
    return std::min<int64_t>(st->tileRows, ceilDiv(rows, st->lanes) * st->lanes);
  }
};

/// Output panels [q0, q1), all rows.
void runItem(const Problem &p, int64_t q0, int64_t q1) {
  static thread_local std::vector<float> cbuf, colbuf, qbuf;
  const int64_t g = p.g, nr = p.nr;
  if (p.decode) {
    if (cbuf.size() < size_t(g * kSparseGemvRows * nr))
      cbuf.resize(g * kSparseGemvRows * nr);
    for (int64_t q = q0; q < q1; ++q)
      for (int64_t ir = 0; ir < p.M; ir += kSparseGemvRows) {
        SparseGemvArgs t;
        t.x = p.apack + ir * p.Kp;
        t.ldx = p.Kp;
        t.mr = int(std::min<int64_t>(kSparseGemvRows, p.M - ir));
        t.ldc = nr;
        for (int64_t gi = 0; gi < g; ++gi) {
          t.c = cbuf.data() + gi * kSparseGemvRows * nr;
          if (p.ell)
            p.st->gemvEll(p.panelEll(q * g + gi), t);
          else if (p.q4)
            p.st->gemv24q4(p.panel24q4(q * g + gi), t);
          else
            p.st->gemv24(p.panel24(q * g + gi), t);
        }
        runPanelEpilogue(p, q, ir, t.mr, cbuf.data(), g == 2 ? cbuf.data() + kSparseGemvRows * nr : nullptr,
                    nr);
      }
    return;
  }
  const int64_t MR = p.MR, nq = q1 - q0;
  if (colbuf.size() < size_t(nq * g * nr * MR))
    colbuf.resize(nq * g * nr * MR);
  if (cbuf.size() < size_t(g * MR * nr))
    cbuf.resize(g * MR * nr);
  // q4: the item's panels dequantized to f32 2:4 panels once (for tile24,
  // reused by every row block).
  const int64_t q4Panel = p.numBlocks * 2 * nr;
  if (p.q4) {
    if (qbuf.size() < size_t(nq * g * q4Panel))
      qbuf.resize(nq * g * q4Panel);
    for (int64_t q = q0; q < q1; ++q)
      for (int64_t gi = 0; gi < g; ++gi)
        for (int64_t c = 0; c < p.numChunks; ++c)
          p.st->dequant24q4(p.panel24q4(q * g + gi), c, qbuf.data() + ((q - q0) * g + gi) * q4Panel);
  }
  for (int64_t ir = 0; ir < p.M; ir += MR) {
    const int64_t mr = std::min(MR, p.M - ir), mrp = p.mrpOf(mr);
    const float *ablock = p.apack + ir * p.Kp;
    for (int64_t c = 0; c < p.numChunks; ++c) {
      SparseTileArgs t;
      t.a = ablock + c * sparse::kEllChunk * mrp;
      t.mrp = int(mrp);
      t.chunk = c;
      t.accumulate = c > 0;
      for (int64_t q = q0; q < q1; ++q)
        for (int64_t gi = 0; gi < g; ++gi) {
          t.ccol = colbuf.data() + ((q - q0) * g + gi) * nr * mrp;
          if (p.ell) {
            p.st->tileEll(p.panelEll(q * g + gi), t);
          } else if (p.q4) {
            p.st->tile24({qbuf.data() + ((q - q0) * g + gi) * q4Panel, p.panel24q4(q * g + gi).meta, nr,
                          p.numBlocks},
                         t);
          } else {
            p.st->tile24(p.panel24(q * g + gi), t);
          }
        }
    }
    for (int64_t q = q0; q < q1; ++q) {
      // column-major [nr][mrp] -> row-major [mr][nr] for the epilogue
      for (int64_t gi = 0; gi < g; ++gi) {
        const float *col = colbuf.data() + ((q - q0) * g + gi) * nr * mrp;
        float *c = cbuf.data() + gi * MR * nr;
        for (int64_t j = 0; j < nr; ++j)
          for (int64_t r = 0; r < mr; ++r)
            c[r * nr + j] = col[j * mrp + r];
      }
      runPanelEpilogue(p, q, ir, int(mr), cbuf.data(), g == 2 ? cbuf.data() + MR * nr : nullptr, nr);
    }
  }
}

/// Packs rows [r0, r1) (r0 a multiple of MR) of x, zero padded to Kp:
/// decode as rows [m][Kp]; prefill per row block (at r0 * Kp) as chunks of
/// [k][mrp]. Computes the rows' RMSNorm factors.
void packRows(const Problem &p, const float *x, int64_t xs0, int64_t xs1, float eps, int64_t r0,
              int64_t r1, float *apack, float *scale) {
  if (p.decode) {
    for (int64_t m = r0; m < r1; ++m)
      for (int64_t k = 0; k < p.Kp; ++k)
        apack[m * p.Kp + k] = k < p.K ? x[m * xs0 + k * xs1] : 0.f;
  } else {
    for (int64_t m0 = r0; m0 < r1; m0 += p.MR) {
      const int64_t mr = std::min(p.MR, p.M - m0), mrp = p.mrpOf(mr);
      float *o = apack + m0 * p.Kp;
      for (int64_t k = 0; k < p.Kp; ++k)
        for (int64_t r = 0; r < mrp; ++r)
          o[k * mrp + r] = (k < p.K && r < mr) ? x[(m0 + r) * xs0 + k * xs1] : 0.f;
    }
  }
  if (!scale)
    return;
  for (int64_t m = r0; m < r1; ++m)
    scale[m] = rmsNormRowScale(x + m * xs0, xs1, p.K, eps);
}

void checkCommon(const char *fn, MemRef<float, 2> *x, MemRef<float, 1> *bias, MemRef<float, 2> *residual,
                 MemRef<float, 2> *y, int64_t K, int64_t N, int32_t nr, int32_t flags) {
  const int64_t M = x->sizes[0];
  if (nr < 1)
    failCall(fn, "panel width nr=%d must be >= 1", nr);
  if (x->sizes[1] != K)
    failCall(fn, "x is [%lld, %lld] but K=%lld", (long long)M, (long long)x->sizes[1], (long long)K);
  if (y->sizes[0] != M || y->sizes[1] != N)
    failCall(fn, "y is [%lld, %lld], expected [%lld, %lld]", (long long)y->sizes[0], (long long)y->sizes[1],
         (long long)M, (long long)N);
  if (M > 0 && N > 0 && y->strides[1] != 1)
    failCall(fn, "y needs a unit inner stride (got %lld)", (long long)y->strides[1]);
  if ((flags & packed::kBias) && bias->sizes[0] < N)
    failCall(fn, "bias has %lld elements, N=%lld", (long long)bias->sizes[0], (long long)N);
  if (flags & packed::kResidual) {
    if (residual->sizes[0] != M || residual->sizes[1] != N)
      failCall(fn, "residual is [%lld, %lld], expected [%lld, %lld]", (long long)residual->sizes[0],
           (long long)residual->sizes[1], (long long)M, (long long)N);
    if (M > 0 && N > 0 && residual->strides[1] != 1)
      failCall(fn, "residual needs a unit inner stride (got %lld)", (long long)residual->strides[1]);
  }
}

void run(Problem &p, MemRef<float, 2> *x, MemRef<float, 1> *bias, MemRef<float, 2> *residual,
         MemRef<float, 2> *y, int32_t flags, float eps) {
  p.bias = (flags & packed::kBias) ? bias->data() : nullptr;
  p.res = (flags & packed::kResidual) ? residual->data() : nullptr;
  p.ldr = (flags & packed::kResidual) ? residual->strides[0] : 0;
  p.y = y->data();
  p.ldy = y->strides[0];
  p.decode = p.M <= kSparseGemvRows;
  p.MR = p.st->tileRows;

  static thread_local std::vector<float> apackBuf, scaleBuf;
  // +16 floats so the packed rows can start on a 64-byte line (the prefill
  // tiles load whole row vectors; split lines cost ~20%).
  const size_t apackFloats = size_t(ceilDiv(p.M, p.MR) * p.MR * p.Kp) + 16;
  if (apackBuf.size() < apackFloats)
    apackBuf.resize(apackFloats);
  if ((flags & packed::kRMSNorm) && scaleBuf.size() < size_t(p.M))
    scaleBuf.resize(p.M);
  float *scale = (flags & packed::kRMSNorm) ? scaleBuf.data() : nullptr;
  // (The buffers are thread_local: workers get the caller's pointers.)
  float *apack = reinterpret_cast<float *>((reinterpret_cast<uintptr_t>(apackBuf.data()) + 63) & ~uintptr_t(63));
  p.apack = apack;
  p.rowScale = scale;
  const int64_t rowBlocks = ceilDiv(p.M, p.MR);
  auto pack = [&](int64_t b0, int64_t b1) {
    packRows(p, x->data(), x->strides[0], x->strides[1], eps, b0 * p.MR, std::min(p.M, b1 * p.MR), apack,
             scale);
  };
  if (p.M * p.Kp < (1 << 16))
    pack(0, rowBlocks);
  else
    llmc::rt::parallelFor(rowBlocks, 1, pack);

  // Work items: output panel ranges (each thread streams its own weights).
  forPanelRanges(p.P, p.M * p.K * p.P * p.nr * p.g / 2,
                 [&](int64_t p0, int64_t p1) { runItem(p, p0, p1); });
}

Problem makeProblem(MemRef<float, 2> *x, int64_t K, int64_t N, int32_t nr, int32_t flags) {
  Problem p{};
  p.kt = &activeKernels();
  p.st = &sparseKernelsFor(*p.kt);
  if (nr % p.st->lanes != 0)
    p.st = sparseGenericKernels();
  p.gated = flags & packed::kSwiGLU;
  p.g = p.gated ? 2 : 1;
  p.M = x->sizes[0];
  p.K = K;
  p.Kp = (K + 3) / 4 * 4;
  p.N = N;
  p.nr = nr;
  p.P = ceilDiv(N, nr);
  p.numChunks = ceilDiv(K, sparse::kEllChunk);
  return p;
}

} // namespace

const SparseKernelTable &llmc::rt::kern::sparseKernelsFor(const KernelTable &kt) {
  const std::string name = kt.name;
  if (name != "generic" && kernelsSupported("avx2") && sparseAvx2Kernels())
    return *sparseAvx2Kernels();
  return *sparseGenericKernels();
}

extern "C" void _mlir_ciface_llmc_rt_linear_sparse24_f32(MemRef<float, 2> *x, MemRef<float, 1> *values,
                                                         MemRef<int32_t, 1> *meta, MemRef<float, 1> *bias,
                                                         MemRef<float, 2> *residual, MemRef<float, 2> *y,
                                                         int64_t K, int64_t N, int32_t nr, int32_t flags,
                                                         float rmsEps) {
  const char *fn = "llmc_rt_linear_sparse24_f32";
  checkCommon(fn, x, bias, residual, y, K, N, nr, flags);
  const bool gated = flags & packed::kSwiGLU;
  sparse::Sparse24Layout l = sparse::makeSparse24Layout(K, N, nr, gated ? 2 : 1);
  if (values->sizes[0] < l.numValues() || meta->sizes[0] < l.numMeta())
    failCall(fn, "weight has %lld values and %lld metadata words, K=%lld N=%lld nr=%d%s needs %lld and %lld",
         (long long)values->sizes[0], (long long)meta->sizes[0], (long long)K, (long long)N, nr,
         gated ? " (gated)" : "", (long long)l.numValues(), (long long)l.numMeta());
  if (x->sizes[0] == 0 || N == 0)
    return;
  Problem p = makeProblem(x, K, N, nr, flags);
  p.values = values->data();
  p.meta = reinterpret_cast<const uint32_t *>(meta->data());
  p.numBlocks = l.numBlocks;
  run(p, x, bias, residual, y, flags, rmsEps);
}

extern "C" void _mlir_ciface_llmc_rt_linear_sparse24_q4(MemRef<float, 2> *x, MemRef<uint8_t, 1> *codes,
                                                        MemRef<int32_t, 1> *meta, MemRef<uint16_t, 1> *scales,
                                                        MemRef<float, 1> *bias, MemRef<float, 2> *residual,
                                                        MemRef<float, 2> *y, int64_t K, int64_t N, int32_t nr,
                                                        int32_t flags, float rmsEps) {
  const char *fn = "llmc_rt_linear_sparse24_q4";
  checkCommon(fn, x, bias, residual, y, K, N, nr, flags);
  const bool gated = flags & packed::kSwiGLU;
  sparse::Sparse24Q4Layout l = sparse::makeSparse24Q4Layout(K, N, nr, gated ? 2 : 1);
  if (codes->sizes[0] < l.numCodes() || meta->sizes[0] < l.numMeta() || scales->sizes[0] < l.numScales())
    failCall(fn, "weight has %lld codes, %lld metadata words and %lld scales, K=%lld N=%lld nr=%d%s needs %lld, %lld, %lld",
         (long long)codes->sizes[0], (long long)meta->sizes[0], (long long)scales->sizes[0], (long long)K,
         (long long)N, nr, gated ? " (gated)" : "", (long long)l.numCodes(), (long long)l.numMeta(),
         (long long)l.numScales());
  if (x->sizes[0] == 0 || N == 0)
    return;
  Problem p = makeProblem(x, K, N, nr, flags);
  p.q4 = true;
  p.codes = codes->data();
  p.meta = reinterpret_cast<const uint32_t *>(meta->data());
  p.scales = scales->data();
  p.numBlocks = l.blocks.numBlocks;
  p.Kp = 4 * p.numBlocks;
  run(p, x, bias, residual, y, flags, rmsEps);
}

extern "C" void _mlir_ciface_llmc_rt_linear_sparse_ell_f32(MemRef<float, 2> *x, MemRef<float, 1> *values,
                                                           MemRef<uint8_t, 1> *offsets,
                                                           MemRef<int32_t, 1> *starts, MemRef<float, 1> *bias,
                                                           MemRef<float, 2> *residual, MemRef<float, 2> *y,
                                                           int64_t K, int64_t N, int32_t nr, int32_t flags,
                                                           float rmsEps) {
  const char *fn = "llmc_rt_linear_sparse_ell_f32";
  checkCommon(fn, x, bias, residual, y, K, N, nr, flags);
  const bool gated = flags & packed::kSwiGLU;
  const int64_t numChunks = ceilDiv(K, sparse::kEllChunk);
  const int64_t numPanels = ceilDiv(N, nr) * (gated ? 2 : 1);
  if (starts->sizes[0] != numPanels * numChunks + 1)
    failCall(fn, "starts has %lld entries, K=%lld N=%lld nr=%d%s needs %lld", (long long)starts->sizes[0],
         (long long)K, (long long)N, nr, gated ? " (gated)" : "", (long long)(numPanels * numChunks + 1));
  const int32_t *st = starts->data();
  const int64_t rows = st[numPanels * numChunks];
  if (values->sizes[0] < rows * nr || offsets->sizes[0] < rows * nr)
    failCall(fn, "%lld values and %lld offsets, the starts need %lld", (long long)values->sizes[0],
         (long long)offsets->sizes[0], (long long)(rows * nr));
  if (x->sizes[0] == 0 || N == 0)
    return;
  Problem p = makeProblem(x, K, N, nr, flags);
  p.ell = true;
  p.values = values->data();
  p.offsets = offsets->data();
  p.starts = st;
  run(p, x, bias, residual, y, flags, rmsEps);
}
