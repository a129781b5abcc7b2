//===- Scheduler.cpp - iteration-level continuous batching ----------------===//
#include "Scheduler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <unordered_map>

using namespace llmc::serving;

const char *llmc::serving::finishReasonName(FinishReason r) {
  switch (r) {
  case FinishReason::None: return "none";
  case FinishReason::Stop: return "stop";
  case FinishReason::Length: return "length";
  case FinishReason::Cancelled: return "cancelled";
  case FinishReason::Error: return "error";
  }
  return "unknown";
}

Scheduler::Scheduler(const SchedulerConfig &config, StepExecutor &executor, const TokenModel &model)
    : config_(config), executor_(executor), model_(model),
      blocks_(config.blockSize, config.numBlocks, config.prefixSharing) {
  if (config.maxBatchTokens <= 0 || config.maxRunning <= 0 || config.maxContext < 2 ||
      config.queueLimit < 0)
    throw std::invalid_argument("scheduler: max batch tokens and max running must be > 0, the "
                                "context >= 2 tokens and the queue limit >= 0");
  // Every running sequence must fit one decode token into a step.
  config_.maxRunning = std::min(config.maxRunning, config.maxBatchTokens);
}

Scheduler::~Scheduler() { stop(); }

void Scheduler::start() {
  std::lock_guard<std::mutex> l(mu_);
  if (thread_.joinable() || stopping_)
    return;
  thread_ = std::thread([this] { run(); });
}

void Scheduler::run() {
  while (true) {
    {
      std::unique_lock<std::mutex> l(mu_);
      workCv_.wait(l, [&] {
        return stopping_ || !waiting_.empty() || !running_.empty() || !cancels_.empty();
      });
      if (stopping_)
        return;
    }
    if (!step()) { // nothing runnable right now: do not spin
      std::unique_lock<std::mutex> l(mu_);
      workCv_.wait_for(l, std::chrono::milliseconds(1));
    }
  }
}

void Scheduler::stop() {
  // Once; concurrent callers wait until it is done.
  std::call_once(stopOnce_, [this] { stopNow(); });
}

void Scheduler::stopNow() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  workCv_.notify_all();
  if (thread_.joinable())
    thread_.join();
  std::vector<StreamEvent> events;
  std::vector<StreamCallback> callbacks;
  {
    std::lock_guard<std::mutex> l(mu_);
    while (!running_.empty())
      finish(running_.back(), FinishReason::Cancelled, events, "the engine shut down");
    while (!waiting_.empty())
      finish(waiting_.back(), FinishReason::Cancelled, events, "the engine shut down");
    cancels_.clear();
  }
  deliver(events);
  pollCv_.notify_all();
}

