//===- ThreadPool.cpp - fork-join parallel loops for the kernels ----------===//
//
// Protocol. A loop ("job") publishes its callable and size, then a 64-bit
// claim word (job sequence number << 32 | chunk count << 16 | next chunk).
// Threads claim chunks with a CAS on that word, so a worker that wakes up
// late sees a different sequence number and touches nothing. The chunk count
// lives in the claim word, not beside it: a worker that read a finished
// job's word must compare against that job's count, or it could claim a
// chunk past the old job's end just before the next job is published, run
// a chunk of the new job twice and count it off twice (seen as a caller
// waiting forever on remaining = 2^32 - 1). `remaining` counts chunks not
// yet finished and the caller returns when it reaches 0, i.e. it only waits
// for chunks somebody actually started. Idle workers spin for kSpinMicros,
// then sleep on a futex keyed on the sequence number.
//
//===----------------------------------------------------------------------===//
#include "ThreadPool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <ctime>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#else
#include <condition_variable>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LLMC_PAUSE() _mm_pause()
#else
#define LLMC_PAUSE() ((void)0)
#endif

using namespace llmc::rt;

namespace {

// How long an idle worker (or a waiting caller) polls before it sleeps.
constexpr int64_t kSpinMicros = 200;
// Longest single sleep of a waiting thread before it re-checks (2 ms).
constexpr long kMaxSleepNanos = 2'000'000;
// Chunks per thread: lets the caller absorb the work of a descheduled worker.
constexpr int64_t kChunksPerThread = 4;
// The claim word holds chunk count and next chunk in 16 bits each.
constexpr int64_t kMaxChunks = 0xffff;

/// Sleep/wake on a 32-bit word (futex on Linux, a condition variable elsewhere).
class WaitWord {
public:
  std::atomic<uint32_t> value{0};

  // Waits are bounded (kMaxSleep): every caller re-checks its condition in
  // a loop, so a wake-up that is ever lost costs a few milliseconds instead
  // of a hang (one hang was seen in `llmc serve` under heavy load and could
  // not be reproduced; this makes the pool safe whatever its cause).
  void waitWhileEquals(uint32_t expected) {
#if defined(__linux__)
    struct timespec timeout = {0, kMaxSleepNanos};
    syscall(SYS_futex, reinterpret_cast<uint32_t *>(&value), FUTEX_WAIT_PRIVATE, expected,
            &timeout, nullptr, 0);
#else
    std::unique_lock<std::mutex> l(m_);
    cv_.wait_for(l, std::chrono::nanoseconds(kMaxSleepNanos),
                 [&] { return value.load() != expected; });
#endif
  }
  void wakeAll() {
#if defined(__linux__)
    syscall(SYS_futex, reinterpret_cast<uint32_t *>(&value), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
            nullptr, 0);
#else
    { std::lock_guard<std::mutex> l(m_); }
    cv_.notify_all();
#endif
  }

#if !defined(__linux__)
private:
  std::mutex m_;
  std::condition_variable cv_;
#endif
};

int64_t nowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

thread_local bool tInsideLoop = false;

class Pool {
public:
  explicit Pool(int n) : size_(n), active_(n) {
    for (int i = 1; i < n; ++i)
      workers_.emplace_back([this, i] { workerLoop(i); });
  }
  ~Pool() {
    stop_.store(true);
    seq_.value.fetch_add(1);
    seq_.wakeAll();
    for (auto &t : workers_)
      t.join();
  }
  int size() const { return size_; }
  int active() const { return active_.load(std::memory_order_relaxed); }
  void setActive(int n) { active_.store(std::max(1, std::min(n, size_))); }

