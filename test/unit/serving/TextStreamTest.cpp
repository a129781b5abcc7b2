//===- TextStreamTest.cpp - stop strings and UTF-8 hold-back --------------===//
#include "Histogram.h"
#include "TextStream.h"

#include <gtest/gtest.h>

using namespace llmc::serving;

TEST(TextStream, PassesTextThroughWithoutStops) {
  TextStream t;
  EXPECT_FALSE(t.append("Once"));
  EXPECT_EQ(t.takeReady(), "Once");
  EXPECT_FALSE(t.append(" upon"));
  EXPECT_EQ(t.takeReady(), " upon");
  EXPECT_EQ(t.takeAll(), "");
}

TEST(TextStream, StopStringAcrossTokensIsCutAndNeverEmitted) {
  TextStream t({"END"});
  std::string out;
  EXPECT_FALSE(t.append("abc E"));
  out += t.takeReady();
  EXPECT_EQ(out, "abc ") << "'E' could start the stop string: held back";
  EXPECT_FALSE(t.append("N"));
  out += t.takeReady();
  EXPECT_EQ(out, "abc ");
  EXPECT_TRUE(t.append("Dxyz"));
  EXPECT_TRUE(t.stopped());
  out += t.takeAll();
  EXPECT_EQ(out, "abc ");
}

TEST(TextStream, HeldBackPrefixIsReleasedWhenItDoesNotMatch) {
  TextStream t({"END"});
  std::string out;
  t.append("a E");
  out += t.takeReady();
  t.append("Nx");
  out += t.takeReady();
  EXPECT_EQ(out, "a ENx");
  t.append("EN"); // held back at the end of generation, then flushed
  out += t.takeReady();
  EXPECT_EQ(out, "a ENx");
  out += t.takeAll();
  EXPECT_EQ(out, "a ENxEN");
}

TEST(TextStream, EarliestOfSeveralStopsWins) {
  TextStream t({"cd", "b"});
  EXPECT_TRUE(t.append("abcd"));
  EXPECT_EQ(t.takeAll(), "a");
}

TEST(TextStream, EmptyStopStringsAreIgnored) {
  TextStream t({""});
  EXPECT_FALSE(t.append("x"));
  EXPECT_EQ(t.takeReady(), "x");
}

TEST(TextStream, IncompleteUtf8IsHeldBack) {
  TextStream t;
  const std::string euro = "\xE2\x82\xAC"; // U+20AC in three bytes, one per token
  t.append("a\xE2");
  EXPECT_EQ(t.takeReady(), "a");
  t.append("\x82");
  EXPECT_EQ(t.takeReady(), "");
  t.append("\xAC!");
  EXPECT_EQ(t.takeReady(), euro + "!");
  t.append("\xF0\x9F"); // an unfinished 4-byte character at the end is flushed as is
  EXPECT_EQ(t.takeReady(), "");
  EXPECT_EQ(t.takeAll(), "\xF0\x9F");
}

TEST(Histogram, BucketsQuantilesAndPrometheusText) {
  Histogram h({0.01, 0.1, 1});
  for (double v : {0.005, 0.05, 0.05, 0.5, 5.0})
    h.observe(v);
  EXPECT_EQ(h.count(), 5u);
  EXPECT_NEAR(h.sum(), 5.605, 1e-12);
  double p50 = h.quantile(0.5);
  EXPECT_GT(p50, 0.01);
  EXPECT_LE(p50, 0.1);
  std::string text = h.prometheus("x_seconds", "help");
  EXPECT_NE(text.find("# TYPE x_seconds histogram"), std::string::npos);
  EXPECT_NE(text.find("x_seconds_bucket{le=\"0.01\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("x_seconds_bucket{le=\"0.1\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("x_seconds_bucket{le=\"1\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("x_seconds_bucket{le=\"+Inf\"} 5\n"), std::string::npos);
  EXPECT_NE(text.find("x_seconds_count 5\n"), std::string::npos);
}
