// Sampler: greedy, temperature, top-k, top-p and seeding, checked against
// properties that hold for any correct implementation.
#include "sampler/Sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

using llmc::rt::Sampler;

TEST(Sampler, GreedyPicksArgmaxLowestIdOnTies) {
  Sampler s(0.f, 0, 1.f, 1);
  std::vector<float> l{0.1f, 3.f, -2.f, 3.f};
  EXPECT_EQ(s.sample(l.data(), 4), 1);
}

TEST(Sampler, TopKOneIsGreedy) {
  Sampler s(1.5f, 1, 1.f, 42);
  std::vector<float> l{0.5f, 0.2f, 2.5f, 2.4f};
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(s.sample(l.data(), 4), 2);
}

TEST(Sampler, TopKNeverReturnsOutsideTheK) {
  Sampler s(1.f, 2, 1.f, 7);
  std::vector<float> l{5.f, 0.f, 4.f, 4.5f, -1.f};
  for (int i = 0; i < 1000; ++i) {
    int t = s.sample(l.data(), 5);
    EXPECT_TRUE(t == 0 || t == 3) << t;
  }
}

TEST(Sampler, TopPKeepsSmallestNucleus) {
  // probs ~ {0.665, 0.245, 0.090}: top_p 0.6 keeps only the first.
  Sampler s(1.f, 0, 0.6f, 3);
  std::vector<float> l{2.f, 1.f, 0.f};
  for (int i = 0; i < 500; ++i)
    EXPECT_EQ(s.sample(l.data(), 3), 0);
}

TEST(Sampler, SameSeedSameSequence) {
  std::vector<float> l{1.f, 1.1f, 0.9f, 1.05f, 0.2f};
  Sampler a(0.8f, 0, 0.95f, 1234), b(0.8f, 0, 0.95f, 1234), c(0.8f, 0, 0.95f, 99);
  std::vector<int> sa, sb, sc;
  for (int i = 0; i < 64; ++i) {
    sa.push_back(a.sample(l.data(), 5));
    sb.push_back(b.sample(l.data(), 5));
    sc.push_back(c.sample(l.data(), 5));
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
}

TEST(Sampler, FrequenciesFollowSoftmax) {
  Sampler s(1.f, 0, 1.f, 2024);
  std::vector<float> l{0.f, std::log(3.f)}; // probabilities 1/4, 3/4
  int ones = 0, n = 20000;
  for (int i = 0; i < n; ++i)
    ones += s.sample(l.data(), 2);
  EXPECT_NEAR(ones / double(n), 0.75, 0.02);
}
