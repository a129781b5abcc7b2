//===- W8A8Linear.cpp - fused linear layers on int8 weights x int8 activations -===//
//
// y[M, N] = epilogue(sa * (qa[M, K] *int8 W)) with W int8 in the QuantLayout.h
// format (symmetric or asymmetric, any group) and the activations
// quantized per row at call time (W8A8: QuantLayout.h, llmc_rt_linear_w8a8,
// made from llm.quantized_linear {act_bits = 8}). Arguments, epilogue flags
// and their order are those of llmc_rt_linear_quant (QuantLinear.cpp): the
// RMSNorm prologue is applied as the row scale of the epilogue (per-row
// quantization does not care about a row's scale), then bias, SwiGLU
// (gate|up as one [K, 2N] layout), residual.
//
// All rows are quantized once up front (int8 [M][Kd], f32 scales, and for
// asymmetric schemes the int32 sums per group); then per output panel the
// micro-kernel (W8A8LinearTiles.inc) walks row blocks of kW8A8Rows rows, so
// decode (M <= kW8A8Rows) reads every code byte once and prefill reuses the
// quantized block for every panel while the panel stays in cache. The
// kernels: AVX-512 VNNI (vpdpbusd), AVX2 (vpmaddubsw + vpmaddwd), generic
// (W8A8Kernels.h); AVX-512 CPUs without VNNI run W8A8 on the AVX2 tile and
// W4A8 on a 16-lane vpmaddubsw one. Work
// items are panel ranges; y is written only by the epilogue, so residual
// may alias y.
//
// int4 weights (bits = 4) take the W4A8 path of the same entry point: rows
// quantized per block of 32 k (scales and sums [M][blocks]) and the tile4
// kernel (W4A8LinearTiles.inc), each tile's rows interleaved so one pointer
// serves them all; the rest of the call is shared.
//
//===----------------------------------------------------------------------===//
#include "../api/MemRefDescriptor.h"
#include "../support/ThreadPool.h"
#include "KernelDispatch.h"
#include "LinearKernelSupport.h"
#include "W8A8Kernels.h"

#include "llmc/PackedLayout.h"
#include "llmc/QuantLayout.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

using llmc::rt::MemRef;
using namespace llmc::rt::kern;
namespace packed = llmc::packed;
namespace quant = llmc::quant;

