// The cache behind generated code's heap allocations: large blocks come back
// to later allocations of similar size, small and over-aligned ones never
// enter it, the bounds hold, and the memory is usable (ASan-clean layout).
#include "support/BufferCache.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

using namespace llmc::rt;

namespace {

class BufferCacheTest : public ::testing::Test {
protected:
  void SetUp() override { releaseBufferCache(); }
  void TearDown() override { releaseBufferCache(); }
};

TEST_F(BufferCacheTest, LargeBlockIsReusedForSimilarSizes) {
  size_t big = size_t(8) << 20;
  void *a = cachedAlloc(big);
  ASSERT_NE(a, nullptr);
  std::memset(a, 1, big);
  cachedFree(a);
  EXPECT_EQ(bufferCacheStats().cachedBlocks, 1u);
  uint64_t hits = bufferCacheStats().hits;
  void *b = cachedAlloc(big - 4096); // a prompt one token shorter
  EXPECT_EQ(b, a);
  EXPECT_EQ(bufferCacheStats().hits, hits + 1);
  EXPECT_EQ(bufferCacheStats().cachedBlocks, 0u);
  // Far smaller requests do not take the big block.
  cachedFree(b);
  void *c = cachedAlloc(big / 4);
  EXPECT_NE(c, a);
  EXPECT_EQ(bufferCacheStats().cachedBlocks, 1u);
  // A larger request does not get a block that is too small.
  void *d = cachedAlloc(big * 2);
  EXPECT_NE(d, a);
  std::memset(d, 2, big * 2);
  cachedFree(c);
  cachedFree(d);
}

TEST_F(BufferCacheTest, SmallAndOverAlignedBlocksAreNotCached) {
  void *s = cachedAlloc(1000);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(s) % 16, 0u);
  cachedFree(s);
  void *a = cachedAlignedAlloc(4096, size_t(1) << 20);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 4096, 0u);
  std::memset(a, 3, size_t(1) << 20);
  cachedFree(a);
  EXPECT_EQ(bufferCacheStats().cachedBlocks, 0u);
  EXPECT_EQ(cachedAlloc(0), nullptr);
  EXPECT_EQ(cachedAlignedAlloc(48, 64), nullptr); // not a power of two
  cachedFree(nullptr);
}

TEST_F(BufferCacheTest, BoundsHoldOldestGoFirst) {
  // Four blocks of 300 kB freed first, then kMaxCachedBlocks of 2 MB: the
  // four are evicted, so a 300 kB request (which a 2 MB block is too big to
  // serve) misses.
  std::vector<void *> blocks;
  for (int i = 0; i < 4; ++i)
    blocks.push_back(cachedAlloc(300000));
  for (size_t i = 0; i < kMaxCachedBlocks; ++i)
    blocks.push_back(cachedAlloc(size_t(2) << 20));
  for (void *p : blocks)
    cachedFree(p);
  BufferCacheStats st = bufferCacheStats();
  EXPECT_EQ(st.cachedBlocks, kMaxCachedBlocks);
  EXPECT_LE(st.cachedBytes, kMaxCachedBytes);
  uint64_t misses = st.misses, hits = st.hits;
  void *p = cachedAlloc(300000);
  EXPECT_EQ(bufferCacheStats().misses, misses + 1);
  void *q = cachedAlloc(size_t(2) << 20);
  EXPECT_EQ(bufferCacheStats().hits, hits + 1);
  cachedFree(p);
  cachedFree(q);
}

TEST_F(BufferCacheTest, ConcurrentUse) {
  auto worker = [](int seed) {
    for (int i = 0; i < 2000; ++i) {
      size_t n = kCacheMinBytes + size_t((i * 7919 + seed) % 13) * 100000;
      auto *p = static_cast<unsigned char *>(cachedAlloc(n));
      p[0] = p[n - 1] = static_cast<unsigned char>(i);
      cachedFree(p);
    }
  };
  std::thread a(worker, 1), b(worker, 2);
  a.join();
  b.join();
  EXPECT_LE(bufferCacheStats().cachedBlocks, kMaxCachedBlocks);
}

} // namespace
