//===- SchedulerTest.cpp - continuous batching against a toy model --------===//
//
// Outputs are compared with referenceGenerate() (Fakes.h), a plain loop over
// the toy model, never with another run of the scheduler.
//
//===----------------------------------------------------------------------===//
#include "Fakes.h"
#include "Scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

using namespace llmc::serving;
using namespace llmc::serving::test;
using namespace std::chrono_literals;

namespace {

std::vector<int32_t> prompt(int32_t n, int32_t seed) {
  std::vector<int32_t> p;
  for (int32_t i = 0; i < n; ++i)
    p.push_back(1 + (seed * 7 + i * 13) % (kVocab - 1));
  return p;
}

SamplingParams greedy(int32_t maxTokens) {
  SamplingParams p;
  p.maxTokens = maxTokens;
  return p;
}

/// Everything a request delivered through its callback.
struct Collected {
  std::mutex mu;
  std::map<uint64_t, std::vector<int32_t>> tokens;
  std::map<uint64_t, std::string> text;
  std::map<uint64_t, FinishReason> finish;
  std::map<uint64_t, int> finalEvents;
  std::map<uint64_t, int> eventsAfterFinal;

  StreamCallback callback() {
    return [this](const StreamEvent &ev) {
      std::lock_guard<std::mutex> l(mu);
      if (finalEvents[ev.id])
        ++eventsAfterFinal[ev.id];
      auto &t = tokens[ev.id];
      t.insert(t.end(), ev.tokens.begin(), ev.tokens.end());
      text[ev.id] += ev.text;
      if (ev.finish != FinishReason::None) {
        finish[ev.id] = ev.finish;
        ++finalEvents[ev.id];
      }
    };
  }
};

/// Steps until nothing is left to run (tests that do not start the thread).
int runToCompletion(Scheduler &s, int maxSteps = 100000) {
  int steps = 0;
  while (steps < maxSteps && s.step())
    ++steps;
  return steps;
}

} // namespace

TEST(Scheduler, GreedyOutputMatchesReference) {
  FakeModel model;
  FakeExecutor exec(FakeExecutor::Mode::Session);
  SchedulerConfig cfg;
  Scheduler s(cfg, exec, model);
  Collected c;
  auto p = prompt(12, 1);
  SubmitResult r = s.submit(p, greedy(40), c.callback());
  ASSERT_EQ(r.status, SubmitStatus::Ok);
  runToCompletion(s);
  EXPECT_EQ(c.tokens[r.id], referenceGenerate(p, greedy(40), cfg.maxContext));
  EXPECT_EQ(c.text[r.id], referenceText(c.tokens[r.id]));
  EXPECT_EQ(c.finish[r.id], FinishReason::Length);
  EXPECT_EQ(c.finalEvents[r.id], 1);
  EXPECT_TRUE(exec.errors_.empty());
  EXPECT_EQ(s.stats().blocks.usedBlocks, 0);
}

TEST(Scheduler, SampledOutputMatchesReferenceWithSameSeed) {
  FakeModel model;
  FakeExecutor exec(FakeExecutor::Mode::Session);
  Scheduler s(SchedulerConfig(), exec, model);
  Collected c;
  SamplingParams sp = greedy(30);
  sp.temperature = 0.9f;
  sp.topK = 10;
  sp.topP = 0.95f;
  sp.seed = 1234;
  auto p = prompt(5, 3);
  uint64_t id = s.submit(p, sp, c.callback()).id;
  runToCompletion(s);
  EXPECT_EQ(c.tokens[id], referenceGenerate(p, sp, 2048));
}

