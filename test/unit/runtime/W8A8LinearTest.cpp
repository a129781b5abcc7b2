// W8A8 linear kernel (int8 weights x per-token int8 activations,
// llmc_rt_linear_w8a8) against QuantLayout.h's integer reference
// (quantizeActivationsPerToken + referenceLinearQuantized, epilogue in
// double here), for each ISA path of the W8A8 kernels (generic, AVX2,
// AVX-512 VNNI where the CPU has it, and the VNNI code built for AVX2 with
// vpdpbusd emulated), on decode and prefill row counts. The integer sums are exact in both, so the
// tolerance only covers f32 rounding of the per-group accumulation and the
// epilogue. W4A8 (int4 weights, activations per row and block of 32 k) runs
// the same cases through the same entry point against
// quantizeActivationsPerBlock + referenceLinearW4A8.
#include "TestSupport.h"
#include "api/MemRefDescriptor.h"
#include "KernelVariants.h"
#include "kernels/KernelDispatch.h"
#include "kernels/W8A8Kernels.h"
#include "support/ThreadPool.h"

#include "llmc/PackedLayout.h"
#include "llmc/QuantLayout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using llmc::rt::MemRef;
namespace packed = llmc::packed;
namespace quant = llmc::quant;
namespace kern = llmc::rt::kern;

extern "C" void _mlir_ciface_llmc_rt_linear_w8a8(MemRef<float, 2> *, MemRef<uint8_t, 1> *,
                                                 MemRef<uint16_t, 1> *, MemRef<uint8_t, 1> *,
                                                 MemRef<float, 1> *, MemRef<float, 2> *,
                                                 MemRef<float, 2> *, int64_t, int64_t, int32_t, int32_t,
                                                 int32_t, int32_t, int32_t, float);

