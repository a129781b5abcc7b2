// Weight-quantized (int8 / int4) linear kernel against a double-precision
// reference computed here from QuantLayout.h's dequantize, for every kernel
// variant this CPU can run, both the decode (GEMV) and prefill paths.
#include "TestSupport.h"
#include "api/MemRefDescriptor.h"
#include "KernelVariants.h"
#include "kernels/KernelDispatch.h"
#include "kernels/QuantKernels.h"
#include "support/ThreadPool.h"

#include "llmc/PackedLayout.h"
#include "llmc/QuantLayout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

using llmc::rt::MemRef;
namespace packed = llmc::packed;
namespace quant = llmc::quant;
namespace kern = llmc::rt::kern;

extern "C" void _mlir_ciface_llmc_rt_linear_quant(MemRef<float, 2> *, MemRef<uint8_t, 1> *,
                                                  MemRef<uint16_t, 1> *, MemRef<uint8_t, 1> *,
                                                  MemRef<float, 1> *, MemRef<float, 2> *,
                                                  MemRef<float, 2> *, int64_t, int64_t, int32_t,
                                                  int32_t, int32_t, int32_t, int32_t, float);

namespace {

using llmc::test::desc;
using llmc::test::randomVec;

struct Case {
  int64_t M, K, N, nr;
  int bits, group;
  bool sym;
  int flags;
  bool alias = false;
  int64_t xPad = 0;
  unsigned seed = 3;
};

std::string describe(const Case &c) {
  return "M=" + std::to_string(c.M) + " K=" + std::to_string(c.K) + " N=" + std::to_string(c.N) +
         " nr=" + std::to_string(c.nr) + " int" + std::to_string(c.bits) + " group=" +
         std::to_string(c.group) + (c.sym ? " sym" : " asym") + " flags=" + std::to_string(c.flags) +
         (c.alias ? " y==residual" : "") + " kernels=" + kern::activeKernels().name +
         " threads=" + std::to_string(llmc::rt::numThreads());
}

void check(const Case &c) {
  const int64_t M = c.M, K = c.K, N = c.N, nr = c.nr;
  const bool gated = c.flags & packed::kSwiGLU;
  const int64_t Nw = gated ? 2 * N : N, ldx = K + c.xPad;
  std::string err;
  quant::Layout l = quant::makeLayout(quant::Scheme{c.bits, c.group, c.sym}, K, Nw, nr, &err);
  ASSERT_EQ(err, "");
  // Weights with an offset so asymmetric ranges are lopsided.
  auto w = randomVec(K * Nw, c.seed, -0.6f, 1.f);
  std::vector<uint8_t> codes(l.codeBytes()), zeros(c.sym ? 1 : l.numParams());
  std::vector<uint16_t> scales(l.numParams());
  ASSERT_EQ(quant::quantizeRTN(w.data(), false, l, codes.data(), scales.data(),
                               c.sym ? nullptr : zeros.data()),
            "");
  std::vector<float> wd(K * Nw);
  quant::dequantize(l, codes.data(), scales.data(), c.sym ? nullptr : zeros.data(), wd.data());

  auto x = randomVec(M * ldx, c.seed + 1);
  auto bias = randomVec(N, c.seed + 2);
  auto res = randomVec(M * N, c.seed + 3);
  std::vector<float> y(M * N, 12345.f);
  if (c.alias)
    y = res;

  // Reference in double.
  std::vector<double> ref(M * N);
  std::vector<double> mag(M * N);
  for (int64_t m = 0; m < M; ++m) {
    double ss = 0;
    for (int64_t k = 0; k < K; ++k)
      ss += double(x[m * ldx + k]) * x[m * ldx + k];
    double rs = (c.flags & packed::kRMSNorm) ? 1.0 / std::sqrt(ss / K + 1e-5) : 1.0;
    for (int64_t n = 0; n < N; ++n) {
      double a = 0, u = 0, am = 0;
      for (int64_t k = 0; k < K; ++k) {
        double xv = x[m * ldx + k];
        a += xv * wd[k * Nw + n];
        am += std::fabs(xv * wd[k * Nw + n]);
        if (gated) {
          u += xv * wd[k * Nw + N + n];
          am += std::fabs(xv * wd[k * Nw + N + n]);
        }
      }
      a *= rs;
      u *= rs;
      am *= rs;
      if (c.flags & packed::kBias)
        a += bias[n];
      if (gated) {
        a = a / (1 + std::exp(-a)) * u;
        am *= 1 + std::fabs(u) + std::fabs(a);
      }
      if (c.flags & packed::kResidual)
        a += res[m * N + n];
      ref[m * N + n] = a;
      mag[m * N + n] = am + 1;
    }
  }

  auto xm = desc<float, 2>(x.data(), {M, K}, {ldx, 1});
  auto cm = desc<uint8_t, 1>(codes.data(), {int64_t(codes.size())}, {1});
  auto sm = desc<uint16_t, 1>(scales.data(), {int64_t(scales.size())}, {1});
  auto zm = desc<uint8_t, 1>(zeros.data(), {int64_t(zeros.size())}, {1});
  auto bm = desc<float, 1>(bias.data(), {N}, {1});
  auto ym = desc<float, 2>(y.data(), {M, N}, {N, 1});
  auto rm = c.alias ? ym : desc<float, 2>(res.data(), {M, N}, {N, 1});
  _mlir_ciface_llmc_rt_linear_quant(&xm, &cm, &sm, &zm, &bm, &rm, &ym, K, N, int32_t(nr), c.bits,
                                    c.group, c.sym, c.flags, 1e-5f);
  int bad = 0;
  for (int64_t i = 0; i < M * N && bad < 5; ++i)
    if (!(std::fabs(y[i] - ref[i]) <= 2e-6 * mag[i] * std::sqrt(double(K)))) {
      ADD_FAILURE() << describe(c) << ": y[" << i / N << "," << i % N << "] = " << y[i]
                    << ", expected " << ref[i];
      ++bad;
    }
}

using QuantLinear = KernelVariantTest;

// Every scheme on decode and prefill row counts, odd K and N, column tails.
TEST_P(QuantLinear, Schemes) {
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    for (int bits : {8, 4})
      for (bool sym : {true, false})
        for (int group : {32, 64, 128, 0})
          for (int64_t M : {1, 2, 3, 4, 5, 13})
            for (int64_t nr : {16, 32, 12}) {
              check({M, 77, 45, nr, bits, group, sym, 0});
              check({M, 200, 70, nr, bits, group, sym, 0, false, 3});
            }
  }
}

