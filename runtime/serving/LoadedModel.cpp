//===- LoadedModel.cpp - a model library seen through its C API -----------===//
#include "LoadedModel.h"

#include "../api/Manifest.h"

#include <cctype>
#include <cstdlib>
#include <stdexcept>

using namespace llmc::serving;

namespace {
class LibrarySampler : public TokenSampler {
public:
  LibrarySampler(const llmc_api &api, llmc_sampler *s) : api_(api), s_(s) {}
  ~LibrarySampler() override { api_.sampler_destroy(s_); }
  int32_t sample(const float *logits, int32_t vocab) override {
    return api_.sampler_sample(s_, logits, vocab);
  }

private:
  const llmc_api &api_;
  llmc_sampler *s_;
};
} // namespace

LoadedModel::LoadedModel(const llmc_api &api, llmc_model *model) : api_(api), model_(model) {
  if (!model || !api.model_is_causal_lm(model))
    throw std::runtime_error("the model is not a causal language model (serving needs "
                             "input_ids, a KV cache and a logits output)");
  vocab_ = api.model_vocab_size(model);
  hasTokenizer_ = api.model_has_tokenizer(model) != 0;
  bos_ = api.token_bos(model);
  llmc::rt::Manifest mf;
  if (auto err = mf.parse(api.model_manifest(model)); !err.empty())
    throw std::runtime_error("cannot read the model's manifest: " + err);
  // Same shapes the runtime gives a session's cache buffers: numeric dims as
  // they are, symbolic ones other than the sequence axis are the batch (1).
  for (const auto &c : mf.cache) {
    int64_t perToken = (int64_t)c.tensor.elementSize;
    for (size_t d = 0; d < c.tensor.dims.size(); ++d) {
      const std::string &dim = c.tensor.dims[d];
      if ((int64_t)d != c.axis && !dim.empty() && std::isdigit((unsigned char)dim[0]))
        perToken *= std::atoll(dim.c_str());
    }
    kvBytesPerToken_ += perToken;
  }
  if (kvBytesPerToken_ <= 0)
    throw std::runtime_error("the model's manifest lists no KV cache");
}

std::string LoadedModel::tokenText(int32_t id) const {
  // BOS in the middle of an output is a document boundary, not text: left out
  // like `skip_special_tokens` does. (The C API does not tell which other
  // tokens are special; they appear as their text.)
  if (!hasTokenizer_ || id == bos_)
    return {};
  const char *text = nullptr;
  size_t len = 0;
  if (api_.token_text(model_, id, &text, &len) != LLMC_OK)
    return {};
  return std::string(text, len); // copied: the library's buffer is per thread and reused
}

bool LoadedModel::isEnd(int32_t id) const { return api_.token_is_end(model_, id) != 0; }

std::unique_ptr<TokenSampler> LoadedModel::makeSampler(const SamplingParams &p) const {
  llmc_sampling_params sp{p.temperature, p.topK, p.topP, p.seed};
  return std::make_unique<LibrarySampler>(api_, api_.sampler_create(&sp));
}

bool LoadedModel::tokenize(const std::string &text, bool addBos, std::vector<int32_t> *ids,
                           std::string *error) const {
  if (!hasTokenizer_) {
    *error = "the model library has no tokenizer (compile it with --tokenizer)";
    return false;
  }
  size_t n = 0;
  if (api_.tokenize(model_, text.c_str(), addBos, nullptr, 0, &n) != LLMC_OK) {
    *error = api_.last_error();
    return false;
  }
  ids->resize(n);
  if (api_.tokenize(model_, text.c_str(), addBos, ids->data(), n, &n) != LLMC_OK) {
    *error = api_.last_error();
    return false;
  }
  ids->resize(n);
  return true;
}

