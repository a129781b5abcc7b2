// include/llmc/QuantLayout.h: quantized weight formats, RTN quantizer, 2:4
// compression and per-token activation quantization, against hand-worked bit
// layouts and plain references written here (binary search over fp16 values,
// brute-force nearest grid point, float matmuls of dequantized operands).
#include "llmc/QuantLayout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace q = llmc::quant;
namespace s24 = llmc::sparse24;

namespace {

std::vector<float> randomWeights(size_t n, unsigned seed, float sigma = 0.05f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, sigma);
  std::vector<float> v(n);
  for (auto &x : v)
    x = d(g);
  return v;
}

q::Layout layoutOf(q::Scheme s, int64_t K, int64_t N, int64_t nr) {
  std::string err;
  q::Layout l = q::makeLayout(s, K, N, nr, &err);
  EXPECT_EQ(err, "");
  return l;
}

struct Quantized {
  q::Layout l;
  std::vector<uint8_t> codes, zeros;
  std::vector<uint16_t> scales;
};

Quantized quantize(const std::vector<float> &w, q::Scheme s, int64_t K, int64_t N, int64_t nr,
                   bool transposed = false) {
  Quantized r{layoutOf(s, K, N, nr), {}, {}, {}};
  r.codes.assign(r.l.codeBytes(), 0xAA); // garbage: every byte must be written
  r.scales.assign(r.l.numParams(), 0xAAAA);
  r.zeros.assign(r.l.numParams(), 0xAA);
  EXPECT_EQ(q::quantizeRTN(w.data(), transposed, r.l, r.codes.data(), r.scales.data(), r.zeros.data()), "");
  return r;
}

std::vector<float> dequantized(const Quantized &r) {
  std::vector<float> out(r.l.K * r.l.N);
  q::dequantize(r.l, r.codes.data(), r.scales.data(), r.zeros.data(), out.data());
  return out;
}

/// Plain reference: the smallest-magnitude fp16 with |h| >= |s| (binary search
/// over the ordered positive halves), with the sign of s.
uint16_t referenceScaleF16(float s) {
  float a = std::fabs(s);
  uint16_t lo = 0, hi = 0x7bff;
  while (lo < hi) {
    uint16_t mid = uint16_t((lo + hi) / 2);
    if (q::fromF16(mid) >= a)
      hi = mid;
    else
      lo = uint16_t(mid + 1);
  }
  return uint16_t(lo | (s < 0 ? 0x8000 : 0));
}

//===--- fp16 ---------------------------------------------------------------===//

TEST(QuantF16, KnownValues) {
  EXPECT_EQ(q::toF16(1.f), 0x3c00);
  EXPECT_EQ(q::toF16(-2.f), 0xc000);
  EXPECT_EQ(q::toF16(0.1f), 0x2e66);
  EXPECT_EQ(q::toF16(65504.f), 0x7bff);
  EXPECT_EQ(q::toF16(65519.f), 0x7bff);
  EXPECT_EQ(q::toF16(65520.f), 0x7c00); // tie rounds to even: infinity
  EXPECT_EQ(q::toF16(std::ldexp(1.f, -14)), 0x0400); // smallest normal
  EXPECT_EQ(q::toF16(std::ldexp(1.f, -24)), 0x0001); // smallest subnormal
  EXPECT_EQ(q::toF16(std::ldexp(1.f, -25)), 0x0000); // tie to even: 0
  EXPECT_EQ(q::toF16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(q::toF16(std::ldexp(3.f, -25)), 0x0002); // 1.5 units: tie to even 2
  EXPECT_EQ(q::toF16(1.f + std::ldexp(1.f, -11)), 0x3c00); // tie to even mantissa
  EXPECT_EQ(q::toF16(1.f + std::ldexp(3.f, -11)), 0x3c02);
  EXPECT_EQ(q::toF16(INFINITY), 0x7c00);
  EXPECT_EQ(q::toF16(-0.f), 0x8000);
  EXPECT_TRUE(std::isnan(q::fromF16(q::toF16(NAN))));
}

TEST(QuantF16, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    uint16_t v = uint16_t(h);
    if ((v & 0x7c00) == 0x7c00 && (v & 0x3ff)) // NaN payloads
      continue;
    ASSERT_EQ(q::toF16(q::fromF16(v)), v) << std::hex << h;
  }
  EXPECT_EQ(q::fromF16(0x0001), std::ldexp(1.f, -24));
  EXPECT_EQ(q::fromF16(0x8400), -std::ldexp(1.f, -14));
}

