//===- Histogram.h - latency histogram in Prometheus form -------*- C++ -*-===//
#ifndef LLMC_SERVING_HISTOGRAM_H
#define LLMC_SERVING_HISTOGRAM_H

#include <cstdint>
#include <string>
#include <vector>

namespace llmc::serving {

/// Cumulative-bucket histogram of seconds (Prometheus `histogram` type).
/// Not thread-safe: the scheduler guards it with its mutex.
class Histogram {
public:
  /// Bucket upper bounds in seconds, ascending; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds = defaultLatencyBounds());
  static std::vector<double> defaultLatencyBounds();

  void observe(double seconds);
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  /// Estimated quantile (q in [0, 1]) by linear interpolation inside the bucket.
  double quantile(double q) const;

  /// `name_bucket{le="..."}`, `name_sum`, `name_count` lines with HELP/TYPE.
  std::string prometheus(const std::string &name, const std::string &help) const;

private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_; // per bucket (not cumulative); last is +Inf
  uint64_t count_ = 0;
  double sum_ = 0;
};

} // namespace llmc::serving

#endif
