//===- Sampler.cpp - next-token sampling ----------------------------------===//
#include "Sampler.h"

#include <algorithm>
#include <cmath>

using namespace llmc::rt;

Sampler::Sampler(float temperature, int32_t topK, float topP, uint64_t seed)
    : temperature_(temperature), topK_(topK), topP_(topP), state_(seed) {}

double Sampler::uniform() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (z >> 11) * (1.0 / 9007199254740992.0);
}

int32_t Sampler::sample(const float *logits, int32_t vocab) {
  if (vocab <= 0)
    return -1;
  if (temperature_ <= 0.f) // greedy; ties go to the lowest id
    return (int32_t)(std::max_element(logits, logits + vocab) - logits);
  scratch_.resize(vocab);
  for (int32_t i = 0; i < vocab; ++i)
    scratch_[i] = {logits[i] / temperature_, i};
  auto byLogit = [](const auto &a, const auto &b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  size_t n = vocab;
  if (topK_ > 0 && topK_ < vocab) {
    std::partial_sort(scratch_.begin(), scratch_.begin() + topK_, scratch_.end(), byLogit);
    n = topK_;
  } else {
    std::sort(scratch_.begin(), scratch_.end(), byLogit);
  }
  float mx = scratch_[0].first;
  double sum = 0;
  std::vector<double> probs(n);
  for (size_t i = 0; i < n; ++i)
    sum += probs[i] = std::exp((double)scratch_[i].first - mx);
  for (auto &p : probs)
    p /= sum;
  if (topP_ < 1.f) { // smallest prefix whose mass reaches top_p
    double cum = 0;
    size_t keep = 0;
    while (keep < n) {
      cum += probs[keep++];
      if (cum >= topP_)
        break;
    }
    n = std::max<size_t>(keep, 1);
    double s = 0;
    for (size_t i = 0; i < n; ++i)
      s += probs[i];
    for (size_t i = 0; i < n; ++i)
      probs[i] /= s;
  }
  double r = uniform(), cum = 0;
  for (size_t i = 0; i < n; ++i) {
    cum += probs[i];
    if (r < cum)
      return scratch_[i].second;
  }
  return scratch_[n - 1].second;
}
