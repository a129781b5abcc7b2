/*===- llmc_serving.h - thread-safe serving engine over a compiled model --===*
 *
 * An engine runs many concurrent requests on one model library loaded with
 * llmc_load() (llmc_loader.h): a paged KV-cache block manager with a memory
 * budget, and a scheduler thread doing iteration-level continuous batching
 * (chunked prefill under a per-step token budget, FCFS admission,
 * preemption with recompute when KV blocks run out). Implemented in
 * runtime/serving (library llmc_serving); documented in docs/Serving.md.
 *
 *   llmc_engine_options o; llmc_engine_options_init(&o);
 *   llmc_engine *e; llmc_engine_create(&api, model, &o, &e);
 *   llmc_request_params p; llmc_request_params_init(&p); p.max_tokens = 32;
 *   uint64_t id; llmc_engine_submit_text(e, "Once upon a time", 1, &p, NULL, NULL, &id);
 *   llmc_request_event ev;
 *   do { llmc_engine_poll(e, id, 1000, &ev); fwrite(ev.text, 1, ev.text_length, stdout); }
 *   while (ev.finish == LLMC_FINISH_NONE);
 *   llmc_engine_destroy(e);
 *
 * Every function may be called from any thread. Errors: a status, and
 * llmc_engine_last_error() gives the message (per thread).
 *
 *===----------------------------------------------------------------------===*/
#ifndef LLMC_LLMC_SERVING_H
#define LLMC_LLMC_SERVING_H

#include "llmc/llmc_loader.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llmc_engine llmc_engine;

typedef enum llmc_serving_status {
  LLMC_SERVING_OK = 0,
  LLMC_SERVING_INVALID_ARGUMENT = 1, /* null pointer, bad option, token id outside the vocabulary */
  LLMC_SERVING_QUEUE_FULL = 2,       /* the waiting queue holds queue_limit requests: retry later */
  LLMC_SERVING_PROMPT_TOO_LONG = 3,  /* prompt >= max_context tokens, or beyond the KV budget */
  LLMC_SERVING_NOT_FOUND = 4,        /* unknown or already finished request id */
  LLMC_SERVING_UNSUPPORTED = 5,      /* not a causal LM, or text given and no tokenizer */
  LLMC_SERVING_SHUT_DOWN = 6,        /* the engine is being destroyed */
  LLMC_SERVING_INTERNAL = 7
} llmc_serving_status;

typedef struct llmc_engine_options {
  int32_t block_size;       /* tokens per KV block (default 8: the last, partly filled block of
                               a sequence wastes half a block on average) */
  int64_t kv_budget_bytes;  /* KV-cache memory budget (default 256 MiB) */
  int32_t max_batch_tokens; /* tokens per step, decode + prefill chunks (default 512) */
  int32_t max_running;      /* running sequences (default 64; at most max_batch_tokens) */
  int32_t queue_limit;      /* waiting requests before submit refuses (default 256) */
  int32_t max_context;      /* tokens per sequence, prompt + output (default 2048) */
  int32_t prefix_sharing;   /* share identical full prompt blocks (default 1) */
  int32_t executor_threads; /* session executor: threads running the sequences of a step
                               (default 1); with more, give the model's kernels fewer
                               (LLMC_NUM_THREADS) */
  int32_t paged;            /* 1 (default): run each step as one compiled batch step with KV
                               in the budget's blocks, if the library has a batch step;
                               0: one llmc session per sequence */
} llmc_engine_options;

void llmc_engine_options_init(llmc_engine_options *options);

/* Creates an engine and starts its scheduler thread. `api` is copied; the
 * library and `model` must stay open until llmc_engine_destroy. */
llmc_serving_status llmc_engine_create(const llmc_api *api, llmc_model *model,
                                       const llmc_engine_options *options,
                                       llmc_engine **out);
/* Stops the scheduler; unfinished requests end with LLMC_FINISH_CANCELLED
 * (callbacks are called for them before this returns). */
void llmc_engine_destroy(llmc_engine *engine);
/* The same without freeing the engine: afterwards submits fail with
 * LLMC_SERVING_SHUT_DOWN while the other calls stay valid (for servers whose
 * handler threads still hold the engine). */
void llmc_engine_shutdown(llmc_engine *engine);
const char *llmc_engine_last_error(void);
/* The options in effect (defaults filled in, max_running capped). */
llmc_serving_status llmc_engine_get_options(const llmc_engine *engine,
                                            llmc_engine_options *out);

