// include/llmc/Awq.h and gptq::quantizeClipped against references written
// here: quantizeRTN, and output errors ||X (W_hat - W)||^2 computed from the
// calibration inputs X themselves (the search only sees their Gram matrix).
#include "llmc/Awq.h"
#include "llmc/Gptq.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace q = llmc::quant;
namespace awq = llmc::awq;

namespace {

struct Problem {
  int64_t T, K, N;
  std::vector<float> X, W; // [T, K], [K, N]
  std::vector<double> H;   // X^T X
};

/// Random inputs whose channels have very different magnitudes (every 9th
/// one `outlier` times larger, as in real activations) and random weights.
Problem makeProblem(int64_t T, int64_t K, int64_t N, float outlier, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  Problem p{T, K, N, std::vector<float>(T * K), std::vector<float>(K * N), std::vector<double>(K * K, 0.0)};
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k)
      p.X[t * K + k] = nd(g) * (k % 9 == 0 ? outlier : 1.f);
  for (auto &w : p.W)
    w = nd(g) * 0.05f;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < K; ++j)
        p.H[i * K + j] += double(p.X[t * K + i]) * p.X[t * K + j];
  return p;
}

/// ||X (What - W)||^2 / ||X W||^2 from X.
double outputErrorFromX(const Problem &p, const std::vector<float> &What) {
  double num = 0, den = 0;
  for (int64_t t = 0; t < p.T; ++t)
    for (int64_t n = 0; n < p.N; ++n) {
      double d = 0, y = 0;
      for (int64_t k = 0; k < p.K; ++k) {
        d += double(p.X[t * p.K + k]) * (What[k * p.N + n] - p.W[k * p.N + n]);
        y += double(p.X[t * p.K + k]) * p.W[k * p.N + n];
      }
      num += d * d;
      den += y * y;
    }
  return num / den;
}

/// RTN of diag(s) W, dequantized and scaled back by 1 / s (s empty: RTN of W).
std::vector<float> rtnScaledBack(const Problem &p, const q::Scheme &s, const std::vector<float> &scales) {
  std::vector<float> w = p.W;
  if (!scales.empty())
    for (int64_t k = 0; k < p.K; ++k)
      for (int64_t n = 0; n < p.N; ++n)
        w[k * p.N + n] *= scales[k];
  std::string err;
  q::Layout l = q::makeLayout(s, p.K, p.N, 8, &err);
  EXPECT_EQ(err, "");
  std::vector<uint8_t> codes(l.codeBytes()), zeros(l.numParams());
  std::vector<uint16_t> sc(l.numParams());
  EXPECT_EQ(q::quantizeRTN(w.data(), false, l, codes.data(), sc.data(), zeros.data()), "");
  std::vector<float> out(p.K * p.N);
  q::dequantize(l, codes.data(), sc.data(), zeros.data(), out.data());
  if (!scales.empty())
    for (int64_t k = 0; k < p.K; ++k)
      for (int64_t n = 0; n < p.N; ++n)
        out[k * p.N + n] /= scales[k];
  return out;
}

} // namespace

TEST(Awq, ScalesForAlpha) {
  std::vector<double> rms{4.0, 1.0, 0.0, 0.25};
  std::vector<float> s0 = awq::scalesForAlpha(rms, 0.0);
  for (float v : s0)
    EXPECT_FLOAT_EQ(v, 1.f);
  // alpha 0.5: sqrt(rms) = 2, 1, -, 0.5, normalized by sqrt(2 * 0.5) = 1.
  std::vector<float> s = awq::scalesForAlpha(rms, 0.5);
  EXPECT_FLOAT_EQ(s[0], 2.f);
  EXPECT_FLOAT_EQ(s[1], 1.f);
  EXPECT_FLOAT_EQ(s[2], 1.f); // dead input: untouched
  EXPECT_FLOAT_EQ(s[3], 0.5f);
  // Tiny magnitudes are clamped to 1e-4 before normalizing.
  std::vector<float> c = awq::scalesForAlpha({1e-12, 1.0}, 1.0);
  EXPECT_NEAR(c[0] * c[1], 1.f, 1e-6f);
  EXPECT_NEAR(c[1] / c[0], 1e4f, 1.f);
}

TEST(Awq, AlphaZeroIsRtnAndTheChoiceIsNeverWorse) {
  Problem p = makeProblem(96, 64, 24, 1.f, 1);
  q::Scheme s{4, 32, true};
  awq::Result r;
  ASSERT_EQ(awq::searchScales({{p.W.data(), false, p.N}}, p.K, p.H.data(), p.T, s, {}, r), "");
  // All 24 columns are searched, so rtnError is RTN's error on all of them.
  EXPECT_NEAR(r.rtnError, outputErrorFromX(p, rtnScaledBack(p, s, {})), 1e-4 * r.rtnError);
  EXPECT_LE(r.error, r.rtnError);
  EXPECT_NEAR(r.error, outputErrorFromX(p, rtnScaledBack(p, s, r.scales)), 1e-4 * r.error);
}