SubmitResult Scheduler::submit(std::vector<int32_t> prompt, SamplingParams params,
                               StreamCallback callback) {
  SubmitResult res;
  auto reject = [&](SubmitStatus s, std::string msg) {
    res.status = s;
    res.error = std::move(msg);
    ++counters_.rejected;
    return res;
  };
  std::unique_lock<std::mutex> l(mu_);
  if (stopping_)
    return reject(SubmitStatus::ShutDown, "the engine is shutting down");
  if (prompt.empty())
    return reject(SubmitStatus::Invalid, "the prompt has no tokens");
  // NaN is neither "<= 0: greedy" nor a value: the sampler would pick
  // arbitrary tokens.
  if (std::isnan(params.temperature) || std::isnan(params.topP))
    return reject(SubmitStatus::Invalid, std::isnan(params.temperature)
                                             ? "sampling temperature is NaN"
                                             : "sampling top_p is NaN");
  int32_t vocab = model_.vocabSize();
  for (int32_t t : prompt)
    if (t < 0 || t >= vocab)
      return reject(SubmitStatus::Invalid, "token id " + std::to_string(t) +
                                               " is outside the vocabulary [0, " +
                                               std::to_string(vocab) + ")");
  if ((int64_t)prompt.size() >= config_.maxContext)
    return reject(SubmitStatus::PromptTooLong,
                  "the prompt has " + std::to_string(prompt.size()) +
                      " tokens; the context holds " + std::to_string(config_.maxContext) +
                      " tokens, prompt and output together");
  if (blocks_.blocksFor((int64_t)prompt.size() + 1) > blocks_.numBlocks())
    return reject(SubmitStatus::PromptTooLong,
                  "the prompt has " + std::to_string(prompt.size()) +
                      " tokens; the KV-cache budget holds " +
                      std::to_string(blocks_.numBlocks() * blocks_.blockSize()) + " tokens");
  if ((int64_t)waiting_.size() >= config_.queueLimit)
    return reject(SubmitStatus::QueueFull, "the queue is full (" +
                                               std::to_string(config_.queueLimit) +
                                               " requests waiting)");
  auto r = std::make_unique<Req>();
  r->id = nextId_++;
  r->prompt = prompt;
  r->tokens = std::move(prompt);
  r->sampler = model_.makeSampler(params);
  r->text = TextStream(params.stop);
  int64_t limit = params.maxTokens > 0 ? (int64_t)r->prompt.size() + params.maxTokens
                                       : (int64_t)config_.maxContext;
  r->maxLength = (int32_t)std::min<int64_t>(limit, config_.maxContext);
  r->params = std::move(params);
  r->callback = std::move(callback);
  r->submitted = Clock::now();
  res.id = r->id;
  ++counters_.submitted;
  counters_.promptTokens += (int64_t)r->prompt.size();
  waiting_.push_back(r.get());
  requests_.emplace(r->id, std::move(r));
  l.unlock();
  workCv_.notify_one();
  return res;
}

bool Scheduler::cancel(uint64_t id) {
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = requests_.find(id);
    if (it == requests_.end() || it->second->done)
      return false;
    if (it->second->cancelRequested)
      return true;
    it->second->cancelRequested = true;
    cancels_.push_back(id);
  }
  workCv_.notify_one();
  return true;
}

bool Scheduler::poll(uint64_t id, std::chrono::milliseconds timeout, StreamEvent *out) {
  std::unique_lock<std::mutex> l(mu_);
  auto find = [&]() -> Req * {
    auto it = requests_.find(id);
    return it == requests_.end() || it->second->callback ? nullptr : it->second.get();
  };
  if (!find())
    return false;
  pollCv_.wait_for(l, timeout, [&] {
    Req *r = find(); // re-looked up: another poller may have taken it
    return !r || r->done || !r->pendingTokens.empty() || !r->pendingText.empty();
  });
  Req *r = find();
  if (!r)
    return false;
  *out = StreamEvent();
  out->id = id;
  out->tokens = std::move(r->pendingTokens);
  out->text = std::move(r->pendingText);
  r->pendingTokens.clear();
  r->pendingText.clear();
  out->promptTokens = (int32_t)r->prompt.size();
  out->completionTokens = r->generated;
  if (r->done) {
    out->finish = r->finish;
    out->error = r->error;
    requests_.erase(id);
  }
  return true;
}

void Scheduler::emit(Req *r, std::vector<int32_t> tokens, std::string text, std::vector<StreamEvent> &events) {
  if (tokens.empty() && text.empty())
    return;
  if (!r->callback) {
    r->pendingTokens.insert(r->pendingTokens.end(), tokens.begin(), tokens.end());
    r->pendingText += text;
    return;
  }
  StreamEvent ev;
  ev.id = r->id;
  ev.tokens = std::move(tokens);
  ev.text = std::move(text);
  ev.promptTokens = (int32_t)r->prompt.size();
  ev.completionTokens = r->generated;
  events.push_back(std::move(ev));
}

