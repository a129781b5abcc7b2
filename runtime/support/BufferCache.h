//===- BufferCache.h - heap memory of generated code, reused across calls -*- C++ -*-===//
//
// Generated code allocates through _mlir_memref_to_llvm_alloc/_free
// (finalize-memref-to-llvm{use-generic-functions}); the runtime implements
// them here. Each model call allocates the same large buffers again (the
// activation arena of llmc-plan-memory, a few more): with plain malloc they
// come from fresh mmap()s whose first touch page-faults, several percent of
// a prefill. Freed large blocks are kept in a small cache instead and handed
// out again to allocations of up to their size, so their pages stay mapped.
// The cache holds at most kMaxCachedBlocks blocks and kMaxCachedBytes bytes
// (the oldest go first; a SmolLM2 prefill frees ~90 large buffers at its
// end, 3 per layer); releaseBufferCache() returns them all.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_RUNTIME_BUFFERCACHE_H
#define LLMC_RUNTIME_BUFFERCACHE_H

#include <cstddef>
#include <cstdint>

namespace llmc::rt {

/// Allocations of at least this many bytes are cached when freed.
constexpr size_t kCacheMinBytes = size_t(256) << 10;
constexpr size_t kMaxCachedBlocks = 256;
constexpr size_t kMaxCachedBytes = size_t(2) << 30;

/// malloc-like (16-byte aligned; nullptr when out of memory or bytes == 0).
void *cachedAlloc(size_t bytes);
/// `bytes` at an `alignment` (a power of two) beyond 16; never cached.
void *cachedAlignedAlloc(size_t alignment, size_t bytes);
/// Frees what cachedAlloc / cachedAlignedAlloc returned (nullptr is ignored).
void cachedFree(void *p);
/// Frees every cached block.
void releaseBufferCache();

struct BufferCacheStats {
  size_t cachedBlocks, cachedBytes;
  uint64_t hits, misses;
};
BufferCacheStats bufferCacheStats();

} // namespace llmc::rt

#endif
