// Sparse (2:4 and unstructured) linear kernels against a double-precision
// reference computed here from the pruned dense weight (not from the
// compressed form), for every kernel variant this CPU can run, on decode and
// prefill row counts, every epilogue, odd shapes and both thread counts.
#include "TestSupport.h"
#include "api/MemRefDescriptor.h"
#include "KernelVariants.h"
#include "kernels/KernelDispatch.h"
#include "kernels/SparseKernels.h"
#include "support/ThreadPool.h"

#include "llmc/PackedLayout.h"
#include "llmc/SparseLayout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

using llmc::rt::MemRef;
namespace packed = llmc::packed;
namespace sp = llmc::sparse;
namespace kern = llmc::rt::kern;

extern "C" void _mlir_ciface_llmc_rt_linear_sparse24_f32(MemRef<float, 2> *, MemRef<float, 1> *,
                                                         MemRef<int32_t, 1> *, MemRef<float, 1> *,
                                                         MemRef<float, 2> *, MemRef<float, 2> *, int64_t,
                                                         int64_t, int32_t, int32_t, float);
extern "C" void _mlir_ciface_llmc_rt_linear_sparse24_q4(MemRef<float, 2> *, MemRef<uint8_t, 1> *,
                                                        MemRef<int32_t, 1> *, MemRef<uint16_t, 1> *,
                                                        MemRef<float, 1> *, MemRef<float, 2> *, MemRef<float, 2> *,
                                                        int64_t, int64_t, int32_t, int32_t, float);
extern "C" void _mlir_ciface_llmc_rt_linear_sparse_ell_f32(MemRef<float, 2> *, MemRef<float, 1> *,
                                                           MemRef<uint8_t, 1> *, MemRef<int32_t, 1> *,
                                                           MemRef<float, 1> *, MemRef<float, 2> *,
                                                           MemRef<float, 2> *, int64_t, int64_t, int32_t,
                                                           int32_t, float);

