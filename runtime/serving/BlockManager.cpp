//===- BlockManager.cpp - paged KV-cache block accounting -----------------===//
#include "BlockManager.h"

#include <algorithm>
#include <stdexcept>
#include <string>

using namespace llmc::serving;

BlockManager::BlockManager(int32_t blockSize, int64_t numBlocks, bool prefixSharing)
    : blockSize_(blockSize), prefixSharing_(prefixSharing) {
  if (blockSize <= 0 || numBlocks < 0)
    throw std::invalid_argument("BlockManager: block size must be > 0 and the block count >= 0");
  blocks_.resize(numBlocks);
  free_.reserve(numBlocks);
  for (int64_t b = numBlocks - 1; b >= 0; --b) // block 0 is handed out first
    free_.push_back((BlockId)b);
}

int64_t BlockManager::blocksForBudget(int64_t budgetBytes, int64_t bytesPerBlock) {
  return bytesPerBlock > 0 && budgetBytes > 0 ? budgetBytes / bytesPerBlock : 0;
}

uint64_t BlockManager::chainHash(uint64_t h, const int32_t *tokens, int32_t n) {
  // splitmix64 finalizer over (previous hash, token): cheap and well mixed.
  auto mix = [](uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  h = mix(h + 0x9E3779B97F4A7C15ull);
  for (int32_t i = 0; i < n; ++i)
    h = mix(h ^ ((uint64_t)(uint32_t)tokens[i] + 0x9E3779B97F4A7C15ull));
  return h;
}

BlockId BlockManager::findShared(uint64_t hash, BlockId parent, const int32_t *tokens) const {
  // The hash only narrows the search; equality of parent and tokens decides,
  // so a hash collision can never share a wrong block.
  auto [lo, hi] = byHash_.equal_range(hash);
  for (auto it = lo; it != hi; ++it) {
    const Block &b = blocks_[it->second];
    if (b.parent == parent && std::equal(b.tokens.begin(), b.tokens.end(), tokens))
      return it->second;
  }
  return -1;
}

BlockId BlockManager::takeFree() {
  BlockId b = free_.back();
  free_.pop_back();
  Block &blk = blocks_[b];
  blk.refs = 1;
  blk.filled = 0;
  ++usedBlocks_;
  return b;
}

void BlockManager::release(BlockId b) {
  Block &blk = blocks_[b];
  if (blk.refs == 2)
    --sharedBlocks_;
  if (--blk.refs > 0)
    return;
  if (blk.registered) {
    auto [lo, hi] = byHash_.equal_range(blk.hash);
    for (auto it = lo; it != hi; ++it)
      if (it->second == b) {
        byHash_.erase(it);
        break;
      }
  }
  filledSlots_ -= blk.filled;
  blk = Block();
  free_.push_back(b);
  --usedBlocks_;
}

BlockManager::Seq &BlockManager::seq(SeqId id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end())
    throw std::logic_error("BlockManager: unknown sequence " + std::to_string(id));
  return it->second;
}

const std::vector<BlockId> &BlockManager::blockTable(SeqId id) const {
  auto it = seqs_.find(id);
  if (it == seqs_.end())
    throw std::logic_error("BlockManager: unknown sequence " + std::to_string(id));
  return it->second.table;
}

int32_t BlockManager::numTokens(SeqId id) const {
  auto it = seqs_.find(id);
  return it == seqs_.end() ? 0 : (int32_t)it->second.tokens.size();
}

int64_t BlockManager::blocksNeeded(const std::vector<int32_t> &prompt) const {
  int64_t n = (int64_t)prompt.size(), total = blocksFor(n), hits = 0;
  if (prefixSharing_) {
    uint64_t h = 0;
    BlockId parent = -1;
    for (int64_t i = 0; (i + 1) * blockSize_ <= n; ++i) {
      h = chainHash(h, prompt.data() + i * blockSize_, blockSize_);
      BlockId b = findShared(h, parent, prompt.data() + i * blockSize_);
      if (b < 0)
        break;
      parent = b;
      ++hits;
    }
  }
  // A fully shared prompt still writes its last token: one block for the copy.
  return total - hits + (hits > 0 && hits * blockSize_ >= n ? 1 : 0);
}

