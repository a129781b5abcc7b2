//===- Histogram.cpp - latency histogram in Prometheus form ---------------===//
#include "Histogram.h"

#include <algorithm>
#include <cstdio>

using namespace llmc::serving;

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  counts_.assign(bounds_.size() + 1, 0);
}

std::vector<double> Histogram::defaultLatencyBounds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

void Histogram::observe(double s) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), s) - bounds_.begin();
  ++counts_[i];
  ++count_;
  sum_ += s;
}

double Histogram::quantile(double q) const {
  if (count_ == 0)
    return 0;
  double target = q * (double)count_;
  uint64_t cum = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] && (double)(cum + counts_[i]) >= target) {
      double lo = i ? bounds_[i - 1] : 0, hi = i < bounds_.size() ? bounds_[i] : lo;
      return lo + (hi - lo) * std::clamp((target - (double)cum) / (double)counts_[i], 0.0, 1.0);
    }
    cum += counts_[i];
  }
  return bounds_.empty() ? 0 : bounds_.back();
}

std::string Histogram::prometheus(const std::string &name, const std::string &help) const {
  std::string out = "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  char buf[256];
  uint64_t cum = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cum += counts_[i];
    if (i < bounds_.size())
      std::snprintf(buf, sizeof buf, "%s_bucket{le=\"%g\"} %llu\n", name.c_str(), bounds_[i],
                    (unsigned long long)cum);
    else
      std::snprintf(buf, sizeof buf, "%s_bucket{le=\"+Inf\"} %llu\n", name.c_str(),
                    (unsigned long long)cum);
    out += buf;
  }
  std::snprintf(buf, sizeof buf, "%s_sum %.9g\n%s_count %llu\n", name.c_str(), sum_, name.c_str(),
                (unsigned long long)count_);
  return out + buf;
}