TEST(Scheduler, ChunkedPrefillStaysUnderTheTokenBudget) {
  FakeModel model;
  FakeExecutor exec(FakeExecutor::Mode::Session);
  SchedulerConfig cfg;
  cfg.maxBatchTokens = 8;
  Scheduler s(cfg, exec, model);
  Collected c;
  // Two short requests decode while a 30-token prompt is prefilled in chunks.
  uint64_t a = s.submit(prompt(3, 1), greedy(20), c.callback()).id;
  uint64_t b = s.submit(prompt(3, 2), greedy(20), c.callback()).id;
  uint64_t longId = s.submit(prompt(30, 3), greedy(5), c.callback()).id;
  runToCompletion(s);
  for (int64_t n : exec.batchTokens_)
    EXPECT_LE(n, 8);
  const auto &chunks = exec.chunks_[longId];
  ASSERT_GE(chunks.size(), 4u + 4u); // >= 4 prompt chunks + 4 decode steps
  int32_t prefilled = 0;
  size_t i = 0;
  for (; prefilled < 30; ++i)
    prefilled += chunks[i];
  EXPECT_EQ(prefilled, 30);
  EXPECT_GE(i, 4u) << "the 30-token prompt must be split over several steps";
  EXPECT_EQ(c.tokens[a], referenceGenerate(prompt(3, 1), greedy(20), 2048));
  EXPECT_EQ(c.tokens[b], referenceGenerate(prompt(3, 2), greedy(20), 2048));
  EXPECT_EQ(c.tokens[longId], referenceGenerate(prompt(30, 3), greedy(5), 2048));
  EXPECT_TRUE(exec.errors_.empty());
}

TEST(Scheduler, EveryRunningSequenceDecodesEachStep) {
  FakeModel model;
  FakeExecutor exec(FakeExecutor::Mode::Session);
  Scheduler s(SchedulerConfig(), exec, model);
  Collected c;
  for (int i = 0; i < 5; ++i)
    s.submit(prompt(4, i), greedy(10), c.callback());
  runToCompletion(s);
  // Step 1 prefills all five prompts; the next nine decode all five at once.
  ASSERT_GE(exec.batchSeqs_.size(), 10u);
  for (size_t i = 0; i < 10; ++i)
    EXPECT_EQ(exec.batchSeqs_[i], 5) << "step " << i;
  EXPECT_EQ(exec.batchTokens_[0], 20);
  EXPECT_EQ(exec.batchTokens_[1], 5);
}

// Blocks run out: the newest sequences are preempted, recomputed later, and
// every output still equals the reference (greedy and sampled).
class PreemptionTest : public ::testing::TestWithParam<FakeExecutor::Mode> {};

TEST_P(PreemptionTest, RecomputeGivesTheSameTokens) {
  FakeModel model;
  SchedulerConfig cfg;
  cfg.blockSize = 4;
  cfg.numBlocks = 24; // 96 token slots for 6 sequences of up to 8 + 40 tokens
  FakeExecutor exec(GetParam(), cfg.blockSize, cfg.numBlocks);
  Scheduler s(cfg, exec, model);
  Collected c;
  std::map<uint64_t, std::vector<int32_t>> expected;
  for (int i = 0; i < 6; ++i) {
    SamplingParams sp = greedy(40);
    if (i % 2) {
      sp.temperature = 0.8f;
      sp.seed = 77 + i;
    }
    auto p = prompt(8, i);
    uint64_t id = s.submit(p, sp, c.callback()).id;
    expected[id] = referenceGenerate(p, sp, cfg.maxContext);
  }
  runToCompletion(s);
  SchedulerStats st = s.stats();
  EXPECT_GT(st.preemptions, 0) << "the budget was meant to run out";
  EXPECT_LE(st.peakUsedBlocks, cfg.numBlocks);
  for (auto &[id, want] : expected) {
    EXPECT_EQ(c.tokens[id], want) << "request " << id;
    EXPECT_EQ(c.finish[id], FinishReason::Length);
    EXPECT_EQ(c.finalEvents[id], 1);
  }
  EXPECT_TRUE(exec.errors_.empty()) << exec.errors_.front();
  EXPECT_EQ(st.blocks.usedBlocks, 0);
}

INSTANTIATE_TEST_SUITE_P(Executors, PreemptionTest,
                         ::testing::Values(FakeExecutor::Mode::Session, FakeExecutor::Mode::Paged),
                         [](const auto &info) {
                           return info.param == FakeExecutor::Mode::Session ? "Session" : "Paged";
                         });