void Scheduler::finish(Req *r, FinishReason why, std::vector<StreamEvent> &events, std::string error) {
  if (r->done)
    return;
  if (r->running) {
    running_.erase(std::find(running_.begin(), running_.end(), r));
    blocks_.free(r->id);
    executor_.release(r->id);
    r->running = false;
  } else if (auto it = std::find(waiting_.begin(), waiting_.end(), r); it != waiting_.end()) {
    waiting_.erase(it);
  }
  r->done = true;
  r->finish = why;
  r->error = error;
  switch (why) {
  case FinishReason::Cancelled: ++counters_.cancelled; break;
  case FinishReason::Error: ++counters_.failed; break;
  default: ++counters_.finished; break;
  }
  e2e_.observe(std::chrono::duration<double>(Clock::now() - r->submitted).count());
  std::string rest = r->text.takeAll();
  if (!r->callback) {
    r->pendingText += rest;
    return; // poll() hands out the end and forgets the request
  }
  StreamEvent ev;
  ev.id = r->id;
  ev.text = std::move(rest);
  ev.finish = why;
  ev.error = std::move(error);
  ev.promptTokens = (int32_t)r->prompt.size();
  ev.completionTokens = r->generated;
  events.push_back(std::move(ev));
}

void Scheduler::deliver(std::vector<StreamEvent> &events) {
  // Callbacks are looked up under the lock, called without it.
  std::vector<std::pair<StreamCallback, StreamEvent *>> calls;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto &ev : events) {
      auto it = requests_.find(ev.id);
      if (it != requests_.end() && it->second->callback)
        calls.emplace_back(it->second->callback, &ev);
      // A finished callback request is forgotten once its last event is out.
      if (ev.finish != FinishReason::None && it != requests_.end() && it->second->callback)
        requests_.erase(it);
    }
  }
  for (auto &[cb, ev] : calls) {
    try {
      cb(*ev);
    } catch (...) {
      // A failing consumer must not take the scheduler down.
    }
  }
  events.clear();
}

void Scheduler::preempt(Req *r) {
  running_.erase(std::find(running_.begin(), running_.end(), r));
  blocks_.free(r->id);
  executor_.release(r->id);
  r->running = false;
  r->computed = 0;
  r->cachedPrefix = 0;
  waiting_.push_front(r); // it arrived before everything still waiting
  ++counters_.preemptions;
}

bool Scheduler::addChunk(Req *r, int32_t &budget, StepBatch &batch, std::vector<Chunk> &chunks) {
  int32_t remaining = (int32_t)r->tokens.size() - r->computed;
  int32_t n = std::min(remaining, budget);
  if (n <= 0)
    return false;
  // Copy-on-write of shared blocks this chunk writes into. Positions below
  // the shared prefix are only recomputed into an executor's private state.
  int32_t writeBegin = std::max(r->computed, r->cachedPrefix);
  if (!blocks_.prepareWrite(r->id, writeBegin, r->computed + n, &batch.copies))
    return false;
  StepSequence s;
  s.seq = r->id;
  s.tokens.assign(r->tokens.begin() + r->computed, r->tokens.begin() + r->computed + n);
  s.startPos = r->computed;
  s.blockTable = blocks_.blockTable(r->id);
  s.needsLogits = n == remaining;
  s.maxLength = r->maxLength;
  batch.seqs.push_back(std::move(s));
  chunks.push_back({r, n, n == remaining});
  budget -= n;
  return true;
}

