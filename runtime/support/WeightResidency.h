//===- WeightResidency.h - where a library's constant weights live -*- C++ -*-===//
//
// The weights of a generated library are its read-only data (.rodata and
// .lrodata), mapped from the .so file. As mapped, they are page cache pages:
// shared between processes and free to load, but the kernel may evict them
// under memory pressure, and a decode step that finds them gone re-reads
// the file (a benchmark measured that thrash instead of the kernels).
// LLMC_WEIGHTS picks their placement when a library is first opened:
//   private (default) copied once into anonymous memory that takes the same
//           addresses (mremap), in transparent huge pages where the kernel
//           allows: not evicted without swap, and fewer TLB misses (SmolLM2
//           decode measured 7-9% faster than from file pages); costs a copy
//           at open (~1.3 s per GB) and memory other processes cannot share.
//           If the copy cannot be made, the file pages are used as they are.
//   mapped  file pages, with read-ahead requested (MADV_WILLNEED): instant
//           open, shared between processes, evictable
//   locked  file pages pinned with mlock (needs RLIMIT_MEMLOCK or
//           CAP_IPC_LOCK; refused with the reason otherwise)
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_RUNTIME_WEIGHTRESIDENCY_H
#define LLMC_RUNTIME_WEIGHTRESIDENCY_H

#include <cstdint>
#include <string>

namespace llmc::rt {

enum class WeightPlacement { Mapped, Locked, Private };

/// Parses "mapped" | "locked" | "private"; false for anything else.
bool parseWeightPlacement(const char *text, WeightPlacement *out);

struct ResidencyResult {
  bool ok = true;
  std::string error;      ///< why it failed (ok == false)
  int64_t bytes = 0;      ///< bytes of read-only segments handled
};

/// Applies `placement` to the read-only, non-executable loadable segments
/// of the loaded ELF object that contains `addressInObject`.
ResidencyResult placeReadOnlySegments(const void *addressInObject, WeightPlacement placement);

/// Once per process for the object holding the runtime itself (the model
/// library): reads LLMC_WEIGHTS and applies it (an explicit placement that
/// fails is an error). Later calls return the first call's result.
const ResidencyResult &placeLibraryWeights();

} // namespace llmc::rt

#endif
