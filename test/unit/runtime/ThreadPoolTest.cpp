// The fork-join pool: every index runs exactly once, nested and concurrent
// loops do not deadlock, and thread limits hold.
#include "support/ThreadPool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>
#include <vector>

using llmc::rt::parallelFor;

namespace {

void expectEachOnce(int64_t n, int64_t grain) {
  std::vector<std::atomic<int>> hits(n);
  for (auto &h : hits)
    h = 0;
  parallelFor(n, grain, [&](int64_t b, int64_t e) {
    ASSERT_LE(0, b);
    ASSERT_LE(b, e);
    ASSERT_LE(e, n);
    for (int64_t i = b; i < e; ++i)
      hits[i]++;
  });
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(hits[i].load(), 1) << "index " << i << " of " << n << " grain " << grain;
}

TEST(ThreadPool, EveryIndexOnce) {
  for (int64_t n : {0, 1, 2, 3, 7, 64, 1000, 100003})
    for (int64_t grain : {1, 3, 1000})
      expectEachOnce(n, grain);
}

TEST(ThreadPool, ManySmallLoops) {
  // A decode step's worth of tiny loops back to back.
  std::atomic<int64_t> sum{0};
  for (int rep = 0; rep < 20000; ++rep)
    parallelFor(8, 1, [&](int64_t b, int64_t e) { sum += e - b; });
  EXPECT_EQ(sum.load(), 8 * 20000);
}

TEST(ThreadPool, GrowingChunkCountsRunEachChunkOnce) {
  // Loops of 2 and 8 chunks back to back: a worker still looking at a
  // finished 2-chunk loop must not claim a chunk of the next, larger loop
  // (that ran a chunk twice and left the caller waiting forever). A hang
  // fails here after 60 s instead of running into the test timeout.
  auto body = [] {
    std::vector<std::atomic<int>> hits(8);
    for (int rep = 0; rep < 200000; ++rep) {
      int64_t n = rep % 2 ? 8 : 2;
      for (int64_t i = 0; i < n; ++i)
        hits[i] = 0;
      parallelFor(n, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          hits[i]++;
      });
      for (int64_t i = 0; i < n; ++i)
        if (hits[i].load() != 1)
          return "an index ran " + std::to_string(hits[i].load()) + " times in loop " +
                 std::to_string(rep);
    }
    return std::string();
  };
  auto result = std::async(std::launch::async, body);
  if (result.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    std::fprintf(stderr, "ThreadPool.GrowingChunkCountsRunEachChunkOnce: a loop never finished\n");
    std::_Exit(1);
  }
  EXPECT_EQ(result.get(), "");
}

TEST(ThreadPool, NestedLoopsRunInline) {
  std::atomic<int64_t> sum{0};
  parallelFor(16, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      parallelFor(10, 1, [&](int64_t b2, int64_t e2) { sum += (e2 - b2) * i; });
  });
  EXPECT_EQ(sum.load(), 10 * (15 * 16 / 2));
}

TEST(ThreadPool, ConcurrentCallers) {
  // Two application threads share the pool; one of them runs inline.
  std::atomic<int64_t> total{0};
  auto caller = [&] {
    for (int rep = 0; rep < 2000; ++rep)
      parallelFor(100, 1, [&](int64_t b, int64_t e) { total += e - b; });
  };
  std::thread a(caller), b(caller);
  a.join();
  b.join();
  EXPECT_EQ(total.load(), 2 * 2000 * 100);
}

TEST(ThreadPool, ThreadLimit) {
  int before = llmc::rt::numThreads();
  llmc::rt::setNumThreads(1);
  EXPECT_EQ(llmc::rt::numThreads(), 1);
  std::thread::id self = std::this_thread::get_id();
  parallelFor(64, 1, [&](int64_t, int64_t) { EXPECT_EQ(std::this_thread::get_id(), self); });
  llmc::rt::setNumThreads(before);
  EXPECT_EQ(llmc::rt::numThreads(), before);
  expectEachOnce(1000, 1);
}

TEST(ThreadPool, SurvivesABusyMachine) {
  // Spinners on every core: loops must still finish (the caller takes over
  // chunks of a worker that does not get to run).
  std::atomic<bool> stop{false};
  std::vector<std::thread> hogs;
  for (unsigned i = 0; i < std::max(1u, std::thread::hardware_concurrency()); ++i)
    hogs.emplace_back([&] {
      volatile uint64_t x = 0;
      while (!stop.load(std::memory_order_relaxed))
        x = x + 1;
    });
  std::atomic<int64_t> sum{0};
  for (int rep = 0; rep < 2000; ++rep)
    parallelFor(32, 1, [&](int64_t b, int64_t e) { sum += e - b; });
  stop = true;
  for (auto &t : hogs)
    t.join();
  EXPECT_EQ(sum.load(), 32 * 2000);
}

} // namespace
