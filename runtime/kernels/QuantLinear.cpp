//===- QuantLinear.cpp - fused linear layers on int8/int4 quantized weights -===//
//
// y[M, N] = epilogue(x[M, K] * dequantize(W)) with W in the QuantLayout.h
// format (codes in panels of nr columns, fp16 scales, optional uint8 zero
// points); weight-only quantization, f32 activations and accumulation. The
// epilogue flags and their order are those of PackedLinear.cpp; for kSwiGLU
// W is the [K, 2N] concatenation gate|up quantized as one layout (N a
// multiple of nr), so output panel q pairs panels q and q + N/nr.
//
// Decode (M <= kQuantGemvRows): per panel one GEMV that streams each code
// byte exactly once, widening codes in registers (QuantLinearTiles.inc).
// Prefill: per panel the codes are dequantized once into an f32 [Kd][nr]
// buffer that the active KernelTable's f32 micro-tiles then use for all
// rows, k blocked like PackedLinear.cpp. Work items are panel ranges; y is
// written only by the epilogue, so residual may alias y.
//
//===----------------------------------------------------------------------===//
#include "../api/MemRefDescriptor.h"
#include "../support/ThreadPool.h"
#include "KernelDispatch.h"
#include "LinearKernelSupport.h"
#include "QuantKernels.h"

#include "llmc/PackedLayout.h"
#include "llmc/QuantLayout.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using llmc::rt::MemRef;
using namespace llmc::rt::kern;
namespace packed = llmc::packed;
namespace quant = llmc::quant;

