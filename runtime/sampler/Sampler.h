//===- Sampler.h - next-token sampling ---------------------------*- C++ -*-===//
#ifndef LLMC_RUNTIME_SAMPLER_H
#define LLMC_RUNTIME_SAMPLER_H

#include <cstdint>
#include <vector>

namespace llmc::rt {

/// Greedy, temperature, top-k and top-p (nucleus) sampling with a seeded
/// generator, so a seed reproduces a generation.
class Sampler {
public:
  Sampler(float temperature, int32_t topK, float topP, uint64_t seed);
  int32_t sample(const float *logits, int32_t vocab);
  /// Uniform double in [0, 1) (splitmix64).
  double uniform();

private:
  float temperature_;
  int32_t topK_;
  float topP_;
  uint64_t state_;
  std::vector<std::pair<float, int32_t>> scratch_;
};

} // namespace llmc::rt

#endif
