//===- BufferCache.cpp - heap memory of generated code, reused across calls -===//
//
// Every block carries a 16-byte header with its capacity (0: a small block,
// straight from malloc, never cached), so _free can tell the two apart
// without a lookup. A cached block is reused for a request of at most its
// capacity and at least half of it (best fit), so a small request does not
// pin a huge block.
//
//===----------------------------------------------------------------------===//
#include "BufferCache.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <vector>

using namespace llmc::rt;

namespace {

struct alignas(16) Header {
  size_t capacity; // usable bytes after the header; 0: not cached (small or over-aligned)
  size_t offset;   // bytes from the malloc'ed address to the header (over-aligned blocks)
};
static_assert(sizeof(Header) == 16, "keeps the payload 16-byte aligned");

struct Cache {
  std::mutex mu;
  std::vector<Header *> blocks; // oldest first
  size_t bytes = 0;
  uint64_t hits = 0, misses = 0;
};

Cache &cache() {
  static Cache *c = new Cache; // never destroyed: generated code may free during exit
  return *c;
}

/// Large capacities in steps of 1/8 of their power of two, so that requests
/// of slightly different sizes (a prompt one token longer) share a block.
size_t roundCapacity(size_t bytes) {
  size_t p = 1;
  while (p < bytes)
    p <<= 1;
  size_t step = std::max<size_t>(p / 8, 4096);
  return (bytes + step - 1) / step * step;
}

} // namespace

void *llmc::rt::cachedAlloc(size_t bytes) {
  if (bytes == 0)
    return nullptr;
  if (bytes < kCacheMinBytes) {
    auto *h = static_cast<Header *>(std::malloc(sizeof(Header) + bytes));
    if (!h)
      return nullptr;
    h->capacity = 0;
    h->offset = 0;
    return h + 1;
  }
  Cache &c = cache();
  {
    std::lock_guard<std::mutex> l(c.mu);
    auto best = c.blocks.end();
    for (auto it = c.blocks.begin(); it != c.blocks.end(); ++it)
      if ((*it)->capacity >= bytes && (*it)->capacity / 2 <= bytes &&
          (best == c.blocks.end() || (*it)->capacity < (*best)->capacity))
        best = it;
    if (best != c.blocks.end()) {
      Header *h = *best;
      c.blocks.erase(best);
      c.bytes -= h->capacity;
      ++c.hits;
      return h + 1;
    }
    ++c.misses;
  }
  size_t capacity = roundCapacity(bytes);
  auto *h = static_cast<Header *>(std::malloc(sizeof(Header) + capacity));
  if (!h)
    return nullptr;
  h->capacity = capacity;
  h->offset = 0;
  return h + 1;
}

void *llmc::rt::cachedAlignedAlloc(size_t alignment, size_t bytes) {
  if (alignment <= alignof(Header))
    return cachedAlloc(bytes);
  if (bytes == 0 || (alignment & (alignment - 1)))
    return nullptr;
  auto *base = static_cast<char *>(std::malloc(sizeof(Header) + alignment + bytes));
  if (!base)
    return nullptr;
  uintptr_t payload = (reinterpret_cast<uintptr_t>(base) + sizeof(Header) + alignment - 1) &
                      ~uintptr_t(alignment - 1);
  Header *h = reinterpret_cast<Header *>(payload) - 1;
  h->capacity = 0;
  h->offset = size_t(reinterpret_cast<char *>(h) - base);
  return h + 1;
}

void llmc::rt::cachedFree(void *p) {
  if (!p)
    return;
  Header *h = static_cast<Header *>(p) - 1;
  if (h->capacity == 0 || h->capacity > kMaxCachedBytes) {
    std::free(reinterpret_cast<char *>(h) - h->offset);
    return;
  }
  std::vector<Header *> evicted;
  {
    Cache &c = cache();
    std::lock_guard<std::mutex> l(c.mu);
    c.blocks.push_back(h);
    c.bytes += h->capacity;
    while (c.blocks.size() > kMaxCachedBlocks || c.bytes > kMaxCachedBytes) {
      evicted.push_back(c.blocks.front());
      c.bytes -= c.blocks.front()->capacity;
      c.blocks.erase(c.blocks.begin());
    }
  }
  for (Header *e : evicted)
    std::free(e);
}

void llmc::rt::releaseBufferCache() {
  std::vector<Header *> all;
  {
    Cache &c = cache();
    std::lock_guard<std::mutex> l(c.mu);
    all.swap(c.blocks);
    c.bytes = 0;
  }
  for (Header *h : all)
    std::free(h);
}

BufferCacheStats llmc::rt::bufferCacheStats() {
  Cache &c = cache();
  std::lock_guard<std::mutex> l(c.mu);
  return {c.blocks.size(), c.bytes, c.hits, c.misses};
}

// What generated code calls (MLIR's generic allocation functions). Hidden:
// each generated library uses its own cache.
extern "C" __attribute__((visibility("hidden"))) void *_mlir_memref_to_llvm_alloc(size_t bytes) {
  return cachedAlloc(bytes);
}

extern "C" __attribute__((visibility("hidden"))) void *
_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t bytes) {
  // Not emitted today (the pipeline does not ask for aligned_alloc).
  return cachedAlignedAlloc(alignment, bytes);
}

extern "C" __attribute__((visibility("hidden"))) void _mlir_memref_to_llvm_free(void *p) {
  cachedFree(p);
}
