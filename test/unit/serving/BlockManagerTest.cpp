//===- BlockManagerTest.cpp - KV block accounting -------------------------===//
#include "BlockManager.h"

#include <gtest/gtest.h>

#include <numeric>
#include <set>

using namespace llmc::serving;

namespace {
std::vector<int32_t> iota(int32_t n, int32_t start = 100) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}
} // namespace

TEST(BlockManager, BudgetInBlocks) {
  EXPECT_EQ(BlockManager::blocksForBudget(1000, 96), 10);
  EXPECT_EQ(BlockManager::blocksForBudget(95, 96), 0);
  EXPECT_EQ(BlockManager::blocksForBudget(1000, 0), 0);
  // stories260K: 5 layers x (K, V) x 4 heads x 8 dims x 4 bytes = 1280 bytes a token.
  EXPECT_EQ(BlockManager::blocksForBudget(1 << 20, 1280 * 16), 51);
}

TEST(BlockManager, AllocateAppendFree) {
  BlockManager bm(4, 10);
  int32_t cached = -1;
  ASSERT_TRUE(bm.allocate(1, iota(9), &cached));
  EXPECT_EQ(cached, 0);
  EXPECT_EQ(bm.blockTable(1).size(), 3u);
  EXPECT_EQ(bm.numFreeBlocks(), 7);
  for (int i = 0; i < 3; ++i) // fills the third block
    ASSERT_TRUE(bm.appendSlot(1, 7));
  EXPECT_EQ(bm.blockTable(1).size(), 3u);
  ASSERT_TRUE(bm.appendSlot(1, 7)); // token 13 opens a fourth block
  EXPECT_EQ(bm.blockTable(1).size(), 4u);
  EXPECT_EQ(bm.numTokens(1), 13);
  std::set<BlockId> distinct(bm.blockTable(1).begin(), bm.blockTable(1).end());
  EXPECT_EQ(distinct.size(), 4u);
  bm.free(1);
  EXPECT_EQ(bm.numFreeBlocks(), 10);
  EXPECT_FALSE(bm.has(1));
  bm.free(1); // unknown sequence: no-op
  EXPECT_EQ(bm.stats().usedBlocks, 0);
}

TEST(BlockManager, RefusesBeyondBudgetWithoutChanges) {
  BlockManager bm(4, 3);
  ASSERT_TRUE(bm.allocate(1, iota(8), nullptr)); // 2 blocks
  EXPECT_FALSE(bm.allocate(2, iota(5, 300), nullptr)); // needs 2, 1 free
  EXPECT_FALSE(bm.has(2));
  EXPECT_EQ(bm.numFreeBlocks(), 1);
  ASSERT_TRUE(bm.allocate(2, iota(3, 300), nullptr)); // 1 block
  ASSERT_TRUE(bm.appendSlot(2, 1));                   // 4th slot of its block
  EXPECT_FALSE(bm.appendSlot(2, 1));                  // needs a block, none free
  EXPECT_EQ(bm.numTokens(2), 4);
  EXPECT_FALSE(bm.appendSlot(1, 1));
  bm.free(1);
  EXPECT_TRUE(bm.appendSlot(2, 1));
}

TEST(BlockManager, SharesComputedFullPromptBlocks) {
  BlockManager bm(4, 10);
  std::vector<int32_t> a = iota(10);            // blocks [100..103] [104..107] [108 109]
  std::vector<int32_t> b = iota(8);             // same two full blocks ...
  b.push_back(7);                               // ... then a different tail
  ASSERT_TRUE(bm.allocate(1, a, nullptr));
  bm.markComputed(1, 10);
  int32_t cached = 0;
  EXPECT_EQ(bm.blocksNeeded(b), 1);
  ASSERT_TRUE(bm.allocate(2, b, &cached));
  EXPECT_EQ(cached, 8);
  EXPECT_EQ(bm.blockTable(2)[0], bm.blockTable(1)[0]);
  EXPECT_EQ(bm.blockTable(2)[1], bm.blockTable(1)[1]);
  EXPECT_NE(bm.blockTable(2)[2], bm.blockTable(1)[2]);
  EXPECT_EQ(bm.refCount(bm.blockTable(1)[0]), 2);
  EXPECT_EQ(bm.refCount(bm.blockTable(1)[2]), 1);
  BlockStats st = bm.stats();
  EXPECT_EQ(st.usedBlocks, 4);
  EXPECT_EQ(st.sharedBlocks, 2);
  EXPECT_EQ(st.prefixHitBlocks, 2);
  EXPECT_EQ(st.filledSlots, 10 + 1); // shared blocks counted once
  BlockId shared0 = bm.blockTable(1)[0];
  bm.free(1);
  EXPECT_EQ(bm.refCount(shared0), 1); // still held by sequence 2
  EXPECT_EQ(bm.numFreeBlocks(), 10 - 3);
  bm.free(2);
  EXPECT_EQ(bm.numFreeBlocks(), 10);
  EXPECT_EQ(bm.stats().sharedBlocks, 0);
}