bool Scheduler::step() {
  std::vector<StreamEvent> events;
  StepBatch batch;
  std::vector<Chunk> chunks;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (uint64_t id : cancels_)
      if (auto it = requests_.find(id); it != requests_.end())
        finish(it->second.get(), FinishReason::Cancelled, events);
    cancels_.clear();

    int32_t budget = config_.maxBatchTokens;
    // 1. One decode token for every running sequence with a token to feed
    //    back, oldest first. A missing block preempts the newest sequence.
    for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
      Req *r = running_[i];
      if (r->computed + 1 != (int32_t)r->tokens.size())
        continue; // still in prefill
      bool preempted = false;
      while (blocks_.numTokens(r->id) < (int32_t)r->tokens.size() &&
             !blocks_.appendSlot(r->id, r->tokens[blocks_.numTokens(r->id)])) {
        Req *victim = running_.back();
        if (victim == r && running_.size() == 1) {
          // Alone and still out of blocks: the budget cannot hold this sequence.
          finish(r, FinishReason::Length, events);
          preempted = true;
          break;
        }
        preempt(victim);
        if (victim == r) {
          preempted = true;
          break;
        }
      }
      if (!preempted)
        addChunk(r, budget, batch, chunks);
    }
    // 2. Prompt chunks of running sequences still in prefill.
    for (Req *r : running_)
      if (budget > 0 && r->computed + 1 < (int32_t)r->tokens.size())
        addChunk(r, budget, batch, chunks);
    // 3. Admission, strictly FCFS: stop at the first request that does not fit.
    int64_t reserve = std::max<int64_t>(1, blocks_.numBlocks() / 100);
    while (budget > 0 && !waiting_.empty() && (int32_t)running_.size() < config_.maxRunning) {
      Req *r = waiting_.front();
      int64_t need = blocks_.blocksNeeded(r->tokens);
      if (need + (running_.empty() ? 0 : reserve) > blocks_.numFreeBlocks())
        break;
      int32_t cached = 0;
      if (!blocks_.allocate(r->id, r->tokens, &cached))
        break;
      waiting_.pop_front();
      running_.push_back(r);
      r->running = true;
      r->cachedPrefix = cached;
      r->computed = executor_.usesBlocks() ? cached : 0;
      addChunk(r, budget, batch, chunks);
    }
    BlockStats bs = blocks_.stats();
    counters_.peakUsedBlocks = std::max(counters_.peakUsedBlocks, bs.usedBlocks);
    if (!batch.seqs.empty()) {
      ++counters_.steps;
      counters_.stepAllocatedSlots += bs.allocatedSlots;
      counters_.stepFilledSlots += bs.filledSlots;
      counters_.computedTokens += batch.numTokens();
    }
  }
  if (batch.seqs.empty()) {
    bool any = !events.empty();
    deliver(events);
    pollCv_.notify_all();
    return any;
  }

  StepResult result;
  std::string failure;
  try {
    executor_.step(batch, result);
  } catch (const std::exception &e) {
    failure = std::string("executor: ") + e.what();
  }
  int32_t vocab = model_.vocabSize();
  size_t needed = 0;
  for (const Chunk &c : chunks)
    needed += c.needsLogits;
  if (failure.empty() && result.logits.size() < needed * (size_t)vocab)
    failure = "executor returned " + std::to_string(result.logits.size()) + " logits, expected " +
              std::to_string(needed * (size_t)vocab);
  {
    std::lock_guard<std::mutex> l(mu_);
    std::unordered_map<SeqId, std::string> failed(result.failed.begin(), result.failed.end());
    size_t k = 0;
    for (const Chunk &c : chunks) {
      Req *r = c.req;
      const float *logits = c.needsLogits && failure.empty() ? &result.logits[k * vocab] : nullptr;
      k += c.needsLogits;
      if (!failure.empty() || failed.count(r->id)) {
        finish(r, FinishReason::Error, events, failure.empty() ? failed[r->id] : failure);
        continue;
      }
      if (r->done || !r->running)
        continue;
      r->computed += c.count;
      blocks_.markComputed(r->id, r->computed);
      if (logits && !r->cancelRequested)
        sampleNext(r, logits, events);
    }
  }
  deliver(events);
  pollCv_.notify_all();
  return true;
}

void Scheduler::sampleNext(Req *r, const float *logits, std::vector<StreamEvent> &events) {
  int32_t t = r->sampler->sample(logits, model_.vocabSize());
  auto now = Clock::now();
  if (r->generated == 0 && !r->sawToken)
    ttft_.observe(std::chrono::duration<double>(now - r->submitted).count());
  else
    tokenLatency_.observe(std::chrono::duration<double>(now - r->lastToken).count());
  r->sawToken = true;
  r->lastToken = now;
  if (!r->params.ignoreEos && model_.isEnd(t)) {
    finish(r, FinishReason::Stop, events);
    return;
  }
  ++r->generated;
  ++counters_.generatedTokens;
  r->tokens.push_back(t);
  if (r->text.append(model_.tokenText(t))) {
    emit(r, {t}, "", events);
    finish(r, FinishReason::Stop, events);
  } else if ((int32_t)r->tokens.size() >= r->maxLength) {
    emit(r, {t}, r->text.takeReady(), events);
    finish(r, FinishReason::Length, events);
  } else {
    emit(r, {t}, r->text.takeReady(), events);
  }
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  SchedulerStats s = counters_;
  s.waiting = (int64_t)waiting_.size();
  s.running = (int64_t)running_.size();
  s.blocks = blocks_.stats();
  s.ttftCount = ttft_.count();
  s.tokenLatencyCount = tokenLatency_.count();
  s.ttftP50 = ttft_.quantile(0.5);
  s.ttftP99 = ttft_.quantile(0.99);
  s.tokenLatencyP50 = tokenLatency_.quantile(0.5);
  s.tokenLatencyP99 = tokenLatency_.quantile(0.99);
  return s;
}

