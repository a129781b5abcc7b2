//===- PagedExecutor.cpp - one compiled step per batch, KV in blocks ------===//
#include "PagedExecutor.h"

#include <stdexcept>
#include <string>

using namespace llmc::serving;

PagedExecutor::PagedExecutor(const llmc_api &api, llmc_model *model, int32_t numBlocks,
                             int32_t blockSize)
    : api_(api), vocab_(api.model_vocab_size(model)) {
  if (!api.model_has_batch_step(model))
    throw std::runtime_error("the library has no batch step (recompile it with this llmc)");
  if (api.kv_pool_create(model, numBlocks, blockSize, &pool_) != LLMC_OK)
    throw std::runtime_error(std::string("cannot create the KV pool: ") + api.last_error());
}

PagedExecutor::~PagedExecutor() { api_.kv_pool_destroy(pool_); }

void PagedExecutor::step(const StepBatch &batch, StepResult &result) {
  result.logits.clear();
  result.failed.clear();
  auto failAll = [&](const std::string &why) {
    for (const StepSequence &s : batch.seqs)
      result.failed.emplace_back(s.seq, why);
  };
  for (const BlockCopy &c : batch.copies)
    if (api_.kv_pool_copy_block(pool_, c.src, c.dst) != LLMC_OK)
      return failAll(std::string("executor: block copy failed: ") + api_.last_error());
  if (batch.seqs.empty())
    return;
  std::vector<llmc_batch_seq> seqs;
  seqs.reserve(batch.seqs.size());
  size_t withLogits = 0;
  for (const StepSequence &s : batch.seqs) {
    llmc_batch_seq q;
    q.tokens = s.tokens.data();
    q.num_tokens = (int32_t)s.tokens.size();
    q.position = s.startPos;
    q.block_table = s.blockTable.data();
    q.num_blocks = (int32_t)s.blockTable.size();
    q.want_logits = s.needsLogits;
    withLogits += s.needsLogits;
    seqs.push_back(q);
  }
  result.logits.assign(withLogits * (size_t)vocab_, 0.f);
  if (api_.batch_step(pool_, seqs.data(), (int32_t)seqs.size(), result.logits.data()) != LLMC_OK)
    failAll(std::string("executor: ") + api_.last_error());
}
