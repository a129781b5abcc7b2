// Packed linear kernels (f32 and bf16 weights, fused epilogues) against a
// double-precision reference computed here from the unpacked weights, for
// every kernel variant this CPU can run.
#include "TestSupport.h"
#include "api/MemRefDescriptor.h"
#include "KernelVariants.h"
#include "kernels/KernelDispatch.h"
#include "kernels/LinearKernelSupport.h"
#include "support/ThreadPool.h"
#include "support/WeightStreaming.h"

#include "llmc/PackedLayout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using llmc::rt::MemRef;
namespace packed = llmc::packed;
namespace kern = llmc::rt::kern;

extern "C" void _mlir_ciface_llmc_rt_linear_packed_f32(MemRef<float, 2> *, MemRef<float, 1> *,
                                                       MemRef<float, 1> *, MemRef<float, 2> *,
                                                       MemRef<float, 2> *, int64_t, int64_t,
                                                       int32_t, int32_t, float);
extern "C" void _mlir_ciface_llmc_rt_linear_packed_bf16(MemRef<float, 2> *, MemRef<uint16_t, 1> *,
                                                        MemRef<float, 1> *, MemRef<float, 2> *,
                                                        MemRef<float, 2> *, int64_t, int64_t,
                                                        int32_t, int32_t, float);

