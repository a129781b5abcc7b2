/*===- llmc_loader.h - load a generated library with dlopen --------------===*
 *
 * Header-only helper: fills an llmc_api table with the C API functions of a
 * library made by `llmc compile`, so an application can load several models
 * (each .so carries its own runtime) without linking them.
 *
 *   llmc_api api; char err[512];
 *   if (llmc_load("model.so", &api, err, sizeof err) != 0) { puts(err); ... }
 *   llmc_model *m; api.model_open(&m); ...
 *
 *===----------------------------------------------------------------------===*/
#ifndef LLMC_LLMC_LOADER_H
#define LLMC_LLMC_LOADER_H

#include "llmc/llmc.h"

#include <dlfcn.h>
#include <stdio.h>

typedef struct llmc_api {
  void *handle;
  const char *(*last_error)(void);
  uint32_t (*abi_version)(void);
  llmc_status (*model_open)(llmc_model **);
  void (*model_close)(llmc_model *);
  const char *(*model_manifest)(const llmc_model *);
  llmc_status (*graph_run)(llmc_model *, const llmc_tensor *, size_t, llmc_tensor *, size_t);
  void (*tensor_free)(llmc_tensor *);
  int (*model_is_causal_lm)(const llmc_model *);
  int32_t (*model_vocab_size)(const llmc_model *);
  llmc_status (*session_create)(llmc_model *, int32_t, llmc_session **);
  void (*session_destroy)(llmc_session *);
  void (*session_reset)(llmc_session *);
  int32_t (*session_length)(const llmc_session *);
  llmc_status (*session_append)(llmc_session *, const int32_t *, size_t);
  const float *(*session_logits)(const llmc_session *);
  llmc_status (*session_prefill)(llmc_session *, const int32_t *, size_t);
  llmc_status (*session_decode)(llmc_session *, int32_t);
  llmc_sampler *(*sampler_create)(const llmc_sampling_params *);
  void (*sampler_destroy)(llmc_sampler *);
  int32_t (*sampler_sample)(llmc_sampler *, const float *, int32_t);
  int (*model_has_tokenizer)(const llmc_model *);
  llmc_status (*tokenize)(llmc_model *, const char *, int, int32_t *, size_t, size_t *);
  llmc_status (*token_text)(llmc_model *, int32_t, const char **, size_t *);
  int32_t (*token_bos)(const llmc_model *);
  int32_t (*token_eos)(const llmc_model *);
  int (*token_is_end)(const llmc_model *, int32_t);
  int (*model_has_batch_step)(const llmc_model *);
  int64_t (*kv_block_bytes)(const llmc_model *, int32_t);
  llmc_status (*kv_pool_create)(llmc_model *, int32_t, int32_t, llmc_kv_pool **);
  void (*kv_pool_destroy)(llmc_kv_pool *);
  llmc_status (*kv_pool_copy_block)(llmc_kv_pool *, int32_t, int32_t);
  llmc_status (*batch_step)(llmc_kv_pool *, const llmc_batch_seq *, int32_t, float *);
} llmc_api;

/* Returns 0 on success; on failure writes a message into err. */
static inline int llmc_load(const char *path, llmc_api *api, char *err, size_t errlen) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(err, errlen, "cannot load '%s': %s", path, dlerror());
    return -1;
  }
  api->handle = h;
#define LLMC_SYM(field, name)                                                  \
  *(void **)(&api->field) = dlsym(h, name);                                    \
  if (!api->field) {                                                           \
    snprintf(err, errlen, "'%s' is not an llmc library (missing %s)", path, name); \
    dlclose(h);                                                                \
    return -1;                                                                 \
  }
  LLMC_SYM(last_error, "llmc_last_error")
  LLMC_SYM(abi_version, "llmc_abi_version")
  LLMC_SYM(model_open, "llmc_model_open")
  LLMC_SYM(model_close, "llmc_model_close")
  LLMC_SYM(model_manifest, "llmc_model_manifest")
  LLMC_SYM(graph_run, "llmc_graph_run")
  LLMC_SYM(tensor_free, "llmc_tensor_free")
  LLMC_SYM(model_is_causal_lm, "llmc_model_is_causal_lm")
  LLMC_SYM(model_vocab_size, "llmc_model_vocab_size")
  LLMC_SYM(session_create, "llmc_session_create")
  LLMC_SYM(session_destroy, "llmc_session_destroy")
  LLMC_SYM(session_reset, "llmc_session_reset")
  LLMC_SYM(session_length, "llmc_session_length")
  LLMC_SYM(session_append, "llmc_session_append")
  LLMC_SYM(session_logits, "llmc_session_logits")
  LLMC_SYM(session_prefill, "llmc_session_prefill")
  LLMC_SYM(session_decode, "llmc_session_decode")
  LLMC_SYM(sampler_create, "llmc_sampler_create")
  LLMC_SYM(sampler_destroy, "llmc_sampler_destroy")
  LLMC_SYM(sampler_sample, "llmc_sampler_sample")
  LLMC_SYM(model_has_tokenizer, "llmc_model_has_tokenizer")
  LLMC_SYM(tokenize, "llmc_tokenize")
  LLMC_SYM(token_text, "llmc_token_text")
  LLMC_SYM(token_bos, "llmc_token_bos")
  LLMC_SYM(token_eos, "llmc_token_eos")
  LLMC_SYM(token_is_end, "llmc_token_is_end")
  LLMC_SYM(model_has_batch_step, "llmc_model_has_batch_step")
  LLMC_SYM(kv_block_bytes, "llmc_kv_block_bytes")
  LLMC_SYM(kv_pool_create, "llmc_kv_pool_create")
  LLMC_SYM(kv_pool_destroy, "llmc_kv_pool_destroy")
  LLMC_SYM(kv_pool_copy_block, "llmc_kv_pool_copy_block")
  LLMC_SYM(batch_step, "llmc_batch_step")
#undef LLMC_SYM
  if (api->abi_version() != LLMC_ABI_VERSION) {
    snprintf(err, errlen, "'%s' has ABI version %u, this program expects %u", path,
             api->abi_version(), (unsigned)LLMC_ABI_VERSION);
    dlclose(h);
    return -1;
  }
  return 0;
}

#endif /* LLMC_LLMC_LOADER_H */
