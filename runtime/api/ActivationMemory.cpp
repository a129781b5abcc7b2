//===- ActivationMemory.cpp - what llmc-plan-memory saved, per step -------===//
//
// Generated code calls llmc_rt_note_activation_memory at the start of every
// step with the size of its activation arena and the sum of the buffers
// the arena holds (what separate allocations would have needed). The
// runtime keeps the pair of the step with the most buffer bytes, readable
// through the C API.
//
//===----------------------------------------------------------------------===//
#include "llmc/llmc.h"

#include <mutex>
#include <cstdint>

namespace {
std::mutex mu;
int64_t peakArena = 0, peakBuffers = 0;
} // namespace

extern "C" void llmc_rt_note_activation_memory(int64_t arenaBytes, int64_t bufferBytes) {
  std::lock_guard<std::mutex> lock(mu);
  if (bufferBytes > peakBuffers) {
    peakBuffers = bufferBytes;
    peakArena = arenaBytes;
  }
}

extern "C" void llmc_activation_memory(int64_t *arena_bytes, int64_t *buffer_bytes) {
  std::lock_guard<std::mutex> lock(mu);
  if (arena_bytes)
    *arena_bytes = peakArena;
  if (buffer_bytes)
    *buffer_bytes = peakBuffers;
}