namespace {

using llmc::test::desc;
using llmc::test::randomVec;

double bf16Round(float v) { return packed::fromBF16(packed::toBF16(v)); }

struct Case {
  int64_t M, K, N, nr;
  int flags;
  bool bf16;
  int64_t xPad = 0, yPad = 0; // extra row stride of x / y (and residual)
  bool alias = false;         // residual is y itself
  int64_t xInner = 1;         // inner stride of x
  unsigned seed = 7;
};

std::string describe(const Case &c) {
  return "M=" + std::to_string(c.M) + " K=" + std::to_string(c.K) + " N=" + std::to_string(c.N) +
         " nr=" + std::to_string(c.nr) + " flags=" + std::to_string(c.flags) +
         (c.bf16 ? " bf16" : " f32") + (c.alias ? " y==residual" : "") +
         " xPad=" + std::to_string(c.xPad) + " yPad=" + std::to_string(c.yPad) +
         " xInner=" + std::to_string(c.xInner) + " kernels=" + kern::activeKernels().name +
         " threads=" + std::to_string(llmc::rt::numThreads());
}

/// Runs one case through the kernel and checks every output element.
void check(const Case &c) {
  const int64_t M = c.M, K = c.K, N = c.N, nr = c.nr;
  const bool gated = c.flags & packed::kSwiGLU;
  const int64_t ldx = K * c.xInner + c.xPad, ldy = N + c.yPad;
  auto x = randomVec(std::max<int64_t>(1, M * ldx), c.seed);
  auto wg = randomVec(std::max<int64_t>(1, K * N), c.seed + 1);
  auto wu = randomVec(std::max<int64_t>(1, K * N), c.seed + 2);
  auto bias = randomVec(N, c.seed + 3);
  auto res = randomVec(M * ldy, c.seed + 4);
  std::vector<float> y(M * ldy, 12345.f);
  if (c.alias)
    y = res;

  // Reference in double (bf16: from rounded x and W, like the kernel's
  // products), accumulated row by row over k.
  auto rw = [&](const std::vector<float> &w) {
    std::vector<double> r(w.begin(), w.end());
    if (c.bf16)
      for (size_t i = 0; i < w.size(); ++i)
        r[i] = bf16Round(w[i]);
    return r;
  };
  const std::vector<double> gw = rw(wg), uw = gated ? rw(wu) : std::vector<double>();
  std::vector<double> ref(M * N), tol(M * N);
  std::vector<double> g(N), u(N), ga(N), ua(N);
  for (int64_t m = 0; m < M; ++m) {
    double ss = 0;
    std::fill(g.begin(), g.end(), 0.0);
    std::fill(u.begin(), u.end(), 0.0);
    std::fill(ga.begin(), ga.end(), 0.0);
    std::fill(ua.begin(), ua.end(), 0.0);
    for (int64_t k = 0; k < K; ++k) {
      double x0 = x[m * ldx + k * c.xInner];
      ss += x0 * x0;
      double xv = c.bf16 ? bf16Round(float(x0)) : x0;
      for (int64_t n = 0; n < N; ++n) {
        g[n] += xv * gw[k * N + n];
        ga[n] += std::abs(xv * gw[k * N + n]);
        if (gated) {
          u[n] += xv * uw[k * N + n];
          ua[n] += std::abs(xv * uw[k * N + n]);
        }
      }
    }
    double scale = (c.flags & packed::kRMSNorm) ? 1.0 / std::sqrt(ss / K + 1e-5) : 1.0;
    for (int64_t n = 0; n < N; ++n) {
      double gv = g[n] * scale, uv = u[n] * scale;
      if (c.flags & packed::kBias)
        gv += bias[n];
      double out = gv, mag = ga[n] * scale;
      if (gated) {
        double sg = 1.0 / (1.0 + std::exp(-gv));
        out = gv * sg * uv;
        mag = ga[n] * scale * 1.1 * std::abs(uv) + ua[n] * scale * std::abs(gv * sg);
      }
      if (c.flags & packed::kResidual)
        out += res[m * ldy + n];
      ref[m * N + n] = out;
      // f32 accumulation over K terms; products are exact for bf16 inputs.
      tol[m * N + n] = 5e-5 * mag + 1e-5 * (1 + std::abs(out));
    }
  }

  auto xm = desc<float, 2>(x.data(), {M, K}, {ldx, c.xInner});
  auto bm = desc<float, 1>(bias.data(), {N}, {1});
  auto ym = desc<float, 2>(y.data(), {M, N}, {ldy, 1});
  auto rm = c.alias ? ym : desc<float, 2>(res.data(), {M, N}, {ldy, 1});
  const int64_t groups = gated ? 2 : 1;
  if (c.bf16) {
    std::vector<uint16_t> wp(groups * packed::packedSizeBF16(K, N, nr));
    if (gated)
      packed::packGatedBF16(wg.data(), wu.data(), false, K, N, nr, wp.data());
    else
      packed::packBF16(wg.data(), false, K, N, nr, wp.data());
    auto wm = desc<uint16_t, 1>(wp.data(), {int64_t(wp.size())}, {1});
    _mlir_ciface_llmc_rt_linear_packed_bf16(&xm, &wm, &bm, &rm, &ym, K, N, int32_t(nr), c.flags,
                                            1e-5f);
  } else {
    std::vector<float> wp(groups * packed::packedSizeF32(K, N, nr));
    if (gated)
      packed::packGatedF32(wg.data(), wu.data(), false, K, N, nr, wp.data());
    else
      packed::packF32(wg.data(), false, K, N, nr, wp.data());
    auto wm = desc<float, 1>(wp.data(), {int64_t(wp.size())}, {1});
    _mlir_ciface_llmc_rt_linear_packed_f32(&xm, &wm, &bm, &rm, &ym, K, N, int32_t(nr), c.flags,
                                           1e-5f);
  }

  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n)
      ASSERT_NEAR(y[m * ldy + n], ref[m * N + n], tol[m * N + n])
          << "at m=" << m << " n=" << n << " " << describe(c);
    // Padding between rows is not written.
    for (int64_t n = N; n < ldy; ++n)
      ASSERT_EQ(y[m * ldy + n], c.alias ? res[m * ldy + n] : 12345.f)
          << "wrote padding at m=" << m << " n=" << n << " " << describe(c);
  }
}

/// Runs the whole suite once per kernel variant.
using PackedLinear = KernelVariantTest;

TEST_P(PackedLinear, EveryEpilogueCombination) {
  struct Shape {
    int64_t M, K, N;
  };
  // Odd K, N not a multiple of nr, M below / at / above a tile, K = 1.
  const Shape shapes[] = {{1, 37, 45}, {3, 64, 96}, {7, 1, 33}, {130, 129, 70}, {9, 50, 16}};
  for (bool bf16 : {false, true})
    for (int64_t nr : {16, 32})
      for (int flags = 0; flags < 16; ++flags)
        for (const Shape &s : shapes) {
          Case c{s.M, s.K, s.N, nr, flags, bf16};
          c.alias = (flags & packed::kResidual) && (s.M % 2 == 1);
          c.xPad = s.M % 3;
          c.yPad = (s.M + 1) % 3;
          c.seed = unsigned(flags * 31 + s.M);
          check(c);
          if (HasFatalFailure())
            return;
        }
}