namespace {

using llmc::test::desc;
using llmc::test::randomVec;

enum class Format { TwoFour, Ell, TwoFourQ4 };

struct Case {
  Format format;
  int64_t M, K, N, nr;
  int flags = 0;
  bool alias = false;
  int64_t xPad = 0;
  double sparsity = 0.5; // unstructured only
  unsigned seed = 3;
};

std::string describe(const Case &c) {
  const char *f = c.format == Format::TwoFour ? "2:4" : c.format == Format::Ell ? "unstructured" : "2:4 int4";
  return std::string(f) + " M=" + std::to_string(c.M) +
         " K=" + std::to_string(c.K) + " N=" + std::to_string(c.N) + " nr=" + std::to_string(c.nr) +
         " flags=" + std::to_string(c.flags) + (c.alias ? " y==residual" : "") +
         " kernels=" + kern::activeKernels().name + " threads=" + std::to_string(llmc::rt::numThreads());
}

void check(const Case &c) {
  const int64_t M = c.M, K = c.K, N = c.N, nr = c.nr, ldx = K + c.xPad;
  const bool gated = c.flags & packed::kSwiGLU;
  const int mats = gated ? 2 : 1;
  // Pruned dense weights: gate (and up), [K, N] each.
  std::vector<float> w[2];
  for (int m = 0; m < mats; ++m) {
    w[m] = randomVec(K * N, c.seed + 10 * m);
    std::vector<float> copy = w[m];
    auto score = [&](int64_t k, int64_t n) { return std::fabs(copy[k * N + n]); };
    if (c.format != Format::Ell)
      sp::prune24(w[m].data(), K, N, score);
    else
      sp::pruneUnstructured(w[m].data(), K, N, c.sparsity, score);
  }
  sp::Source src = gated ? sp::gated(w[0].data(), w[1].data(), false, K, N) : sp::single(w[0].data(), false, K, N);
  // int4: the reference uses the dequantized weights (SparseLayout.h's
  // reference decompression, tested in SparseLayoutTest).
  sp::Sparse24Q4Layout lq = sp::makeSparse24Q4Layout(K, N, nr, mats);
  std::vector<uint8_t> qcodes(lq.numCodes());
  std::vector<int32_t> qmeta(lq.numMeta());
  std::vector<uint16_t> qscales(lq.numScales());
  if (c.format == Format::TwoFourQ4) {
    ASSERT_EQ(sp::compress24q4(src, lq, qcodes.data(), reinterpret_cast<uint32_t *>(qmeta.data()), qscales.data()),
              "");
    for (int m = 0; m < mats; ++m)
      sp::decompress24q4(lq, qcodes.data(), reinterpret_cast<uint32_t *>(qmeta.data()), qscales.data(), m,
                         w[m].data());
  }

  auto x = randomVec(M * ldx, c.seed + 1);
  auto bias = randomVec(N, c.seed + 2);
  auto res = randomVec(M * N, c.seed + 3);
  std::vector<float> y(M * N, 12345.f);
  if (c.alias)
    y = res;

  // Reference in double from the dense pruned weights.
  std::vector<double> ref(M * N), mag(M * N);
  for (int64_t m = 0; m < M; ++m) {
    double ss = 0;
    for (int64_t k = 0; k < K; ++k)
      ss += double(x[m * ldx + k]) * x[m * ldx + k];
    double rs = (c.flags & packed::kRMSNorm) ? 1.0 / std::sqrt(ss / K + 1e-5) : 1.0;
    for (int64_t n = 0; n < N; ++n) {
      double a = 0, u = 0, am = 0;
      for (int64_t k = 0; k < K; ++k) {
        double xv = x[m * ldx + k];
        a += xv * w[0][k * N + n];
        am += std::fabs(xv * w[0][k * N + n]);
        if (gated) {
          u += xv * w[1][k * N + n];
          am += std::fabs(xv * w[1][k * N + n]);
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
  auto bm = desc<float, 1>(bias.data(), {N}, {1});
  auto ym = desc<float, 2>(y.data(), {M, N}, {N, 1});
  auto rm = c.alias ? ym : desc<float, 2>(res.data(), {M, N}, {N, 1});
  if (c.format == Format::TwoFourQ4) {
    auto cm = desc<uint8_t, 1>(qcodes.data(), {int64_t(qcodes.size())}, {1});
    auto mm = desc<int32_t, 1>(qmeta.data(), {int64_t(qmeta.size())}, {1});
    auto sm = desc<uint16_t, 1>(qscales.data(), {int64_t(qscales.size())}, {1});
    _mlir_ciface_llmc_rt_linear_sparse24_q4(&xm, &cm, &mm, &sm, &bm, &rm, &ym, K, N, int32_t(nr), c.flags, 1e-5f);
  } else if (c.format == Format::TwoFour) {
    sp::Sparse24Layout l = sp::makeSparse24Layout(K, N, nr, mats);
    std::vector<float> values(l.numValues());
    std::vector<int32_t> meta(l.numMeta());
    ASSERT_EQ(sp::compress24(src, l, values.data(), reinterpret_cast<uint32_t *>(meta.data())), "");
    auto vm = desc<float, 1>(values.data(), {int64_t(values.size())}, {1});
    auto mm = desc<int32_t, 1>(meta.data(), {int64_t(meta.size())}, {1});
    _mlir_ciface_llmc_rt_linear_sparse24_f32(&xm, &vm, &mm, &bm, &rm, &ym, K, N, int32_t(nr), c.flags, 1e-5f);
  } else {
    std::string err;
    sp::SparseEllLayout l = sp::makeSparseEllLayout(src, nr, &err);
    ASSERT_EQ(err, "");
    std::vector<float> values(l.numValues());
    std::vector<uint8_t> offsets(l.numValues());
    sp::compressEll(src, l, values.data(), offsets.data());
    std::vector<int32_t> starts = l.starts;
    auto vm = desc<float, 1>(values.data(), {int64_t(values.size())}, {1});
    auto om = desc<uint8_t, 1>(offsets.data(), {int64_t(offsets.size())}, {1});
    auto sm = desc<int32_t, 1>(starts.data(), {int64_t(starts.size())}, {1});
    _mlir_ciface_llmc_rt_linear_sparse_ell_f32(&xm, &vm, &om, &sm, &bm, &rm, &ym, K, N, int32_t(nr), c.flags,
                                               1e-5f);
  }
  int bad = 0;
  for (int64_t i = 0; i < M * N && bad < 5; ++i)
    if (!(std::fabs(y[i] - ref[i]) <= 2e-6 * mag[i] * std::sqrt(double(K)))) {
      ADD_FAILURE() << describe(c) << ": y[" << i / N << "," << i % N << "] = " << y[i] << ", expected "
                    << ref[i];
      ++bad;
    }
}

using SparseLinear = KernelVariantTest;

// Decode and prefill row counts (every tile height), K not a multiple of 4
// or of the 256-k chunk, column tails, panel widths the vector kernels
// cannot take (12: generic fallback), strided x.
TEST_P(SparseLinear, Shapes) {
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    for (Format f : {Format::TwoFour, Format::Ell, Format::TwoFourQ4})
      for (int64_t M : {1, 2, 3, 4, 5, 8, 9, 16, 17, 24, 31, 33, 70})
        for (int64_t nr : {16, 8, 32, 12}) {
          check({f, M, 77, 45, nr});
          check({f, M, 600, 70, nr, 0, false, 3});
        }
  }
}

// Every epilogue combination, residual aliasing y.
TEST_P(SparseLinear, Epilogues) {
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    for (int flags = 0; flags < 16; ++flags)
      for (bool alias : {false, true}) {
        if (alias && !(flags & packed::kResidual))
          continue;
        for (Format f : {Format::TwoFour, Format::Ell, Format::TwoFourQ4})
          for (int64_t M : {1, 3, 4, 9, 40}) {
            check({f, M, 136, 37, 16, flags, alias});
            check({f, M, 300, 19, 8, flags, alias, 1});
          }
      }
  }
}

// Other sparsities (the ELL format takes any pattern), and SmolLM2 shapes
// large enough to split work across threads and K over several chunks.
TEST_P(SparseLinear, LargeShapesAndSparsities) {
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    for (double s : {0.0, 0.3, 0.9, 1.0})
      for (int64_t M : {1, 20})
        check({Format::Ell, M, 520, 33, 8, 0, false, 0, s});
    for (Format f : {Format::TwoFour, Format::Ell, Format::TwoFourQ4})
      for (int64_t M : {1, 4, 64}) {
        check({f, M, 1536, 96, 16, packed::kBias | packed::kResidual, true});
        check({f, M, 576, 128, 16, packed::kSwiGLU | packed::kRMSNorm});
      }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, SparseLinear, ::testing::Values(LLMC_KERNEL_VARIANTS), VariantName());

// Each sparse table's tiles against its own gemv and the scalar reference
// kernels directly (tile heights the driver rarely picks).
TEST(SparseKernels, TilesMatchGenericOnEveryHeight) {
  const kern::SparseKernelTable *avx2 = kern::sparseAvx2Kernels();
  if (!avx2 || !kern::kernelsSupported("avx2"))
    GTEST_SKIP() << "no AVX2";
  const kern::SparseKernelTable *gen = kern::sparseGenericKernels();
  const int64_t K = 256, N = 16, nr = 16;
  auto w = randomVec(K * N, 9);
  auto copy = w;
  sp::prune24(w.data(), K, N, [&](int64_t k, int64_t n) { return std::fabs(copy[k * N + n]); });
  sp::Sparse24Layout l = sp::makeSparse24Layout(K, N, nr);
  std::vector<float> values(l.numValues());
  std::vector<uint32_t> meta(l.numMeta());
  ASSERT_EQ(sp::compress24(sp::single(w.data(), false, K, N), l, values.data(), meta.data()), "");
  kern::Sparse24Panel panel{values.data(), meta.data(), nr, l.numBlocks};
  for (int mrp = 8; mrp <= avx2->tileRows; mrp += 8) {
    auto a = randomVec(K * mrp, 10 + mrp);
    std::vector<float> c1(nr * mrp), c2(nr * mrp);
    kern::SparseTileArgs t{a.data(), mrp, 0, c1.data(), false};
    avx2->tile24(panel, t);
    t.ccol = c2.data();
    gen->tile24(panel, t);
    for (size_t i = 0; i < c1.size(); ++i)
      ASSERT_NEAR(c1[i], c2[i], 1e-4) << "mrp " << mrp << " at " << i;
  }
}

} // namespace