TEST(Scheduler, BudgetTooSmallForOneSequenceEndsItWithLength) {
  FakeModel model;
  FakeExecutor exec(FakeExecutor::Mode::Session);
  SchedulerConfig cfg;
  cfg.blockSize = 4;
  cfg.numBlocks = 3; // 12 tokens at most
  Scheduler s(cfg, exec, model);
  Collected c;
  uint64_t id = s.submit(prompt(6, 1), greedy(100), c.callback()).id;
  runToCompletion(s);
  EXPECT_EQ(c.finish[id], FinishReason::Length);
  // Tokens 7..12 fit; sampling the 7th generated token needs a 13th slot.
  auto want = referenceGenerate(prompt(6, 1), greedy(100), 2048);
  want.resize(7);
  EXPECT_EQ(c.tokens[id], want);
}

TEST(Scheduler, PrefixSharingSkipsSharedBlocksInPagedMode) {
  FakeModel model;
  SchedulerConfig cfg;
  cfg.blockSize = 4;
  cfg.numBlocks = 64;
  FakeExecutor exec(FakeExecutor::Mode::Paged, cfg.blockSize, cfg.numBlocks);
  Scheduler s(cfg, exec, model);
  Collected c;
  auto system = prompt(16, 9); // a shared 16-token "system prompt" (4 blocks)
  auto p1 = system, p2 = system, p3 = system;
  p1.push_back(3);
  p2.push_back(5);
  uint64_t id1 = s.submit(p1, greedy(8), c.callback()).id;
  s.step(); // computes p1's prompt, registering its full blocks
  uint64_t id2 = s.submit(p2, greedy(8), c.callback()).id;
  uint64_t id3 = s.submit(p3, greedy(8), c.callback()).id; // identical to the shared blocks
  runToCompletion(s);
  EXPECT_EQ(c.tokens[id1], referenceGenerate(p1, greedy(8), 2048));
  EXPECT_EQ(c.tokens[id2], referenceGenerate(p2, greedy(8), 2048));
  EXPECT_EQ(c.tokens[id3], referenceGenerate(p3, greedy(8), 2048));
  EXPECT_EQ(exec.chunks_[id2].front(), 1) << "only the unshared prompt token is computed";
  EXPECT_EQ(exec.chunks_[id3].front(), 1) << "the last prompt token is recomputed";
  BlockStats st = s.stats().blocks;
  EXPECT_EQ(st.prefixHitBlocks, 8);
  EXPECT_EQ(st.copyOnWrites, 1); // p3 writes its last token into a shared block
  EXPECT_EQ(exec.copies_, 1);
  EXPECT_TRUE(exec.errors_.empty());
}

TEST(Scheduler, SessionModeRecomputesSharedPrefixes) {
  // Sharing is bookkeeping only for session executors: every token is run.
  FakeModel model;
  FakeExecutor exec(FakeExecutor::Mode::Session);
  SchedulerConfig cfg;
  cfg.blockSize = 4;
  Scheduler s(cfg, exec, model);
  Collected c;
  auto p = prompt(16, 9);
  uint64_t id1 = s.submit(p, greedy(4), c.callback()).id;
  s.step();
  uint64_t id2 = s.submit(p, greedy(4), c.callback()).id;
  runToCompletion(s);
  EXPECT_EQ(exec.chunks_[id2].front(), 16);
  EXPECT_EQ(s.stats().blocks.prefixHitBlocks, 4);
  EXPECT_EQ(c.tokens[id1], c.tokens[id2]);
  EXPECT_EQ(c.tokens[id2], referenceGenerate(p, greedy(4), 2048));
}

