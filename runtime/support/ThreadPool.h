//===- ThreadPool.h - fork-join parallel loops for the kernels --*- C++ -*-===//
//
// One process-wide pool (LLMC_NUM_THREADS, default: all cores). Workers spin
// briefly between tasks before sleeping, because a decode step issues
// hundreds of kernel calls of a few microseconds each and a condition
// variable wake-up per call would cost as much as the work.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_RUNTIME_THREADPOOL_H
#define LLMC_RUNTIME_THREADPOOL_H

#include <cstdint>
#include <functional>

namespace llmc::rt {

/// Number of threads parallelFor uses (including the caller).
int numThreads();

/// Runs fn(begin, end) over [0, n) split into at most numThreads() chunks
/// of at least `grain` items; returns when all chunks are done.
void parallelFor(int64_t n, int64_t grain,
                 const std::function<void(int64_t, int64_t)> &fn);

} // namespace llmc::rt

#endif
