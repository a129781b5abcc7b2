//===- StepExecutor.h - one model step over a ragged batch ------*- C++ -*-===//
//
// The boundary between the scheduler and the model. Once per iteration the
// scheduler hands over a ragged batch: for each sequence the new tokens to
// run (a prompt chunk or one decode token), the position of the first one and
// the sequence's block table; the executor returns the next-token logits of
// the sequences that need a sample. Today's implementation is
// SessionExecutor (one llmc session per sequence); the paged executor (one
// compiled step whose attention reads KV through the block tables) replaces
// it behind this interface.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_SERVING_STEPEXECUTOR_H
#define LLMC_SERVING_STEPEXECUTOR_H

#include "BlockManager.h"

#include <cstdint>
#include <string>
#include <vector>

namespace llmc::serving {

struct StepSequence {
  SeqId seq = 0;
  std::vector<int32_t> tokens;  ///< new tokens, at positions startPos ...
  int32_t startPos = 0;
  std::vector<BlockId> blockTable; ///< covers positions [0, startPos + tokens.size())
  bool needsLogits = false;     ///< the last token's logits are sampled after the step
  int32_t maxLength = 0;        ///< the sequence never grows beyond this many tokens
};

struct StepBatch {
  std::vector<StepSequence> seqs;
  std::vector<BlockCopy> copies; ///< block copies to do before running (copy-on-write)
  int64_t numTokens() const {
    int64_t n = 0;
    for (const auto &s : seqs)
      n += (int64_t)s.tokens.size();
    return n;
  }
};

struct StepResult {
  /// vocab floats per sequence with needsLogits, in batch order (failed
  /// sequences included, with unspecified values).
  std::vector<float> logits;
  /// Sequences the executor could not run, with the reason; the scheduler
  /// ends them with an error and the others continue.
  std::vector<std::pair<SeqId, std::string>> failed;
};

class StepExecutor {
public:
  virtual ~StepExecutor() = default;
  virtual int32_t vocabSize() const = 0;
  /// Runs the model once on the batch.
  virtual void step(const StepBatch &batch, StepResult &result) = 0;
  /// The sequence finished or was preempted: drop whatever state it has.
  virtual void release(SeqId seq) = 0;
  /// Whether KV data lives in the block manager's blocks, so tokens in shared
  /// prefix blocks need not be computed again. False for SessionExecutor.
  virtual bool usesBlocks() const { return false; }
};

} // namespace llmc::serving

#endif
