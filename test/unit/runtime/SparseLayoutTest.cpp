// The sparse weight formats of include/llmc/SparseLayout.h: pruning rules on
// hand-worked cases, the exact bits of small compressed weights, and round
// trips (compress -> decompress) against the pruned dense weight, with panel
// and K padding, transposed sources and gated (gate|up interleaved) panels.
#include "llmc/SparseLayout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace sp = llmc::sparse;

namespace {

std::vector<float> randomWeights(size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(n);
  for (auto &x : v)
    x = d(g);
  return v;
}

auto magnitude(const std::vector<float> &w, int64_t N) {
  return [&w, N](int64_t k, int64_t n) { return std::fabs(w[k * N + n]); };
}

std::vector<float> transpose(const std::vector<float> &w, int64_t K, int64_t N) {
  std::vector<float> t(K * N);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n)
      t[n * K + k] = w[k * N + n];
  return t;
}

//===--- pruning -------------------------------------------------------------===//

TEST(SparsePrune, TwoFourMagnitude) {
  // One column, K = 11: [0.1, -0.5, 0.3, 0.2] keeps -0.5 and 0.3; a tie
  // [0.2 x 4] keeps the first two; the partial block of 3 drops its smallest.
  std::vector<float> w = {0.1f, -0.5f, 0.3f, 0.2f, 0.2f, 0.2f, 0.2f, 0.2f, 0.7f, -0.1f, 0.4f};
  std::vector<float> copy = w;
  sp::prune24(w.data(), 11, 1, magnitude(copy, 1));
  EXPECT_EQ(w, (std::vector<float>{0, -0.5f, 0.3f, 0, 0.2f, 0.2f, 0, 0, 0.7f, 0, 0.4f}));
  // A partial block of two is kept whole.
  std::vector<float> two = {1, 2, 3, 4, 5, 6};
  copy = two;
  sp::prune24(two.data(), 6, 1, magnitude(copy, 1));
  EXPECT_EQ(two, (std::vector<float>{0, 0, 3, 4, 5, 6}));
}

TEST(SparsePrune, TwoFourUsesTheScore) {
  // Wanda-style scores: column 0's big weights are on k with tiny norms.
  std::vector<float> w = {10, 1, 10, 1, 1, 1, 1, 1}; // [4, 2]
  std::vector<float> norm = {0.01f, 1, 0.01f, 1};
  sp::prune24(w.data(), 4, 2, [&](int64_t k, int64_t n) { return std::fabs(w[k * 2 + n]) * norm[k]; });
  EXPECT_EQ(w, (std::vector<float>{0, 0, 10, 1, 0, 0, 1, 1}));
}

TEST(SparsePrune, UnstructuredPerColumn) {
  // K = 5, sparsity 0.5 drops floor(2.5) = 2 per column; ties drop the higher k.
  std::vector<float> w = {5, 1, -1, 1, 3, 1, -2, 1, 4, 1}; // [5, 2], column 1 all ties
  std::vector<float> copy = w;
  sp::pruneUnstructured(w.data(), 5, 2, 0.5, magnitude(copy, 2));
  EXPECT_EQ(w, (std::vector<float>{5, 1, 0, 1, 3, 1, 0, 0, 4, 0}));
  // Every column keeps exactly K - floor(s K) weights on random data.
  const int64_t K = 300, N = 7;
  auto r = randomWeights(K * N, 3);
  copy = r;
  sp::pruneUnstructured(r.data(), K, N, 0.7, magnitude(copy, N));
  for (int64_t n = 0; n < N; ++n) {
    int64_t nz = 0;
    float keptMin = 1e30f, droppedMax = 0;
    for (int64_t k = 0; k < K; ++k) {
      if (r[k * N + n] != 0.f) {
        ++nz;
        keptMin = std::min(keptMin, std::fabs(copy[k * N + n]));
      } else {
        droppedMax = std::max(droppedMax, std::fabs(copy[k * N + n]));
      }
    }
    EXPECT_EQ(nz, K - 210) << "column " << n;
    EXPECT_LE(droppedMax, keptMin) << "column " << n;
  }
}