TEST(QuantF16, ScaleNeverShrinks) {
  std::mt19937 g(7);
  std::uniform_real_distribution<float> e(-30.f, 15.f);
  for (int i = 0; i < 20000; ++i) {
    float s = std::exp2(e(g)) * (i % 2 ? -1.f : 1.f);
    uint16_t h = q::scaleToF16(s);
    ASSERT_EQ(h, referenceScaleF16(s)) << s;
    ASSERT_GE(std::fabs(q::fromF16(h)), std::fabs(s));
  }
}

//===--- schemes and layout ------------------------------------------------===//

TEST(QuantLayout, SchemeValidation) {
  EXPECT_EQ(q::validate({8, 0, true}), "");
  EXPECT_EQ(q::validate({8, 32, false}), "");
  EXPECT_EQ(q::validate({8, 12, true}), "");   // multiple of 4
  EXPECT_EQ(q::validate({4, 128, true}), "");
  EXPECT_NE(q::validate({4, 12, true}), "");   // not a multiple of 8
  EXPECT_NE(q::validate({3, 32, true}), "");
  EXPECT_NE(q::validate({8, -32, true}), "");
  std::string err;
  q::makeLayout({4, 12, true}, 64, 8, 4, &err);
  EXPECT_NE(err.find("multiple of 8"), std::string::npos) << err;
  q::makeLayout({8, 32, true}, 0, 8, 4, &err);
  EXPECT_NE(err, "");
  Quantized dummy{layoutOf({8, 32, false}, 32, 1, 1), {}, {}, {}};
  std::vector<float> w(32, 1.f);
  std::vector<uint8_t> codes(dummy.l.codeBytes());
  std::vector<uint16_t> scales(dummy.l.numParams());
  EXPECT_NE(q::quantizeRTN(w.data(), false, dummy.l, codes.data(), scales.data(), nullptr), "");
  w[3] = NAN;
  std::vector<uint8_t> zeros(dummy.l.numParams());
  EXPECT_NE(q::quantizeRTN(w.data(), false, dummy.l, codes.data(), scales.data(), zeros.data())
                .find("non-finite"),
            std::string::npos);
}

TEST(QuantLayout, Sizes) {
  q::Layout l = layoutOf({4, 32, false}, 100, 70, 32); // K padded to 128, N to 96
  EXPECT_EQ(l.paddedK, 128);
  EXPECT_EQ(l.numGroups, 4);
  EXPECT_EQ(l.numPanels, 3);
  EXPECT_EQ(l.codeBytes(), 3 * 32 * 128 / 2);
  EXPECT_EQ(l.numParams(), 3 * 32 * 4);
  EXPECT_EQ(l.totalBytes(), l.codeBytes() + l.numParams() * 3);
  q::Layout pc = layoutOf({8, 0, true}, 10, 5, 4); // per channel: one group of K rounded to 4
  EXPECT_EQ(pc.groupSize, 12);
  EXPECT_EQ(pc.paddedK, 12);
  EXPECT_EQ(pc.numGroups, 1);
  EXPECT_EQ(pc.totalBytes(), 2 * 4 * 12 + 2 * 4 * 2);
  q::Layout pc4 = layoutOf({4, 0, true}, 10, 5, 4);
  EXPECT_EQ(pc4.paddedK, 16);
}

