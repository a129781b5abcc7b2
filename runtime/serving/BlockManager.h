//===- BlockManager.h - paged KV-cache block accounting ---------*- C++ -*-===//
//
// The KV cache is cut into fixed-size blocks of `blockSize` token slots. Each
// sequence owns a block table (logical block i -> physical block id); blocks
// come from a free list bounded by the memory budget. Full prompt blocks are
// shared between sequences whose token prefixes are identical: a block is
// identified by (parent block, its tokens), looked up through a hash chain
// over the token ids of the block and its prefix, and reference-counted. A
// sequence about to write into a block that others also hold gets a private
// copy first (copy-on-write); the copy is reported so an executor that stores
// KV in these blocks can copy the data.
//
// Not thread-safe: owned by the scheduler thread.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_SERVING_BLOCKMANAGER_H
#define LLMC_SERVING_BLOCKMANAGER_H

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace llmc::serving {

using BlockId = int32_t;
using SeqId = uint64_t;

/// Copy the KV data of block `src` into block `dst` before the next step.
struct BlockCopy {
  BlockId src, dst;
};

struct BlockStats {
  int64_t totalBlocks = 0;
  int64_t usedBlocks = 0;      ///< blocks with a reference count > 0
  int64_t sharedBlocks = 0;    ///< blocks held by more than one sequence
  int64_t allocatedSlots = 0;  ///< usedBlocks * blockSize
  int64_t filledSlots = 0;     ///< slots holding a token (a shared block counts once)
  int64_t prefixHitBlocks = 0; ///< blocks reused from another sequence since creation
  int64_t copyOnWrites = 0;    ///< since creation
  /// Allocated slots not holding a token / allocated slots (0 if none allocated).
  double waste() const {
    return allocatedSlots ? double(allocatedSlots - filledSlots) / double(allocatedSlots) : 0.0;
  }
};

class BlockManager {
public:
  /// `numBlocks` physical blocks of `blockSize` tokens each.
  BlockManager(int32_t blockSize, int64_t numBlocks, bool prefixSharing = true);

  /// How many blocks a memory budget holds (0 if bytesPerBlock is not positive).
  static int64_t blocksForBudget(int64_t budgetBytes, int64_t bytesPerBlock);

  int32_t blockSize() const { return blockSize_; }
  int64_t numBlocks() const { return (int64_t)blocks_.size(); }
  int64_t numFreeBlocks() const { return (int64_t)free_.size(); }
  int64_t blocksFor(int64_t tokens) const { return (tokens + blockSize_ - 1) / blockSize_; }

  /// Free blocks `allocate(prompt)` would take now (shared blocks excluded).
  int64_t blocksNeeded(const std::vector<int32_t> &prompt) const;

  /// Gives a new sequence blocks for its whole prompt, reusing registered
  /// blocks with the same prefix. Returns false and changes nothing if the
  /// free list is too short. *cachedTokens receives the number of leading
  /// prompt tokens whose KV is already in shared blocks (never the whole
  /// prompt: the last token is always computed, to produce logits).
  bool allocate(SeqId seq, const std::vector<int32_t> &prompt, int32_t *cachedTokens);

  /// Appends one token slot to the end of the sequence (a new block at a
  /// block boundary). Returns false and changes nothing if a block is needed
  /// and none is free.
  bool appendSlot(SeqId seq, int32_t token);

  /// Makes the blocks covering positions [begin, end) private to `seq`
  /// (copy-on-write of shared ones; copies are added to *copies). Returns
  /// false if a copy is needed and no block is free (nothing changed then).
  bool prepareWrite(SeqId seq, int32_t begin, int32_t end, std::vector<BlockCopy> *copies);

  /// Records that tokens [0, numComputed) of the sequence have KV data:
  /// full prompt blocks among them become shareable.
  void markComputed(SeqId seq, int32_t numComputed);

  /// Releases the sequence's blocks (reference counts drop; blocks nobody
  /// holds return to the free list).
  void free(SeqId seq);

  bool has(SeqId seq) const { return seqs_.count(seq) != 0; }
  const std::vector<BlockId> &blockTable(SeqId seq) const;
  int32_t numTokens(SeqId seq) const;
  int32_t refCount(BlockId b) const { return blocks_[b].refs; }

  BlockStats stats() const;

private:
  struct Block {
    int32_t refs = 0;
    int32_t filled = 0;        // token slots in use
    bool registered = false;   // findable by hash (full, computed prompt block)
    uint64_t hash = 0;
    BlockId parent = -1;       // previous block of the prefix it was registered with
    std::vector<int32_t> tokens; // contents, kept while registered (exact match)
  };
  struct Seq {
    std::vector<BlockId> table;
    std::vector<int32_t> tokens;
    int32_t promptLen = 0;
    int32_t computed = 0;
  };

  static uint64_t chainHash(uint64_t parentHash, const int32_t *tokens, int32_t n);
  BlockId findShared(uint64_t hash, BlockId parent, const int32_t *tokens) const;
  BlockId takeFree();
  void release(BlockId b);
  Seq &seq(SeqId id);

  int32_t blockSize_;
  bool prefixSharing_;
  std::vector<Block> blocks_;
  std::vector<BlockId> free_; // LIFO: recently freed blocks are reused first
  std::unordered_multimap<uint64_t, BlockId> byHash_;
  std::unordered_map<SeqId, Seq> seqs_;
  int64_t usedBlocks_ = 0, sharedBlocks_ = 0, filledSlots_ = 0, prefixHits_ = 0, copyOnWrites_ = 0;
};

} // namespace llmc::serving

#endif