//===--- 2:4 format ------------------------------------------------------------===//

TEST(Sparse24Layout, HandWorkedBits) {
  // K = 8, N = 1: block 0 keeps positions 1, 3; block 1 has one nonzero at 0
  // and keeps the lowest free position 1 (holding 0).
  std::vector<float> w = {0, 3, 0, -1, 5, 0, 0, 0};
  sp::Sparse24Layout l = sp::makeSparse24Layout(8, 1, 1);
  EXPECT_EQ(l.numBlocks, 2);
  EXPECT_EQ(l.numGroups, 1);
  std::vector<float> values(l.numValues());
  std::vector<uint32_t> meta(l.numMeta());
  ASSERT_EQ(sp::compress24(sp::single(w.data(), false, 8, 1), l, values.data(), meta.data()), "");
  EXPECT_EQ(values, (std::vector<float>{3, -1, 5, 0}));
  // block 0: 1 | 3 << 2 = 0xd; block 1 (4 bits up): 0 | 1 << 2 = 0x4
  EXPECT_EQ(meta, (std::vector<uint32_t>{0x4d}));
  std::vector<float> back(8);
  sp::decompress24(l, values.data(), meta.data(), 0, back.data());
  EXPECT_EQ(back, w);
}

TEST(Sparse24Layout, PanelsAndMetaWords) {
  // K = 40 (10 blocks: two metadata words per column), N = 3, nr = 2: the
  // second panel's padding column stores zeros at positions 0, 1.
  const int64_t K = 40, N = 3;
  std::vector<float> w(K * N, 0.f);
  w[(4 * 9 + 2) * N + 2] = 7; // column 2, block 9, position 2 (word 1, nibble 1)
  w[(4 * 9 + 3) * N + 2] = 8;
  sp::Sparse24Layout l = sp::makeSparse24Layout(K, N, 2);
  EXPECT_EQ(l.numPanels, 2);
  EXPECT_EQ(l.numValues(), 2 * 10 * 2 * 2);
  EXPECT_EQ(l.numMeta(), 2 * 2 * 2);
  EXPECT_EQ(l.bytes(), 80 * 4 + 8 * 4);
  std::vector<float> values(l.numValues());
  std::vector<uint32_t> meta(l.numMeta());
  ASSERT_EQ(sp::compress24(sp::single(w.data(), false, K, N), l, values.data(), meta.data()), "");
  // panel 1 = column 2 (j 0) and padding (j 1); block 9 values at (9*2+t)*nr + j
  EXPECT_EQ(values[l.valueIndex(1, 9, 0, 0)], 7);
  EXPECT_EQ(values[l.valueIndex(1, 9, 1, 0)], 8);
  EXPECT_EQ(l.valueIndex(1, 9, 1, 0), 40 + 19 * 2);
  // word 1 of column 2: block 8 (nibble 0) zeros at 0,1 -> 0x4; block 9 at 2,3 -> 0xe
  EXPECT_EQ(meta[l.metaIndex(1, 9, 0)], 0xe4u);
  EXPECT_EQ(meta[l.metaIndex(1, 9, 1)], 0x44u); // padding column
  EXPECT_EQ(meta[l.metaIndex(0, 0, 0)], 0x44444444u); // all-zero column 0, blocks 0..7
}

TEST(Sparse24Layout, RejectsDenseBlocks) {
  std::vector<float> w = {1, 2, 3, 0, 0, 0, 0, 0};
  sp::Sparse24Layout l = sp::makeSparse24Layout(8, 1, 1);
  std::vector<float> values(l.numValues());
  std::vector<uint32_t> meta(l.numMeta());
  std::string err = sp::compress24(sp::single(w.data(), false, 8, 1), l, values.data(), meta.data());
  EXPECT_NE(err.find("not 2:4 sparse"), std::string::npos) << err;
  EXPECT_NE(err.find("k 0..3"), std::string::npos) << err;
}