namespace {

using llmc::test::desc;
using llmc::test::randomVec;

/// How the activation rows are filled.
enum class Rows {
  Random,  ///< uniform [-1, 1)
  Special, ///< row 0 zeros, row 1 huge (1e4 with a 3e7 spike), row 2 tiny (1e-30), rest random
};

struct Case {
  int64_t M, K, N, nr;
  int group;
  bool sym;
  int flags = 0;
  bool alias = false;    ///< y == residual
  int64_t xPad = 0;      ///< extra row stride of x
  bool colMajor = false; ///< x with strides {1, M}
  Rows rows = Rows::Random;
  unsigned seed = 5;
  int bits = 8; ///< 4: W4A8
};

Case int4(Case c) {
  c.bits = 4;
  return c;
}

std::string describe(const Case &c) {
  return (c.bits == 4 ? "W4A8 M=" : "M=") + std::to_string(c.M) + " K=" + std::to_string(c.K) + " N=" + std::to_string(c.N) +
         " nr=" + std::to_string(c.nr) + " group=" + std::to_string(c.group) + (c.sym ? " sym" : " asym") +
         " flags=" + std::to_string(c.flags) + (c.alias ? " y==residual" : "") +
         (c.colMajor ? " x column-major" : "") + (c.rows == Rows::Special ? " special rows" : "") +
         " kernels=" + kern::w8a8KernelsFor(kern::activeKernels()).name +
         " threads=" + std::to_string(llmc::rt::numThreads());
}

/// Weights already quantized; runs the kernel on x and checks it against the reference.
void checkQuantized(const Case &c, const quant::Layout &l, const std::vector<uint8_t> &codes,
                    const std::vector<uint16_t> &scales, const std::vector<uint8_t> &zeros,
                    const std::vector<float> &xContig) {
  const int64_t M = c.M, K = c.K, N = c.N, Nw = l.N, Kd = l.paddedK;
  const bool gated = c.flags & packed::kSwiGLU;
  // The reference: quantized rows, integer linear layer, epilogue in double.
  // W8A8: one scale per row; W4A8: per row and block of 32 k.
  const bool w4 = c.bits == 4;
  const int64_t nb = w4 ? quant::actBlocks(Kd) : 1;
  std::vector<int8_t> qa(M * Kd);
  std::vector<float> sa(M * nb), yq(M * Nw);
  if (w4) {
    quant::quantizeActivationsPerBlock(xContig.data(), M, K, K, Kd, qa.data(), sa.data());
    quant::referenceLinearW4A8(qa.data(), sa.data(), M, l, codes.data(), scales.data(),
                               c.sym ? nullptr : zeros.data(), yq.data());
  } else {
    quant::quantizeActivationsPerToken(xContig.data(), M, K, K, Kd, qa.data(), sa.data());
    quant::referenceLinearQuantized(qa.data(), sa.data(), M, l, codes.data(), scales.data(),
                                    c.sym ? nullptr : zeros.data(), yq.data());
  }
  // The f32 sums the kernel rounds: per group (W8A8), per block (W4A8).
  const int64_t sums = w4 ? nb + l.numGroups : l.numGroups;
  std::vector<float> wd(K * Nw);
  quant::dequantize(l, codes.data(), scales.data(), c.sym ? nullptr : zeros.data(), wd.data());

  auto bias = randomVec(N, c.seed + 2);
  auto res = randomVec(M * N, c.seed + 3);
  std::vector<double> ref(M * N), tol(M * N);
  const double eps32 = std::ldexp(1.0, -24);
  for (int64_t m = 0; m < M; ++m) {
    double ss = 0;
    for (int64_t k = 0; k < K; ++k)
      ss += double(xContig[m * K + k]) * xContig[m * K + k];
    const double rs = (c.flags & packed::kRMSNorm) ? 1.0 / std::sqrt(ss / K + 1e-5) : 1.0;
    for (int64_t n = 0; n < N; ++n) {
      // |terms| of the f32 sums, for the rounding bound.
      double mg = 0, mu = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double s = sa[m * nb + (w4 ? k / quant::kActBlock : 0)];
        mg += std::fabs(s * qa[m * Kd + k] * wd[k * Nw + n]);
        if (gated)
          mu += std::fabs(s * qa[m * Kd + k] * wd[k * Nw + N + n]);
      }
      double a = rs * yq[m * Nw + n], u = gated ? rs * yq[m * Nw + N + n] : 0;
      double err = rs * mg * (sums + 3) * eps32 * 2; // per-group f32 accumulation + scales
      if (c.flags & packed::kBias)
        a += bias[n];
      if (gated) {
        double errU = rs * mu * (sums + 3) * eps32 * 2;
        double s = a / (1 + std::exp(-a));
        err = err * 1.2 * std::fabs(u) + errU * (std::fabs(s) + 1e-3) + 8 * eps32 * std::fabs(s * u);
        a = s * u;
      }
      if (c.flags & packed::kResidual)
        a += res[m * N + n];
      ref[m * N + n] = a;
      tol[m * N + n] = err + 8 * eps32 * (std::fabs(a) + std::fabs(bias[n]) + std::fabs(res[m * N + n])) + 1e-30;
    }
  }

  // x as the kernel sees it: padded rows or column-major.
  const int64_t ldx = K + c.xPad;
  std::vector<float> x(c.colMajor ? M * K : M * ldx, 777.f);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k)
      x[c.colMajor ? k * M + m : m * ldx + k] = xContig[m * K + k];
  std::vector<float> y(M * N, 12345.f);
  if (c.alias)
    y = res;
  auto xm = c.colMajor ? desc<float, 2>(x.data(), {M, K}, {1, M}) : desc<float, 2>(x.data(), {M, K}, {ldx, 1});
  auto cm = desc<uint8_t, 1>(const_cast<uint8_t *>(codes.data()), {int64_t(codes.size())}, {1});
  auto sm = desc<uint16_t, 1>(const_cast<uint16_t *>(scales.data()), {int64_t(scales.size())}, {1});
  auto zm = desc<uint8_t, 1>(const_cast<uint8_t *>(zeros.data()), {int64_t(zeros.size())}, {1});
  auto bm = desc<float, 1>(bias.data(), {N}, {1});
  auto ym = desc<float, 2>(y.data(), {M, N}, {N, 1});
  auto rm = c.alias ? ym : desc<float, 2>(res.data(), {M, N}, {N, 1});
  _mlir_ciface_llmc_rt_linear_w8a8(&xm, &cm, &sm, &zm, &bm, &rm, &ym, K, N, int32_t(c.nr), c.bits, c.group,
                                   c.sym, c.flags, 1e-5f);
  int bad = 0;
  for (int64_t i = 0; i < M * N && bad < 5; ++i)
    if (!(std::fabs(y[i] - ref[i]) <= tol[i])) {
      ADD_FAILURE() << describe(c) << ": y[" << i / N << "," << i % N << "] = " << y[i] << ", expected "
                    << ref[i] << " (tolerance " << tol[i] << ")";
      ++bad;
    }
}

