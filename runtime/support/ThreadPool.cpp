//===- ThreadPool.cpp - fork-join parallel loops for the kernels ----------===//
#include "ThreadPool.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#define LLMC_PAUSE() _mm_pause()
#else
#define LLMC_PAUSE() ((void)0)
#endif

using namespace llmc::rt;

namespace {

class Pool {
public:
  explicit Pool(int n) : n_(n) {
    for (int i = 1; i < n_; ++i)
      workers_.emplace_back([this, i] { work(i); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
      gen_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto &t : workers_)
      t.join();
  }
  int size() const { return n_; }

  void run(int chunks, const std::function<void(int)> &task) {
    std::lock_guard<std::mutex> serial(runMutex_); // one parallel region at a time
    task_ = &task;
    chunks_ = chunks;
    pending_.store(chunks - 1);
    {
      std::lock_guard<std::mutex> l(m_);
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    task(0);
    // Spin briefly, then yield: on an oversubscribed machine the worker we
    // wait for may need this core.
    for (int spins = 0; pending_.load(std::memory_order_acquire) > 0; ++spins) {
      if (spins < 2000)
        LLMC_PAUSE();
      else
        std::this_thread::yield();
    }
  }

private:
  void work(int id) {
    uint64_t seen = 0;
    while (true) {
      // Spin for a while, then sleep until the next region.
      int spins = 0;
      while (gen_.load(std::memory_order_acquire) == seen && spins < 20000) {
        if (spins < 10000)
          LLMC_PAUSE();
        else
          std::this_thread::yield();
        ++spins;
      }
      if (gen_.load(std::memory_order_acquire) == seen) {
        std::unique_lock<std::mutex> l(m_);
        cv_.wait(l, [&] { return gen_.load() != seen; });
      }
      seen = gen_.load(std::memory_order_acquire);
      if (stop_)
        return;
      if (id < chunks_) {
        (*task_)(id);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
      }
    }
  }

  int n_;
  std::vector<std::thread> workers_;
  std::mutex m_, runMutex_;
  std::condition_variable cv_;
  std::atomic<uint64_t> gen_{0};
  std::atomic<int> pending_{0};
  const std::function<void(int)> *task_ = nullptr;
  int chunks_ = 0;
  bool stop_ = false;
};

Pool &pool() {
  static Pool p([] {
    int n = std::thread::hardware_concurrency();
    if (const char *env = std::getenv("LLMC_NUM_THREADS"))
      n = std::atoi(env);
    return std::max(1, std::min(n, 256));
  }());
  return p;
}

} // namespace

int llmc::rt::numThreads() { return pool().size(); }

void llmc::rt::parallelFor(int64_t n, int64_t grain,
                           const std::function<void(int64_t, int64_t)> &fn) {
  if (n <= 0)
    return;
  int64_t maxChunks = std::max<int64_t>(1, n / std::max<int64_t>(grain, 1));
  int chunks = (int)std::min<int64_t>(numThreads(), maxChunks);
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  int64_t per = (n + chunks - 1) / chunks;
  pool().run(chunks, [&](int c) {
    int64_t lo = c * per, hi = std::min(n, lo + per);
    if (lo < hi)
      fn(lo, hi);
  });
}