namespace {

// Bytes of an f32 panel slice (KC x nr) the prefill tiles walk per row block.
constexpr int64_t kPanelSliceBytes = 96 << 10;

[[noreturn]] void fail(const char *fmt, ...) {
  std::fprintf(stderr, "llmc runtime: llmc_rt_linear_quant: ");
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  std::abort();
}

struct Problem {
  const KernelTable *kt;
  const QuantKernelTable *qt;
  quant::Layout l;
  const uint8_t *codes, *zeros;
  const uint16_t *scales;
  bool gated, decode;
  int64_t M, K, Kd, N, nr, P, upOffset, MR, KC, nk;
  RowTiling tiles; // prefill micro-tiles (decode: one block of M rows)
  const float *apack; // [k block][row block][k][mr], see packRows
  const float *asum;  // decode, asymmetric: [row block][group][mr]
  const float *rowScale;
  const float *bias, *res;
  int64_t ldr;
  float *y;
  int64_t ldy;
  bool streamY;       // non-temporal stores to y (streamsOutput)
};

QuantPanel panelOf(const Problem &p, int64_t panel) {
  const quant::Layout &l = p.l;
  QuantPanel w;
  w.codes = p.codes + panel * l.nr * l.paddedK * l.scheme.bits / 8;
  w.scales = p.scales + panel * l.numGroups * l.nr;
  w.zeros = l.scheme.symmetric ? nullptr : p.zeros + panel * l.numGroups * l.nr;
  w.bits = l.scheme.bits;
  w.nr = l.nr;
  w.Kd = l.paddedK;
  w.G = l.groupSize;
  return w;
}

/// Output panels [q0, q1), all rows.
void runItem(const Problem &p, int64_t q0, int64_t q1) {
  static thread_local std::vector<float> cbuf, wbuf;
  const int g = p.gated ? 2 : 1;
  if (p.decode) {
    const size_t need = size_t(g * p.MR * p.nr);
    if (cbuf.size() < need)
      cbuf.resize(need);
    for (int64_t q = q0; q < q1; ++q)
      for (int64_t ir = 0; ir < p.M; ir += p.MR) {
        const int mr = int(std::min(p.MR, p.M - ir));
        for (int gi = 0; gi < g; ++gi) {
          QuantGemvArgs t;
          t.w = panelOf(p, q + gi * p.upOffset);
          t.a = p.apack + ir * p.Kd;
          t.asum = p.asum ? p.asum + ir * p.l.numGroups : nullptr;
          t.mr = mr;
          t.c = cbuf.data() + gi * p.MR * p.nr;
          t.ldc = p.nr;
          p.qt->gemv(t);
        }
        runPanelEpilogue(p, q, ir, mr, cbuf.data(), p.gated ? cbuf.data() + p.MR * p.nr : nullptr, p.nr);
      }
    return;
  }
  const size_t cNeed = size_t(g * p.M * p.nr), wNeed = size_t(g * p.Kd * p.nr);
  if (cbuf.size() < cNeed)
    cbuf.resize(cNeed);
  if (wbuf.size() < wNeed)
    wbuf.resize(wNeed);
  for (int64_t q = q0; q < q1; ++q) {
    for (int gi = 0; gi < g; ++gi)
      p.qt->dequantize(panelOf(p, q + gi * p.upOffset), wbuf.data() + gi * p.Kd * p.nr);
    for (int64_t kb = 0; kb < p.nk; ++kb) {
      const int64_t k0 = kb * p.KC, kc = std::min(p.KC, p.Kd - k0);
      for (int64_t b = 0; b < p.tiles.count(); ++b)
        for (int gi = 0; gi < g; ++gi) {
          const int64_t ir = p.tiles.start(b);
          if (kb == p.nk - 1 && gi == 0) // (LinearKernelSupport.h)
            prefetchPanelOutput(p, q, ir, int(p.tiles.rows(b)));
          TileArgs t;
          t.a = p.apack + p.M * k0 + ir * kc;
          t.mr = int(p.tiles.rows(b));
          t.w = wbuf.data() + gi * p.Kd * p.nr + k0 * p.nr;
          t.nr = p.nr;
          t.kc = kc;
          t.c = cbuf.data() + gi * p.M * p.nr + ir * p.nr;
          t.ldc = p.nr;
          t.accumulate = kb > 0;
          p.kt->tileF32(t);
        }
    }
    for (int64_t b = 0; b < p.tiles.count(); ++b) {
      const int64_t ir = p.tiles.start(b);
      runPanelEpilogue(p, q, ir, int(p.tiles.rows(b)), cbuf.data() + ir * p.nr,
                       p.gated ? cbuf.data() + p.M * p.nr + ir * p.nr : nullptr, p.nr, p.streamY);
    }
  }
  if (p.streamY)
    fenceStreamedStores();
}

/// Packs the rows of micro-tiles [b0, b1) of x, zero padded to Kd: row
/// (m, k) of k block [k0, k0+kc) at offset M*k0 + m0*kc + (k-k0)*mr + (m-m0),
/// m0 the first row of m's tile (PackedLinear.cpp's layout); RMSNorm factors
/// and, for asymmetric decode, the per-group sums of each row block.
void packRows(const Problem &p, const float *x, int64_t xs0, int64_t xs1, float eps, int64_t b0,
              int64_t b1, float *apack, float *asum, float *scale) {
  const int64_t r0 = p.tiles.start(b0), r1 = p.tiles.start(b1);
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t m0 = p.tiles.start(b), mr = p.tiles.rows(b);
    for (int64_t k0 = 0; k0 < p.Kd; k0 += p.KC) {
      const int64_t kc = std::min(p.KC, p.Kd - k0);
      packTileRows(x, xs0, xs1, p.K, m0, mr, k0, kc, apack + p.M * k0 + m0 * kc);
    }
    if (asum) {
      const int64_t G = p.l.groupSize;
      const float *a = apack + m0 * p.Kd;
      for (int64_t g = 0; g < p.l.numGroups; ++g)
        for (int64_t r = 0; r < mr; ++r) {
          float s = 0.f;
          for (int64_t k = g * G; k < (g + 1) * G; ++k)
            s += a[k * mr + r];
          asum[m0 * p.l.numGroups + g * mr + r] = s;
        }
    }
  }
  if (!scale)
    return;
  for (int64_t m = r0; m < r1; ++m)
    scale[m] = rmsNormRowScale(x + m * xs0, xs1, p.K, eps);
}

} // namespace

const QuantKernelTable &llmc::rt::kern::quantKernelsFor(const KernelTable &kt) {
  const std::string name = kt.name;
  if (name != "generic" && kernelsSupported("avx2") && quantAvx2Kernels())
    return *quantAvx2Kernels();
  return *quantGenericKernels();
}

