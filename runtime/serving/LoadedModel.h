//===- LoadedModel.h - a model library seen through its C API ---*- C++ -*-===//
//
// The TokenModel of a library loaded with llmc_load(): detokenization,
// end tokens and samplers come from the library's own runtime, so serving
// samples exactly like `llmc run`. Also reads the KV-cache size per token
// from the manifest, which sets the bytes per KV block.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_SERVING_LOADEDMODEL_H
#define LLMC_SERVING_LOADEDMODEL_H

#include "TokenModel.h"

#include "llmc/llmc_loader.h"

#include <string>
#include <vector>

namespace llmc::serving {

class LoadedModel : public TokenModel {
public:
  /// Borrows `api` and `model`, which must outlive this object. Throws
  /// std::runtime_error if the model is not a causal LM or its manifest has
  /// no KV cache.
  LoadedModel(const llmc_api &api, llmc_model *model);

  int32_t vocabSize() const override { return vocab_; }
  /// The token's bytes; empty for BOS (left out of output text).
  std::string tokenText(int32_t id) const override;
  bool isEnd(int32_t id) const override;
  std::unique_ptr<TokenSampler> makeSampler(const SamplingParams &p) const override;

  bool hasTokenizer() const { return hasTokenizer_; }
  /// Encodes text with the embedded tokenizer; false with *error if it cannot.
  bool tokenize(const std::string &text, bool addBos, std::vector<int32_t> *ids,
                std::string *error) const;
  int32_t bos() const { return bos_; }

  /// Bytes of KV cache one token takes over all cache slots (layers, K and V).
  int64_t kvBytesPerToken() const { return kvBytesPerToken_; }

  const llmc_api &api() const { return api_; }
  llmc_model *model() const { return model_; }

private:
  llmc_api api_;
  llmc_model *model_;
  int32_t vocab_ = 0, bos_ = -1;
  bool hasTokenizer_ = false;
  int64_t kvBytesPerToken_ = 0;
};

} // namespace llmc::serving

#endif
