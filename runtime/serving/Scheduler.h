//===- Scheduler.h - iteration-level continuous batching --------*- C++ -*-===//
//
// Requests wait in a FCFS queue and run in a set of running sequences. Each
// iteration builds one batch under a token budget: first one decode token for
// every running sequence that has a sampled token to feed back, then prompt
// chunks of sequences still in prefill, then newly admitted requests while
// the budget, the running limit and the KV blocks allow (long prompts are
// split over several steps: chunked prefill). When a sequence needs a KV
// block and none is free, the newest running sequence is preempted: its
// blocks and executor state are freed and it goes back to the head of the
// queue, to be recomputed (prompt + tokens generated so far) when admitted
// again; its sampler keeps its state, so the output is the same.
//
// One scheduler thread runs the iterations (start()), or a test calls step()
// directly. submit/cancel/poll/stats may be called from any thread.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_SERVING_SCHEDULER_H
#define LLMC_SERVING_SCHEDULER_H

#include "BlockManager.h"
#include "Histogram.h"
#include "Request.h"
#include "StepExecutor.h"
#include "TextStream.h"
#include "TokenModel.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace llmc::serving {

struct SchedulerConfig {
  int32_t blockSize = 16;      ///< KV block size in tokens
  int64_t numBlocks = 4096;    ///< KV blocks in the memory budget
  int32_t maxBatchTokens = 512; ///< tokens per step (decode tokens + prompt chunks)
  int32_t maxRunning = 64;     ///< sequences in the running set (at most maxBatchTokens)
  int32_t queueLimit = 256;    ///< waiting requests; submit is refused beyond
  int32_t maxContext = 2048;   ///< tokens per sequence (prompt + output)
  bool prefixSharing = true;
};

enum class SubmitStatus { Ok, QueueFull, PromptTooLong, Invalid, ShutDown };

struct SubmitResult {
  SubmitStatus status = SubmitStatus::Ok;
  uint64_t id = 0;
  std::string error;
};

struct SchedulerStats {
  int64_t waiting = 0, running = 0;
  BlockStats blocks;
  int64_t submitted = 0, finished = 0, cancelled = 0, rejected = 0, failed = 0;
  int64_t preemptions = 0, steps = 0, promptTokens = 0, generatedTokens = 0, computedTokens = 0;
  /// Sums over steps of allocated and filled KV slots (time-averaged waste).
  int64_t stepAllocatedSlots = 0, stepFilledSlots = 0;
  int64_t peakUsedBlocks = 0;
  uint64_t ttftCount = 0, tokenLatencyCount = 0;
  double ttftP50 = 0, ttftP99 = 0, tokenLatencyP50 = 0, tokenLatencyP99 = 0;
};

class Scheduler {
public:
  Scheduler(const SchedulerConfig &config, StepExecutor &executor, const TokenModel &model);
  ~Scheduler();
  Scheduler(const Scheduler &) = delete;
  Scheduler &operator=(const Scheduler &) = delete;

  const SchedulerConfig &config() const { return config_; }

  /// Starts the scheduler thread.
  void start();
  /// Stops the thread; requests still waiting or running end as Cancelled.
  /// Further submits are refused.
  void stop();

  /// Queues a request. With a callback, every event is delivered through it
  /// (on the scheduler thread) and the request is forgotten after its last
  /// event; without one, collect the output with poll().
  SubmitResult submit(std::vector<int32_t> prompt, SamplingParams params,
                      StreamCallback callback = nullptr);
  /// Asks to end a request; its last event has FinishReason::Cancelled
  /// (unless it finished on its own first). False if the id is unknown or
  /// already finished.
  bool cancel(uint64_t id);
  /// For requests submitted without a callback: waits up to `timeout` for
  /// output, then returns everything produced since the previous poll in
  /// *out. When out->finish is set the request is forgotten. False if the id
  /// is unknown (never submitted, or already fully polled).
  bool poll(uint64_t id, std::chrono::milliseconds timeout, StreamEvent *out);

  /// Runs one iteration (what the thread does). Returns false if there was
  /// nothing to run.
  bool step();

  SchedulerStats stats() const;
  /// All metrics in the Prometheus text exposition format.
  std::string prometheus() const;

private:
  using Clock = std::chrono::steady_clock;
  struct Req {
    uint64_t id = 0;
    std::vector<int32_t> prompt;
    SamplingParams params;
    StreamCallback callback;
    std::unique_ptr<TokenSampler> sampler;
    TextStream text;
    std::vector<int32_t> tokens; // prompt + generated tokens fed back
    int32_t generated = 0;
    int32_t computed = 0;        // tokens whose KV the executor holds
    int32_t cachedPrefix = 0;    // leading tokens in shared blocks at admission
    int32_t maxLength = 0;       // prompt + max tokens, at most the context
    bool running = false, cancelRequested = false, done = false, sawToken = false;
    FinishReason finish = FinishReason::None;
    std::string error;
    Clock::time_point submitted, lastToken;
    // Output not yet handed to poll() (requests without a callback).
    std::vector<int32_t> pendingTokens;
    std::string pendingText;
  };
  struct Chunk {
    Req *req;
    int32_t count;
    bool needsLogits;
  };

  // Events are collected under the lock and delivered (callbacks called)
  // after it is released, by deliver().
  void run();
  void stopNow();
  void preempt(Req *r);
  void finish(Req *r, FinishReason why, std::vector<StreamEvent> &events, std::string error = {});
  void emit(Req *r, std::vector<int32_t> tokens, std::string text, std::vector<StreamEvent> &events);
  void deliver(std::vector<StreamEvent> &events);
  bool addChunk(Req *r, int32_t &budget, StepBatch &batch, std::vector<Chunk> &chunks);
  void sampleNext(Req *r, const float *logits, std::vector<StreamEvent> &events);

  SchedulerConfig config_;
  StepExecutor &executor_;
  const TokenModel &model_;
  BlockManager blocks_; // guarded by mu_

  mutable std::mutex mu_;
  std::condition_variable workCv_, pollCv_;
  std::map<uint64_t, std::unique_ptr<Req>> requests_;
  std::deque<Req *> waiting_;
  std::vector<Req *> running_; // admission order: oldest first
  std::vector<uint64_t> cancels_;
  uint64_t nextId_ = 1;
  bool stopping_ = false;
  std::thread thread_;
  std::once_flag stopOnce_;

  // Metrics (guarded by mu_).
  SchedulerStats counters_;
  Histogram ttft_, tokenLatency_, e2e_;
};

} // namespace llmc::serving

#endif
