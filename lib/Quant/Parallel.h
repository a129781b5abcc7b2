//===- Parallel.h - column chunks of the compile-time quantizers on all cores -===//
//
// GPTQ and AWQ treat output columns independently, so they split them into
// chunks and run the chunks on plain std::threads (the compiler has no
// thread pool of its own; the runtime's is not linked into it).
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_LIB_QUANT_PARALLEL_H
#define LLMC_LIB_QUANT_PARALLEL_H

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace llmc::quantimpl {

/// Runs fn(chunk) for chunk in [0, n) on up to `threads` threads (0: all
/// hardware threads).
template <typename F> void parallelChunks(int64_t n, int threads, F fn) {
  if (threads <= 0)
    threads = int(std::max(1u, std::thread::hardware_concurrency()));
  threads = int(std::min<int64_t>(threads, n));
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t c; (c = next.fetch_add(1)) < n;)
      fn(c);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t)
    pool.emplace_back(work);
  work();
  for (auto &t : pool)
    t.join();
}

/// For each of the `m` matrices X ([K][nc], mats[i]), out[i] += sum_j
/// x_j^T H x_j over its columns, with H symmetric (Hf, f32, row-major K x K).
/// `t` is scratch of nc floats. (Quadratic forms of weight errors: the
/// output error ||X D||^2 of a weight change D on inputs with Gram matrix H.)
void quadraticForms(const float *Hf, int64_t K, const float *const *mats, int m, int64_t nc, float *t,
                    double *out);

} // namespace llmc::quantimpl

#endif