TEST(Awq, ProtectsTheWeightsOfLargeActivations) {
  // Channels 0, 9, ... carry 20x larger inputs: their weights' rounding
  // errors dominate the output error, so AWQ magnifies those rows.
  Problem p = makeProblem(128, 72, 40, 20.f, 2);
  for (q::Scheme s : {q::Scheme{4, 24, true}, q::Scheme{4, 0, false}, q::Scheme{8, 24, true}}) {
    awq::Result r;
    ASSERT_EQ(awq::searchScales({{p.W.data(), false, p.N}}, p.K, p.H.data(), p.T, s, {}, r), "");
    EXPECT_GT(r.alpha, 0.0);
    float bigMin = INFINITY, smallMax = 0;
    for (int64_t k = 0; k < p.K; ++k)
      (k % 9 == 0 ? bigMin = std::min(bigMin, r.scales[k]) : smallMax = std::max(smallMax, r.scales[k]));
    EXPECT_GT(bigMin, smallMax) << "group " << s.group;
    const double rtnX = outputErrorFromX(p, rtnScaledBack(p, s, {}));
    const double awqX = outputErrorFromX(p, rtnScaledBack(p, s, r.scales));
    EXPECT_LT(awqX, 0.8 * rtnX) << "bits " << s.bits << " group " << s.group;
  }
}

TEST(Awq, SharedInputAndColumnSampling) {
  // Two weights reading one input (q and k of an attention) get one s; with
  // 8 of 40 columns sampled per weight the choice still beats RTN on all.
  Problem p = makeProblem(128, 72, 40, 20.f, 3);
  Problem p2 = makeProblem(128, 72, 40, 20.f, 4);
  std::vector<float> W2t(p.N * p.K); // the second weight transposed ([N, K])
  for (int64_t k = 0; k < p.K; ++k)
    for (int64_t n = 0; n < p.N; ++n)
      W2t[n * p.K + k] = p2.W[k * p.N + n];
  awq::Options o;
  o.searchColumns = 8;
  awq::Result r;
  q::Scheme s{4, 24, true};
  ASSERT_EQ(awq::searchScales({{p.W.data(), false, p.N}, {W2t.data(), true, p.N}}, p.K, p.H.data(), p.T, s, o, r), "");
  Problem both = p;
  both.W = p2.W;
  EXPECT_LT(outputErrorFromX(p, rtnScaledBack(p, s, r.scales)), outputErrorFromX(p, rtnScaledBack(p, s, {})));
  EXPECT_LT(outputErrorFromX(both, rtnScaledBack(both, s, r.scales)),
            outputErrorFromX(both, rtnScaledBack(both, s, {})));
}

TEST(Awq, Errors) {
  awq::Result r;
  std::vector<float> w(4, 1.f);
  std::vector<double> H{1, 0, 0, NAN};
  EXPECT_NE(awq::searchScales({{w.data(), false, 2}}, 2, H.data(), 1, {4, 32, true}, {}, r), "");
  EXPECT_NE(awq::searchScales({}, 2, H.data(), 1, {4, 32, true}, {}, r), "");
  H[3] = 1;
  EXPECT_NE(awq::searchScales({{w.data(), false, 2}}, 2, H.data(), 1, {3, 32, true}, {}, r), "");
}

TEST(QuantizeClipped, NoWorseThanRtnUnderTheEnergyAndPaddingIsZero) {
  // K = 50 with group 32: the second group has 18 real rows and 14 padding.
  std::mt19937 g(5);
  std::normal_distribution<float> nd(0.f, 1.f);
  const int64_t K = 50, N = 16;
  std::vector<float> w(K * N);
  for (auto &v : w)
    v = nd(g);
  w[3 * N + 2] = 9.f; // an outlier that clipping trades off
  std::vector<double> energy(K);
  for (int64_t k = 0; k < K; ++k)
    energy[k] = 1.0 + k % 5;
  for (q::Scheme s : {q::Scheme{4, 32, true}, q::Scheme{4, 32, false}, q::Scheme{8, 0, true}}) {
    std::string err;
    q::Layout l = q::makeLayout(s, K, N, 8, &err);
    ASSERT_EQ(err, "");
    auto run = [&](bool clip) {
      std::vector<uint8_t> codes(l.codeBytes()), zeros(l.numParams());
      std::vector<uint16_t> sc(l.numParams());
      std::string e = clip ? llmc::gptq::quantizeClipped(w.data(), false, energy.data(), l, codes.data(), sc.data(),
                                                         s.symmetric ? nullptr : zeros.data())
                           : q::quantizeRTN(w.data(), false, l, codes.data(), sc.data(),
                                            s.symmetric ? nullptr : zeros.data());
      EXPECT_EQ(e, "");
      // Padding rows of every column dequantize to 0.
      for (int64_t n = 0; n < N; ++n)
        for (int64_t k = K; k < l.paddedK; ++k) {
          int64_t gi = k / l.groupSize;
          EXPECT_EQ(q::dequantizeValue(q::getCode(l, codes.data(), k, n), q::fromF16(sc[l.paramIndex(gi, n)]),
                                       q::zeroAt(l, s.symmetric ? nullptr : zeros.data(), gi, n)),
                    0.f);
        }
      std::vector<float> out(K * N);
      q::dequantize(l, codes.data(), sc.data(), s.symmetric ? nullptr : zeros.data(), out.data());
      double e2 = 0;
      for (int64_t k = 0; k < K; ++k)
        for (int64_t n = 0; n < N; ++n)
          e2 += energy[k] * double(out[k * N + n] - w[k * N + n]) * (out[k * N + n] - w[k * N + n]);
      return e2;
    };
    const double rtnErr = run(false), clipErr = run(true);
    EXPECT_LE(clipErr, rtnErr) << "bits " << s.bits << " group " << s.group;
    if (s.bits == 4)
      EXPECT_LT(clipErr, 0.99 * rtnErr) << "the outlier column should be clipped";
  }
}