std::vector<float> activations(const Case &c) {
  auto x = randomVec(c.M * c.K, c.seed + 1);
  if (c.rows == Rows::Special) {
    for (int64_t k = 0; k < c.K; ++k) {
      if (c.M > 0)
        x[k] = 0.f;
      if (c.M > 1)
        x[c.K + k] = (k % 2 ? -1e4f : 1e4f) * (1 + k % 7);
      if (c.M > 2)
        x[2 * c.K + k] *= 1e-30f;
    }
    if (c.M > 1)
      x[c.K + c.K / 2] = -3e7f;
  }
  return x;
}

void check(const Case &c) {
  const bool gated = c.flags & packed::kSwiGLU;
  const int64_t Nw = gated ? 2 * c.N : c.N;
  std::string err;
  quant::Layout l = quant::makeLayout(quant::Scheme{c.bits, c.group, c.sym}, c.K, Nw, c.nr, &err);
  ASSERT_EQ(err, "");
  // Weights with an offset so asymmetric ranges are lopsided.
  auto w = randomVec(c.K * Nw, c.seed, -0.6f, 1.f);
  std::vector<uint8_t> codes(l.codeBytes()), zeros(c.sym ? 1 : l.numParams());
  std::vector<uint16_t> scales(l.numParams());
  ASSERT_EQ(quant::quantizeRTN(w.data(), false, l, codes.data(), scales.data(), c.sym ? nullptr : zeros.data()),
            "");
  checkQuantized(c, l, codes, scales, zeros, activations(c));
}

/// Parameter: the W8A8 ISA path ("generic", "avx2", "avx512bw", "avx512-vnni"),
/// selected through the f32 kernel table it goes with, or the emulated VNNI
/// code ("avx512-vnni-emulated", forced, with the avx2 epilogue).
class W8A8Linear : public ::testing::TestWithParam<const char *> {
protected:
  void SetUp() override {
    const std::string v = GetParam();
    if (v == "avx512-vnni-emulated") {
      if (!kern::w8a8Avx512VnniEmulatedKernels() || !selectKernels("avx2"))
        GTEST_SKIP() << "the emulated VNNI kernels need AVX2";
      kern::setW8A8KernelsForTesting(kern::w8a8Avx512VnniEmulatedKernels());
    } else if (v == "avx512-vnni") {
      if (!kern::w8a8VnniSupported() || !selectKernels("avx512"))
        GTEST_SKIP() << "this CPU has no AVX512_VNNI";
    } else if (v == "avx512bw") {
      if (kern::w8a8VnniSupported() || !selectKernels("avx512"))
        GTEST_SKIP() << "the AVX-512BW W4A8 kernels run on AVX-512 CPUs without VNNI";
    } else if (!selectKernels(GetParam())) {
      GTEST_SKIP() << "this CPU cannot run the " << GetParam() << " kernels";
    }
    ASSERT_STREQ(kern::w8a8KernelsFor(kern::activeKernels()).name, GetParam());
  }
  void TearDown() override {
    kern::setW8A8KernelsForTesting(nullptr);
    kern::setKernelsForTesting("");
    llmc::rt::setNumThreads(1 << 20);
  }
};

/// Groups 32/64/128/per channel, sym/asym, the row counts `rows`, odd K and
/// N, panel widths with a column tail (12), padded x rows; weights of `bits`.
void checkSchemes(int bits, std::initializer_list<int64_t> rows) {
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    for (bool sym : {true, false})
      for (int group : {32, 64, 128, 0})
        for (int64_t M : rows)
          for (int64_t nr : {16, 32, 12, 48}) { // 48: 2 + 1 vectors of 16 lanes
            Case a{M, 77, 45, nr, group, sym}, b{M, 200, 70, nr, group, sym, 0, false, 3};
            a.bits = b.bits = bits;
            check(a);
            check(b);
          }
  }
}