TEST(Sparse24Layout, RoundTripPaddingTransposedGated) {
  const int64_t K = 70, N = 13, nr = 4; // K padded to 72, N to 16
  auto w = randomWeights(K * N, 5), u = randomWeights(K * N, 6);
  auto wc = w, uc = u;
  sp::prune24(w.data(), K, N, magnitude(wc, N));
  sp::prune24(u.data(), K, N, magnitude(uc, N));
  for (int64_t n = 0; n < N; ++n) // every full block has exactly 2 nonzeros left
    for (int64_t k0 = 0; k0 + 4 <= K; k0 += 4) {
      int nz = 0;
      for (int i = 0; i < 4; ++i)
        nz += w[(k0 + i) * N + n] != 0.f;
      ASSERT_EQ(nz, 2);
    }
  sp::Sparse24Layout l = sp::makeSparse24Layout(K, N, nr);
  std::vector<float> values(l.numValues(), NAN);
  std::vector<uint32_t> meta(l.numMeta(), 0xffffffffu);
  ASSERT_EQ(sp::compress24(sp::single(w.data(), false, K, N), l, values.data(), meta.data()), "");
  for (float v : values)
    ASSERT_FALSE(std::isnan(v)); // every slot written
  std::vector<float> back(K * N);
  sp::decompress24(l, values.data(), meta.data(), 0, back.data());
  EXPECT_EQ(back, w);
  // The same from the transposed [N, K] weight.
  auto wt = transpose(w, K, N);
  std::vector<float> values2(l.numValues());
  std::vector<uint32_t> meta2(l.numMeta());
  ASSERT_EQ(sp::compress24(sp::single(wt.data(), true, K, N), l, values2.data(), meta2.data()), "");
  EXPECT_EQ(values2, values);
  EXPECT_EQ(meta2, meta);
  // Gated: panels alternate gate, up; each decompresses to its matrix.
  sp::Sparse24Layout lg = sp::makeSparse24Layout(K, N, nr, 2);
  EXPECT_EQ(lg.numValues(), 2 * l.numValues());
  std::vector<float> gv(lg.numValues());
  std::vector<uint32_t> gm(lg.numMeta());
  ASSERT_EQ(sp::compress24(sp::gated(w.data(), u.data(), false, K, N), lg, gv.data(), gm.data()), "");
  for (int64_t i = 0; i < l.panelValues(); ++i) // panel 2 = gate panel 1
    ASSERT_EQ(gv[2 * l.panelValues() + i], values[l.panelValues() + i]);
  sp::decompress24(lg, gv.data(), gm.data(), 0, back.data());
  EXPECT_EQ(back, w);
  sp::decompress24(lg, gv.data(), gm.data(), 1, back.data());
  EXPECT_EQ(back, u);
}

//===--- 2:4 with int4 values -----------------------------------------------===//

