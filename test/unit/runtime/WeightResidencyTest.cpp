// LLMC_WEIGHTS placements applied to this test binary's own read-only data
// (as the runtime applies them to a model library's weights): the contents
// stay the same, `private` leaves no file mapping under the data, `locked`
// pins it (or says why not), and bad input is refused.
#include "support/WeightResidency.h"
#include "support/WeightStreaming.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include <unistd.h>

using namespace llmc::rt;

namespace {

constexpr int kTableSize = 1 << 16; // 256 KiB: spans many pages

constexpr uint32_t mix(uint32_t i) { return (i * 2654435761u) ^ (i >> 7) ^ 0x5bd1e995u; }

constexpr std::array<uint32_t, kTableSize> makeTable() {
  std::array<uint32_t, kTableSize> t{};
  for (int i = 0; i < kTableSize; ++i)
    t[i] = mix(uint32_t(i));
  return t;
}

// In .rodata: a PF_R-only segment, like a model library's weights.
constexpr std::array<uint32_t, kTableSize> kTable = makeTable();

bool tableIntact() {
  for (int i = 0; i < kTableSize; ++i)
    if (kTable[i] != mix(uint32_t(i)))
      return false;
  return true;
}

struct Mapping {
  bool found = false;
  std::string path; // empty for anonymous memory
  long lockedKb = 0;
};

/// The /proc/self/smaps entry that holds `p`.
Mapping mappingOf(const void *p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  Mapping m;
  bool inside = false;
  while (std::getline(smaps, line)) {
    unsigned long lo, hi;
    if (!line.empty() && !std::isupper(static_cast<unsigned char>(line[0])) &&
        std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2) {
      if (m.found)
        break;
      inside = a >= lo && a < hi;
      if (inside) {
        m.found = true;
        size_t slash = line.find('/');
        m.path = slash == std::string::npos ? "" : line.substr(slash);
      }
      continue;
    }
    long kb;
    if (inside && std::sscanf(line.c_str(), "Locked: %ld kB", &kb) == 1)
      m.lockedKb = kb;
  }
  return m;
}

TEST(WeightResidency, ParsesTheThreePlacements) {
  WeightPlacement p;
  ASSERT_TRUE(parseWeightPlacement("mapped", &p));
  EXPECT_EQ(p, WeightPlacement::Mapped);
  ASSERT_TRUE(parseWeightPlacement("locked", &p));
  EXPECT_EQ(p, WeightPlacement::Locked);
  ASSERT_TRUE(parseWeightPlacement("private", &p));
  EXPECT_EQ(p, WeightPlacement::Private);
  EXPECT_FALSE(parseWeightPlacement("", &p));
  EXPECT_FALSE(parseWeightPlacement("Private", &p));
  EXPECT_FALSE(parseWeightPlacement("huge", &p));
}

TEST(WeightResidency, AddressOutsideEveryObjectIsRefused) {
  std::array<char, 64> stack{};
  ResidencyResult r = placeReadOnlySegments(stack.data(), WeightPlacement::Mapped);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("no loaded object"), std::string::npos) << r.error;
}

TEST(WeightResidency, MappedKeepsTheFilePages) {
  const uint32_t *mid = &kTable[kTableSize / 2];
  Mapping before = mappingOf(mid);
  ASSERT_TRUE(before.found);
  ResidencyResult r = placeReadOnlySegments(kTable.data(), WeightPlacement::Mapped);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_GE(r.bytes, int64_t(sizeof(kTable)));
  EXPECT_EQ(mappingOf(mid).path, before.path);
  EXPECT_TRUE(tableIntact());
}

TEST(WeightResidency, LockedPinsThePagesOrSaysWhy) {
  const uint32_t *mid = &kTable[kTableSize / 2];
  ResidencyResult r = placeReadOnlySegments(kTable.data(), WeightPlacement::Locked);
  if (geteuid() == 0) {
    // CAP_IPC_LOCK: the limit does not apply, so locking must work.
    ASSERT_TRUE(r.ok) << r.error;
  }
  if (r.ok) {
    EXPECT_GT(mappingOf(mid).lockedKb, 0);
  } else {
    EXPECT_NE(r.error.find("mlock"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("RLIMIT_MEMLOCK"), std::string::npos) << r.error;
  }
  EXPECT_TRUE(tableIntact());
}

TEST(WeightResidency, PrivateMovesTheDataToAnonymousMemory) {
  const uint32_t *mid = &kTable[kTableSize / 2];
  Mapping before = mappingOf(mid);
  ASSERT_TRUE(before.found);
  ASSERT_FALSE(before.path.empty()) << "the table should start out file-backed";
  ResidencyResult r = placeReadOnlySegments(kTable.data(), WeightPlacement::Private);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_GE(r.bytes, int64_t(sizeof(kTable)));
  Mapping after = mappingOf(mid);
  ASSERT_TRUE(after.found);
  EXPECT_EQ(after.path, "") << "still mapped from " << after.path;
  EXPECT_TRUE(tableIntact());
  // Applying it again (a second model opened in the process) is harmless.
  ResidencyResult again = placeReadOnlySegments(kTable.data(), WeightPlacement::Private);
  ASSERT_TRUE(again.ok) << again.error;
  EXPECT_TRUE(tableIntact());
}

} // namespace

// The decode tiles' non-temporal weight prefetch is on only for weights
// larger than the last-level cache (support/WeightStreaming.h).
namespace {

TEST(WeightStreaming, OnlyWeightsLargerThanTheLastLevelCacheStream) {
  const int64_t llc = lastLevelCacheBytes();
  EXPECT_GE(llc, int64_t(256) << 10) << "no last-level cache of at least 256 KiB found";
  // What sysfs says, when it says it (the largest cache of CPU 0).
  int64_t sysfsMax = 0;
  for (int i = 0; i < 8; ++i) {
    std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/size");
    std::string text;
    if (!(f >> text) || text.empty())
      continue;
    int64_t v = std::stoll(text);
    if (text.back() == 'K')
      v <<= 10;
    else if (text.back() == 'M')
      v <<= 20;
    sysfsMax = std::max(sysfsMax, v);
  }
  if (sysfsMax > 0)
    EXPECT_EQ(llc, sysfsMax);

  decideWeightStreaming(llc / 2);
  EXPECT_FALSE(weightsStream());
  decideWeightStreaming(llc);
  EXPECT_FALSE(weightsStream());
  decideWeightStreaming(llc + 1);
  EXPECT_TRUE(weightsStream());
  setWeightsStream(false);
  EXPECT_FALSE(weightsStream());
  setWeightsStream(true); // the default, for the other tests
  EXPECT_TRUE(weightsStream());
}

} // namespace