TEST(QuantLayout, IndexingIsABijection) {
  for (int bits : {8, 4}) {
    q::Layout l = layoutOf({bits, 16, true}, 48, 7, 3);
    std::set<std::pair<int64_t, int>> seen;
    for (int64_t n = 0; n < l.numPanels * l.nr; ++n)
      for (int64_t k = 0; k < l.paddedK; ++k) {
        int64_t b = l.codeByte(k, n);
        ASSERT_GE(b, 0);
        ASSERT_LT(b, l.codeBytes());
        ASSERT_TRUE(seen.insert({b, bits == 4 ? q::Layout::nibbleShift(k) : 0}).second);
      }
    EXPECT_EQ((int64_t)seen.size(), l.codeBytes() * 8 / bits);
  }
  // int8 [p][k/4][j][k%4] and int4 [p][k/8][j][k%4] + nibble, worked by hand.
  q::Layout l8 = layoutOf({8, 0, true}, 8, 3, 2);
  EXPECT_EQ(l8.codeByte(5, 1), 13); // p0, quad 1, j1, i1: (1*2 + 1)*4 + 1
  EXPECT_EQ(l8.codeByte(0, 2), 16); // p1 starts after 2*8 bytes
  q::Layout l4 = layoutOf({4, 0, true}, 16, 3, 2);
  EXPECT_EQ(l4.codeByte(5, 1), 5);  // octet 0, j1, i1: (0*2 + 1)*4 + 1, high nibble
  EXPECT_EQ(q::Layout::nibbleShift(5), 4);
  EXPECT_EQ(l4.codeByte(9, 0), 9);  // octet 1, j0, i1: (1*2 + 0)*4 + 1, low nibble
  EXPECT_EQ(q::Layout::nibbleShift(9), 0);
  EXPECT_EQ(l4.codeByte(0, 2), 16); // p1 starts after 16*2/2 bytes
  EXPECT_EQ(l4.paramIndex(0, 2), 2); // one group: [p][g][j]
  q::Layout lg = layoutOf({4, 8, true}, 16, 3, 2);
  EXPECT_EQ(lg.paramIndex(1, 1), 3); // p0, g1, j1
  EXPECT_EQ(lg.paramIndex(0, 2), 4); // p1, g0, j0
}

//===--- hand-worked examples ----------------------------------------------===//

TEST(QuantRTN, Int8SymmetricPerChannelBits) {
  // amax = 127 * 2^-7: scale 2^-7 (fp16 0x2000), q = w * 128.
  std::vector<float> w = {0.9921875f, -0.5f, 0.25f, 0.f};
  Quantized r = quantize(w, {8, 0, true}, 4, 1, 1);
  EXPECT_EQ(r.codes, (std::vector<uint8_t>{255, 64, 160, 128})); // q + 128
  EXPECT_EQ(r.scales, (std::vector<uint16_t>{0x2000}));
  EXPECT_EQ(dequantized(r), w);
}

TEST(QuantRTN, Int4SymmetricGroupBits) {
  // K = 8, N = 2, nr = 2, group 8. Column 0's extreme is -1: scale 1/8;
  // column 1's is +1: scale -1/8 (Q4_0's signed scale), so it maps to -8.
  std::vector<float> c0 = {-1, 0.5, 0.25, 0.875, 0, -0.125, 0.75, 0.125};
  std::vector<float> c1 = {1, -0.875, 0, 0.5, -0.25, 0.125, 0, 0.375};
  std::vector<float> w(16);
  for (int k = 0; k < 8; ++k) {
    w[k * 2] = c0[k];
    w[k * 2 + 1] = c1[k];
  }
  Quantized r = quantize(w, {4, 8, true}, 8, 2, 2);
  // codes (q + 8): c0 = 0 12 10 15 8 7 14 9, c1 = 0 15 8 4 10 7 8 5;
  // byte i of column j = code(k=i) | code(k=i+4) << 4.
  EXPECT_EQ(r.codes, (std::vector<uint8_t>{0x80, 0x7c, 0xea, 0x9f, 0xa0, 0x7f, 0x88, 0x54}));
  EXPECT_EQ(r.scales, (std::vector<uint16_t>{0x3000, 0xb000}));
  EXPECT_EQ(dequantized(r), w);
}

TEST(QuantRTN, Int8AsymmetricGroupBits) {
  // range [-1, 2.984375] = 255 * 2^-6: scale 2^-6 (0x2400), zero 64.
  std::vector<float> w = {-1.f, 0.f, 0.5f, 2.984375f};
  Quantized r = quantize(w, {8, 4, false}, 4, 1, 1);
  EXPECT_EQ(r.codes, (std::vector<uint8_t>{0, 64, 96, 255}));
  EXPECT_EQ(r.scales, (std::vector<uint16_t>{0x2400}));
  EXPECT_EQ(r.zeros, (std::vector<uint8_t>{64}));
  EXPECT_EQ(dequantized(r), w);
}

