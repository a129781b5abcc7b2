// include/llmc/Gptq.h against references written here: quantizeRTN (for
// H = identity), a plain unblocked GPTQ in double (explicit inverse, no
// lazy updates, no reversed factorization), output errors computed from
// the calibration inputs X themselves, and a hand-worked 2-input case.
#include "llmc/Gptq.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace q = llmc::quant;
namespace gq = llmc::gptq;

namespace {

struct Result {
  q::Layout l;
  std::vector<uint8_t> codes, zeros;
  std::vector<uint16_t> scales;
  std::vector<float> dequantized() const {
    std::vector<float> out(l.K * l.N);
    q::dequantize(l, codes.data(), scales.data(), zeros.data(), out.data());
    return out;
  }
};

Result empty(q::Scheme s, int64_t K, int64_t N, int64_t nr) {
  std::string err;
  Result r{q::makeLayout(s, K, N, nr, &err), {}, {}, {}};
  EXPECT_EQ(err, "");
  r.codes.assign(r.l.codeBytes(), 0xAA);
  r.scales.assign(r.l.numParams(), 0xAAAA);
  r.zeros.assign(r.l.numParams(), 0xAA);
  return r;
}

Result rtn(const std::vector<float> &w, q::Scheme s, int64_t K, int64_t N, int64_t nr, bool tr = false) {
  Result r = empty(s, K, N, nr);
  EXPECT_EQ(q::quantizeRTN(w.data(), tr, r.l, r.codes.data(), r.scales.data(), r.zeros.data()), "");
  return r;
}

Result gptq(const std::vector<float> &w, const std::vector<double> &H, q::Scheme s, int64_t K, int64_t N,
            int64_t nr, gq::Options o = {}, bool tr = false) {
  Result r = empty(s, K, N, nr);
  EXPECT_EQ(gq::quantize(w.data(), tr, H.data(), r.l, o, r.codes.data(), r.scales.data(), r.zeros.data()), "");
  return r;
}

std::vector<double> identity(int64_t K) {
  std::vector<double> H(K * K, 0.0);
  for (int64_t k = 0; k < K; ++k)
    H[k * K + k] = 1.0;
  return H;
}

/// Correlated inputs: X = Z C (T x K) with a random mixing C plus a few
/// large-magnitude input channels, as activations of real models have.
std::vector<float> correlatedInputs(int64_t T, int64_t K, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> C(K * K), Z(T * K), X(T * K, 0.f);
  for (auto &c : C)
    c = nd(g) * 0.3f;
  for (int64_t k = 0; k < K; ++k)
    C[k * K + k] += 1.f;
  for (auto &z : Z)
    z = nd(g);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < K; ++i)
      for (int64_t k = 0; k < K; ++k)
        X[t * K + k] += Z[t * K + i] * C[i * K + k];
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; k += 7)
      X[t * K + k] *= 4.f;
  return X;
}

std::vector<double> gram(const std::vector<float> &X, int64_t T, int64_t K) {
  std::vector<double> H(K * K, 0.0);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < K; ++j)
        H[i * K + j] += double(X[t * K + i]) * X[t * K + j];
  return H;
}

std::vector<float> randomWeights(int64_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0.f, 0.05f);
  std::vector<float> w(n);
  for (auto &x : w)
    x = nd(g);
  return w;
}

/// ||X (Wq - W)||_F^2 computed from the inputs (W row-major [K, N]).
double outputError(const std::vector<float> &X, int64_t T, const std::vector<float> &w,
                   const std::vector<float> &wq, int64_t K, int64_t N) {
  double e = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      double y = 0;
      for (int64_t k = 0; k < K; ++k)
        y += double(X[t * K + k]) * (double(wq[k * N + n]) - w[k * N + n]);
      e += y * y;
    }
  return e;
}

double outputNorm(const std::vector<float> &X, int64_t T, const std::vector<float> &w, int64_t K, int64_t N) {
  return outputError(X, T, std::vector<float>(w.size(), 0.f), w, K, N);
}