bool BlockManager::allocate(SeqId id, const std::vector<int32_t> &prompt, int32_t *cachedTokens) {
  if (seqs_.count(id))
    throw std::logic_error("BlockManager: sequence " + std::to_string(id) + " already has blocks");
  if (prompt.empty())
    throw std::invalid_argument("BlockManager: empty prompt");
  if (blocksNeeded(prompt) > numFreeBlocks())
    return false;
  int64_t n = (int64_t)prompt.size();
  Seq s;
  s.tokens = prompt;
  s.promptLen = (int32_t)n;
  uint64_t h = 0;
  BlockId parent = -1;
  bool sharing = prefixSharing_;
  for (int64_t i = 0; i < blocksFor(n); ++i) {
    int64_t begin = i * blockSize_, len = std::min<int64_t>(blockSize_, n - begin);
    BlockId b = -1;
    if (sharing && len == blockSize_) {
      h = chainHash(h, prompt.data() + begin, blockSize_);
      b = findShared(h, parent, prompt.data() + begin);
    }
    if (b >= 0) {
      if (++blocks_[b].refs == 2)
        ++sharedBlocks_;
      ++prefixHits_;
      s.computed = (int32_t)(begin + len);
    } else {
      sharing = false;
      b = takeFree();
      blocks_[b].filled = (int32_t)len;
      filledSlots_ += len;
    }
    s.table.push_back(b);
    parent = b;
  }
  s.computed = std::min<int32_t>(s.computed, (int32_t)n - 1);
  if (cachedTokens)
    *cachedTokens = s.computed;
  seqs_.emplace(id, std::move(s));
  return true;
}

bool BlockManager::appendSlot(SeqId id, int32_t token) {
  Seq &s = seq(id);
  if (s.tokens.size() % blockSize_ == 0) {
    if (free_.empty())
      return false;
    s.table.push_back(takeFree());
  }
  // Only full blocks are ever shared, so the last block is private here.
  ++blocks_[s.table.back()].filled;
  ++filledSlots_;
  s.tokens.push_back(token);
  return true;
}

bool BlockManager::prepareWrite(SeqId id, int32_t begin, int32_t end, std::vector<BlockCopy> *copies) {
  Seq &s = seq(id);
  if (begin >= end)
    return true;
  int32_t first = begin / blockSize_, last = std::min<int32_t>((end - 1) / blockSize_, (int32_t)s.table.size() - 1);
  int64_t needed = 0;
  for (int32_t i = first; i <= last; ++i)
    needed += blocks_[s.table[i]].refs > 1;
  if (needed > numFreeBlocks())
    return false;
  for (int32_t i = first; i <= last; ++i) {
    BlockId old = s.table[i];
    if (blocks_[old].refs <= 1)
      continue;
    BlockId copy = takeFree();
    blocks_[copy].filled = blocks_[old].filled;
    filledSlots_ += blocks_[copy].filled;
    release(old);
    s.table[i] = copy;
    ++copyOnWrites_;
    if (copies)
      copies->push_back({old, copy});
  }
  return true;
}

void BlockManager::markComputed(SeqId id, int32_t numComputed) {
  Seq &s = seq(id);
  s.computed = std::max(s.computed, std::min<int32_t>(numComputed, (int32_t)s.tokens.size()));
  if (!prefixSharing_)
    return;
  int32_t fullBlocks = std::min(s.computed, s.promptLen) / blockSize_;
  uint64_t h = 0;
  for (int32_t i = 0; i < fullBlocks; ++i) {
    const int32_t *toks = s.tokens.data() + (int64_t)i * blockSize_;
    h = chainHash(h, toks, blockSize_);
    Block &b = blocks_[s.table[i]];
    if (b.registered)
      continue;
    BlockId parent = i ? s.table[i - 1] : -1;
    // The parent must itself be findable, or nobody could reach this block.
    if (parent >= 0 && !blocks_[parent].registered)
      break;
    if (findShared(h, parent, toks) >= 0)
      continue; // an identical block is registered already (computed concurrently)
    b.registered = true;
    b.hash = h;
    b.parent = parent;
    b.tokens.assign(toks, toks + blockSize_);
    byHash_.emplace(h, s.table[i]);
  }
}

void BlockManager::free(SeqId id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end())
    return;
  for (BlockId b : it->second.table)
    release(b);
  seqs_.erase(it);
}

BlockStats BlockManager::stats() const {
  BlockStats st;
  st.totalBlocks = numBlocks();
  st.usedBlocks = usedBlocks_;
  st.sharedBlocks = sharedBlocks_;
  st.allocatedSlots = usedBlocks_ * blockSize_;
  st.filledSlots = filledSlots_;
  st.prefixHitBlocks = prefixHits_;
  st.copyOnWrites = copyOnWrites_;
  return st;
}
