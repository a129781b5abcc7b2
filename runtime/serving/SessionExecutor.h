//===- SessionExecutor.h - the step executor over llmc sessions -*- C++ -*-===//
//
// What can run today: each running sequence gets its own llmc session (a
// contiguous KV cache), and a step appends each sequence's new tokens to its
// session one after the other. Sessions come from a pool and go back to it
// when a sequence finishes or is preempted.
//
// The block tables of the batch are not used: prefix sharing and
// copy-on-write are bookkeeping only at this level (every session computes
// its whole prompt), and the KV budget limits admission, while the physical
// memory is the sessions' capacity. Both become physical with the paged
// executor, where one compiled step reads KV through the block tables.
//
// With `threads` > 1 the sequences of a step are split over that many
// threads (the calling one included), each running its sessions one after
// the other: sessions are independent objects, so this is safe, and for
// small models it uses the cores better than parallel kernels inside one
// tiny step (run with LLMC_NUM_THREADS = cores / threads then).
//
// Used by the scheduler thread only.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_SERVING_SESSIONEXECUTOR_H
#define LLMC_SERVING_SESSIONEXECUTOR_H

#include "StepExecutor.h"

#include "llmc/llmc_loader.h"

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace llmc::serving {

class SessionExecutor : public StepExecutor {
public:
  /// Sessions hold at most `maxContext` tokens; up to `maxIdle` idle sessions
  /// are kept for reuse. `api` and `model` must outlive the executor.
  SessionExecutor(const llmc_api &api, llmc_model *model, int32_t maxContext, int32_t maxIdle = 16,
                  int32_t threads = 1);
  ~SessionExecutor() override;

  int32_t vocabSize() const override { return vocab_; }
  void step(const StepBatch &batch, StepResult &result) override;
  void release(SeqId seq) override;

  size_t activeSessions() const { return active_.size(); }
  size_t idleSessions() const { return idle_.size(); }

private:
  struct Session {
    llmc_session *session = nullptr;
    int32_t capacity = 0;
  };
  /// A reset session of at least `tokens` capacity (pool or new); null on failure.
  Session acquire(int32_t tokens, std::string *error);
  /// Runs work(i) for i in [0, n) on the worker threads and this one.
  void forEachThread(int n, const std::function<void(int)> &work);
  void workerLoop(int index);

  llmc_api api_;
  llmc_model *model_;
  int32_t maxContext_, maxIdle_, vocab_;
  std::unordered_map<SeqId, Session> active_;
  std::vector<Session> idle_;

  // Fork-join workers (threads - 1 of them).
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable startCv_, doneCv_;
  const std::function<void(int)> *work_ = nullptr;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
};

} // namespace llmc::serving

#endif