TEST(Scheduler, CancelWaitingAndRunning) {
  FakeModel model;
  FakeExecutor exec(FakeExecutor::Mode::Session);
  SchedulerConfig cfg;
  cfg.maxRunning = 1;
  Scheduler s(cfg, exec, model);
  Collected c;
  uint64_t running = s.submit(prompt(4, 1), greedy(50), c.callback()).id;
  uint64_t waiting = s.submit(prompt(4, 2), greedy(50), c.callback()).id;
  s.step();
  s.step();
  EXPECT_TRUE(s.cancel(waiting));
  EXPECT_TRUE(s.cancel(running));
  EXPECT_TRUE(s.cancel(running)); // idempotent while pending
  runToCompletion(s);
  EXPECT_EQ(c.finish[running], FinishReason::Cancelled);
  EXPECT_EQ(c.finish[waiting], FinishReason::Cancelled);
  EXPECT_EQ(c.tokens[waiting].size(), 0u);
  EXPECT_EQ(c.tokens[running].size(), 2u);
  EXPECT_TRUE(exec.chunks_.count(waiting) == 0) << "a cancelled waiting request never runs";
  EXPECT_EQ(c.finalEvents[running], 1);
  EXPECT_EQ(c.eventsAfterFinal[running], 0);
  EXPECT_FALSE(s.cancel(running)); // finished: unknown now
  EXPECT_FALSE(s.cancel(12345));
  SchedulerStats st = s.stats();
  EXPECT_EQ(st.cancelled, 2);
  EXPECT_EQ(st.blocks.usedBlocks, 0);
  EXPECT_EQ(st.running + st.waiting, 0);
}

TEST(Scheduler, StopStringsEndOutputBeforeTheMatch) {
  FakeModel model;
  auto p = prompt(6, 4);
  auto ref = referenceGenerate(p, greedy(60), 2048);
  std::string refText = referenceText(ref);
  ASSERT_GE(refText.size(), 30u);
  // A stop string spanning several tokens, taken from the reference text.
  std::string stop = refText.substr(14, 4);
  size_t at = refText.find(stop);
  for (bool streamed : {true, false}) {
    FakeExecutor exec(FakeExecutor::Mode::Session);
    Scheduler s(SchedulerConfig(), exec, model);
    SamplingParams sp = greedy(60);
    sp.stop = {"no such text", stop};
    std::string text;
    FinishReason finish = FinishReason::None;
    if (streamed) {
      Collected c;
      uint64_t id = s.submit(p, sp, c.callback()).id;
      runToCompletion(s);
      text = c.text[id];
      finish = c.finish[id];
    } else {
      uint64_t id = s.submit(p, sp).id;
      runToCompletion(s);
      StreamEvent ev;
      ASSERT_TRUE(s.poll(id, 0ms, &ev));
      text = ev.text;
      finish = ev.finish;
      EXPECT_FALSE(s.poll(id, 0ms, &ev)) << "a fully polled request is forgotten";
    }
    EXPECT_EQ(text, refText.substr(0, at)) << "stop " << stop;
    EXPECT_EQ(finish, FinishReason::Stop);
  }
}

TEST(Scheduler, EndTokenStopsWithoutBeingReturned) {
  FakeModel model;
  FakeExecutor exec(FakeExecutor::Mode::Session, 16, 0, /*eosAt=*/10);
  Scheduler s(SchedulerConfig(), exec, model);
  Collected c;
  auto p = prompt(4, 1);
  uint64_t id = s.submit(p, greedy(100), c.callback()).id;
  runToCompletion(s);
  EXPECT_EQ(c.finish[id], FinishReason::Stop);
  EXPECT_EQ(c.tokens[id], referenceGenerate(p, greedy(100), 2048, 10));
  EXPECT_EQ(c.tokens[id].size(), 6u);
  EXPECT_EQ(c.text[id].find("</s>"), std::string::npos);
}

