//===- TokenModel.h - what the scheduler needs of the vocabulary -*- C++ -*-===//
//
// Detokenization, end-token detection and sampling, behind an interface so
// the scheduler runs against a loaded model (LoadedModel) or a fake in tests.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_SERVING_TOKENMODEL_H
#define LLMC_SERVING_TOKENMODEL_H

#include "Request.h"

#include <cstdint>
#include <memory>
#include <string>

namespace llmc::serving {

class TokenSampler {
public:
  virtual ~TokenSampler() = default;
  virtual int32_t sample(const float *logits, int32_t vocab) = 0;
};

class TokenModel {
public:
  virtual ~TokenModel() = default;
  virtual int32_t vocabSize() const = 0;
  /// The bytes of one token (may be part of a UTF-8 character). Thread-safe.
  virtual std::string tokenText(int32_t id) const = 0;
  /// Whether the token ends generation (EOS and similar).
  virtual bool isEnd(int32_t id) const = 0;
  virtual std::unique_ptr<TokenSampler> makeSampler(const SamplingParams &p) const = 0;
};

} // namespace llmc::serving

#endif
