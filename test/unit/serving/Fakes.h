//===- Fakes.h - a deterministic toy model for the serving tests ----------===//
//
// FakeModel: a vocabulary of letters and a "language model" whose next-token
// logits are a fixed function of the whole token prefix (FNV-1a hash), so a
// sequence's output depends on every token before it, like a real model's.
// referenceGenerate() runs that model in a plain loop: the independent
// reference the scheduler's outputs are compared with.
//
// FakeExecutor runs the model for the scheduler in one of two modes:
//   * Session: private per-sequence token history (like SessionExecutor);
//     checks that each chunk starts where the previous one ended.
//   * Paged: tokens are written into a block store through the batch's block
//     tables (copies applied first) and the prefix is read back through them,
//     so wrong block tables, missing copy-on-write or a wrongly shared block
//     change the output.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_TEST_SERVING_FAKES_H
#define LLMC_TEST_SERVING_FAKES_H

#include "StepExecutor.h"
#include "TokenModel.h"
#include "sampler/Sampler.h"

#include <cmath>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace llmc::serving::test {

constexpr int32_t kVocab = 50;
constexpr int32_t kEos = 0;

/// Next-token logits of the toy model after `prefix`. The peak is at
/// 1 + hash % 49 (never EOS) unless eosAt == prefix length.
inline void fakeLogits(const std::vector<int32_t> &prefix, int32_t eosAt, float *out) {
  uint64_t h = 1469598103934665603ull;
  for (int32_t t : prefix)
    h = (h ^ (uint64_t)(uint32_t)t) * 1099511628211ull;
  int32_t peak = 1 + (int32_t)((h >> 17) % (kVocab - 1));
  if (eosAt >= 0 && (int32_t)prefix.size() == eosAt)
    peak = kEos;
  for (int32_t j = 0; j < kVocab; ++j)
    out[j] = -0.7f * std::fabs((float)(j - peak)) + 0.01f * (float)((h >> (j % 40)) & 7);
}

class FakeSampler : public TokenSampler {
public:
  explicit FakeSampler(const SamplingParams &p) : s_(p.temperature, p.topK, p.topP, p.seed) {}
  int32_t sample(const float *logits, int32_t vocab) override { return s_.sample(logits, vocab); }

private:
  llmc::rt::Sampler s_;
};

class FakeModel : public TokenModel {
public:
  int32_t vocabSize() const override { return kVocab; }
  std::string tokenText(int32_t id) const override {
    if (id == kEos)
      return "</s>";
    // 1..26: "a".."z"; 27..49: "a_".."w_" (two bytes)
    std::string s(1, char('a' + (id - 1) % 26));
    return id > 26 ? s + "_" : s;
  }
  bool isEnd(int32_t id) const override { return id == kEos; }
  std::unique_ptr<TokenSampler> makeSampler(const SamplingParams &p) const override {
    return std::make_unique<FakeSampler>(p);
  }
};

/// The plain-loop reference: tokens the toy model generates for `prompt`
/// (end token excluded), with the same sampler and stop conditions except
/// stop strings.
inline std::vector<int32_t> referenceGenerate(std::vector<int32_t> prompt, const SamplingParams &p,
                                              int32_t maxContext, int32_t eosAt = -1) {
  llmc::rt::Sampler sampler(p.temperature, p.topK, p.topP, p.seed);
  std::vector<int32_t> out;
  std::vector<float> logits(kVocab);
  while (true) {
    fakeLogits(prompt, eosAt, logits.data());
    int32_t t = sampler.sample(logits.data(), kVocab);
    if (t == kEos && !p.ignoreEos)
      break;
    out.push_back(t);
    prompt.push_back(t);
    if ((p.maxTokens > 0 && (int32_t)out.size() >= p.maxTokens) ||
        (int32_t)prompt.size() >= maxContext)
      break;
  }
  return out;
}

inline std::string referenceText(const std::vector<int32_t> &ids) {
  FakeModel m;
  std::string s;
  for (int32_t t : ids)
    s += m.tokenText(t);
  return s;
}

class FakeExecutor : public StepExecutor {
public:
  enum class Mode { Session, Paged };
  FakeExecutor(Mode mode, int32_t blockSize = 16, int64_t numBlocks = 0, int32_t eosAt = -1)
      : mode_(mode), blockSize_(blockSize), eosAt_(eosAt) {
    if (mode == Mode::Paged)
      store_.assign(numBlocks, std::vector<int32_t>(blockSize, -1));
  }

  int32_t vocabSize() const override { return kVocab; }
  bool usesBlocks() const override { return mode_ == Mode::Paged; }

  void step(const StepBatch &batch, StepResult &result) override {
    std::lock_guard<std::mutex> l(mu_);
    batchTokens_.push_back(batch.numTokens());
    batchSeqs_.push_back((int64_t)batch.seqs.size());
    copies_ += (int64_t)batch.copies.size();
    for (const auto &c : batch.copies)
      if (mode_ == Mode::Paged)
        store_[c.dst] = store_[c.src];
    std::vector<float> logits(kVocab);
    for (const auto &s : batch.seqs) {
      chunks_[s.seq].push_back((int32_t)s.tokens.size());
      std::vector<int32_t> prefix;
      std::string error;
      if (mode_ == Mode::Session) {
        auto &h = history_[s.seq];
        if ((int32_t)h.size() != s.startPos)
          error = "chunk starts at " + std::to_string(s.startPos) + ", history has " +
                  std::to_string(h.size());
        h.insert(h.end(), s.tokens.begin(), s.tokens.end());
        prefix = h;
      } else {
        int32_t end = s.startPos + (int32_t)s.tokens.size();
        if ((int64_t)s.blockTable.size() * blockSize_ < end)
          error = "block table too short";
        for (int32_t i = 0; error.empty() && i < (int32_t)s.tokens.size(); ++i) {
          int32_t p = s.startPos + i;
          store_[s.blockTable[p / blockSize_]][p % blockSize_] = s.tokens[i];
        }
        for (int32_t p = 0; error.empty() && p < end; ++p) {
          int32_t t = store_[s.blockTable[p / blockSize_]][p % blockSize_];
          if (t < 0)
            error = "position " + std::to_string(p) + " was never written";
          prefix.push_back(t);
        }
      }
      computed_ += (int64_t)s.tokens.size();
      if (!error.empty()) {
        result.failed.emplace_back(s.seq, error);
        errors_.push_back(error);
      }
      if (s.needsLogits) {
        fakeLogits(prefix, eosAt_, logits.data());
        result.logits.insert(result.logits.end(), logits.begin(), logits.end());
      }
    }
  }
  void release(SeqId seq) override {
    std::lock_guard<std::mutex> l(mu_);
    history_.erase(seq);
    ++releases_;
  }

  // Observations (read after the run).
  std::vector<int64_t> batchTokens_, batchSeqs_;
  std::map<SeqId, std::vector<int32_t>> chunks_;
  std::vector<std::string> errors_;
  int64_t copies_ = 0, computed_ = 0, releases_ = 0;

private:
  Mode mode_;
  int32_t blockSize_, eosAt_;
  std::mutex mu_;
  std::unordered_map<SeqId, std::vector<int32_t>> history_;
  std::vector<std::vector<int32_t>> store_;
};

} // namespace llmc::serving::test

#endif
