//===- AttentionReference.h - one attention row in double precision -*- C++ -*-===//
//
// The plain definition the attention kernel tests compare against:
//   out = sum_t softmax_t(scale * q . k_t + bias_t) v_t
// over keys t in [0, n), in double precision, with K/V elements given by
// callbacks so a test can read any stored row format (f32, bf16, int8...).
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_TEST_UNIT_RUNTIME_ATTENTIONREFERENCE_H
#define LLMC_TEST_UNIT_RUNTIME_ATTENTIONREFERENCE_H

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace llmc::test {

/// key(t, d) / value(t, d): element d of key / value t as a double;
/// bias(t): added to score t (-inf hides key t). Dv zeros when no key is
/// visible (the kernels' convention).
template <class Key, class Value, class Bias>
std::vector<double> attendRow(const float *q, int D, int Dv, int n, double scale, Key key,
                              Value value, Bias bias) {
  const double ninf = -std::numeric_limits<double>::infinity();
  std::vector<double> sc(size_t(std::max(n, 0))), out(size_t(Dv), 0.0);
  double mx = ninf;
  for (int t = 0; t < n; ++t) {
    double acc = 0;
    for (int d = 0; d < D; ++d)
      acc += double(q[d]) * key(t, d);
    sc[t] = acc * scale + bias(t);
    mx = std::max(mx, sc[t]);
  }
  if (mx == ninf)
    return out;
  double sum = 0;
  for (int t = 0; t < n; ++t)
    sum += sc[t] = std::exp(sc[t] - mx);
  for (int t = 0; t < n; ++t)
    for (int d = 0; d < Dv; ++d)
      out[d] += sc[t] / sum * value(t, d);
  return out;
}

} // namespace llmc::test

#endif