TEST(Scheduler, RefusesWhenQueueFullOrPromptTooLong) {
  FakeModel model;
  FakeExecutor exec(FakeExecutor::Mode::Session);
  SchedulerConfig cfg;
  cfg.queueLimit = 2;
  cfg.maxContext = 64;
  cfg.blockSize = 4;
  cfg.numBlocks = 8;
  Scheduler s(cfg, exec, model); // not started: nothing leaves the queue
  EXPECT_EQ(s.submit(prompt(4, 1), greedy(4)).status, SubmitStatus::Ok);
  EXPECT_EQ(s.submit(prompt(4, 2), greedy(4)).status, SubmitStatus::Ok);
  SubmitResult full = s.submit(prompt(4, 3), greedy(4));
  EXPECT_EQ(full.status, SubmitStatus::QueueFull);
  EXPECT_NE(full.error.find("queue is full"), std::string::npos);
  EXPECT_EQ(s.submit(prompt(64, 1), greedy(4)).status, SubmitStatus::PromptTooLong);
  EXPECT_EQ(s.submit(prompt(40, 1), greedy(4)).status, SubmitStatus::PromptTooLong); // > 32 KV slots
  EXPECT_EQ(s.submit({}, greedy(4)).status, SubmitStatus::Invalid);
  EXPECT_EQ(s.submit({kVocab}, greedy(4)).status, SubmitStatus::Invalid);
  // NaN sampling parameters: rejected with a message, not sampled from.
  SamplingParams nanTemp = greedy(4), nanTopP = greedy(4);
  nanTemp.temperature = std::nanf("");
  nanTopP.temperature = 0.8f;
  nanTopP.topP = std::nanf("");
  SubmitResult badTemp = s.submit(prompt(4, 4), nanTemp), badTopP = s.submit(prompt(4, 4), nanTopP);
  EXPECT_EQ(badTemp.status, SubmitStatus::Invalid);
  EXPECT_NE(badTemp.error.find("temperature is NaN"), std::string::npos);
  EXPECT_EQ(badTopP.status, SubmitStatus::Invalid);
  EXPECT_NE(badTopP.error.find("top_p is NaN"), std::string::npos);
  EXPECT_EQ(s.stats().rejected, 7);
  EXPECT_EQ(s.stats().waiting, 2);
}

TEST(Scheduler, PollCollectsStreamedOutput) {
  FakeModel model;
  FakeExecutor exec(FakeExecutor::Mode::Session);
  Scheduler s(SchedulerConfig(), exec, model);
  s.start();
  auto p = prompt(7, 2);
  uint64_t id = s.submit(p, greedy(25)).id;
  std::vector<int32_t> got;
  std::string text;
  StreamEvent ev;
  do {
    ASSERT_TRUE(s.poll(id, 2000ms, &ev));
    got.insert(got.end(), ev.tokens.begin(), ev.tokens.end());
    text += ev.text;
  } while (ev.finish == FinishReason::None);
  EXPECT_EQ(got, referenceGenerate(p, greedy(25), 2048));
  EXPECT_EQ(text, referenceText(got));
  EXPECT_EQ(ev.completionTokens, 25);
  EXPECT_EQ(ev.promptTokens, 7);
  s.stop();
}