namespace {

constexpr const char *kFn = "llmc_rt_linear_w8a8";

struct Problem {
  const KernelTable *kt; // the epilogue's
  const W8A8KernelTable *wt;
  quant::Layout l;
  const uint8_t *codes, *zeros;
  const uint16_t *scales;
  bool gated;
  bool w4;     // W4A8: int4 codes, activation scales and sums per block
  int64_t nb;  // W4A8: activation blocks per row
  int64_t saStride, sumStride; // per-row entries of sa (1, W4A8: nb) and asum (groups, W4A8: nb)
  int64_t M, K, N, nr, P, upOffset;
  const int8_t *qa;    // [M][Kd]
  const float *sa;     // [M] (W4A8: [M][nb])
  const int32_t *asum; // asymmetric: [M][numGroups] (W4A8: [M][nb], always)
  const float *rowScale;
  const float *bias, *res;
  int64_t ldr;
  float *y;
  int64_t ldy;
};

QuantPanel panelOf(const Problem &p, int64_t panel) {
  const quant::Layout &l = p.l;
  QuantPanel w;
  w.codes = p.codes + panel * l.nr * l.paddedK * l.scheme.bits / 8;
  w.scales = p.scales + panel * l.numGroups * l.nr;
  w.zeros = l.scheme.symmetric ? nullptr : p.zeros + panel * l.numGroups * l.nr;
  w.bits = int(l.scheme.bits);
  w.nr = l.nr;
  w.Kd = l.paddedK;
  w.G = l.groupSize;
  return w;
}

/// Output panels [q0, q1), all rows.
void runItem(const Problem &p, int64_t q0, int64_t q1) {
  static thread_local std::vector<float> cbuf;
  const int g = p.gated ? 2 : 1;
  const size_t need = size_t(g * kW8A8Rows * p.nr);
  if (cbuf.size() < need)
    cbuf.resize(need);
  const int64_t Kd = p.l.paddedK;
  for (int64_t q = q0; q < q1; ++q)
    for (int64_t ir = 0; ir < p.M; ir += kW8A8Rows) {
      const int mr = int(std::min<int64_t>(kW8A8Rows, p.M - ir));
      for (int gi = 0; gi < g; ++gi) {
        W8A8TileArgs t;
        t.w = panelOf(p, q + gi * p.upOffset);
        t.a = p.qa + ir * Kd;
        t.lda = Kd;
        t.asum = p.asum ? p.asum + ir * p.sumStride : nullptr;
        t.sa = p.sa + ir * p.saStride;
        t.mr = mr;
        t.c = cbuf.data() + gi * kW8A8Rows * p.nr;
        t.ldc = p.nr;
        (p.w4 ? p.wt->tile4 : p.wt->tile)(t);
      }
      runPanelEpilogue(p, q, ir, mr, cbuf.data(), p.gated ? cbuf.data() + kW8A8Rows * p.nr : nullptr, p.nr);
    }
}

/// W4A8: quantizes row m per block into its place among the rows of its
/// tile (kW8A8Rows rows from a multiple of kW8A8Rows, interleaved as tile4
/// reads them: 4-byte words [k/4][r], block scales and sums [b][r]).
void quantizeRowInterleaved(const Problem &p, const float *x, int64_t m, int8_t *qa, float *sa, int32_t *asum) {
  static thread_local std::vector<int8_t> q;
  static thread_local std::vector<float> s;
  static thread_local std::vector<int32_t> sums;
  const int64_t Kd = p.l.paddedK, nb = p.nb, ir = m / kW8A8Rows * kW8A8Rows;
  const int64_t mr = std::min<int64_t>(kW8A8Rows, p.M - ir), r = m - ir;
  if (q.size() < size_t(Kd)) {
    q.resize(Kd);
    s.resize(nb);
    sums.resize(nb);
  }
  p.wt->quantizeBlocks(x, p.K, Kd, q.data(), s.data(), sums.data());
  int8_t *qt = qa + ir * Kd;
  for (int64_t w = 0; w < Kd / 4; ++w)
    std::memcpy(qt + (w * mr + r) * 4, q.data() + w * 4, 4);
  for (int64_t b = 0; b < nb; ++b) {
    sa[ir * nb + b * mr + r] = s[b];
    asum[ir * nb + b * mr + r] = sums[b];
  }
}

/// Quantizes rows [r0, r1) of x (any strides) into qa / sa, with the
/// per-group sums (asymmetric schemes) and the RMSNorm factors (if asked).
void quantizeRows(const Problem &p, const float *x, int64_t xs0, int64_t xs1, float eps, int64_t r0,
                  int64_t r1, int8_t *qa, float *sa, int32_t *asum, float *rmsScale) {
  static thread_local std::vector<float> row;
  const int64_t K = p.K, Kd = p.l.paddedK, G = p.l.groupSize;
  for (int64_t m = r0; m < r1; ++m) {
    const float *xr = x + m * xs0;
    if (xs1 != 1) {
      if (row.size() < size_t(K))
        row.resize(K);
      for (int64_t k = 0; k < K; ++k)
        row[k] = xr[k * xs1];
      xr = row.data();
    }
    int8_t *q = qa + m * Kd;
    if (p.w4)
      quantizeRowInterleaved(p, xr, m, qa, sa, asum);
    else
      p.wt->quantizeRow(xr, K, Kd, q, &sa[m]);
    if (asum && !p.w4)
      for (int64_t g = 0; g < p.l.numGroups; ++g) {
        int32_t s = 0;
        for (int64_t k = g * G; k < (g + 1) * G; ++k)
          s += q[k];
        asum[m * p.l.numGroups + g] = s;
      }
    if (rmsScale)
      rmsScale[m] = rmsNormRowScale(xr, 1, K, eps);
  }
}

} // namespace