extern "C" void _mlir_ciface_llmc_rt_linear_quant(MemRef<float, 2> *x, MemRef<uint8_t, 1> *codes,
                                                  MemRef<uint16_t, 1> *scales,
                                                  MemRef<uint8_t, 1> *zeros, MemRef<float, 1> *bias,
                                                  MemRef<float, 2> *residual, MemRef<float, 2> *y,
                                                  int64_t K, int64_t N, int32_t nr, int32_t bits,
                                                  int32_t group, int32_t symmetric, int32_t flags,
                                                  float rmsEps) {
  const int64_t M = x->sizes[0];
  const bool gated = flags & packed::kSwiGLU;
  if (x->sizes[1] != K)
    fail("x is [%lld, %lld] but K=%lld", (long long)M, (long long)x->sizes[1], (long long)K);
  if (y->sizes[0] != M || y->sizes[1] != N)
    fail("y is [%lld, %lld], expected [%lld, %lld]", (long long)y->sizes[0], (long long)y->sizes[1],
         (long long)M, (long long)N);
  if (M > 0 && N > 0 && y->strides[1] != 1)
    fail("y needs a unit inner stride (got %lld)", (long long)y->strides[1]);
  if (gated && (nr < 1 || N % nr != 0))
    fail("SwiGLU needs N=%lld to be a multiple of nr=%d", (long long)N, nr);
  std::string err;
  quant::Layout l =
      quant::makeLayout(quant::Scheme{bits, group, symmetric != 0}, K, gated ? 2 * N : N, nr, &err);
  if (!err.empty())
    fail("%s (K=%lld N=%lld nr=%d bits=%d group=%d)", err.c_str(), (long long)K, (long long)N, nr,
         bits, group);
  if (codes->sizes[0] < l.codeBytes())
    fail("codes have %lld bytes, the layout needs %lld", (long long)codes->sizes[0],
         (long long)l.codeBytes());
  if (scales->sizes[0] < l.numParams())
    fail("%lld scales, the layout needs %lld", (long long)scales->sizes[0], (long long)l.numParams());
  if (!symmetric && zeros->sizes[0] < l.numParams())
    fail("%lld zero points, the layout needs %lld", (long long)zeros->sizes[0],
         (long long)l.numParams());
  if ((flags & packed::kBias) && bias->sizes[0] < N)
    fail("bias has %lld elements, N=%lld", (long long)bias->sizes[0], (long long)N);
  if (flags & packed::kResidual) {
    if (residual->sizes[0] != M || residual->sizes[1] != N)
      fail("residual is [%lld, %lld], expected [%lld, %lld]", (long long)residual->sizes[0],
           (long long)residual->sizes[1], (long long)M, (long long)N);
    if (M > 0 && N > 0 && residual->strides[1] != 1)
      fail("residual needs a unit inner stride (got %lld)", (long long)residual->strides[1]);
  }
  if (M == 0 || N == 0)
    return;

  Problem p;
  p.kt = &activeKernels();
  if (!p.kt->mrMax(nr, false))
    p.kt = genericKernels();
  p.qt = &quantKernelsFor(*p.kt);
  p.l = l;
  p.codes = codes->data();
  p.scales = scales->data();
  p.zeros = symmetric ? nullptr : zeros->data();
  p.gated = gated;
  p.M = M;
  p.K = K;
  p.Kd = l.paddedK;
  p.N = N;
  p.nr = nr;
  p.P = ceilDiv(N, nr);
  p.upOffset = gated ? N / nr : 0;
  p.decode = M <= kQuantGemvRows;
  p.MR = p.decode ? kQuantGemvRows : p.kt->mrMax(nr, false);
  p.KC = p.decode ? p.Kd : std::max<int64_t>(1, kPanelSliceBytes / (nr * 4));
  p.nk = ceilDiv(p.Kd, p.KC);
  p.bias = (flags & packed::kBias) ? bias->data() : nullptr;
  p.res = (flags & packed::kResidual) ? residual->data() : nullptr;
  p.ldr = (flags & packed::kResidual) ? residual->strides[0] : 0;
  p.y = y->data();
  p.ldy = y->strides[0];
  p.streamY = streamsOutput(M, N);
  p.tiles = RowTiling(M, p.MR);

  static thread_local std::vector<float> apackBuf, asumBuf, scaleBuf;
  if (apackBuf.size() < size_t(M * p.Kd))
    apackBuf.resize(M * p.Kd);
  const bool needSums = p.decode && !symmetric;
  if (needSums && asumBuf.size() < size_t(M * l.numGroups))
    asumBuf.resize(M * l.numGroups);
  if ((flags & packed::kRMSNorm) && scaleBuf.size() < size_t(M))
    scaleBuf.resize(M);
  float *scale = (flags & packed::kRMSNorm) ? scaleBuf.data() : nullptr;
  p.apack = apackBuf.data();
  p.asum = needSums ? asumBuf.data() : nullptr;
  p.rowScale = scale;
  const int64_t rowBlocks = p.tiles.count();
  // (The buffers are thread_local: workers get the caller's pointers.)
  float *apack = apackBuf.data(), *asum = needSums ? asumBuf.data() : nullptr;
  auto pack = [&](int64_t b0, int64_t b1) {
    packRows(p, x->data(), x->strides[0], x->strides[1], rmsEps, b0, b1, apack, asum, scale);
  };
  if (M * p.Kd < (1 << 16))
    pack(0, rowBlocks);
  else
    llmc::rt::parallelFor(rowBlocks, std::max<int64_t>(1, 4096 / p.Kd), pack);

  // Work items: output panel ranges (each thread streams its own weights).
  forPanelRanges(p.P, M * p.Kd * p.P * nr * (gated ? 2 : 1),
                 [&](int64_t p0, int64_t p1) { runItem(p, p0, p1); });
}
