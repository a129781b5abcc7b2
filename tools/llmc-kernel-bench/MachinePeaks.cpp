//===- MachinePeaks.cpp - quick measurements of this machine's limits -----===//
#include "MachinePeaks.h"

#include "support/ThreadPool.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Results go to a volatile so the timed calls cannot be moved across the clock reads.
volatile float gSink;

typedef float V8 __attribute__((ext_vector_type(8)));
typedef float V16 __attribute__((ext_vector_type(16)));

#if defined(__x86_64__)
// 12 independent FMA chains: enough to cover latency x throughput.
template <class V>
__attribute__((always_inline)) inline float fmaLoop(int64_t iters) {
  V acc[12];
  for (int i = 0; i < 12; ++i)
    acc[i] = (V)(0.001f * i);
  V a = (V)(0.9999f), b = (V)(1e-4f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i)
      acc[i] = __builtin_elementwise_fma(acc[i], a, b);
  V s = acc[0];
  for (int i = 1; i < 12; ++i)
    s += acc[i];
  gSink = s[0];
  return s[0];
}
__attribute__((target("avx2,fma"))) float fma8(int64_t iters) { return fmaLoop<V8>(iters); }
__attribute__((target("avx512f,fma"))) float fma16(int64_t iters) { return fmaLoop<V16>(iters); }

__attribute__((target("avx512f,avx512bf16"))) float dotBf16(int64_t iters) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i)
    acc[i] = _mm512_set1_ps(0.f);
  __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3800);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) {
      acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
      __asm__ volatile("" : "+v"(acc[i]));
    }
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i)
    s = _mm512_add_ps(s, acc[i]);
  gSink = s[0];
  return s[0];
}
#endif

template <class F> double bestRate(F f, double flopsPerIter, int64_t iters) {
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    double t0 = seconds();
    volatile float r = f(iters);
    (void)r;
    best = std::max(best, flopsPerIter * iters / (seconds() - t0) / 1e9);
  }
  return best;
}

} // namespace

double measureFmaPeak(int lanes) {
#if defined(__x86_64__)
  if (lanes == 16 && __builtin_cpu_supports("avx512f"))
    return bestRate(fma16, 12 * 16 * 2, 2000000);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return bestRate(fma8, 12 * 8 * 2, 2000000);
#endif
  (void)lanes;
  return 0;
}

double measureBf16DotPeak() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512bf16"))
    return bestRate(dotBf16, 12 * 32 * 2, 2000000);
#endif
  return 0;
}

double measureReadBandwidth(int threads) {
  const size_t n = size_t(256) << 20 >> 2; // 256 MiB of floats
  static std::vector<float> buf;
  if (buf.size() != n)
    buf.assign(n, 1.f);
  int saved = llmc::rt::numThreads();
  llmc::rt::setNumThreads(threads);
  double best = 0;
  for (int rep = 0; rep < 4; ++rep) {
    std::vector<float> partial(64, 0.f);
    double t0 = seconds();
    llmc::rt::parallelFor(64, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        const float *p = buf.data() + c * (n / 64);
        float s[16] = {};
        for (size_t i = 0; i < n / 64; i += 16)
          for (int j = 0; j < 16; ++j)
            s[j] += p[i + j];
        for (int j = 0; j < 16; ++j)
          partial[c] += s[j];
      }
    });
    best = std::max(best, n * 4.0 / (seconds() - t0) / 1e9);
  }
  llmc::rt::setNumThreads(saved);
  return best;
}
