//===- ServingApi.cpp - the C API of include/llmc/llmc_serving.h ----------===//
//
// An llmc_engine is a LoadedModel, a SessionExecutor and a Scheduler with
// its thread. The C structs are translated to the C++ types here and no
// further: all locking lives in the Scheduler.
//
//===----------------------------------------------------------------------===//
#include "llmc/llmc_serving.h"

#include "LoadedModel.h"
#include "Scheduler.h"
#include "PagedExecutor.h"
#include "SessionExecutor.h"

#include <algorithm>
#include <memory>
#include <string>

using namespace llmc::serving;

struct llmc_engine {
  llmc_api api;
  llmc_engine_options options;
  std::unique_ptr<LoadedModel> model;
  std::unique_ptr<StepExecutor> executor;
  std::unique_ptr<Scheduler> scheduler;
};

namespace {
thread_local std::string lastError;

llmc_serving_status fail(llmc_serving_status s, std::string msg) {
  lastError = std::move(msg);
  return s;
}

llmc_serving_status fromSubmit(const SubmitResult &r) {
  switch (r.status) {
  case SubmitStatus::Ok: return LLMC_SERVING_OK;
  case SubmitStatus::QueueFull: return fail(LLMC_SERVING_QUEUE_FULL, r.error);
  case SubmitStatus::PromptTooLong: return fail(LLMC_SERVING_PROMPT_TOO_LONG, r.error);
  case SubmitStatus::Invalid: return fail(LLMC_SERVING_INVALID_ARGUMENT, r.error);
  case SubmitStatus::ShutDown: return fail(LLMC_SERVING_SHUT_DOWN, r.error);
  }
  return fail(LLMC_SERVING_INTERNAL, r.error);
}

llmc_finish_reason toC(FinishReason r) {
  switch (r) {
  case FinishReason::None: return LLMC_FINISH_NONE;
  case FinishReason::Stop: return LLMC_FINISH_STOP;
  case FinishReason::Length: return LLMC_FINISH_LENGTH;
  case FinishReason::Cancelled: return LLMC_FINISH_CANCELLED;
  case FinishReason::Error: return LLMC_FINISH_ERROR;
  }
  return LLMC_FINISH_ERROR;
}

void fillEvent(const StreamEvent &ev, llmc_request_event *out) {
  out->request_id = ev.id;
  out->tokens = ev.tokens.data();
  out->num_tokens = ev.tokens.size();
  out->text = ev.text.data();
  out->text_length = ev.text.size();
  out->finish = toC(ev.finish);
  out->error = ev.error.c_str();
  out->prompt_tokens = ev.promptTokens;
  out->completion_tokens = ev.completionTokens;
}

/// Null when the parameters are usable, else why not.
const char *toParams(const llmc_request_params *p, SamplingParams *out) {
  llmc_request_params defaults;
  if (!p) {
    llmc_request_params_init(&defaults);
    p = &defaults;
  }
  if (p->num_stop && !p->stop)
    return "params: stop is null but num_stop is not 0";
  out->temperature = p->temperature;
  out->topK = p->top_k;
  out->topP = p->top_p;
  out->seed = p->seed;
  out->maxTokens = p->max_tokens;
  out->ignoreEos = p->ignore_eos != 0;
  for (size_t i = 0; i < p->num_stop; ++i) {
    if (!p->stop[i])
      return "params: stop has a null entry";
    out->stop.emplace_back(p->stop[i]);
  }
  return nullptr;
}

StreamCallback wrap(llmc_request_callback cb, void *user) {
  if (!cb)
    return nullptr;
  return [cb, user](const StreamEvent &ev) {
    llmc_request_event c;
    fillEvent(ev, &c);
    cb(&c, user);
  };
}
} // namespace

