//===- PagedExecutor.h - one compiled step per batch, KV in blocks -*- C++ -*-===//
//
// The step executor for libraries with a batch-step entry (llmc-batch-step):
// the whole ragged batch runs as one call of the compiled model
// (llmc_batch_step), whose attention stores and reads K/V through the
// scheduler's block tables in a pool of exactly the budget's blocks. Prefix
// sharing and copy-on-write are therefore physical: shared prompt blocks are
// not computed again, and the batch's block copies are done before the step.
//
// Used by the scheduler thread only.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_SERVING_PAGEDEXECUTOR_H
#define LLMC_SERVING_PAGEDEXECUTOR_H

#include "StepExecutor.h"

#include "llmc/llmc_loader.h"

namespace llmc::serving {

class PagedExecutor : public StepExecutor {
public:
  /// A pool of `numBlocks` blocks of `blockSize` tokens; throws
  /// std::runtime_error if the library has no batch step or memory is short.
  PagedExecutor(const llmc_api &api, llmc_model *model, int32_t numBlocks, int32_t blockSize);
  ~PagedExecutor() override;

  int32_t vocabSize() const override { return vocab_; }
  void step(const StepBatch &batch, StepResult &result) override;
  void release(SeqId) override {} // a sequence's state is its blocks
  bool usesBlocks() const override { return true; }

private:
  llmc_api api_;
  llmc_kv_pool *pool_ = nullptr;
  int32_t vocab_;
};

} // namespace llmc::serving

#endif
