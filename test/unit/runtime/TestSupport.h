//===- TestSupport.h - helpers shared by the runtime kernel tests -*- C++ -*-===//
#ifndef LLMC_TEST_UNIT_RUNTIME_TESTSUPPORT_H
#define LLMC_TEST_UNIT_RUNTIME_TESTSUPPORT_H

#include "api/MemRefDescriptor.h"

#include <cstdint>
#include <random>
#include <vector>

namespace llmc::test {

/// A rank-R memref descriptor over `p` with the given sizes and strides.
template <class T, int R>
rt::MemRef<T, R> desc(T *p, std::vector<int64_t> sizes, std::vector<int64_t> strides) {
  rt::MemRef<T, R> m;
  m.allocated = m.aligned = p;
  m.offset = 0;
  for (int i = 0; i < R; ++i) {
    m.sizes[i] = sizes[i];
    m.strides[i] = strides[i];
  }
  return m;
}

/// n uniform floats in [lo, hi) from a fixed seed.
inline std::vector<float> randomVec(size_t n, unsigned seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto &x : v)
    x = d(g);
  return v;
}

} // namespace llmc::test

#endif
