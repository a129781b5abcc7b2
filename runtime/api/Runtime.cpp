//===- Runtime.cpp - the C API of generated libraries ---------------------===//
//
// Binds the manifest's symbolic dims to actual sizes, builds memref
// descriptors and calls the compiled entry `llmc_main_packed`. Sessions own
// one KV-cache buffer per cache slot with room for `max_context` tokens and
// pass views of the filled part; generated code appends in place.
//
//===----------------------------------------------------------------------===//
#include "llmc/llmc.h"

#include "Manifest.h"
#include "MemRefDescriptor.h"
#include "ModelState.h"
#include "../sampler/Sampler.h"
#include "../support/BufferCache.h"
#include "../support/WeightResidency.h"
#include "../support/WeightStreaming.h"
#include "../tokenizer/Tokenizer.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

extern "C" {
// Defined in the generated objects of each library.
extern const char llmc_manifest[];
extern const char llmc_tokenizer_json[];
extern const uint64_t llmc_tokenizer_json_size;
void llmc_main_packed(void **args);
}

using namespace llmc::rt;

namespace {
thread_local std::string lastError;

llmc_status fail(llmc_status s, std::string msg) { return llmc::rt::setError(s, std::move(msg)); }

std::string shapeString(const int64_t *shape, int rank) {
  std::string s = "[";
  for (int i = 0; i < rank; ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string specString(const TensorSpec &t) {
  std::string s = "[";
  for (size_t i = 0; i < t.dims.size(); ++i)
    s += (i ? ", " : "") + t.dims[i];
  return s + "]";
}
} // namespace

llmc_status llmc::rt::setError(llmc_status s, std::string msg) {
  lastError = std::move(msg);
  return s;
}

void *llmc::rt::alignedAlloc(size_t bytes) {
  size_t rounded = ((bytes ? bytes : 1) + 63) / 64 * 64;
  return std::aligned_alloc(64, rounded);
}

struct llmc_session {
  llmc_model *model;
  int32_t maxContext;
  int32_t length = 0;
  std::vector<void *> cacheBuffers;
  std::vector<std::vector<int64_t>> cacheShapes; // capacity shape per slot
  std::vector<float> logitsAll, lastLogits;
};

struct llmc_sampler {
  Sampler impl;
};

extern "C" {

const char *llmc_last_error(void) { return lastError.c_str(); }
uint32_t llmc_abi_version(void) { return LLMC_ABI_VERSION; }

llmc_status llmc_model_open(llmc_model **out) {
  if (!out)
    return fail(LLMC_ERROR_INVALID_ARGUMENT, "out is null");
  // Where the weights live (LLMC_WEIGHTS), settled by the first open.
  const ResidencyResult &residency = placeLibraryWeights();
  if (!residency.ok)
    return fail(LLMC_ERROR_INVALID_ARGUMENT, residency.error);
  // Weights larger than the last-level cache stream from DRAM every step.
  if (residency.bytes > 0)
    decideWeightStreaming(residency.bytes);
  auto m = std::make_unique<llmc_model>();
  if (auto err = m->manifest.parse(llmc_manifest); !err.empty())
    return fail(LLMC_ERROR_INTERNAL, err);
  if (llmc_tokenizer_json_size > 0) {
    std::string err;
    m->tokenizer = Tokenizer::fromJson(
        std::string_view(llmc_tokenizer_json, llmc_tokenizer_json_size), &err);
    if (!m->tokenizer)
      return fail(LLMC_ERROR_INTERNAL, "embedded tokenizer: " + err);
  }
  const auto &mf = m->manifest;
  for (size_t i = 0; i < mf.inputs.size(); ++i) {
    if (mf.inputs[i].name == "input_ids") m->inputIds = i;
    else if (mf.inputs[i].name == "attention_mask") m->attentionMask = i;
    else if (mf.inputs[i].name == "position_ids") m->positionIds = i;
  }
  for (size_t i = 0; i < mf.outputs.size(); ++i)
    if (mf.outputs[i].name == "logits") m->logits = i;
  size_t known = (m->inputIds >= 0) + (m->attentionMask >= 0) + (m->positionIds >= 0);
  m->causal = m->inputIds >= 0 && m->logits >= 0 && known == mf.inputs.size() &&
              mf.outputs.size() == 1 && mf.outputs[m->logits].dims.size() == 3 &&
              mf.outputs[m->logits].dtype == LLMC_DTYPE_F32;
  if (m->causal) {
    const std::string &v = mf.outputs[m->logits].dims[2];
    m->vocab = std::atoi(v.c_str());
    if (m->vocab <= 0)
      m->causal = false;
    m->logitsLastOnly = mf.outputs[m->logits].dims[1] == "1";
  }
  *out = m.release();
  return LLMC_OK;
}

void llmc_model_close(llmc_model *model) {
  delete model;
  llmc::rt::releaseBufferCache(); // the generated code's cached buffers (BufferCache.h)
}

const char *llmc_model_manifest(const llmc_model *) { return llmc_manifest; }

int llmc_model_is_causal_lm(const llmc_model *m) { return m && m->causal; }
int32_t llmc_model_vocab_size(const llmc_model *m) { return m ? m->vocab : 0; }

void llmc_tensor_free(llmc_tensor *t) {
  if (t && t->data) {
    std::free(t->data);
    t->data = nullptr;
  }
}

llmc_status llmc_graph_run(llmc_model *model, const llmc_tensor *inputs, size_t numInputs,
                           llmc_tensor *outputs, size_t numOutputs) {
  if (!model || (numInputs && !inputs) || (numOutputs && !outputs))
    return fail(LLMC_ERROR_INVALID_ARGUMENT, "null argument");
  const Manifest &mf = model->manifest;
  if (!mf.cache.empty())
    return fail(LLMC_ERROR_UNSUPPORTED,
                "this model has a KV cache: run it through llmc_session_*");
  if (numInputs != mf.inputs.size() || numOutputs != mf.outputs.size())
    return fail(LLMC_ERROR_INVALID_ARGUMENT,
                "the model takes " + std::to_string(mf.inputs.size()) + " inputs and " +
                    std::to_string(mf.outputs.size()) + " outputs, got " +
                    std::to_string(numInputs) + " and " + std::to_string(numOutputs));
  // Bind symbols from single-symbol dims, then check every input dim.
  std::map<std::string, int64_t> bindings;
  for (size_t i = 0; i < numInputs; ++i) {
    const TensorSpec &spec = mf.inputs[i];
    const llmc_tensor &t = inputs[i];
    if (t.dtype != spec.dtype)
      return fail(LLMC_ERROR_SHAPE, "input '" + spec.name + "' has the wrong dtype");
    if (t.rank != (int)spec.dims.size())
      return fail(LLMC_ERROR_SHAPE, "input '" + spec.name + "' has rank " +
                                        std::to_string(t.rank) + ", expected " +
                                        std::to_string(spec.dims.size()) + " " + specString(spec));
    if (!t.data)
      return fail(LLMC_ERROR_INVALID_ARGUMENT, "input '" + spec.name + "' has no data");
    for (int d = 0; d < t.rank; ++d)
      if (auto s = singleSymbol(spec.dims[d]); s && !bindings.count(*s))
        bindings[*s] = t.shape[d];
  }
  for (size_t i = 0; i < numInputs; ++i) {
    const TensorSpec &spec = mf.inputs[i];
    for (int d = 0; d < inputs[i].rank; ++d) {
      auto want = evalDim(spec.dims[d], bindings);
      if (!want || *want != inputs[i].shape[d] || inputs[i].shape[d] < 0)
        return fail(LLMC_ERROR_SHAPE, "input '" + spec.name + "' has shape " +
                                          shapeString(inputs[i].shape, inputs[i].rank) +
                                          ", expected " + specString(spec));
    }
  }
  std::vector<DynamicMemRef> descs;
  descs.reserve(numInputs + numOutputs);
  for (size_t i = 0; i < numInputs; ++i) {
    std::vector<int64_t> sizes(inputs[i].shape, inputs[i].shape + inputs[i].rank);
    descs.emplace_back(inputs[i].data, sizes, DynamicMemRef::rowMajorStrides(sizes));
  }
  for (size_t i = 0; i < numOutputs; ++i) {
    const TensorSpec &spec = mf.outputs[i];
    llmc_tensor &t = outputs[i];
    t.dtype = spec.dtype;
    t.rank = spec.dims.size();
    std::vector<int64_t> sizes;
    int64_t count = 1;
    for (const auto &d : spec.dims) {
      auto v = evalDim(d, bindings);
      if (!v)
        return fail(LLMC_ERROR_UNSUPPORTED, "cannot compute dim '" + d + "' of output '" +
                                                spec.name + "' from the input shapes");
      sizes.push_back(*v);
      count *= *v;
    }
    std::copy(sizes.begin(), sizes.end(), t.shape);
    t.data = alignedAlloc(count * spec.elementSize);
    descs.emplace_back(t.data, sizes, DynamicMemRef::rowMajorStrides(sizes));
  }
  std::vector<void *> args;
  for (auto &d : descs)
    args.push_back(d.get());
  llmc_main_packed(args.data());
  return LLMC_OK;
}

llmc_status llmc_session_create(llmc_model *model, int32_t maxContext, llmc_session **out) {
  if (!model || !out || maxContext <= 0)
    return fail(LLMC_ERROR_INVALID_ARGUMENT, "need a model, an out pointer and max_context > 0");
  if (!model->causal)
    return fail(LLMC_ERROR_UNSUPPORTED,
                "this model is not a causal LM (needs input_ids and a single logits output)");
  auto s = std::make_unique<llmc_session>();
  s->model = model;
  s->maxContext = maxContext;
  for (const CacheSpec &c : model->manifest.cache) {
    std::vector<int64_t> shape;
    for (size_t d = 0; d < c.tensor.dims.size(); ++d) {
      if ((int64_t)d == c.axis) {
        shape.push_back(maxContext);
        continue;
      }
      const std::string &dim = c.tensor.dims[d];
      int64_t v = std::isdigit((unsigned char)dim[0]) ? std::atoll(dim.c_str()) : 1;
      shape.push_back(v); // symbolic non-sequence dims are the batch: 1
    }
    int64_t count = 1;
    for (int64_t v : shape)
      count *= v;
    void *buf = alignedAlloc(count * c.tensor.elementSize);
    if (!buf)
      return fail(LLMC_ERROR_INTERNAL, "out of memory for the KV cache");
    s->cacheBuffers.push_back(buf);
    s->cacheShapes.push_back(shape);
  }
  s->lastLogits.assign(model->vocab, 0.f);
  *out = s.release();
  return LLMC_OK;
}

void llmc_session_destroy(llmc_session *s) {
  if (!s)
    return;
  for (void *b : s->cacheBuffers)
    std::free(b);
  delete s;
}

void llmc_session_reset(llmc_session *s) {
  if (s)
    s->length = 0;
}

int32_t llmc_session_length(const llmc_session *s) { return s ? s->length : 0; }
int32_t llmc_session_max_context(const llmc_session *s) { return s ? s->maxContext : 0; }
const float *llmc_session_logits(const llmc_session *s) {
  return s && s->length > 0 ? s->lastLogits.data() : nullptr;
}
const float *llmc_session_logits_all(const llmc_session *s, size_t *numPositions) {
  // --logits=last libraries keep only the last row: the caller sees 1 row.
  size_t rows = s && s->length > 0 && s->model->vocab > 0 ? s->logitsAll.size() / s->model->vocab : 0;
  if (numPositions)
    *numPositions = rows;
  return rows ? s->logitsAll.data() : nullptr;
}

llmc_status llmc_session_append(llmc_session *s, const int32_t *tokens, size_t n) {
  if (!s || (!tokens && n))
    return fail(LLMC_ERROR_INVALID_ARGUMENT, "null argument");
  if (n == 0)
    return fail(LLMC_ERROR_INVALID_ARGUMENT, "no tokens to append");
  llmc_model *m = s->model;
  if ((int64_t)s->length + (int64_t)n > s->maxContext)
    return fail(LLMC_ERROR_CONTEXT_FULL,
                "appending " + std::to_string(n) + " tokens to " + std::to_string(s->length) +
                    " would exceed the context of " + std::to_string(s->maxContext) + " tokens");
  for (size_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= m->vocab)
      return fail(LLMC_ERROR_INVALID_ARGUMENT, "token id " + std::to_string(tokens[i]) +
                                                   " is outside the vocabulary [0, " +
                                                   std::to_string(m->vocab) + ")");
  const Manifest &mf = m->manifest;
  int64_t past = s->length, total = past + n;
  // Integer inputs in the dtype the graph declares (i64 or i32).
  std::vector<std::vector<int64_t>> i64Data(mf.inputs.size());
  std::vector<std::vector<int32_t>> i32Data(mf.inputs.size());
  std::vector<DynamicMemRef> descs;
  descs.reserve(mf.inputs.size() + mf.cache.size() + 1);
  for (size_t i = 0; i < mf.inputs.size(); ++i) {
    std::vector<int64_t> vals;
    if ((int)i == m->inputIds)
      vals.assign(tokens, tokens + n);
    else if ((int)i == m->attentionMask)
      vals.assign(total, 1);
    else
      for (int64_t p = past; p < total; ++p)
        vals.push_back(p);
    std::vector<int64_t> sizes{1, (int64_t)vals.size()};
    void *data;
    if (mf.inputs[i].dtype == LLMC_DTYPE_I32) {
      i32Data[i].assign(vals.begin(), vals.end());
      data = i32Data[i].data();
    } else if (mf.inputs[i].dtype == LLMC_DTYPE_I64) {
      i64Data[i] = std::move(vals);
      data = i64Data[i].data();
    } else {
      return fail(LLMC_ERROR_UNSUPPORTED, "input '" + mf.inputs[i].name + "' must be i32 or i64");
    }
    descs.emplace_back(data, sizes, DynamicMemRef::rowMajorStrides(sizes));
  }
  for (size_t c = 0; c < mf.cache.size(); ++c) {
    std::vector<int64_t> sizes = s->cacheShapes[c];
    std::vector<int64_t> strides = DynamicMemRef::rowMajorStrides(sizes);
    sizes[mf.cache[c].axis] = past; // the filled part; capacity stays in strides
    descs.emplace_back(s->cacheBuffers[c], sizes, strides);
  }
  // A library compiled with --logits=last returns one row ([1, 1, vocab]).
  size_t rows = m->logitsLastOnly ? 1 : n;
  s->logitsAll.resize(rows * m->vocab);
  std::vector<int64_t> lsizes{1, (int64_t)rows, m->vocab};
  descs.emplace_back(s->logitsAll.data(), lsizes, DynamicMemRef::rowMajorStrides(lsizes));
  std::vector<void *> args;
  for (auto &d : descs)
    args.push_back(d.get());
  llmc_main_packed(args.data());
  std::memcpy(s->lastLogits.data(), s->logitsAll.data() + (rows - 1) * m->vocab,
              m->vocab * sizeof(float));
  s->length = total;
  return LLMC_OK;
}

llmc_status llmc_session_prefill(llmc_session *s, const int32_t *tokens, size_t n) {
  return llmc_session_append(s, tokens, n);
}

llmc_status llmc_session_decode(llmc_session *s, int32_t token) {
  return llmc_session_append(s, &token, 1);
}

llmc_sampler *llmc_sampler_create(const llmc_sampling_params *p) {
  if (!p)
    return new llmc_sampler{Sampler(0.f, 0, 1.f, 0)};
  // NaN is neither "<= 0: greedy" nor a temperature: it would scale every
  // logit to NaN and the sampler would pick arbitrary tokens.
  if (std::isnan(p->temperature) || std::isnan(p->top_p)) {
    fail(LLMC_ERROR_INVALID_ARGUMENT,
         std::isnan(p->temperature) ? "sampling temperature is NaN" : "sampling top_p is NaN");
    return nullptr;
  }
  return new llmc_sampler{Sampler(p->temperature, p->top_k, p->top_p, p->seed)};
}
void llmc_sampler_destroy(llmc_sampler *s) { delete s; }
int32_t llmc_sampler_sample(llmc_sampler *s, const float *logits, int32_t vocab) {
  if (!s || !logits)
    return -1;
  return s->impl.sample(logits, vocab);
}

int llmc_model_has_tokenizer(const llmc_model *m) { return m && m->tokenizer != nullptr; }

llmc_status llmc_tokenize(llmc_model *m, const char *text, int addBos, int32_t *ids,
                          size_t capacity, size_t *numIds) {
  if (!m || !text || !numIds)
    return fail(LLMC_ERROR_INVALID_ARGUMENT, "null argument");
  if (!m->tokenizer)
    return fail(LLMC_ERROR_UNSUPPORTED, "no tokenizer was embedded (compile with --tokenizer)");
  std::vector<int32_t> out = m->tokenizer->encode(text, addBos != 0);
  *numIds = out.size();
  if (ids)
    std::memcpy(ids, out.data(), std::min(capacity, out.size()) * sizeof(int32_t));
  return LLMC_OK;
}

llmc_status llmc_token_text(llmc_model *m, int32_t id, const char **text, size_t *length) {
  if (!m || !text || !length)
    return fail(LLMC_ERROR_INVALID_ARGUMENT, "null argument");
  if (!m->tokenizer)
    return fail(LLMC_ERROR_UNSUPPORTED, "no tokenizer was embedded");
  if (id < 0 || id >= m->tokenizer->vocabSize())
    return fail(LLMC_ERROR_INVALID_ARGUMENT, "token id out of range");
  static thread_local std::string buffer;
  buffer = m->tokenizer->tokenText(id);
  *text = buffer.data();
  *length = buffer.size();
  return LLMC_OK;
}

int32_t llmc_token_bos(const llmc_model *m) { return m && m->tokenizer ? m->tokenizer->bosId() : -1; }
int32_t llmc_token_eos(const llmc_model *m) { return m && m->tokenizer ? m->tokenizer->eosId() : -1; }
int llmc_token_add_bos(const llmc_model *m) {
  return m && m->tokenizer && m->tokenizer->bosId() >= 0 && m->tokenizer->addBosByDefault();
}

int llmc_token_is_end(const llmc_model *m, int32_t id) {
  if (!m || !m->tokenizer)
    return 0;
  if (id == m->tokenizer->eosId())
    return 1;
  if (!m->tokenizer->isSpecial(id))
    return 0;
  std::string t = m->tokenizer->tokenText(id);
  return t == "<|im_end|>" || t == "<|endoftext|>" || t == "</s>" || t == "<|eot_id|>";
}

} // extern "C"