/// Every epilogue combination (gated: N a multiple of nr), residual aliasing
/// y, for the row counts `rows`; weights of `bits`.
void checkEpilogues(int bits, std::initializer_list<int64_t> rows) {
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    for (int flags = 0; flags < 16; ++flags)
      for (bool alias : {false, true}) {
        if (alias && !(flags & packed::kResidual))
          continue;
        for (bool sym : {true, false})
          for (int64_t M : rows) {
            const bool gated = flags & packed::kSwiGLU;
            Case a{M, 136, gated ? 64 : 37, 32, 64, sym, flags, alias};
            Case b{M, 75, gated ? 48 : 19, 16, 0, sym, flags, alias, 1};
            a.bits = b.bits = bits;
            check(a);
            check(b);
          }
      }
  }
}

TEST_P(W8A8Linear, Schemes) { checkSchemes(8, {1, 2, 3, 4, 5, 13}); }

TEST_P(W8A8Linear, Epilogues) { checkEpilogues(8, {1, 3, 4, 9, 30}); }

// Rows of zeros, huge and tiny rows (per-row scales far apart), x with a
// non-unit inner stride.
TEST_P(W8A8Linear, SpecialRows) {
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    for (bool sym : {true, false})
      for (int64_t M : {1, 2, 3, 4, 7}) {
        check({M, 96, 40, 16, 32, sym, packed::kBias, false, 0, false, Rows::Special});
        check({M, 130, 33, 16, 0, sym, packed::kRMSNorm | packed::kResidual, false, 0, false, Rows::Special});
        check({M, 67, 24, 8, 32, sym, 0, false, 0, true});
      }
  }
}

// Large enough to split work across threads; SmolLM2's shapes.
TEST_P(W8A8Linear, LargeShapes) {
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    for (int64_t M : {1, 64})
      check({M, 1536, 96, 16, 32, M == 1, packed::kBias | packed::kResidual, true});
    check({7, 576, 128, 16, 128, false, packed::kSwiGLU | packed::kRMSNorm});
    check({33, 576, 64, 16, 0, true, packed::kResidual});
  }
}

// The saturation corner of vpmaddubsw: codes 0 (centered -128) and 255
// (127) against activations of +-127 in every pair, in every combination
// of signs, with scale 1 so the result is an exact integer.
TEST_P(W8A8Linear, ExtremeCodesDoNotSaturate) {
  const int64_t M = 4, K = 64, N = 16, nr = 16;
  for (bool sym : {true, false}) {
    std::string err;
    quant::Layout l = quant::makeLayout(quant::Scheme{8, 32, sym}, K, N, nr, &err);
    ASSERT_EQ(err, "");
    std::vector<uint8_t> codes(l.codeBytes()), zeros(l.numParams(), 0);
    std::vector<uint16_t> scales(l.numParams(), 0x3C00); // 1.0
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = 0; n < N; ++n) {
        // Column n: bit 0 picks the code of even k, bit 1 that of odd k;
        // symmetric codes are 1..255 (the grid), asymmetric ones 0..255.
        int bit = (n >> (k % 2)) & 1;
        quant::setCode(l, codes.data(), k, n, bit ? 255 : (sym ? 1 : 0));
      }
    for (int64_t i = 0; i < l.numParams(); ++i)
      zeros[i] = uint8_t(37 * i);
    std::vector<float> x(M * K);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t k = 0; k < K; ++k) // +-1: all quantize to +-127
        x[m * K + k] = ((m >> (k % 2)) & 1) ? 1.f : -1.f;
    checkQuantized({M, K, N, nr, 32, sym}, l, codes, scales, zeros, x);
  }
}

// W4A8: groups 32/64/128/per channel (K 77 and 200 per channel: a last
// activation block of 16 and 8 k), sym/asym, decode and prefill row counts,
// odd K and N, column tails.
TEST_P(W8A8Linear, W4A8Schemes) { checkSchemes(4, {1, 2, 3, 4, 5, 17}); }

TEST_P(W8A8Linear, W4A8Epilogues) { checkEpilogues(4, {1, 3, 4, 5, 17}); }