/// Plain GPTQ in double, one column at a time with immediate updates:
/// Hinv = (H + damp I)^-1 by Gauss-Jordan, and for each k: quantize w_k,
/// then w_r -= (w_k - q_k) * Hinv[k][r] / Hinv[k][k] for r > k, and Hinv
/// is replaced by the inverse with input k eliminated (the OBS update).
/// Group parameters come from the current weights when a group starts.
/// With `actOrder` the inputs are taken in order of decreasing H_kk and the
/// group parameters come from the original weights.
std::vector<uint8_t> referenceCodes(const std::vector<float> &w, const std::vector<double> &H, q::Scheme s,
                                    int64_t K, int64_t N, double dampFrac, bool actOrder = false) {
  std::vector<double> A(H);
  double mean = 0;
  for (int64_t k = 0; k < K; ++k)
    mean += A[k * K + k];
  mean /= K;
  for (int64_t k = 0; k < K; ++k)
    A[k * K + k] += dampFrac * mean;
  // Gauss-Jordan inverse.
  std::vector<double> inv = identity(K);
  for (int64_t c = 0; c < K; ++c) {
    double p = A[c * K + c];
    for (int64_t j = 0; j < K; ++j) {
      A[c * K + j] /= p;
      inv[c * K + j] /= p;
    }
    for (int64_t r = 0; r < K; ++r)
      if (r != c) {
        double f = A[r * K + c];
        for (int64_t j = 0; j < K; ++j) {
          A[r * K + j] -= f * A[c * K + j];
          inv[r * K + j] -= f * inv[c * K + j];
        }
      }
  }
  std::string err;
  q::Layout l = q::makeLayout(s, K, N, 1, &err);
  std::vector<uint8_t> codes(K * N);
  std::vector<int64_t> order(K);
  for (int64_t k = 0; k < K; ++k)
    order[k] = k;
  if (actOrder)
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return H[a * K + a] > H[b * K + b]; });
  for (int64_t n = 0; n < N; ++n) {
    std::vector<double> Hinv(inv);
    std::vector<float> col(K);
    for (int64_t k = 0; k < K; ++k)
      col[k] = w[k * N + n];
    std::vector<q::GroupParams> gp(l.numGroups);
    auto params = [&](int64_t g) {
      int64_t count = std::min(l.groupSize, K - g * l.groupSize);
      EXPECT_TRUE(q::groupParams(&col[g * l.groupSize], count, 1, s, &gp[g], &err));
    };
    if (actOrder)
      for (int64_t g = 0; g < l.numGroups; ++g)
        params(g);
    std::vector<bool> done(K, false);
    for (int64_t k : order) {
      int64_t g = k / l.groupSize;
      if (!actOrder && k % l.groupSize == 0)
        params(g);
      float sc = q::fromF16(gp[g].scale);
      uint8_t c = q::quantizeValue(col[k], sc, gp[g].zero, s.bits);
      codes[k * N + n] = c;
      done[k] = true;
      double e = (double(col[k]) - q::dequantizeValue(c, sc, gp[g].zero)) / Hinv[k * K + k];
      for (int64_t r = 0; r < K; ++r)
        if (!done[r])
          col[r] = float(col[r] - e * Hinv[k * K + r]);
      // Eliminate input k: Hinv -= Hinv[:, k] Hinv[k, :] / Hinv[k][k].
      double d = Hinv[k * K + k];
      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j < K; ++j)
          if (!done[i] && !done[j])
            Hinv[i * K + j] -= Hinv[i * K + k] * Hinv[k * K + j] / d;
    }
  }
  return codes;
}

q::Scheme scheme(int bits, int64_t group, bool sym) { return q::Scheme{bits, group, sym}; }

} // namespace

TEST(Gptq, InverseCholeskyUpperInvertsH) {
  const int64_t K = 24, T = 64;
  auto H = gram(correlatedInputs(T, K, 5), T, K);
  std::vector<double> U;
  std::vector<bool> dead;
  ASSERT_EQ(gq::inverseCholeskyUpper(H.data(), K, 0.0, U, dead), "");
  // (H)(U^T U) = I, U upper triangular.
  for (int64_t i = 0; i < K; ++i)
    for (int64_t j = 0; j < i; ++j)
      EXPECT_EQ(U[i * K + j], 0.0);
  for (int64_t i = 0; i < K; ++i)
    for (int64_t j = 0; j < K; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) {
        double inv = 0; // (U^T U)[k][j]
        for (int64_t r = 0; r < K; ++r)
          inv += U[r * K + k] * U[r * K + j];
        s += H[i * K + k] * inv;
      }
      EXPECT_NEAR(s, i == j ? 1.0 : 0.0, 1e-8) << i << "," << j;
    }
}