TEST(Sparse24Q4Layout, HandWorkedBits) {
  // K = 8 (padded to 32: 8 blocks, one group), N = 1. Kept: 3, -1 | 5, 0
  // (block 1's second position is a free one). The largest magnitude is 5,
  // scale = 5 / -8 = -0.625 (exact in fp16: 0xB900); codes round(w / scale) + 8:
  // 3 -> round(-4.8) + 8 = 3 (back: 3.125), -1 -> round(1.6) + 8 = 10 (-1.25),
  // 5 -> 0 (exact), 0 -> 8.
  std::vector<float> w = {0, 3, 0, -1, 5, 0, 0, 0};
  sp::Sparse24Q4Layout l = sp::makeSparse24Q4Layout(8, 1, 1);
  EXPECT_EQ(l.blocks.numBlocks, 8);
  EXPECT_EQ(l.numGroups(), 1);
  EXPECT_EQ(l.bytes(), 8 + 4 + 2);
  std::vector<uint8_t> codes(l.numCodes());
  std::vector<uint32_t> meta(l.numMeta());
  std::vector<uint16_t> scales(l.numScales());
  ASSERT_EQ(sp::compress24q4(sp::single(w.data(), false, 8, 1), l, codes.data(), meta.data(), scales.data()), "");
  EXPECT_EQ(scales, (std::vector<uint16_t>{0xB900}));
  // block 0: 3 | 10 << 4; block 1: 0 | 8 << 4; padding blocks: 8 | 8 << 4
  EXPECT_EQ(codes, (std::vector<uint8_t>{0xA3, 0x80, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88}));
  EXPECT_EQ(meta, (std::vector<uint32_t>{0x4444444d})); // padding blocks keep positions 0, 1
  std::vector<float> back(8);
  sp::decompress24q4(l, codes.data(), meta.data(), scales.data(), 0, back.data());
  EXPECT_EQ(back, (std::vector<float>{0, 3.125f, 0, -1.25f, 5, 0, 0, 0}));
}

TEST(Sparse24Q4Layout, RoundTripWithinHalfAStep) {
  // Random pruned weights, gated, transposed source, K = 70 (padded to 96):
  // every dequantized weight is within half a quantization step of the
  // pruned one (a whole step past 7/8 of the range on the side opposite the
  // largest weight, where Q4_0's grid clamps to 7), zeros stay zero and the
  // first largest kept weight of each group is exact (it maps to code 0).
  const int64_t K = 70, N = 13, nr = 8;
  auto w = randomWeights(K * N, 11), u = randomWeights(K * N, 12);
  auto wc = w, uc = u;
  sp::prune24(w.data(), K, N, magnitude(wc, N));
  sp::prune24(u.data(), K, N, magnitude(uc, N));
  auto wt = transpose(w, K, N), ut = transpose(u, K, N);
  sp::Sparse24Q4Layout l = sp::makeSparse24Q4Layout(K, N, nr, 2);
  std::vector<uint8_t> codes(l.numCodes());
  std::vector<uint32_t> meta(l.numMeta());
  std::vector<uint16_t> scales(l.numScales());
  ASSERT_EQ(sp::compress24q4(sp::gated(wt.data(), ut.data(), true, K, N), l, codes.data(), meta.data(),
                             scales.data()),
            "");
  for (int m = 0; m < 2; ++m) {
    const std::vector<float> &ref = m ? u : w;
    std::vector<float> back(K * N);
    sp::decompress24q4(l, codes.data(), meta.data(), scales.data(), m, back.data());
    for (int64_t n = 0; n < N; ++n)
      for (int64_t g = 0; g * 32 < K; ++g) {
        float amax = 0;
        for (int64_t k = 32 * g; k < std::min<int64_t>(K, 32 * g + 32); ++k)
          amax = std::max(amax, std::fabs(ref[k * N + n]));
        const float step = amax / 8;
        for (int64_t k = 32 * g; k < std::min<int64_t>(K, 32 * g + 32); ++k) {
          float a = ref[k * N + n], b = back[k * N + n];
          if (a == 0.f)
            ASSERT_EQ(b, 0.f) << "k " << k << " n " << n;
          const float allowed = std::fabs(a) <= amax * 7 / 8 ? step * 0.5f : step;
          ASSERT_LE(std::fabs(a - b), allowed * 1.001f + 1e-6f) << "k " << k << " n " << n;
          if (std::fabs(a) == amax)
            ASSERT_NEAR(a, b, amax * 1e-3f);
        }
      }
  }
}

//===--- unstructured (ELL) format -----------------------------------------------===//

