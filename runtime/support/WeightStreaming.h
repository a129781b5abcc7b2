//===- WeightStreaming.h - do the weights stream from DRAM every step? -*- C++ -*-===//
//
// Few-row (decode) bf16 tiles prefetch their weight panels non-temporally
// when the weights come from DRAM at every step: on SmolLM2 bf16 decode that
// measured 91-105 tok/s against 86-97 with a T0 prefetch and 78-88 with the
// previous distance. But a non-temporal prefetch of a line that is still
// cached moves it out of the shared cache: weights that would stay in the
// last-level cache between steps are then re-read from DRAM every step
// (llmc-kernel-bench, bf16 gate+up, M = 1, hot weights: 41 GB/s without the
// prefetch, 18 GB/s with it). So the runtime decides once, when a model
// opens: the weights stream iff the library's read-only bytes exceed the
// last-level cache.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_RUNTIME_WEIGHTSTREAMING_H
#define LLMC_RUNTIME_WEIGHTSTREAMING_H

#include <cstdint>

namespace llmc::rt {

/// True (the default) if decode tiles should prefetch weights non-temporally.
bool weightsStream();
void setWeightsStream(bool stream);

/// Bytes of the largest data cache of CPU 0 (sysfs, else sysconf); 32 MiB
/// if neither says.
int64_t lastLevelCacheBytes();

/// setWeightsStream(weightBytes > lastLevelCacheBytes()), once per model open.
void decideWeightStreaming(int64_t weightBytes);

} // namespace llmc::rt

#endif