TEST_P(PackedLinear, SplitsKWhenRowsAreMany) {
  // K large enough for several k blocks and N for several column blocks of
  // partial sums; the residual is y itself.
  for (int threads : {1, 2})
  for (bool bf16 : {false, true}) {
    llmc::rt::setNumThreads(threads); // 1: one item holds several column blocks
    Case c{130, 1601, 1200, 32, packed::kRMSNorm | packed::kResidual | packed::kBias, bf16};
    c.alias = true;
    c.yPad = 3;
    check(c);
    if (HasFatalFailure())
      return;
    Case gated{21, 1700, 300, 16, packed::kSwiGLU | packed::kResidual, bf16};
    check(gated);
    if (HasFatalFailure())
      return;
  }
}

TEST_P(PackedLinear, DecodeShapes) {
  // SmolLM2-like rows: one token and a small batch, gated and down projections.
  for (bool bf16 : {false, true})
    for (int64_t M : {1, 2, 5, 16}) {
      check({M, 576, 1536 / 4, 32, packed::kSwiGLU | packed::kRMSNorm, bf16});
      check({M, 1536 / 2, 576, 32, packed::kResidual, bf16});
      if (HasFatalFailure())
        return;
    }
}

TEST_P(PackedLinear, DecodeTilesWithAndWithoutTheWeightPrefetch) {
  // Few-row bf16 tiles prefetch the panel ahead only when the weights
  // stream from DRAM (support/WeightStreaming.h): both paths, one and two
  // rows, gated and plain, K long enough that the prefetch runs past panels.
  for (bool stream : {false, true}) {
    llmc::rt::setWeightsStream(stream);
    for (int64_t M : {1, 2}) {
      check({M, 576, 200, 16, packed::kSwiGLU | packed::kRMSNorm, true});
      check({M, 1030, 77, 32, packed::kResidual | packed::kBias, true});
      if (HasFatalFailure())
        break;
    }
  }
  llmc::rt::setWeightsStream(true);
}

TEST_P(PackedLinear, OneAndTwoThreads) {
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    for (bool bf16 : {false, true}) {
      check({1, 300, 700, 32, packed::kResidual, bf16});
      check({64, 200, 300, 16, packed::kRMSNorm | packed::kBias, bf16});
      check({200, 40, 20, 32, 0, bf16}); // one panel: rows are split
      check({3, 600, 2000, 16, packed::kBias, bf16}); // several column blocks per item
      if (HasFatalFailure())
        return;
    }
  }
}

TEST_P(PackedLinear, EveryRowRemainder) {
  // Row counts with every remainder modulo the tile heights (4, 6, 8, 12):
  // remainders turn some full tiles into tiles of one row less (or stay a
  // short last tile when there are too few full ones), which packing A and
  // the tiles must agree on; K split for M = 128 and 134.
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    for (bool bf16 : {false, true}) {
      for (int64_t M = 2; M <= 27; ++M) {
        check({M, 40, 48, 16, packed::kRMSNorm | packed::kResidual, bf16});
        if (HasFatalFailure())
          return;
      }
      for (int64_t M : {31, 32, 128, 134}) { // bf16: from 32 rows on the widened panels
        check({M, 1601, 40, 16, packed::kSwiGLU | packed::kRMSNorm, bf16});
        if (HasFatalFailure())
          return;
      }
    }
  }
}

TEST_P(PackedLinear, OutputsOverTheCacheAreStreamed) {
  // y of 8 MB or more is written with non-temporal stores (the logits of
  // every prompt position); aligned and unaligned rows, both thread counts.
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    Case c{70, 24, 30000, 16, packed::kRMSNorm | packed::kBias, false};
    check(c);
    c.yPad = 3; // rows no longer start on a vector boundary
    c.flags |= packed::kResidual;
    check(c);
    if (HasFatalFailure())
      return;
  }
}

TEST_P(PackedLinear, OtherPanelWidthsAndStrides) {
  // Widths the vector variants do not tile (they fall back) or tile with
  // odd vector counts; x with a non-unit inner stride.
  for (bool bf16 : {false, true})
    for (int64_t nr : {1, 5, 8, 24, 48, 64}) {
      check({5, 33, 70, nr, packed::kBias | packed::kResidual, bf16});
      check({1, 20, 9, nr, packed::kSwiGLU, bf16});
      if (HasFatalFailure())
        return;
    }
  Case c{6, 40, 50, 32, packed::kRMSNorm, false};
  c.xInner = 3;
  check(c);
  c.bf16 = true;
  check(c);
}

