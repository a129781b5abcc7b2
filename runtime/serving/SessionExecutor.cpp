//===- SessionExecutor.cpp - the step executor over llmc sessions ---------===//
#include "SessionExecutor.h"

#include <algorithm>
#include <cstring>
#include <string>

using namespace llmc::serving;

SessionExecutor::SessionExecutor(const llmc_api &api, llmc_model *model, int32_t maxContext,
                                 int32_t maxIdle, int32_t threads)
    : api_(api), model_(model), maxContext_(maxContext), maxIdle_(maxIdle),
      vocab_(api.model_vocab_size(model)) {
  for (int i = 1; i < threads; ++i)
    workers_.emplace_back([this, i] { workerLoop(i); });
}

SessionExecutor::~SessionExecutor() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  startCv_.notify_all();
  for (auto &t : workers_)
    t.join();
  for (auto &[id, s] : active_)
    api_.session_destroy(s.session);
  for (auto &s : idle_)
    api_.session_destroy(s.session);
}

void SessionExecutor::workerLoop(int index) {
  uint64_t seen = 0;
  while (true) {
    const std::function<void(int)> *work;
    {
      std::unique_lock<std::mutex> l(mu_);
      startCv_.wait(l, [&] { return stop_ || generation_ != seen; });
      if (stop_)
        return;
      seen = generation_;
      work = work_;
    }
    (*work)(index);
    {
      std::lock_guard<std::mutex> l(mu_);
      --pending_;
    }
    doneCv_.notify_one();
  }
}

void SessionExecutor::forEachThread(int n, const std::function<void(int)> &work) {
  {
    std::lock_guard<std::mutex> l(mu_);
    work_ = &work;
    pending_ = n - 1;
    ++generation_;
  }
  startCv_.notify_all();
  work(0);
  std::unique_lock<std::mutex> l(mu_);
  doneCv_.wait(l, [&] { return pending_ == 0; });
}

SessionExecutor::Session SessionExecutor::acquire(int32_t tokens, std::string *error) {
  // The smallest idle session that is big enough.
  auto best = idle_.end();
  for (auto it = idle_.begin(); it != idle_.end(); ++it)
    if (it->capacity >= tokens && (best == idle_.end() || it->capacity < best->capacity))
      best = it;
  if (best != idle_.end()) {
    Session s = *best;
    idle_.erase(best);
    api_.session_reset(s.session);
    return s;
  }
  // Capacity in steps of 256 tokens so sessions are reusable across requests.
  Session s;
  s.capacity = std::min(maxContext_, (tokens + 255) / 256 * 256);
  if (api_.session_create(model_, s.capacity, &s.session) != LLMC_OK) {
    *error = std::string("cannot create a session: ") + api_.last_error();
    return Session();
  }
  return s;
}

void SessionExecutor::step(const StepBatch &batch, StepResult &result) {
  result.logits.clear();
  result.failed.clear();
  size_t n = batch.seqs.size(), withLogits = 0;
  for (const auto &s : batch.seqs)
    withLogits += s.needsLogits;
  result.logits.assign(withLogits * (size_t)vocab_, 0.f);

  // 1. On this thread: find or make each sequence's session and check it.
  std::vector<llmc_session *> sessions(n, nullptr);
  std::vector<float *> outs(n, nullptr);
  std::vector<std::string> errors(n);
  size_t k = 0;
  for (size_t i = 0; i < n; ++i) {
    const StepSequence &s = batch.seqs[i];
    if (s.needsLogits)
      outs[i] = &result.logits[k++ * (size_t)vocab_];
    int32_t end = s.startPos + (int32_t)s.tokens.size();
    if (end > maxContext_) {
      errors[i] = "the sequence would exceed the context of " + std::to_string(maxContext_) + " tokens";
      continue;
    }
    auto it = active_.find(s.seq);
    if (it == active_.end()) {
      Session fresh = acquire(std::max(end, std::min(s.maxLength, maxContext_)), &errors[i]);
      if (!fresh.session)
        continue;
      it = active_.emplace(s.seq, fresh).first;
    }
    int32_t length = api_.session_length(it->second.session);
    if (length != s.startPos)
      errors[i] = "executor: sequence state at " + std::to_string(length) +
                  " tokens, the step starts at " + std::to_string(s.startPos);
    else if (end > it->second.capacity)
      errors[i] = "executor: the sequence outgrew its session (" +
                  std::to_string(it->second.capacity) + " tokens)";
    else
      sessions[i] = it->second.session;
  }

  // 2. Run the sessions, split over the threads by token count.
  auto run = [&](size_t i) {
    const StepSequence &s = batch.seqs[i];
    if (!sessions[i])
      return;
    if (api_.session_append(sessions[i], s.tokens.data(), s.tokens.size()) != LLMC_OK)
      errors[i] = api_.last_error(); // per thread in the library
    else if (outs[i])
      std::memcpy(outs[i], api_.session_logits(sessions[i]), sizeof(float) * (size_t)vocab_);
  };
  int threads = std::min<int>((int)workers_.size() + 1, (int)n);
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i)
      run(i);
  } else {
    // Longest first onto the least loaded thread.
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i)
      order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return batch.seqs[a].tokens.size() > batch.seqs[b].tokens.size();
    });
    std::vector<std::vector<size_t>> parts(threads);
    std::vector<size_t> load(threads, 0);
    for (size_t i : order) {
      int t = (int)(std::min_element(load.begin(), load.end()) - load.begin());
      parts[t].push_back(i);
      load[t] += batch.seqs[i].tokens.size();
    }
    std::function<void(int)> work = [&](int t) {
      if (t < threads)
        for (size_t i : parts[t])
          run(i);
    };
    forEachThread((int)workers_.size() + 1, work);
  }

  for (size_t i = 0; i < n; ++i)
    if (!errors[i].empty())
      result.failed.emplace_back(batch.seqs[i].seq, std::move(errors[i]));
}

void SessionExecutor::release(SeqId seq) {
  auto it = active_.find(seq);
  if (it == active_.end())
    return;
  Session s = it->second;
  active_.erase(it);
  if ((int32_t)idle_.size() < maxIdle_) {
    idle_.push_back(s);
  } else {
    api_.session_destroy(s.session);
  }
}