TEST(QuantRTN, Int4AsymmetricGroupBits) {
  // range [-1, 2.75] = 15 * 0.25: scale 0.25 (0x3400), zero 4.
  std::vector<float> w = {-1, 2.75, 0, 0.5, 0.25, -0.75, 1, 2};
  Quantized r = quantize(w, {4, 8, false}, 8, 1, 1);
  // codes 0 15 4 6 5 1 8 12, paired k / k+4 in a byte
  EXPECT_EQ(r.codes, (std::vector<uint8_t>{0x50, 0x1f, 0x84, 0xc6}));
  EXPECT_EQ(r.scales, (std::vector<uint16_t>{0x3400}));
  EXPECT_EQ(r.zeros, (std::vector<uint8_t>{4}));
  EXPECT_EQ(dequantized(r), w);
}

//===--- edge cases --------------------------------------------------------===//

TEST(QuantRTN, AllZeroGroup) {
  for (int bits : {8, 4})
    for (bool sym : {true, false}) {
      std::vector<float> w(16, 0.f);
      for (int k = 8; k < 16; ++k)
        w[k] = 0.01f * (k - 11); // group 1 is not zero
      Quantized r = quantize(w, {bits, 8, sym}, 16, 1, 1);
      EXPECT_EQ(r.scales[0], 0) << bits << sym;
      int zero = q::zeroAt(r.l, r.zeros.data(), 0, 0);
      EXPECT_EQ(zero, sym ? q::symmetricZero(bits) : 0);
      for (int k = 0; k < 8; ++k)
        EXPECT_EQ(q::getCode(r.l, r.codes.data(), k, 0), zero);
      std::vector<float> d = dequantized(r);
      for (int k = 0; k < 8; ++k)
        EXPECT_EQ(d[k], 0.f);
      EXPECT_NE(r.scales[1], 0);
    }
}

TEST(QuantRTN, Int4NegativeExtremes) {
  // First-largest magnitude negative: scale +1/8; -1 -> q -8 (code 0), +1 -> q 8, clamped to 7.
  std::vector<float> w = {-1, 1, 0, 0, 0, 0, 0, 0};
  Quantized r = quantize(w, {4, 8, true}, 8, 1, 1);
  EXPECT_EQ(q::fromF16(r.scales[0]), 0.125f);
  EXPECT_EQ(q::getCode(r.l, r.codes.data(), 0, 0), 0);
  EXPECT_EQ(q::getCode(r.l, r.codes.data(), 1, 0), 15);
  EXPECT_EQ(dequantized(r)[1], 0.875f);
  // Positive first: the scale is negative and +1 is the one that maps to -8.
  std::swap(w[0], w[1]);
  r = quantize(w, {4, 8, true}, 8, 1, 1);
  EXPECT_EQ(q::fromF16(r.scales[0]), -0.125f);
  EXPECT_EQ(q::getCode(r.l, r.codes.data(), 0, 0), 0);
  EXPECT_EQ(dequantized(r)[1], -0.875f);
  // Every code 0..15 (q -8..7) survives a round trip.
  std::vector<float> all(16);
  for (int c = 0; c < 16; ++c)
    all[c] = 0.5f * (c - 8); // -4 (the extreme, first) .. 3.5
  r = quantize(all, {4, 16, true}, 16, 1, 1);
  for (int c = 0; c < 16; ++c)
    EXPECT_EQ(q::getCode(r.l, r.codes.data(), c, 0), c);
  EXPECT_EQ(dequantized(r), all);
}