TEST(Scheduler, ConcurrentSubmittersLoseAndDuplicateNothing) {
  FakeModel model;
  SchedulerConfig cfg;
  cfg.blockSize = 4;
  cfg.numBlocks = 40; // tight: preemptions happen under this load
  cfg.maxBatchTokens = 32;
  cfg.queueLimit = 1000;
  FakeExecutor exec(FakeExecutor::Mode::Paged, cfg.blockSize, cfg.numBlocks);
  Scheduler s(cfg, exec, model);
  s.start();
  Collected c;
  constexpr int kThreads = 8, kPerThread = 40;
  std::mutex mu;
  std::map<uint64_t, std::vector<int32_t>> expected;
  std::set<uint64_t> cancelled, polled;
  std::map<uint64_t, std::vector<int32_t>> pollTokens;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        int k = t * kPerThread + i;
        auto p = prompt(2 + k % 11, k);
        SamplingParams sp = greedy(3 + k % 17);
        bool usePoll = k % 5 == 0;
        SubmitResult r = s.submit(p, sp, usePoll ? nullptr : c.callback());
        ASSERT_EQ(r.status, SubmitStatus::Ok) << r.error;
        {
          std::lock_guard<std::mutex> l(mu);
          ASSERT_TRUE(expected.emplace(r.id, referenceGenerate(p, sp, 2048)).second)
              << "duplicate id " << r.id;
        }
        if (k % 7 == 3 && s.cancel(r.id)) {
          std::lock_guard<std::mutex> l(mu);
          cancelled.insert(r.id);
        }
        if (usePoll) {
          StreamEvent ev;
          std::vector<int32_t> got;
          do {
            ASSERT_TRUE(s.poll(r.id, 5000ms, &ev));
            got.insert(got.end(), ev.tokens.begin(), ev.tokens.end());
          } while (ev.finish == FinishReason::None);
          std::lock_guard<std::mutex> l(mu);
          polled.insert(r.id);
          pollTokens[r.id] = got;
          if (ev.finish != FinishReason::Cancelled)
            EXPECT_EQ(got, expected[r.id]) << "request " << r.id;
        }
      }
    });
  for (auto &t : threads)
    t.join();
  // Wait for the callback requests to drain.
  for (int i = 0; i < 1000 && s.stats().finished + s.stats().cancelled < kThreads * kPerThread; ++i)
    std::this_thread::sleep_for(10ms);
  s.stop();
  ASSERT_EQ(expected.size(), (size_t)kThreads * kPerThread);
  SchedulerStats st = s.stats();
  EXPECT_EQ(st.finished + st.cancelled, kThreads * kPerThread);
  EXPECT_EQ(st.failed, 0);
  EXPECT_GT(st.preemptions, 0) << "the block budget was meant to run out";
  EXPECT_FALSE(cancelled.empty());
  std::printf("concurrent: %lld preemptions, %zu cancelled, %lld steps\n", (long long)st.preemptions,
              cancelled.size(), (long long)st.steps);
  std::lock_guard<std::mutex> l(c.mu);
  for (auto &[id, want] : expected) {
    if (polled.count(id))
      continue;
    ASSERT_EQ(c.finalEvents[id], 1) << "request " << id << " lost or finished twice";
    EXPECT_EQ(c.eventsAfterFinal[id], 0);
    if (c.finish[id] == FinishReason::Cancelled) {
      EXPECT_TRUE(cancelled.count(id));
      // A cancelled request's output is a prefix of the reference.
      auto &got = c.tokens[id];
      EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin())) << "request " << id;
    } else {
      EXPECT_EQ(c.tokens[id], want) << "request " << id;
    }
  }
  EXPECT_TRUE(exec.errors_.empty());
  EXPECT_EQ(st.blocks.usedBlocks, 0);
}

TEST(Scheduler, StopCancelsEverythingLeft) {
  FakeModel model;
  FakeExecutor exec(FakeExecutor::Mode::Session);
  auto s = std::make_unique<Scheduler>(SchedulerConfig(), exec, model);
  Collected c;
  uint64_t a = s->submit(prompt(3, 1), greedy(0), c.callback()).id; // unbounded
  uint64_t b = s->submit(prompt(3, 2), greedy(0)).id;
  s->step();
  s->stop();
  EXPECT_EQ(c.finish[a], FinishReason::Cancelled);
  StreamEvent ev;
  ASSERT_TRUE(s->poll(b, 0ms, &ev));
  EXPECT_EQ(ev.finish, FinishReason::Cancelled);
  EXPECT_EQ(s->submit(prompt(3, 3), greedy(4)).status, SubmitStatus::ShutDown);
}

TEST(Scheduler, PrometheusMetrics) {
  FakeModel model;
  FakeExecutor exec(FakeExecutor::Mode::Session);
  Scheduler s(SchedulerConfig(), exec, model);
  Collected c;
  for (int i = 0; i < 3; ++i)
    s.submit(prompt(5, i), greedy(6), c.callback());
  runToCompletion(s);
  std::string m = s.prometheus();
  for (const char *name :
       {"llmc_requests_waiting 0", "llmc_requests_running 0", "llmc_kv_blocks_used 0",
        "# TYPE llmc_time_to_first_token_seconds histogram",
        "llmc_time_to_first_token_seconds_count 3",
        "llmc_time_per_output_token_seconds_count 15", // 5 gaps in each of 3 requests
        "llmc_time_per_output_token_seconds_bucket{le=\"+Inf\"} 15",
        "llmc_generation_tokens_total 18", "llmc_requests_finished_total 3"})
    EXPECT_NE(m.find(name), std::string::npos) << name << "\n" << m;
}