TEST(BlockManager, SharesOnlyComputedBlocksAndSamePrefix) {
  BlockManager bm(4, 10);
  ASSERT_TRUE(bm.allocate(1, iota(8), nullptr));
  int32_t cached = -1;
  ASSERT_TRUE(bm.allocate(2, iota(8), &cached)); // 1 not computed yet: no sharing
  EXPECT_EQ(cached, 0);
  EXPECT_EQ(bm.stats().sharedBlocks, 0);
  bm.markComputed(1, 8);
  // Same second block, different first block: the hash chain must not match.
  std::vector<int32_t> c = iota(4, 500);
  for (int32_t t = 104; t < 108; ++t)
    c.push_back(t);
  c.push_back(1);
  ASSERT_TRUE(bm.allocate(3, c, &cached));
  EXPECT_EQ(cached, 0);
  EXPECT_NE(bm.blockTable(3)[1], bm.blockTable(1)[1]);
  // Partial blocks are never shared.
  ASSERT_TRUE(bm.allocate(4, iota(3), &cached));
  EXPECT_EQ(cached, 0);
}

TEST(BlockManager, CopyOnWriteOfFullySharedPrompt) {
  BlockManager bm(4, 10);
  ASSERT_TRUE(bm.allocate(1, iota(8), nullptr));
  bm.markComputed(1, 8);
  // An identical prompt: both blocks shared, but the last token is computed
  // again (for its logits), which writes into the shared second block.
  EXPECT_EQ(bm.blocksNeeded(iota(8)), 1);
  int32_t cached = 0;
  ASSERT_TRUE(bm.allocate(2, iota(8), &cached));
  EXPECT_EQ(cached, 7);
  EXPECT_EQ(bm.numFreeBlocks(), 8);
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(bm.prepareWrite(2, 7, 8, &copies));
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].src, bm.blockTable(1)[1]);
  EXPECT_EQ(copies[0].dst, bm.blockTable(2)[1]);
  EXPECT_NE(bm.blockTable(2)[1], bm.blockTable(1)[1]);
  EXPECT_EQ(bm.blockTable(2)[0], bm.blockTable(1)[0]); // the untouched block stays shared
  EXPECT_EQ(bm.refCount(bm.blockTable(1)[1]), 1);
  EXPECT_EQ(bm.refCount(bm.blockTable(1)[0]), 2);
  EXPECT_EQ(bm.stats().copyOnWrites, 1);
  copies.clear();
  ASSERT_TRUE(bm.prepareWrite(2, 7, 8, &copies)); // private now: no second copy
  EXPECT_TRUE(copies.empty());
  // Generation continues in private blocks.
  ASSERT_TRUE(bm.appendSlot(2, 5));
  EXPECT_EQ(bm.refCount(bm.blockTable(2).back()), 1);
}

TEST(BlockManager, CopyOnWriteRefusedWithoutFreeBlock) {
  BlockManager bm(4, 2);
  ASSERT_TRUE(bm.allocate(1, iota(8), nullptr));
  bm.markComputed(1, 8);
  EXPECT_FALSE(bm.allocate(2, iota(8), nullptr)); // the copy would need a third block
  EXPECT_FALSE(bm.has(2));
}

TEST(BlockManager, WasteCountsEmptySlotsOfUsedBlocks) {
  BlockManager bm(4, 10);
  EXPECT_EQ(bm.stats().waste(), 0.0);
  ASSERT_TRUE(bm.allocate(1, iota(5), nullptr)); // 2 blocks, 8 slots, 5 filled
  EXPECT_DOUBLE_EQ(bm.stats().waste(), 3.0 / 8.0);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(bm.appendSlot(1, 1));
  EXPECT_DOUBLE_EQ(bm.stats().waste(), 0.0);
  ASSERT_TRUE(bm.appendSlot(1, 1)); // 9 tokens in 12 slots
  EXPECT_DOUBLE_EQ(bm.stats().waste(), 3.0 / 12.0);
  bm.free(1);
  EXPECT_EQ(bm.stats().allocatedSlots, 0);
  EXPECT_EQ(bm.stats().filledSlots, 0);
}

TEST(BlockManager, SharingCanBeDisabled) {
  BlockManager bm(4, 10, /*prefixSharing=*/false);
  ASSERT_TRUE(bm.allocate(1, iota(8), nullptr));
  bm.markComputed(1, 8);
  int32_t cached = -1;
  ASSERT_TRUE(bm.allocate(2, iota(8), &cached));
  EXPECT_EQ(cached, 0);
  EXPECT_EQ(bm.stats().sharedBlocks, 0);
}

TEST(BlockManager, BlocksReturnAfterLastReference) {
  BlockManager bm(2, 6);
  std::vector<int32_t> p = iota(4);
  ASSERT_TRUE(bm.allocate(1, p, nullptr));
  bm.markComputed(1, 4);
  p.push_back(9);
  ASSERT_TRUE(bm.allocate(2, p, nullptr));
  ASSERT_TRUE(bm.allocate(3, p, nullptr));
  EXPECT_EQ(bm.refCount(bm.blockTable(1)[0]), 3);
  bm.free(2);
  bm.free(1);
  EXPECT_EQ(bm.refCount(bm.blockTable(3)[0]), 1);
  bm.free(3);
  EXPECT_EQ(bm.numFreeBlocks(), 6);
  // Freed registered blocks are forgotten: nothing to share any more.
  int32_t cached = -1;
  ASSERT_TRUE(bm.allocate(4, p, &cached));
  EXPECT_EQ(cached, 0);
}

TEST(BlockManager, RejectsMisuse) {
  BlockManager bm(4, 4);
  EXPECT_THROW(BlockManager(0, 4), std::invalid_argument);
  EXPECT_THROW(bm.allocate(1, {}, nullptr), std::invalid_argument);
  ASSERT_TRUE(bm.allocate(1, iota(2), nullptr));
  EXPECT_THROW(bm.allocate(1, iota(2), nullptr), std::logic_error);
  EXPECT_THROW(bm.appendSlot(99, 1), std::logic_error);
}