// (a) With H = identity nothing is spread: exactly round to nearest, for
// every scheme, including padded rows/columns and transposed weights.
TEST(Gptq, IdentityHessianEqualsRTN) {
  const int64_t K = 72, N = 37;
  auto w = randomWeights(K * N, 1);
  for (q::Scheme s : {scheme(4, 32, true), scheme(4, 32, false), scheme(4, 64, true), scheme(4, 0, false),
                      scheme(8, 32, true), scheme(8, 128, false), scheme(8, 0, true)})
    for (bool tr : {false, true})
      for (bool actOrder : {false, true}) {
      gq::Options o;
      o.actOrder = actOrder; // equal energies: input order
      Result a = rtn(w, s, K, N, 16, tr);
      Result b = gptq(w, identity(K), s, K, N, 16, o, tr);
      EXPECT_EQ(a.codes, b.codes) << s.bits << " g" << s.group << " sym " << s.symmetric << " tr " << tr
                                  << " act-order " << actOrder;
      EXPECT_EQ(a.scales, b.scales);
      if (!s.symmetric)
        EXPECT_EQ(a.zeros, b.zeros);
      }
}

// (b) On correlated inputs GPTQ's output error is lower than RTN's (and
// relativeOutputError agrees with the error computed from X itself).
TEST(Gptq, LowerOutputErrorThanRTN) {
  const int64_t K = 128, N = 48, T = 512;
  auto X = correlatedInputs(T, K, 2);
  auto H = gram(X, T, K);
  auto w = randomWeights(K * N, 3);
  for (q::Scheme s : {scheme(4, 32, true), scheme(4, 32, false), scheme(4, 128, true), scheme(4, 0, true),
                      scheme(8, 32, true), scheme(8, 0, false)}) {
    gq::Options plain, full;
    full.actOrder = full.clipSearch = true;
    Result a = rtn(w, s, K, N, 16), b = gptq(w, H, s, K, N, 16, plain), c = gptq(w, H, s, K, N, 16, full);
    double ea = outputError(X, T, w, a.dequantized(), K, N), eb = outputError(X, T, w, b.dequantized(), K, N);
    double ec = outputError(X, T, w, c.dequantized(), K, N);
    double norm = outputNorm(X, T, w, K, N);
    SCOPED_TRACE(testing::Message() << "int" << s.bits << " g" << s.group << " sym " << s.symmetric);
    EXPECT_LT(eb, 0.8 * ea) << "gptq " << eb / norm << " rtn " << ea / norm;
    EXPECT_LT(ec, 0.8 * ea) << "gptq act-order+clip " << ec / norm << " rtn " << ea / norm;
    EXPECT_NEAR(gq::relativeOutputError(w.data(), false, H.data(), a.l, a.codes.data(), a.scales.data(),
                                        a.zeros.data()),
                ea / norm, 1e-4 * ea / norm);
    EXPECT_NEAR(gq::relativeOutputError(w.data(), false, H.data(), b.l, b.codes.data(), b.scales.data(),
                                        b.zeros.data()),
                eb / norm, 1e-4 * eb / norm);
  }
}

// The blocked, lazily updated, multi-threaded implementation gives the
// codes of the plain algorithm (up to rare f32-vs-double rounding ties).
TEST(Gptq, MatchesPlainReference) {
  const int64_t K = 96, N = 300, T = 256; // several column chunks, 3 blocks of 32
  auto X = correlatedInputs(T, K, 4);
  auto H = gram(X, T, K);
  auto w = randomWeights(K * N, 5);
  for (bool actOrder : {false, true})
    for (q::Scheme s : {scheme(4, 32, true), scheme(4, 32, false), scheme(8, 0, true)}) {
      gq::Options o;
      o.blockSize = 32; // lazy updates across blocks are exercised
      o.threads = 3;
      o.actOrder = actOrder;
      Result b = gptq(w, H, s, K, N, 16, o);
      auto ref = referenceCodes(w, H, s, K, N, o.dampFraction, actOrder);
      int64_t same = 0;
      for (int64_t k = 0; k < K; ++k)
        for (int64_t n = 0; n < N; ++n)
          same += q::getCode(b.l, b.codes.data(), k, n) == ref[k * N + n];
      EXPECT_GE(double(same) / (K * N), 0.995) << "int" << s.bits << " g" << s.group << " act-order " << actOrder;
    }
}

