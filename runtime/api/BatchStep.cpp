//===- BatchStep.cpp - paged KV pools and the batched step of the C API ---===//
//
// The compiled `llmc_step` entry (llmc-batch-step) takes the new tokens of
// several sequences concatenated, one pool per KV-cache slot
// [num_blocks, KV heads, block_size, head_dim] and the batch description
// (block tables, where each sequence's tokens start, their positions, the
// rows whose logits to compute). This file owns the pools and turns a list
// of llmc_batch_seq into those arguments, in the order of the manifest's
// `step` section.
//
//===----------------------------------------------------------------------===//
#include "llmc/llmc.h"

#include "Manifest.h"
#include "MemRefDescriptor.h"
#include "ModelState.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
// Defined by libraries compiled with a step entry; null otherwise.
__attribute__((weak)) void llmc_step_packed(void **args);
}

using namespace llmc::rt;

struct llmc_kv_pool {
  llmc_model *model;
  int32_t numBlocks, blockSize;
  std::vector<void *> buffers;            // one per step input (null if not a pool)
  std::vector<std::vector<int64_t>> shapes;
  std::vector<size_t> blockBytes;         // bytes of one block of each pool
};

namespace {

/// [heads, head_dim] of a pool input ([num_blocks, heads, block_size, dim]).
bool poolDims(const TensorSpec &t, int64_t &heads, int64_t &dim) {
  if (t.dims.size() != 4 || !std::isdigit((unsigned char)t.dims[1][0]) ||
      !std::isdigit((unsigned char)t.dims[3][0]))
    return false;
  heads = std::atoll(t.dims[1].c_str());
  dim = std::atoll(t.dims[3].c_str());
  return heads > 0 && dim > 0;
}

const StepSpec *stepOf(const llmc_model *m) {
  return m && m->causal && m->manifest.step && llmc_step_packed ? &*m->manifest.step : nullptr;
}

} // namespace