std::string Scheduler::prometheus() const {
  SchedulerStats s = stats();
  std::string out;
  char buf[512];
  auto metric = [&](const char *name, const char *type, const char *help, double v) {
    std::snprintf(buf, sizeof buf, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type,
                  name, v);
    out += buf;
  };
  metric("llmc_requests_waiting", "gauge", "Requests in the queue.", (double)s.waiting);
  metric("llmc_requests_running", "gauge", "Sequences in the running set.", (double)s.running);
  metric("llmc_kv_blocks_total", "gauge", "KV blocks in the memory budget.", (double)s.blocks.totalBlocks);
  metric("llmc_kv_blocks_used", "gauge", "KV blocks held by sequences.", (double)s.blocks.usedBlocks);
  metric("llmc_kv_blocks_used_peak", "gauge", "Most KV blocks held at once.", (double)s.peakUsedBlocks);
  metric("llmc_kv_blocks_shared", "gauge", "KV blocks held by more than one sequence.",
         (double)s.blocks.sharedBlocks);
  metric("llmc_kv_slots_allocated", "gauge", "Token slots in used KV blocks.",
         (double)s.blocks.allocatedSlots);
  metric("llmc_kv_slots_filled", "gauge", "Token slots holding a token.", (double)s.blocks.filledSlots);
  metric("llmc_kv_waste_ratio", "gauge", "Allocated KV slots not holding a token / allocated slots.",
         s.blocks.waste());
  metric("llmc_kv_step_slots_allocated_total", "counter",
         "Allocated KV slots summed over steps (time-averaged waste).", (double)s.stepAllocatedSlots);
  metric("llmc_kv_step_slots_filled_total", "counter", "Filled KV slots summed over steps.",
         (double)s.stepFilledSlots);
  metric("llmc_kv_prefix_hit_blocks_total", "counter", "KV blocks reused from another sequence.",
         (double)s.blocks.prefixHitBlocks);
  metric("llmc_kv_copy_on_write_total", "counter", "Shared KV blocks copied before a write.",
         (double)s.blocks.copyOnWrites);
  metric("llmc_requests_submitted_total", "counter", "Requests accepted.", (double)s.submitted);
  metric("llmc_requests_finished_total", "counter", "Requests finished (stop or length).", (double)s.finished);
  metric("llmc_requests_cancelled_total", "counter", "Requests cancelled.", (double)s.cancelled);
  metric("llmc_requests_rejected_total", "counter", "Requests refused at submit (queue full, too long, invalid).",
         (double)s.rejected);
  metric("llmc_requests_failed_total", "counter", "Requests ended by an executor error.", (double)s.failed);
  metric("llmc_preemptions_total", "counter", "Sequences preempted (freed, to be recomputed).",
         (double)s.preemptions);
  metric("llmc_steps_total", "counter", "Model steps run.", (double)s.steps);
  metric("llmc_prompt_tokens_total", "counter", "Prompt tokens accepted.", (double)s.promptTokens);
  metric("llmc_generation_tokens_total", "counter", "Tokens generated.", (double)s.generatedTokens);
  metric("llmc_computed_tokens_total", "counter", "Tokens run through the model (prefill, recompute, decode).",
         (double)s.computedTokens);
  std::lock_guard<std::mutex> l(mu_);
  out += ttft_.prometheus("llmc_time_to_first_token_seconds", "Time from submit to the first token.");
  out += tokenLatency_.prometheus("llmc_time_per_output_token_seconds",
                                  "Time between consecutive tokens of a request.");
  out += e2e_.prometheus("llmc_request_duration_seconds", "Time from submit to the end of a request.");
  return out;
}