TEST(QuantRTN, KNotAMultipleOfTheGroupIsPadded) {
  const int64_t K = 100, N = 5;
  std::vector<float> w = randomWeights(K * N, 3);
  for (int bits : {8, 4})
    for (bool sym : {true, false}) {
      Quantized r = quantize(w, {bits, 32, sym}, K, N, 4);
      ASSERT_EQ(r.l.paddedK, 128);
      for (int64_t n = 0; n < r.l.numPanels * r.l.nr; ++n) {
        // the last group's scale comes from its 4 real rows only
        if (n < N) {
          q::GroupParams gp;
          std::string err;
          ASSERT_TRUE(q::groupParams(&w[96 * N + n], 4, N, {bits, 32, sym}, &gp, &err));
          EXPECT_EQ(r.scales[r.l.paramIndex(3, n)], gp.scale);
        } else {
          EXPECT_EQ(r.scales[r.l.paramIndex(0, n)], 0); // padding column
        }
        for (int64_t k = (n < N ? K : 0); k < r.l.paddedK; ++k) // padding codes are the zero point
          ASSERT_EQ(q::getCode(r.l, r.codes.data(), k, n), q::zeroAt(r.l, r.zeros.data(), k / 32, n));
      }
    }
}

TEST(QuantRTN, TransposedInputGivesTheSameResult) {
  const int64_t K = 64, N = 9;
  std::vector<float> w = randomWeights(K * N, 11), wt(K * N);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n)
      wt[n * K + k] = w[k * N + n];
  for (int bits : {8, 4}) {
    Quantized a = quantize(w, {bits, 32, false}, K, N, 4);
    Quantized b = quantize(wt, {bits, 32, false}, K, N, 4, /*transposed=*/true);
    EXPECT_EQ(a.codes, b.codes);
    EXPECT_EQ(a.scales, b.scales);
    EXPECT_EQ(a.zeros, b.zeros);
  }
}

//===--- round trips against a plain reference -----------------------------===//

struct RoundTripCase {
  int bits;
  int64_t group;
  bool sym;
};

void PrintTo(const RoundTripCase &c, std::ostream *os) {
  *os << "int" << c.bits << " group " << c.group << (c.sym ? " sym" : " asym");
}

class QuantRoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(QuantRoundTrip, NearestGridPointWithinHalfAStep) {
  const auto [bits, group, sym] = GetParam();
  const int64_t K = 200, N = 37, nr = 16; // K: not a multiple of 64/128 (padded)
  std::vector<float> w = randomWeights(K * N, 1000 + bits + group);
  w[5 * N + 3] = 0.4f; // an outlier
  Quantized r = quantize(w, {bits, group, sym}, K, N, nr);
  std::vector<float> d = dequantized(r);
  const int64_t G = r.l.groupSize;
  double sqErr = 0, sqW = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < r.l.numGroups; ++g) {
      // Plain reference of the group's scale and zero point.
      float lo = 0, hi = 0, m = 0;
      for (int64_t k = g * G; k < std::min(K, (g + 1) * G); ++k) {
        float x = w[k * N + n];
        lo = std::min(lo, x);
        hi = std::max(hi, x);
        if (std::fabs(x) > std::fabs(m))
          m = x;
      }
      float exact = sym ? (bits == 8 ? std::fabs(m) / 127 : m / -8) : (hi - lo) / ((1 << bits) - 1);
      uint16_t want = referenceScaleF16(exact);
      ASSERT_EQ(r.scales[r.l.paramIndex(g, n)], want) << "n " << n << " g " << g;
      float s = q::fromF16(want);
      int zero = sym ? (1 << (bits - 1)) : int(std::nearbyint(-lo / s));
      ASSERT_EQ(q::zeroAt(r.l, r.zeros.data(), g, n), zero);
      for (int64_t k = g * G; k < std::min(K, (g + 1) * G); ++k) {
        float x = w[k * N + n], y = d[k * N + n];
        // brute force: no code is closer than the chosen one
        float best = INFINITY;
        for (int c = 0; c < (1 << bits); ++c)
          best = std::min(best, std::fabs(x - s * float(c - zero)));
        ASSERT_LE(std::fabs(x - y), best * (1 + 1e-6f) + 1e-12f) << "k " << k << " n " << n;
        // and the error bound from the scale: half a step, a whole step for
        // the clamped +8 of symmetric int4
        float bound = std::fabs(s) * (sym && bits == 4 ? 1.f : 0.5f);
        ASSERT_LE(std::fabs(x - y), bound * (1 + 1e-5f)) << "k " << k << " n " << n;
        sqErr += double(x - y) * (x - y);
        sqW += double(x) * x;
      }
    }
  // RTN's relative error on Gaussian weights: int8 ~1%, int4 ~10-20%.
  double rel = std::sqrt(sqErr / sqW);
  EXPECT_LT(rel, bits == 8 ? 0.03 : 0.25) << rel;
}