typedef struct llmc_request_params {
  float temperature;  /* <= 0: greedy (default 0) */
  int32_t top_k;      /* <= 0: off (default 0) */
  float top_p;        /* >= 1: off (default 1) */
  uint64_t seed;      /* sampler seed (default 0) */
  int32_t max_tokens; /* tokens to generate; <= 0: until an end token or the context is full (default 16) */
  const char *const *stop; /* stop strings (copied), matched on the detokenized output; */
  size_t num_stop;         /* generation ends before the first match, which is not returned */
  int32_t ignore_eos; /* 1: do not stop at end tokens (default 0) */
} llmc_request_params;

void llmc_request_params_init(llmc_request_params *params);

typedef enum llmc_finish_reason {
  LLMC_FINISH_NONE = 0,      /* more output follows */
  LLMC_FINISH_STOP = 1,      /* end token or stop string */
  LLMC_FINISH_LENGTH = 2,    /* max_tokens, the context, or the KV budget reached */
  LLMC_FINISH_CANCELLED = 3, /* llmc_engine_cancel or engine shutdown */
  LLMC_FINISH_ERROR = 4      /* the model failed on this request; see error */
} llmc_finish_reason;

/* Output since the previous event of the same request. `text` is UTF-8
 * except that a character split across tokens is held back until complete;
 * it is not NUL-terminated. */
typedef struct llmc_request_event {
  uint64_t request_id;
  const int32_t *tokens;
  size_t num_tokens;
  const char *text;
  size_t text_length;
  llmc_finish_reason finish; /* set on the last event of the request */
  const char *error;         /* "" unless there is an error message */
  int32_t prompt_tokens;
  int32_t completion_tokens; /* generated so far */
} llmc_request_event;

/* Called on the scheduler thread; the event's pointers are valid during the
 * call only. Keep it short; it may call llmc_engine_submit/cancel but must
 * not wait for the engine (llmc_engine_poll, llmc_engine_destroy). */
typedef void (*llmc_request_callback)(const llmc_request_event *event, void *user_data);

/* Queues a request and returns its id in *id. With a callback, all output
 * is delivered through it and the last event has finish != NONE; without
 * one, collect the output with llmc_engine_poll. */
llmc_serving_status llmc_engine_submit(llmc_engine *engine, const int32_t *prompt,
                                       size_t num_tokens, const llmc_request_params *params,
                                       llmc_request_callback callback, void *user_data,
                                       uint64_t *id);
/* Same with a text prompt, tokenized by the library's embedded tokenizer. */
llmc_serving_status llmc_engine_submit_text(llmc_engine *engine, const char *text, int add_bos,
                                            const llmc_request_params *params,
                                            llmc_request_callback callback, void *user_data,
                                            uint64_t *id);
/* Ends a request early: its last event has LLMC_FINISH_CANCELLED. */
llmc_serving_status llmc_engine_cancel(llmc_engine *engine, uint64_t id);
/* For requests submitted without a callback: waits up to timeout_ms for new
 * output and returns what was produced since the previous poll (possibly
 * nothing, on timeout). After an event with finish != NONE the id is
 * unknown. The event's pointers are valid until the next llmc_engine_poll
 * on the same thread. */
llmc_serving_status llmc_engine_poll(llmc_engine *engine, uint64_t id, int32_t timeout_ms,
                                     llmc_request_event *out);

typedef struct llmc_engine_stats {
  int64_t waiting, running;
  int64_t kv_blocks_total, kv_blocks_used, kv_blocks_used_peak, kv_blocks_shared;
  int64_t kv_slots_allocated, kv_slots_filled;
  double kv_waste; /* (allocated - filled) / allocated slots, now */
  int64_t requests_submitted, requests_finished, requests_cancelled, requests_rejected,
      requests_failed;
  int64_t preemptions, steps, prompt_tokens, generated_tokens;
  double ttft_p50, ttft_p99;                 /* seconds, from the histogram */
  double token_latency_p50, token_latency_p99; /* seconds between tokens of a request */
} llmc_engine_stats;

llmc_serving_status llmc_engine_get_stats(llmc_engine *engine, llmc_engine_stats *out);
/* All metrics in the Prometheus text format; valid until the next call on
 * the same thread. NULL if engine is NULL. */
const char *llmc_engine_metrics(llmc_engine *engine);

#ifdef __cplusplus
}
#endif

#endif /* LLMC_LLMC_SERVING_H */