// Every epilogue combination (gated: N a multiple of nr), residual aliasing y.
TEST_P(QuantLinear, Epilogues) {
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    for (int flags = 0; flags < 16; ++flags)
      for (bool alias : {false, true}) {
        if (alias && !(flags & packed::kResidual))
          continue;
        for (int bits : {8, 4})
          for (bool sym : {true, false})
            for (int64_t M : {1, 3, 4, 9, 30}) {
              const bool gated = flags & packed::kSwiGLU;
              check({M, 136, gated ? 64 : 37, 32, bits, 64, sym, flags, alias});
              check({M, 75, gated ? 48 : 19, 16, bits, 0, sym, flags, alias, 1});
            }
      }
  }
}

// Large enough to split work across threads and K into several prefill blocks.
TEST_P(QuantLinear, LargeShapes) {
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    for (int bits : {8, 4})
      for (int64_t M : {1, 64})
        check({M, 1536, 96, 64, bits, 32, bits == 4, packed::kBias | packed::kResidual, true});
    check({7, 576, 128, 32, 4, 128, false, packed::kSwiGLU | packed::kRMSNorm});
    // 128 rows: tiles of MR and MR-1 rows (RowTiling); 8.4 MB of output:
    // non-temporal stores.
    check({128, 200, 48, 16, 4, 32, true, packed::kRMSNorm | packed::kResidual});
    check({70, 40, 30000, 32, 8, 32, true, packed::kBias});
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, QuantLinear, ::testing::Values(LLMC_KERNEL_VARIANTS),
                         VariantName());

// The two quantized kernels agree with QuantLayout.h's dequantize exactly.
TEST(QuantKernels, DequantizeMatchesLayout) {
  for (const kern::QuantKernelTable *qt : {kern::quantGenericKernels(), kern::quantAvx2Kernels()}) {
    if (!qt || (qt == kern::quantAvx2Kernels() && !kern::kernelsSupported("avx2")))
      continue;
    for (int bits : {8, 4})
      for (bool sym : {true, false})
        for (int64_t nr : {8, 16, 12}) {
          const int64_t K = 40, N = nr;
          std::string err;
          quant::Layout l = quant::makeLayout(quant::Scheme{bits, 8, sym}, K, N, nr, &err);
          auto w = randomVec(K * N, 9, -1.f, 0.5f);
          std::vector<uint8_t> codes(l.codeBytes()), zeros(l.numParams());
          std::vector<uint16_t> scales(l.numParams());
          ASSERT_EQ(quant::quantizeRTN(w.data(), false, l, codes.data(), scales.data(), zeros.data()), "");
          std::vector<float> ref(K * N), got(l.paddedK * nr);
          quant::dequantize(l, codes.data(), scales.data(), sym ? nullptr : zeros.data(), ref.data());
          kern::QuantPanel p{codes.data(), scales.data(), sym ? nullptr : zeros.data(), bits, nr, l.paddedK,
                             l.groupSize};
          qt->dequantize(p, got.data());
          for (int64_t k = 0; k < K; ++k)
            for (int64_t n = 0; n < N; ++n)
              ASSERT_EQ(got[k * nr + n], ref[k * N + n])
                  << qt->name << " int" << bits << (sym ? " sym" : " asym") << " nr=" << nr << " k=" << k
                  << " n=" << n;
        }
  }
}

} // namespace