INSTANTIATE_TEST_SUITE_P(AllSchemes, QuantRoundTrip,
                         ::testing::Values(RoundTripCase{8, 0, true}, RoundTripCase{8, 0, false},
                                           RoundTripCase{8, 32, true}, RoundTripCase{8, 64, false},
                                           RoundTripCase{8, 128, true}, RoundTripCase{8, 128, false},
                                           RoundTripCase{4, 0, true}, RoundTripCase{4, 32, true},
                                           RoundTripCase{4, 32, false}, RoundTripCase{4, 64, true},
                                           RoundTripCase{4, 64, false}, RoundTripCase{4, 128, true},
                                           RoundTripCase{4, 128, false}),
                         [](const auto &info) {
                           return "int" + std::to_string(info.param.bits) + "_g" +
                                  std::to_string(info.param.group) + (info.param.sym ? "_sym" : "_asym");
                         });

//===--- 2:4 sparsity -------------------------------------------------------===//

TEST(Sparse24, HandWorkedBits) {
  // K = 8, N = 1: block 0 keeps positions 1, 3; block 1 has one nonzero at 0
  // and keeps the lowest free position 1 (holding 0).
  std::vector<float> w = {0, 3, 0, -1, 5, 0, 0, 0};
  s24::Layout l = s24::makeLayout(8, 1, 1);
  std::vector<float> values(l.numValues());
  std::vector<uint8_t> meta(l.metaBytes());
  ASSERT_EQ(s24::compress(w.data(), false, l, values.data(), meta.data()), "");
  EXPECT_EQ(values, (std::vector<float>{3, -1, 5, 0}));
  EXPECT_EQ(meta, (std::vector<uint8_t>{0x4d})); // block 0: 1 | 3<<2 = 0xd; block 1: 0 | 1<<2 = 0x4
  std::vector<float> back(8);
  s24::decompress(l, values.data(), meta.data(), back.data());
  EXPECT_EQ(back, w);
}

TEST(Sparse24, RejectsDenseBlocks) {
  std::vector<float> w = {1, 2, 3, 0, 0, 0, 0, 0};
  s24::Layout l = s24::makeLayout(8, 1, 1);
  std::vector<float> values(l.numValues());
  std::vector<uint8_t> meta(l.metaBytes());
  std::string err = s24::compress(w.data(), false, l, values.data(), meta.data());
  EXPECT_NE(err.find("not 2:4 sparse"), std::string::npos) << err;
  EXPECT_NE(err.find("k 0..3"), std::string::npos) << err;
}

TEST(Sparse24, MagnitudePruning) {
  // one column, K = 6: block [0.1, -0.5, 0.3, 0.2] keeps -0.5, 0.3; the partial
  // block [0.7, -0.1] (2 elements) is left alone; ties keep the earlier one.
  std::vector<float> w = {0.1f, -0.5f, 0.3f, 0.2f, 0.7f, -0.1f};
  s24::pruneMagnitude(w.data(), 6, 1);
  EXPECT_EQ(w, (std::vector<float>{0, -0.5f, 0.3f, 0, 0.7f, -0.1f}));
  std::vector<float> t = {0.2f, 0.2f, 0.2f, 0.2f};
  s24::pruneMagnitude(t.data(), 4, 1);
  EXPECT_EQ(t, (std::vector<float>{0.2f, 0.2f, 0, 0}));
}