// Zero, huge and tiny rows (block scales far apart within a row: the huge
// row has a 3e7 spike in one block), x column-major, SmolLM2's shapes.
TEST_P(W8A8Linear, W4A8SpecialRowsAndLargeShapes) {
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    for (bool sym : {true, false})
      for (int64_t M : {1, 2, 3, 4, 7}) {
        check(int4({M, 96, 40, 16, 32, sym, packed::kBias, false, 0, false, Rows::Special}));
        check(int4({M, 130, 33, 16, 0, sym, packed::kRMSNorm | packed::kResidual, false, 0, false, Rows::Special}));
        check(int4({M, 67, 24, 8, 32, sym, 0, false, 0, true}));
      }
    for (int64_t M : {1, 64})
      check(int4({M, 1536, 96, 16, 32, M == 1, packed::kBias | packed::kResidual, true}));
    check(int4({7, 576, 128, 16, 64, false, packed::kSwiGLU | packed::kRMSNorm}));
    check(int4({33, 576, 64, 16, 0, true, packed::kResidual}));
  }
}

// The int16 corner of the AVX2 W4A8 block sum: codes 15 (and 0) against
// activations of +-127 in every k of a block, so a 16-bit lane sums 16
// products of 15 * 127 = 30480 (no saturation allowed); scale 1, exact.
TEST_P(W8A8Linear, W4A8ExtremeCodesDoNotSaturate) {
  const int64_t M = 4, K = 64, N = 16, nr = 16;
  for (bool sym : {true, false}) {
    std::string err;
    quant::Layout l = quant::makeLayout(quant::Scheme{4, 32, sym}, K, N, nr, &err);
    ASSERT_EQ(err, "");
    std::vector<uint8_t> codes(l.codeBytes()), zeros(l.numParams(), 0);
    std::vector<uint16_t> scales(l.numParams(), 0x3C00); // 1.0
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = 0; n < N; ++n) // columns 0..7 all 15, the others mixed 15 / 0 by k parity
        quant::setCode(l, codes.data(), k, n, n < 8 || ((n >> (k % 2)) & 1) ? 15 : 0);
    for (int64_t i = 0; i < l.numParams(); ++i)
      zeros[i] = uint8_t(i % 16);
    std::vector<float> x(M * K);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t k = 0; k < K; ++k) // row 0 all +1, row 1 all -1: all quantize to +-127
        x[m * K + k] = m == 0 ? 1.f : m == 1 ? -1.f : (((m >> (k % 2)) & 1) ? 1.f : -1.f);
    Case c{M, K, N, nr, 32, sym};
    c.bits = 4;
    checkQuantized(c, l, codes, scales, zeros, x);
  }
}

// Int4 schemes without a W4A8 kernel fail the call with a message.
TEST(W4A8LinearDeath, GroupNotWholeBlocks) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::vector<float> x(16, 1.f), y(2);
  std::vector<uint8_t> codes(16, 0x88);
  std::vector<uint16_t> scales(4, 0x3C00);
  auto xm = desc<float, 2>(x.data(), {1, 16}, {16, 1});
  auto cm = desc<uint8_t, 1>(codes.data(), {16}, {1});
  auto sm = desc<uint16_t, 1>(scales.data(), {4}, {1});
  auto bm = desc<float, 1>(y.data(), {2}, {1});
  auto ym = desc<float, 2>(y.data(), {1, 2}, {2, 1});
  EXPECT_DEATH(_mlir_ciface_llmc_rt_linear_w8a8(&xm, &cm, &sm, &cm, &bm, &ym, &ym, 16, 2, 2, 4, 8, 1, 0, 1e-5f),
               "W4A8 needs an int4 group that is a multiple of 32 \\(or per channel\\), got group 8");
}

INSTANTIATE_TEST_SUITE_P(Isa, W8A8Linear,
                         ::testing::Values("generic", "avx2", "avx512bw", "avx512-vnni", "avx512-vnni-emulated"),
                         VariantName());