TEST_P(PackedLinear, EmptyShapes) {
  check({0, 16, 16, 16, 0, false});
  check({4, 16, 0, 16, 0, true});
  check({3, 0, 20, 16, packed::kBias, false}); // K = 0: bias only
}

INSTANTIATE_TEST_SUITE_P(Kernels, PackedLinear,
                         ::testing::Values(LLMC_KERNEL_VARIANTS), VariantName());

TEST(KernelDispatch, HonorsLlmcIsa) {
  // The automatic choice respects LLMC_ISA (ctest runs this binary with
  // LLMC_ISA=generic and =avx2 too).
  const char *env = std::getenv("LLMC_ISA");
  std::string name = kern::activeKernels().name;
  if (!env || !*env) {
    EXPECT_NE(name, "avx512-emulated");
    return;
  }
  std::string want = env;
  if (kern::kernelsSupported(want.c_str()))
    EXPECT_EQ(name.substr(0, want.size()), want) << "LLMC_ISA=" << want;
  else
    EXPECT_NE(name.substr(0, want.size()), want);
}

} // namespace

// Panel ranges per call: even shares for every thread (SmolLM2's 576-wide
// layers are 36 panels of 16: 8 ranges of 4-5 panels gave one of 2 threads
// 20 panels to the other's 16 and 73% of peak instead of 82%).
TEST(PanelChunks, EvenSharesAndUpToFourPerThread) {
  using llmc::rt::kern::balancedPanelChunks;
  EXPECT_EQ(balancedPanelChunks(36, 2), 6);   // 6 x 6 panels
  EXPECT_EQ(balancedPanelChunks(12, 2), 6);   // 6 x 2
  EXPECT_EQ(balancedPanelChunks(3072, 2), 8); // divides: 4 per thread
  EXPECT_EQ(balancedPanelChunks(18, 2), 6);   // 6 x 3 (8 would be 2-3)
  EXPECT_EQ(balancedPanelChunks(3, 2), 2);
  EXPECT_EQ(balancedPanelChunks(1, 2), 1);
  EXPECT_EQ(balancedPanelChunks(100, 1), 1);
  // Whatever it picks, the busiest thread does no more than an even split
  // of whole panels would give it.
  for (int threads : {2, 3, 4, 8})
    for (int64_t P = 1; P <= 400; ++P) {
      int64_t c = balancedPanelChunks(P, threads);
      ASSERT_GE(c, 1);
      ASSERT_LE(c, std::max<int64_t>(1, std::min<int64_t>(P, 4 * threads)));
      int64_t rounds = (c + threads - 1) / threads, perRange = (P + c - 1) / c;
      ASSERT_LE(rounds * perRange, (P + threads - 1) / threads + (P < threads ? 0 : perRange - 1))
          << "P=" << P << " threads=" << threads << " c=" << c;
    }
}

TEST(RowTiling, CoversEveryRowOnceWithTilesOfMrOrOneLess) {
  using llmc::rt::kern::RowTiling;
  RowTiling t128(128, 6); // 18 x 6 + 4 x 5
  EXPECT_EQ(t128.count(), 22);
  EXPECT_EQ(t128.rows(17), 6);
  EXPECT_EQ(t128.rows(18), 5);
  EXPECT_EQ(t128.start(18), 108);
  EXPECT_EQ(t128.start(21), 123);
  RowTiling t7(7, 6); // too few full tiles to absorb the rest: 6 + 1
  EXPECT_EQ(t7.count(), 2);
  EXPECT_EQ(t7.rows(1), 1);
  for (int64_t mr : {4, 6, 8, 12})
    for (int64_t M = 1; M <= 300; ++M) {
      RowTiling t(M, mr);
      int64_t next = 0, shortTiles = 0;
      for (int64_t b = 0; b < t.count(); ++b) {
        ASSERT_EQ(t.start(b), next) << "M=" << M << " mr=" << mr << " b=" << b;
        ASSERT_GE(t.rows(b), 1);
        ASSERT_LE(t.rows(b), mr);
        shortTiles += t.rows(b) < mr - 1;
        next += t.rows(b);
      }
      ASSERT_EQ(next, M) << "M=" << M << " mr=" << mr;
      ASSERT_EQ(t.start(t.count()), M);
      // At most one tile below MR-1 rows, and only when M is small.
      ASSERT_LE(shortTiles, 1);
      if (M >= mr * (mr - 2))
        ASSERT_EQ(shortTiles, 0) << "M=" << M << " mr=" << mr;
    }
}