TEST(Sparse24, RoundTripWithPanelsAndPadding) {
  const int64_t K = 70, N = 13, nr = 4; // K padded to 72, N to 16
  std::vector<float> w = randomWeights(K * N, 5);
  s24::pruneMagnitude(w.data(), K, N);
  for (int64_t n = 0; n < N; ++n) // every full block has exactly 2 nonzeros left
    for (int64_t k0 = 0; k0 + 4 <= K; k0 += 4) {
      int nz = 0;
      for (int i = 0; i < 4; ++i)
        nz += w[(k0 + i) * N + n] != 0.f;
      ASSERT_EQ(nz, 2);
    }
  s24::Layout l = s24::makeLayout(K, N, nr);
  EXPECT_EQ(l.paddedK, 72);
  EXPECT_EQ(l.numValues(), 4 * 4 * 18 * 2);
  EXPECT_EQ(l.metaBytes(), 4 * 4 * 9);
  std::vector<float> values(l.numValues(), NAN);
  std::vector<uint8_t> meta(l.metaBytes(), 0xff);
  ASSERT_EQ(s24::compress(w.data(), false, l, values.data(), meta.data()), "");
  for (float v : values)
    ASSERT_FALSE(std::isnan(v)); // every slot written
  std::vector<float> back(K * N);
  s24::decompress(l, values.data(), meta.data(), back.data());
  EXPECT_EQ(back, w);
  // the same from the transposed [N, K] weight
  std::vector<float> wt(K * N), values2(l.numValues());
  std::vector<uint8_t> meta2(l.metaBytes());
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n)
      wt[n * K + k] = w[k * N + n];
  ASSERT_EQ(s24::compress(wt.data(), true, l, values2.data(), meta2.data()), "");
  EXPECT_EQ(values2, values);
  EXPECT_EQ(meta2, meta);
}

//===--- activations (W8A8) -------------------------------------------------===//