// Each ISA's row quantizer is bit-exact with quantizeActivationsPerToken,
// including ties (x.5 steps round to even), zeros, huge and tiny rows.
TEST(W8A8Kernels, QuantizeRowMatchesLayout) {
  for (const kern::W8A8KernelTable *t : {kern::w8a8GenericKernels(), kern::w8a8Avx2Kernels(),
                                         kern::w8a8Avx512BwKernels(), kern::w8a8Avx512VnniKernels(),
                                         kern::w8a8Avx512VnniEmulatedKernels()}) {
    if (!t || (t == kern::w8a8Avx512VnniKernels() && !kern::w8a8VnniSupported()) ||
        (t == kern::w8a8Avx512BwKernels() && !kern::kernelsSupported("avx512")) ||
        (t != kern::w8a8GenericKernels() && !kern::kernelsSupported("avx2")))
      continue;
    for (int64_t K : {1, 5, 8, 31, 77, 576})
      for (int kind = 0; kind < 5; ++kind) {
        std::vector<float> x = randomVec(K, unsigned(K * 10 + kind));
        for (int64_t k = 0; k < K; ++k) {
          if (kind == 1) // amax 127: the products are the values, half steps are ties
            x[k] = float(int(k % 255) - 127) + (k % 3 == 0 ? 0.5f : 0.f);
          if (kind == 2)
            x[k] = 0.f;
          if (kind == 3)
            x[k] *= 3e38f;
          if (kind == 4)
            x[k] *= 1e-30f; // 127 / amax stays finite
        }
        if (kind == 1)
          x[0] = -127.f;
        const int64_t Kd = (K + 31) / 32 * 32;
        std::vector<int8_t> want(Kd), got(Kd, 99);
        float wantScale, gotScale;
        quant::quantizeActivationsPerToken(x.data(), 1, K, K, Kd, want.data(), &wantScale);
        t->quantizeRow(x.data(), K, Kd, got.data(), &gotScale);
        EXPECT_EQ(got, want) << t->name << " K=" << K << " kind=" << kind;
        EXPECT_EQ(std::memcmp(&gotScale, &wantScale, 4), 0) << t->name << " K=" << K << " kind=" << kind;
      }
  }
}

// Each ISA's block quantizer is bit-exact with quantizeActivationsPerBlock
// (blocks of 32 k, a shorter last block, blocks past K) and its sums are
// the blocks' sums of q.
TEST(W8A8Kernels, QuantizeBlocksMatchesLayout) {
  for (const kern::W8A8KernelTable *t : {kern::w8a8GenericKernels(), kern::w8a8Avx2Kernels(),
                                         kern::w8a8Avx512BwKernels(), kern::w8a8Avx512VnniKernels(),
                                         kern::w8a8Avx512VnniEmulatedKernels()}) {
    if (!t || (t == kern::w8a8Avx512VnniKernels() && !kern::w8a8VnniSupported()) ||
        (t == kern::w8a8Avx512BwKernels() && !kern::kernelsSupported("avx512")) ||
        (t != kern::w8a8GenericKernels() && !kern::kernelsSupported("avx2")))
      continue;
    for (int64_t K : {1, 5, 8, 31, 77, 200, 576})
      for (int64_t Kd : {(K + 7) / 8 * 8, (K + 31) / 32 * 32 + 32})
        for (int kind = 0; kind < 4; ++kind) {
          std::vector<float> x = randomVec(K, unsigned(K * 10 + kind));
          for (int64_t k = 0; k < K; ++k) {
            if (kind == 1) // amax 127 in each block: half steps are ties
              x[k] = float(int(k % 255) - 127) + (k % 3 == 0 ? 0.5f : 0.f);
            if (kind == 2)
              x[k] = k % 32 < 16 ? 0.f : x[k] * 3e38f; // zero and huge halves of each block
            if (kind == 3)
              x[k] *= (k / 32) % 2 ? 1e-30f : 1e4f;
          }
          if (kind == 1)
            for (int64_t k = 0; k < K; k += 32)
              x[k] = -127.f;
          const int64_t nb = quant::actBlocks(Kd);
          std::vector<int8_t> want(Kd), got(Kd, 99);
          std::vector<float> wantScale(nb), gotScale(nb, -1.f);
          std::vector<int32_t> gotSums(nb, -1);
          quant::quantizeActivationsPerBlock(x.data(), 1, K, K, Kd, want.data(), wantScale.data());
          t->quantizeBlocks(x.data(), K, Kd, got.data(), gotScale.data(), gotSums.data());
          const std::string what = std::string(t->name) + " K=" + std::to_string(K) + " Kd=" + std::to_string(Kd) +
                                   " kind=" + std::to_string(kind);
          EXPECT_EQ(got, want) << what;
          EXPECT_EQ(std::memcmp(gotScale.data(), wantScale.data(), 4 * nb), 0) << what;
          for (int64_t b = 0; b < nb; ++b) {
            int32_t s = 0;
            for (int64_t k = b * quant::kActBlock; k < std::min(Kd, (b + 1) * quant::kActBlock); ++k)
              s += want[k];
            EXPECT_EQ(gotSums[b], s) << what << " block " << b;
          }
        }
  }
}

} // namespace