  /// Runs fn over [0, n) in `chunks` chunks; false if the pool is busy.
  bool run(int64_t n, int64_t chunks, RangeFn fn) {
    if (tInsideLoop || !runMutex_.try_lock())
      return false;
    fn_.store(&fn, std::memory_order_relaxed);
    n_.store(n, std::memory_order_relaxed);
    remaining_.value.store(uint32_t(chunks), std::memory_order_relaxed);
    uint32_t seq = seq_.value.load(std::memory_order_relaxed) + 1;
    claim_.store(uint64_t(seq) << 32 | uint64_t(chunks) << 16, std::memory_order_release);
    seq_.value.store(seq, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0)
      seq_.wakeAll();

    tInsideLoop = true;
    work(seq);
    tInsideLoop = false;
    // Only chunks that a worker claimed can still be running.
    int64_t start = nowMicros();
    for (int spins = 0; remaining_.value.load(std::memory_order_acquire) != 0; ++spins) {
      LLMC_PAUSE();
      if ((spins & 255) == 255 && nowMicros() - start > kSpinMicros) {
        callerWaiting_.store(true, std::memory_order_seq_cst);
        uint32_t r = remaining_.value.load(std::memory_order_seq_cst);
        if (r != 0)
          remaining_.waitWhileEquals(r);
        callerWaiting_.store(false, std::memory_order_relaxed);
      }
    }
    runMutex_.unlock();
    return true;
  }

private:
  /// Claims and runs chunks of job `seq` until none are left.
  void work(uint32_t seq) {
    while (true) {
      uint64_t c = claim_.load(std::memory_order_acquire);
      if (uint32_t(c >> 32) != seq)
        return;
      int64_t idx = int64_t(c & 0xffffu), chunks = int64_t((c >> 16) & 0xffffu);
      if (idx >= chunks)
        return;
      if (!claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel))
        continue;
      // Claimed: job `seq` cannot end before this chunk does, so n_ and fn_
      // (published before the claim word) are still its own.
      int64_t n = n_.load(std::memory_order_relaxed);
      int64_t lo = n * idx / chunks, hi = n * (idx + 1) / chunks;
      (*fn_.load(std::memory_order_relaxed))(lo, hi);
      if (remaining_.value.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
          callerWaiting_.load(std::memory_order_seq_cst))
        remaining_.wakeAll();
    }
  }

  void workerLoop(int id) {
    tInsideLoop = true; // kernels called from a chunk never fork again
    uint32_t seen = 0;
    while (true) {
      int64_t start = nowMicros();
      for (int spins = 0; seq_.value.load(std::memory_order_acquire) == seen; ++spins) {
        LLMC_PAUSE();
        if ((spins & 255) == 255 && nowMicros() - start > kSpinMicros) {
          sleepers_.fetch_add(1, std::memory_order_seq_cst);
          if (seq_.value.load(std::memory_order_seq_cst) == seen)
            seq_.waitWhileEquals(seen);
          sleepers_.fetch_sub(1, std::memory_order_relaxed);
        }
      }
      seen = seq_.value.load(std::memory_order_acquire);
      if (stop_.load())
        return;
      if (id < active())
        work(seen);
    }
  }

  const int size_;
  std::atomic<int> active_;
  std::vector<std::thread> workers_;
  std::mutex runMutex_;
  // The job (written by the caller before it publishes claim_).
  std::atomic<const RangeFn *> fn_{nullptr};
  std::atomic<int64_t> n_{0};
  alignas(64) std::atomic<uint64_t> claim_{0};
  alignas(64) WaitWord seq_;       // job sequence number; idle workers sleep on it
  alignas(64) WaitWord remaining_; // unfinished chunks; a waiting caller sleeps on it
  std::atomic<bool> callerWaiting_{false};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
};

int defaultThreads() {
  int n = int(std::thread::hardware_concurrency());
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    n = CPU_COUNT(&set);
#endif
  if (const char *env = std::getenv("LLMC_NUM_THREADS"))
    if (int v = std::atoi(env); v > 0)
      n = v;
  return std::max(1, std::min(n, 256));
}

Pool &pool() {
  static Pool p(defaultThreads());
  return p;
}

} // namespace

int llmc::rt::numThreads() { return pool().active(); }

void llmc::rt::setNumThreads(int n) { pool().setActive(n); }

void llmc::rt::parallelForRange(int64_t n, int64_t grain, RangeFn fn) {
  if (n <= 0)
    return;
  const int threads = numThreads();
  int64_t chunks = std::min<int64_t>({n / std::max<int64_t>(grain, 1), threads * kChunksPerThread,
                                      kMaxChunks});
  if (threads <= 1 || chunks <= 1 || !pool().run(n, chunks, fn))
    fn(0, n);
}