TEST(QuantActivations, PerTokenBits) {
  // row 0: amax 1 -> q = round(x * 127) (63.5 -> 64); row 1: amax 127 -> q = x,
  // ties to even (2.5 -> 2, -3.5 -> -4, 0.5 -> 0); row 2: zeros. Rows padded to 8.
  std::vector<float> x = {0.5f, -1.f, 0.25f, 0.f, 127.f, 2.5f, -3.5f, 0.5f, 0.f, 0.f, 0.f, 0.f};
  std::vector<int8_t> qa(3 * 8, 99);
  std::vector<float> sa(3);
  q::quantizeActivationsPerToken(x.data(), 3, 4, 4, 8, qa.data(), sa.data());
  EXPECT_EQ(qa, (std::vector<int8_t>{64, -127, 32, 0, 0, 0, 0, 0, 127, 2, -4, 0, 0, 0, 0, 0,
                                     0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(sa[0], 1.f / 127.f);
  EXPECT_EQ(sa[1], 1.f);
  EXPECT_EQ(sa[2], 0.f);
}

TEST(QuantActivations, RoundTripWithinHalfAStep) {
  const int64_t M = 7, K = 96;
  std::vector<float> x = randomWeights(M * K, 9, 1.f);
  std::vector<int8_t> qa(M * K);
  std::vector<float> sa(M);
  q::quantizeActivationsPerToken(x.data(), M, K, K, K, qa.data(), sa.data());
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) {
      ASSERT_GE(qa[m * K + k], -127);
      ASSERT_LE(std::fabs(x[m * K + k] - sa[m] * qa[m * K + k]), sa[m] * 0.5f * (1 + 1e-5f));
    }
}

TEST(QuantActivations, IntegerLinearMatchesDequantizedProduct) {
  const int64_t M = 3, K = 150, N = 21;
  std::vector<float> w = randomWeights(K * N, 21), x = randomWeights(M * K, 22, 1.f);
  for (auto [bits, group, sym] : {RoundTripCase{8, 0, true}, RoundTripCase{8, 64, false},
                                  RoundTripCase{4, 32, true}, RoundTripCase{4, 128, false}}) {
    Quantized r = quantize(w, {bits, group, sym}, K, N, 8);
    std::vector<float> wd = dequantized(r);
    std::vector<int8_t> qa(M * r.l.paddedK);
    std::vector<float> sa(M), y(M * N);
    q::quantizeActivationsPerToken(x.data(), M, K, K, r.l.paddedK, qa.data(), sa.data());
    q::referenceLinearQuantized(qa.data(), sa.data(), M, r.l, r.codes.data(), r.scales.data(), r.zeros.data(),
                                y.data());
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double want = 0, mag = 0;
        for (int64_t k = 0; k < K; ++k) {
          double t = double(sa[m]) * qa[m * r.l.paddedK + k] * wd[k * N + n];
          want += t;
          mag += std::fabs(t);
        }
        ASSERT_NEAR(y[m * N + n], want, 1e-5 * mag + 1e-7) << "int" << bits << " g" << group << " m" << m;
      }
  }
}

//===--- activations per block (W4A8) ---------------------------------------===//

TEST(QuantActivations, PerBlockScalesAndPadding) {
  // K = 40 padded to 48: block 0 = k 0..31 (amax 2), block 1 = k 32..47, of
  // which 32..39 are x (amax 127: q = x, ties to even) and 40..47 padding.
  const int64_t K = 40, Kd = 48;
  std::vector<float> x(K, 0.f);
  x[0] = 2.f;
  x[1] = -1.f; // -63.5 -> -64
  x[5] = 0.5f; // 31.75 -> 32
  x[32] = 127.f;
  x[33] = 2.5f;
  x[34] = -3.5f;
  std::vector<int8_t> qa(Kd, 99);
  std::vector<float> sa(2);
  ASSERT_EQ(q::actBlocks(Kd), 2);
  q::quantizeActivationsPerBlock(x.data(), 1, K, K, Kd, qa.data(), sa.data());
  EXPECT_EQ(sa[0], 2.f / 127.f);
  EXPECT_EQ(sa[1], 1.f);
  std::vector<int8_t> want(Kd, 0);
  want[0] = 127, want[1] = -64, want[5] = 32, want[32] = 127, want[33] = 2, want[34] = -4;
  EXPECT_EQ(qa, want);
}

TEST(QuantActivations, W4A8SchemesAccepted) {
  EXPECT_EQ(q::w4a8Unsupported({4, 0, true}), "");
  EXPECT_EQ(q::w4a8Unsupported({4, 32, false}), "");
  EXPECT_EQ(q::w4a8Unsupported({4, 128, true}), "");
  EXPECT_NE(q::w4a8Unsupported({4, 16, true}), "");
  EXPECT_NE(q::w4a8Unsupported({4, 48, true}), "");
  EXPECT_NE(q::w4a8Unsupported({8, 32, true}), "");
}

// referenceLinearW4A8 is the product of the dequantized weights and the
// dequantized activations (sa[block] * qa), for per-channel (K 150: padded
// to 152, last block 24 k) and grouped schemes.
TEST(QuantActivations, W4A8LinearMatchesDequantizedProduct) {
  const int64_t M = 3, K = 150, N = 21;
  std::vector<float> w = randomWeights(K * N, 31), x = randomWeights(M * K, 32, 1.f);
  for (auto [bits, group, sym] : {RoundTripCase{4, 0, true}, RoundTripCase{4, 0, false},
                                  RoundTripCase{4, 32, true}, RoundTripCase{4, 64, false}}) {
    Quantized r = quantize(w, {bits, group, sym}, K, N, 8);
    std::vector<float> wd = dequantized(r);
    const int64_t Kd = r.l.paddedK, nb = q::actBlocks(Kd);
    std::vector<int8_t> qa(M * Kd);
    std::vector<float> sa(M * nb), y(M * N);
    q::quantizeActivationsPerBlock(x.data(), M, K, K, Kd, qa.data(), sa.data());
    q::referenceLinearW4A8(qa.data(), sa.data(), M, r.l, r.codes.data(), r.scales.data(), r.zeros.data(),
                           y.data());
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double want = 0, mag = 0;
        for (int64_t k = 0; k < K; ++k) {
          // Each activation within half a step of its block's grid.
          const double s = sa[m * nb + k / q::kActBlock];
          ASSERT_LE(std::fabs(x[m * K + k] - s * qa[m * Kd + k]), s * 0.5 * (1 + 1e-5));
          double t = s * qa[m * Kd + k] * wd[k * N + n];
          want += t;
          mag += std::fabs(t);
        }
        ASSERT_NEAR(y[m * N + n], want, 1e-5 * mag + 1e-7) << "g" << group << (sym ? " sym" : " asym") << " m" << m;
      }
  }
}

} // namespace