namespace {
std::atomic<const W8A8KernelTable *> gForced{nullptr};
} // namespace

bool llmc::rt::kern::w8a8VnniSupported() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return kernelsSupported("avx512") && __builtin_cpu_supports("avx512vnni") && w8a8Avx512VnniKernels();
#else
  return false;
#endif
}

const W8A8KernelTable &llmc::rt::kern::w8a8KernelsFor(const KernelTable &kt) {
  if (const W8A8KernelTable *t = gForced.load(std::memory_order_acquire))
    return *t;
  const std::string name = kt.name;
  if (name.rfind("avx512", 0) == 0 && w8a8VnniSupported())
    return *w8a8Avx512VnniKernels();
  if (name.rfind("avx512", 0) == 0 && kernelsSupported("avx512") && w8a8Avx512BwKernels())
    return *w8a8Avx512BwKernels();
  if (name != "generic" && kernelsSupported("avx2") && w8a8Avx2Kernels())
    return *w8a8Avx2Kernels();
  return *w8a8GenericKernels();
}

void llmc::rt::kern::setW8A8KernelsForTesting(const W8A8KernelTable *table) {
  gForced.store(table, std::memory_order_release);
}

extern "C" void _mlir_ciface_llmc_rt_linear_w8a8(MemRef<float, 2> *x, MemRef<uint8_t, 1> *codes,
                                                 MemRef<uint16_t, 1> *scales, MemRef<uint8_t, 1> *zeros,
                                                 MemRef<float, 1> *bias, MemRef<float, 2> *residual,
                                                 MemRef<float, 2> *y, int64_t K, int64_t N, int32_t nr,
                                                 int32_t bits, int32_t group, int32_t symmetric,
                                                 int32_t flags, float rmsEps) {
  const int64_t M = x->sizes[0];
  const bool gated = flags & packed::kSwiGLU;
  if (bits != 8 && bits != 4)
    failCall(kFn, "int8 activations need int8 or int4 weights (got bits=%d)", bits);
  if (bits == 4)
    if (std::string e = quant::w4a8Unsupported(quant::Scheme{bits, group, symmetric != 0}); !e.empty())
      failCall(kFn, "%s", e.c_str());
  if (x->sizes[1] != K)
    failCall(kFn, "x is [%lld, %lld] but K=%lld", (long long)M, (long long)x->sizes[1], (long long)K);
  if (y->sizes[0] != M || y->sizes[1] != N)
    failCall(kFn, "y is [%lld, %lld], expected [%lld, %lld]", (long long)y->sizes[0], (long long)y->sizes[1],
             (long long)M, (long long)N);
  if (M > 0 && N > 0 && y->strides[1] != 1)
    failCall(kFn, "y needs a unit inner stride (got %lld)", (long long)y->strides[1]);
  if (gated && (nr < 1 || N % nr != 0))
    failCall(kFn, "SwiGLU needs N=%lld to be a multiple of nr=%d", (long long)N, nr);
  std::string err;
  quant::Layout l = quant::makeLayout(quant::Scheme{bits, group, symmetric != 0}, K, gated ? 2 * N : N, nr, &err);
  if (!err.empty())
    failCall(kFn, "%s (K=%lld N=%lld nr=%d bits=%d group=%d)", err.c_str(), (long long)K, (long long)N, nr,
             bits, group);
  if (codes->sizes[0] < l.codeBytes())
    failCall(kFn, "codes have %lld bytes, the layout needs %lld", (long long)codes->sizes[0],
             (long long)l.codeBytes());
  if (scales->sizes[0] < l.numParams())
    failCall(kFn, "%lld scales, the layout needs %lld", (long long)scales->sizes[0], (long long)l.numParams());
  if (!symmetric && zeros->sizes[0] < l.numParams())
    failCall(kFn, "%lld zero points, the layout needs %lld", (long long)zeros->sizes[0],
             (long long)l.numParams());
  if ((flags & packed::kBias) && bias->sizes[0] < N)
    failCall(kFn, "bias has %lld elements, N=%lld", (long long)bias->sizes[0], (long long)N);
  if (flags & packed::kResidual) {
    if (residual->sizes[0] != M || residual->sizes[1] != N)
      failCall(kFn, "residual is [%lld, %lld], expected [%lld, %lld]", (long long)residual->sizes[0],
               (long long)residual->sizes[1], (long long)M, (long long)N);
    if (M > 0 && N > 0 && residual->strides[1] != 1)
      failCall(kFn, "residual needs a unit inner stride (got %lld)", (long long)residual->strides[1]);
  }
  if (M == 0 || N == 0)
    return;

  Problem p;
  // The W8A8 tiles take any panel width; only the epilogue comes from a
  // table that may not (then the generic one).
  p.wt = &w8a8KernelsFor(activeKernels());
  p.kt = &activeKernels();
  if (!p.kt->mrMax(nr, false))
    p.kt = genericKernels();
  p.l = l;
  p.codes = codes->data();
  p.scales = scales->data();
  p.zeros = symmetric ? nullptr : zeros->data();
  p.gated = gated;
  p.w4 = bits == 4;
  p.nb = p.w4 ? quant::actBlocks(l.paddedK) : 1;
  p.saStride = p.w4 ? p.nb : 1;
  p.sumStride = p.w4 ? p.nb : l.numGroups;
  p.M = M;
  p.K = K;
  p.N = N;
  p.nr = nr;
  p.P = ceilDiv(N, nr);
  p.upOffset = gated ? N / nr : 0;
  p.bias = (flags & packed::kBias) ? bias->data() : nullptr;
  p.res = (flags & packed::kResidual) ? residual->data() : nullptr;
  p.ldr = (flags & packed::kResidual) ? residual->strides[0] : 0;
  p.y = y->data();
  p.ldy = y->strides[0];

  // (The buffers are thread_local: workers get the caller's pointers.)
  static thread_local std::vector<int8_t> qaBuf;
  static thread_local std::vector<float> saBuf, rmsBuf;
  static thread_local std::vector<int32_t> asumBuf;
  if (qaBuf.size() < size_t(M * l.paddedK))
    qaBuf.resize(M * l.paddedK);
  // W4A8: a scale and a sum per block (the tile uses the codes uncentered).
  if (saBuf.size() < size_t(M * p.saStride))
    saBuf.resize(M * p.saStride);
  const bool needSums = p.w4 || !symmetric || p.wt->needsSums;
  if (needSums && asumBuf.size() < size_t(M * p.sumStride))
    asumBuf.resize(M * p.sumStride);
  if ((flags & packed::kRMSNorm) && rmsBuf.size() < size_t(M))
    rmsBuf.resize(M);
  int8_t *qa = qaBuf.data();
  float *sa = saBuf.data(), *rms = (flags & packed::kRMSNorm) ? rmsBuf.data() : nullptr;
  int32_t *asum = needSums ? asumBuf.data() : nullptr;
  p.qa = qa;
  p.sa = sa;
  p.asum = asum;
  p.rowScale = rms;
  auto quantize = [&](int64_t r0, int64_t r1) {
    quantizeRows(p, x->data(), x->strides[0], x->strides[1], rmsEps, r0, r1, qa, sa, asum, rms);
  };
  if (M * K < (1 << 16))
    quantize(0, M);
  else
    llmc::rt::parallelFor(M, std::max<int64_t>(1, 8192 / K), quantize);

  // Work items: output panel ranges (each thread streams its own weights).
  forPanelRanges(p.P, M * l.paddedK * p.P * nr * (gated ? 2 : 1),
                 [&](int64_t p0, int64_t p1) { runItem(p, p0, p1); });
}
