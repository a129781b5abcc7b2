//===- ThreadPool.h - fork-join parallel loops for the kernels --*- C++ -*-===//
//
// One process-wide pool (LLMC_NUM_THREADS, default: the CPUs this process
// may run on). A parallel loop is split into chunks that the caller and the
// workers claim from a shared counter, so the caller never waits for a
// worker that has not started (another process may hold its core): it then
// runs the chunks itself. Workers spin briefly between loops, because a
// decode step issues hundreds of kernel calls of a few microseconds each,
// then sleep on a futex. Loops started from inside a loop, or while another
// thread owns the pool, run serially on the calling thread.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_RUNTIME_THREADPOOL_H
#define LLMC_RUNTIME_THREADPOOL_H

#include <cstdint>
#include <type_traits>

namespace llmc::rt {

/// Number of threads parallelFor uses (including the caller).
int numThreads();

/// Limits the threads parallelFor uses to n (clamped to [1, pool size]);
/// for benchmarks and callers that share the machine.
void setNumThreads(int n);

/// A non-owning reference to a callable fn(int64_t begin, int64_t end).
class RangeFn {
public:
  template <class F>
  RangeFn(F &f) // NOLINT: implicit on purpose
      : obj_(const_cast<void *>(static_cast<const void *>(&f))),
        call_([](void *o, int64_t b, int64_t e) { (*static_cast<F *>(o))(b, e); }) {}
  void operator()(int64_t b, int64_t e) const { call_(obj_, b, e); }

private:
  void *obj_;
  void (*call_)(void *, int64_t, int64_t);
};

/// Runs fn(begin, end) over [0, n) split into chunks of at least `grain`
/// items (up to a few per thread); returns when all chunks are done.
void parallelForRange(int64_t n, int64_t grain, RangeFn fn);

template <class F> void parallelFor(int64_t n, int64_t grain, F &&fn) {
  std::remove_reference_t<F> &ref = fn;
  parallelForRange(n, grain, RangeFn(ref));
}

} // namespace llmc::rt

#endif