TEST(SparseEllLayout, HandWorkedRows) {
  // K = 300 (chunks of 256 and 44), N = 2, nr = 2. Column 0 has nonzeros
  // at k = 3, 255, 256; column 1 at k = 10 and 299. Chunk 0 has 2 rows
  // (column 1 padded with a zero at offset 0), chunk 1 has 1 row.
  const int64_t K = 300, N = 2;
  std::vector<float> w(K * N, 0.f);
  w[3 * N + 0] = 1;
  w[255 * N + 0] = 2;
  w[256 * N + 0] = 3;
  w[10 * N + 1] = 4;
  w[299 * N + 1] = 5;
  std::string err;
  auto src = sp::single(w.data(), false, K, N);
  sp::SparseEllLayout l = sp::makeSparseEllLayout(src, 2, &err);
  ASSERT_EQ(err, "");
  EXPECT_EQ(l.numChunks, 2);
  EXPECT_EQ(l.starts, (std::vector<int32_t>{0, 2, 3}));
  std::vector<float> values(l.numValues());
  std::vector<uint8_t> offsets(l.numValues());
  sp::compressEll(src, l, values.data(), offsets.data());
  EXPECT_EQ(values, (std::vector<float>{1, 4, 2, 0, 3, 5}));
  EXPECT_EQ(offsets, (std::vector<uint8_t>{3, 10, 255, 0, 0, 43}));
  EXPECT_EQ(l.bytes(), 6 * 5 + 3 * 4);
  std::vector<float> back(K * N);
  sp::decompressEll(l, values.data(), offsets.data(), 0, back.data());
  EXPECT_EQ(back, w);
}

TEST(SparseEllLayout, RoundTripPaddingTransposedGated) {
  const int64_t K = 600, N = 19, nr = 8;
  auto w = randomWeights(K * N, 7), u = randomWeights(K * N, 8);
  auto wc = w, uc = u;
  sp::pruneUnstructured(w.data(), K, N, 0.5, magnitude(wc, N));
  sp::pruneUnstructured(u.data(), K, N, 0.5, magnitude(uc, N));
  std::string err;
  sp::SparseEllLayout l = sp::makeSparseEllLayout(sp::single(w.data(), false, K, N), nr, &err);
  ASSERT_EQ(err, "");
  // At least the nonzeros, at most every k.
  EXPECT_GE(l.numValues(), 300 * N);
  EXPECT_LE(l.rows(), 3 * K);
  std::vector<float> values(l.numValues());
  std::vector<uint8_t> offsets(l.numValues());
  sp::compressEll(sp::single(w.data(), false, K, N), l, values.data(), offsets.data());
  std::vector<float> back(K * N);
  sp::decompressEll(l, values.data(), offsets.data(), 0, back.data());
  EXPECT_EQ(back, w);
  auto wt = transpose(w, K, N);
  sp::SparseEllLayout lt = sp::makeSparseEllLayout(sp::single(wt.data(), true, K, N), nr, &err);
  EXPECT_EQ(lt.starts, l.starts);
  std::vector<float> values2(l.numValues());
  std::vector<uint8_t> offsets2(l.numValues());
  sp::compressEll(sp::single(wt.data(), true, K, N), lt, values2.data(), offsets2.data());
  EXPECT_EQ(values2, values);
  EXPECT_EQ(offsets2, offsets);
  auto gsrc = sp::gated(w.data(), u.data(), false, K, N);
  sp::SparseEllLayout lg = sp::makeSparseEllLayout(gsrc, nr, &err);
  EXPECT_EQ(lg.numPanels, 2 * l.numPanels);
  std::vector<float> gv(lg.numValues());
  std::vector<uint8_t> go(lg.numValues());
  sp::compressEll(gsrc, lg, gv.data(), go.data());
  sp::decompressEll(lg, gv.data(), go.data(), 0, back.data());
  EXPECT_EQ(back, w);
  sp::decompressEll(lg, gv.data(), go.data(), 1, back.data());
  EXPECT_EQ(back, u);
}

} // namespace