// The scale search never does worse than RTN's range on the weighted error
// it minimizes (with H = identity nothing is spread, so the output error is
// the sum of the groups' errors), and at 4 bits it does better with outliers.
TEST(Gptq, ClipSearchNeverWorseThanRTN) {
  const int64_t K = 64, N = 40;
  auto w = randomWeights(K * N, 9);
  for (int64_t n = 0; n < N; n += 3)
    w[(n % K) * N + n] *= 6.f; // outliers
  for (q::Scheme s : {scheme(4, 32, true), scheme(4, 32, false), scheme(8, 0, true)}) {
    gq::Options o;
    o.clipSearch = true;
    auto H = identity(K);
    Result a = rtn(w, s, K, N, 8), b = gptq(w, H, s, K, N, 8, o);
    double ea = gq::relativeOutputError(w.data(), false, H.data(), a.l, a.codes.data(), a.scales.data(),
                                        a.zeros.data());
    double eb = gq::relativeOutputError(w.data(), false, H.data(), b.l, b.codes.data(), b.scales.data(),
                                        b.zeros.data());
    // int4 steps are coarse enough that clipping the outliers pays off.
    if (s.bits == 4)
      EXPECT_LT(eb, 0.98 * ea) << "int4 g" << s.group << " sym " << s.symmetric;
    else
      EXPECT_LE(eb, ea);
    // Column by column the search can only improve.
    auto da = a.dequantized(), db = b.dequantized();
    for (int64_t n = 0; n < N; ++n) {
      double sa = 0, sb = 0;
      for (int64_t k = 0; k < K; ++k) {
        sa += std::pow(double(da[k * N + n]) - w[k * N + n], 2);
        sb += std::pow(double(db[k * N + n]) - w[k * N + n], 2);
      }
      EXPECT_LE(sb, sa * (1 + 1e-6)) << "column " << n;
    }
  }
}

// (c) Two correlated inputs (H = [[1, .5], [.5, 1]], identity elsewhere, no
// damping): U = [[1/sqrt(.75), -.5/sqrt(.75)], [0, 1]], so after rounding
// w0 the second weight becomes w1 + 0.5 (w0 - q0). int8 per channel, scale
// 127/127 = 1: w0 = 10.4 -> 10 (error 0.4), w1 = 20.4 -> 20.6 -> 21, where
// RTN gives 20. Other rows are unaffected.
TEST(Gptq, HandWorkedTwoInputs) {
  const int64_t K = 8, N = 1;
  std::vector<float> w{10.4f, 20.4f, 127.f, -3.3f, 0.f, 0.f, 1.6f, 0.f};
  auto H = identity(K);
  H[0 * K + 1] = H[1 * K + 0] = 0.5;
  gq::Options o;
  o.dampFraction = 0.0;
  Result b = gptq(w, H, scheme(8, 0, true), K, N, 1, o);
  Result a = rtn(w, scheme(8, 0, true), K, N, 1);
  EXPECT_EQ(q::fromF16(b.scales[0]), 1.f);
  std::vector<int> gptqQ, rtnQ;
  for (int64_t k = 0; k < K; ++k) {
    gptqQ.push_back(int(q::getCode(b.l, b.codes.data(), k, 0)) - 128);
    rtnQ.push_back(int(q::getCode(a.l, a.codes.data(), k, 0)) - 128);
  }
  EXPECT_EQ(rtnQ, (std::vector<int>{10, 20, 127, -3, 0, 0, 2, 0}));
  EXPECT_EQ(gptqQ, (std::vector<int>{10, 21, 127, -3, 0, 0, 2, 0}));
}

// Inputs that were always zero (H_kk = 0) get weight 0, which quantizes
// exactly; the result is still a valid quantization of the other rows.
TEST(Gptq, DeadInputsGetZeroWeight) {
  const int64_t K = 16, N = 4, T = 64;
  auto X = correlatedInputs(T, K, 6);
  for (int64_t t = 0; t < T; ++t)
    X[t * K + 3] = 0.f;
  auto H = gram(X, T, K);
  auto w = randomWeights(K * N, 7);
  Result b = gptq(w, H, scheme(4, 8, false), K, N, 4);
  auto dq = b.dequantized();
  for (int64_t n = 0; n < N; ++n)
    EXPECT_EQ(dq[3 * N + n], 0.f);
}

TEST(Gptq, RejectsNonFiniteStatistics) {
  const int64_t K = 8, N = 2;
  auto H = identity(K);
  H[2 * K + 2] = NAN;
  Result r = empty(scheme(4, 8, true), K, N, 2);
  auto w = randomWeights(K * N, 8);
  EXPECT_NE(gq::quantize(w.data(), false, H.data(), r.l, {}, r.codes.data(), r.scales.data(), r.zeros.data()),
            "");
}