extern "C" {

void llmc_engine_options_init(llmc_engine_options *o) {
  if (!o)
    return;
  o->block_size = 8;
  o->kv_budget_bytes = 256ll << 20;
  o->max_batch_tokens = 512;
  o->max_running = 64;
  o->queue_limit = 256;
  o->max_context = 2048;
  o->prefix_sharing = 1;
  o->executor_threads = 1;
  o->paged = 1;
}

void llmc_request_params_init(llmc_request_params *p) {
  if (!p)
    return;
  p->temperature = 0.f;
  p->top_k = 0;
  p->top_p = 1.f;
  p->seed = 0;
  p->max_tokens = 16;
  p->stop = nullptr;
  p->num_stop = 0;
  p->ignore_eos = 0;
}

const char *llmc_engine_last_error(void) { return lastError.c_str(); }

llmc_serving_status llmc_engine_create(const llmc_api *api, llmc_model *model,
                                       const llmc_engine_options *options, llmc_engine **out) {
  if (!api || !model || !out)
    return fail(LLMC_SERVING_INVALID_ARGUMENT, "need an api table, a model and an out pointer");
  llmc_engine_options o;
  llmc_engine_options_init(&o);
  if (options)
    o = *options;
  if (o.block_size <= 0 || o.kv_budget_bytes <= 0 || o.max_batch_tokens <= 0 ||
      o.max_running <= 0 || o.queue_limit < 0 || o.max_context < 2 || o.executor_threads < 1 ||
      o.executor_threads > 256)
    return fail(LLMC_SERVING_INVALID_ARGUMENT,
                "options: block_size, kv_budget_bytes, max_batch_tokens and max_running must be "
                "> 0, queue_limit >= 0, max_context >= 2 and executor_threads in 1..256");
  auto e = std::make_unique<llmc_engine>();
  e->api = *api;
  try {
    e->model = std::make_unique<LoadedModel>(e->api, model);
  } catch (const std::exception &ex) {
    return fail(LLMC_SERVING_UNSUPPORTED, ex.what());
  }
  int64_t bytesPerBlock = e->model->kvBytesPerToken() * o.block_size;
  SchedulerConfig cfg;
  cfg.blockSize = o.block_size;
  cfg.numBlocks = BlockManager::blocksForBudget(o.kv_budget_bytes, bytesPerBlock);
  if (cfg.numBlocks < 1)
    return fail(LLMC_SERVING_INVALID_ARGUMENT,
                "the KV budget of " + std::to_string(o.kv_budget_bytes) +
                    " bytes holds no block of " + std::to_string(bytesPerBlock) + " bytes");
  cfg.maxBatchTokens = o.max_batch_tokens;
  cfg.maxRunning = o.max_running;
  cfg.queueLimit = o.queue_limit;
  cfg.maxContext = o.max_context;
  cfg.prefixSharing = o.prefix_sharing != 0;
  try {
    if (o.paged && e->api.model_has_batch_step(model)) {
      e->executor = std::make_unique<PagedExecutor>(e->api, model, cfg.numBlocks, cfg.blockSize);
    } else {
      o.paged = 0;
      e->executor = std::make_unique<SessionExecutor>(e->api, model, o.max_context,
                                                      std::max(16, o.max_running / 4),
                                                      o.executor_threads);
    }
    e->scheduler = std::make_unique<Scheduler>(cfg, *e->executor, *e->model);
  } catch (const std::exception &ex) {
    return fail(LLMC_SERVING_INVALID_ARGUMENT, ex.what());
  }
  o.max_running = e->scheduler->config().maxRunning;
  e->options = o;
  e->scheduler->start();
  *out = e.release();
  return LLMC_SERVING_OK;
}

void llmc_engine_destroy(llmc_engine *e) {
  if (!e)
    return;
  e->scheduler->stop(); // before the executor and model it uses go away
  delete e;
}

void llmc_engine_shutdown(llmc_engine *e) {
  if (e)
    e->scheduler->stop();
}

llmc_serving_status llmc_engine_get_options(const llmc_engine *e, llmc_engine_options *out) {
  if (!e || !out)
    return fail(LLMC_SERVING_INVALID_ARGUMENT, "null argument");
  *out = e->options;
  return LLMC_SERVING_OK;
}

llmc_serving_status llmc_engine_submit(llmc_engine *e, const int32_t *prompt, size_t n,
                                       const llmc_request_params *params,
                                       llmc_request_callback cb, void *user, uint64_t *id) {
  if (!e || (!prompt && n) || !id)
    return fail(LLMC_SERVING_INVALID_ARGUMENT, "null argument");
  SamplingParams sp;
  if (const char *why = toParams(params, &sp))
    return fail(LLMC_SERVING_INVALID_ARGUMENT, why);
  SubmitResult r = e->scheduler->submit(std::vector<int32_t>(prompt, prompt + n), std::move(sp),
                                        wrap(cb, user));
  *id = r.id;
  return fromSubmit(r);
}

llmc_serving_status llmc_engine_submit_text(llmc_engine *e, const char *text, int addBos,
                                            const llmc_request_params *params,
                                            llmc_request_callback cb, void *user, uint64_t *id) {
  if (!e || !text || !id)
    return fail(LLMC_SERVING_INVALID_ARGUMENT, "null argument");
  if (!e->model->hasTokenizer())
    return fail(LLMC_SERVING_UNSUPPORTED,
                "the model library has no tokenizer (compile it with --tokenizer); submit token ids");
  std::vector<int32_t> ids;
  std::string err;
  if (!e->model->tokenize(text, addBos != 0, &ids, &err))
    return fail(LLMC_SERVING_INTERNAL, err);
  return llmc_engine_submit(e, ids.data(), ids.size(), params, cb, user, id);
}

llmc_serving_status llmc_engine_cancel(llmc_engine *e, uint64_t id) {
  if (!e)
    return fail(LLMC_SERVING_INVALID_ARGUMENT, "null argument");
  if (!e->scheduler->cancel(id))
    return fail(LLMC_SERVING_NOT_FOUND, "no running or waiting request " + std::to_string(id));
  return LLMC_SERVING_OK;
}

llmc_serving_status llmc_engine_poll(llmc_engine *e, uint64_t id, int32_t timeoutMs,
                                     llmc_request_event *out) {
  if (!e || !out)
    return fail(LLMC_SERVING_INVALID_ARGUMENT, "null argument");
  static thread_local StreamEvent last; // backs the pointers in *out
  StreamEvent ev;
  if (!e->scheduler->poll(id, std::chrono::milliseconds(timeoutMs > 0 ? timeoutMs : 0), &ev))
    return fail(LLMC_SERVING_NOT_FOUND,
                "no request " + std::to_string(id) +
                    " to poll (unknown, submitted with a callback, or already finished)");
  last = std::move(ev);
  fillEvent(last, out);
  return LLMC_SERVING_OK;
}

llmc_serving_status llmc_engine_get_stats(llmc_engine *e, llmc_engine_stats *out) {
  if (!e || !out)
    return fail(LLMC_SERVING_INVALID_ARGUMENT, "null argument");
  SchedulerStats s = e->scheduler->stats();
  out->waiting = s.waiting;
  out->running = s.running;
  out->kv_blocks_total = s.blocks.totalBlocks;
  out->kv_blocks_used = s.blocks.usedBlocks;
  out->kv_blocks_used_peak = s.peakUsedBlocks;
  out->kv_blocks_shared = s.blocks.sharedBlocks;
  out->kv_slots_allocated = s.blocks.allocatedSlots;
  out->kv_slots_filled = s.blocks.filledSlots;
  out->kv_waste = s.blocks.waste();
  out->requests_submitted = s.submitted;
  out->requests_finished = s.finished;
  out->requests_cancelled = s.cancelled;
  out->requests_rejected = s.rejected;
  out->requests_failed = s.failed;
  out->preemptions = s.preemptions;
  out->steps = s.steps;
  out->prompt_tokens = s.promptTokens;
  out->generated_tokens = s.generatedTokens;
  out->ttft_p50 = s.ttftP50;
  out->ttft_p99 = s.ttftP99;
  out->token_latency_p50 = s.tokenLatencyP50;
  out->token_latency_p99 = s.tokenLatencyP99;
  return LLMC_SERVING_OK;
}

const char *llmc_engine_metrics(llmc_engine *e) {
  if (!e)
    return nullptr;
  static thread_local std::string text;
  text = e->scheduler->prometheus();
  return text.c_str();
}

} // extern "C"