extern "C" {

int llmc_model_has_batch_step(const llmc_model *m) { return stepOf(m) != nullptr; }

int64_t llmc_kv_block_bytes(const llmc_model *m, int32_t blockSize) {
  const StepSpec *st = stepOf(m);
  if (!st || blockSize <= 0)
    return 0;
  int64_t bytes = 0;
  for (size_t i = 0; i < st->inputs.size(); ++i) {
    int64_t heads, dim;
    if (st->kvPool[i] >= 0 && poolDims(st->inputs[i], heads, dim))
      bytes += heads * blockSize * dim * (int64_t)st->inputs[i].elementSize;
  }
  return bytes;
}

llmc_status llmc_kv_pool_create(llmc_model *m, int32_t numBlocks, int32_t blockSize,
                                llmc_kv_pool **out) {
  if (!m || !out || numBlocks <= 0 || blockSize <= 0)
    return setError(LLMC_ERROR_INVALID_ARGUMENT,
                    "need a model, an out pointer, num_blocks > 0 and block_size > 0");
  const StepSpec *st = stepOf(m);
  if (!st)
    return setError(LLMC_ERROR_UNSUPPORTED,
                    "this library has no batch step (compiled without llmc-batch-step)");
  auto pool = std::make_unique<llmc_kv_pool>();
  pool->model = m;
  pool->numBlocks = numBlocks;
  pool->blockSize = blockSize;
  pool->buffers.assign(st->inputs.size(), nullptr);
  pool->shapes.resize(st->inputs.size());
  pool->blockBytes.assign(st->inputs.size(), 0);
  auto release = [&] {
    for (void *b : pool->buffers)
      std::free(b);
  };
  for (size_t i = 0; i < st->inputs.size(); ++i) {
    if (st->kvPool[i] < 0)
      continue;
    int64_t heads, dim;
    if (!poolDims(st->inputs[i], heads, dim)) {
      release();
      return setError(LLMC_ERROR_INTERNAL, "malformed pool '" + st->inputs[i].name + "'");
    }
    pool->shapes[i] = {numBlocks, heads, blockSize, dim};
    pool->blockBytes[i] = heads * blockSize * dim * st->inputs[i].elementSize;
    pool->buffers[i] = alignedAlloc(pool->blockBytes[i] * numBlocks);
    if (!pool->buffers[i]) {
      release();
      return setError(LLMC_ERROR_INTERNAL, "out of memory for the KV pool");
    }
  }
  *out = pool.release();
  return LLMC_OK;
}

void llmc_kv_pool_destroy(llmc_kv_pool *pool) {
  if (!pool)
    return;
  for (void *b : pool->buffers)
    std::free(b);
  delete pool;
}

llmc_status llmc_kv_pool_copy_block(llmc_kv_pool *pool, int32_t src, int32_t dst) {
  if (!pool || src < 0 || dst < 0 || src >= pool->numBlocks || dst >= pool->numBlocks)
    return setError(LLMC_ERROR_INVALID_ARGUMENT, "block id out of range");
  for (size_t i = 0; i < pool->buffers.size(); ++i)
    if (pool->buffers[i]) {
      char *base = static_cast<char *>(pool->buffers[i]);
      std::memcpy(base + dst * pool->blockBytes[i], base + src * pool->blockBytes[i],
                  pool->blockBytes[i]);
    }
  return LLMC_OK;
}

llmc_status llmc_batch_step(llmc_kv_pool *pool, const llmc_batch_seq *seqs, int32_t numSeqs,
                            float *logits) {
  if (!pool || !seqs || numSeqs <= 0)
    return setError(LLMC_ERROR_INVALID_ARGUMENT, "need a pool and at least one sequence");
  llmc_model *m = pool->model;
  const StepSpec &st = *stepOf(m);
  // The batch description, checked before anything runs.
  std::vector<int64_t> ids, positions, wanted;
  std::vector<int32_t> starts{0}, seqPos;
  int32_t maxBlocks = 1;
  for (int32_t s = 0; s < numSeqs; ++s) {
    const llmc_batch_seq &q = seqs[s];
    std::string who = "sequence " + std::to_string(s) + ": ";
    if (q.num_tokens <= 0 || !q.tokens || q.position < 0 || !q.block_table)
      return setError(LLMC_ERROR_INVALID_ARGUMENT,
                      who + "needs tokens, num_tokens >= 1, position >= 0 and a block table");
    if ((int64_t)q.num_blocks * pool->blockSize < (int64_t)q.position + q.num_tokens)
      return setError(LLMC_ERROR_CONTEXT_FULL,
                      who + std::to_string(q.num_blocks) + " blocks of " +
                          std::to_string(pool->blockSize) + " tokens cannot hold " +
                          std::to_string(q.position + q.num_tokens) + " tokens");
    for (int32_t b = 0; b < q.num_blocks; ++b)
      if (q.block_table[b] < 0 || q.block_table[b] >= pool->numBlocks)
        return setError(LLMC_ERROR_INVALID_ARGUMENT,
                        who + "block " + std::to_string(q.block_table[b]) +
                            " is outside the pool [0, " + std::to_string(pool->numBlocks) + ")");
    for (int32_t t = 0; t < q.num_tokens; ++t) {
      if (q.tokens[t] < 0 || q.tokens[t] >= m->vocab)
        return setError(LLMC_ERROR_INVALID_ARGUMENT,
                        who + "token id " + std::to_string(q.tokens[t]) +
                            " is outside the vocabulary [0, " + std::to_string(m->vocab) + ")");
      ids.push_back(q.tokens[t]);
      positions.push_back(q.position + t);
    }
    if (q.want_logits)
      wanted.push_back((int64_t)ids.size() - 1);
    starts.push_back((int32_t)ids.size());
    seqPos.push_back(q.position);
    maxBlocks = std::max(maxBlocks, q.num_blocks);
  }
  if (!wanted.empty() && !logits)
    return setError(LLMC_ERROR_INVALID_ARGUMENT, "logits is null but a sequence wants logits");
  // Block tables padded with block 0 (never read past a sequence's length).
  std::vector<int32_t> tables((size_t)numSeqs * maxBlocks, 0);
  for (int32_t s = 0; s < numSeqs; ++s)
    std::copy(seqs[s].block_table, seqs[s].block_table + seqs[s].num_blocks,
              tables.begin() + (size_t)s * maxBlocks);
  int64_t T = ids.size(), N = wanted.size();
  std::vector<int32_t> ids32, pos32;
  std::vector<float> rows;
  std::vector<DynamicMemRef> descs;
  descs.reserve(st.inputs.size() + 1);
  auto add = [&](void *data, std::vector<int64_t> sizes) {
    descs.emplace_back(data, sizes, DynamicMemRef::rowMajorStrides(sizes));
  };
  for (size_t i = 0; i < st.inputs.size(); ++i) {
    const TensorSpec &in = st.inputs[i];
    if (st.kvPool[i] >= 0) {
      add(pool->buffers[i], pool->shapes[i]);
    } else if (in.name == "input_ids" || in.name == "position_ids") {
      std::vector<int64_t> &v = in.name == "input_ids" ? ids : positions;
      if (in.dtype == LLMC_DTYPE_I32) {
        std::vector<int32_t> &v32 = in.name == "input_ids" ? ids32 : pos32;
        v32.assign(v.begin(), v.end());
        add(v32.data(), {1, T});
      } else {
        add(v.data(), {1, T});
      }
    } else if (in.name == "block_tables") {
      add(tables.data(), {numSeqs, maxBlocks});
    } else if (in.name == "seq_starts") {
      add(starts.data(), {numSeqs + 1});
    } else if (in.name == "seq_positions") {
      add(seqPos.data(), {numSeqs});
    } else if (in.name == "logits_indices") {
      add(wanted.data(), {N});
    } else {
      return setError(LLMC_ERROR_INTERNAL, "unknown batch-step input '" + in.name + "'");
    }
  }
  // The head runs on the wanted rows only; with none, on one dummy row.
  if (N == 0) {
    wanted.push_back(T - 1);
    N = 1;
    for (size_t i = 0; i < st.inputs.size(); ++i)
      if (st.inputs[i].name == "logits_indices")
        descs[i] = DynamicMemRef(wanted.data(), {N}, {1});
    rows.resize((size_t)m->vocab);
  }
  float *out = rows.empty() ? logits : rows.data();
  add(out, {1, N, m->vocab});
  std::vector<void *> args;
  for (auto &d : descs)
    args.push_back(d.get());
  llmc_step_packed(args.data());
  return LLMC_OK;
}

} // extern "C"
