//===- PerplexityCommand.cpp - `llmc perplexity`: llama.cpp's method -------===//
//
// Perplexity of a compiled causal LM on a text file, computed the way
// llama.cpp's `llama-perplexity` does (tools/perplexity/perplexity.cpp,
// function `perplexity`), so the numbers can be compared with it:
//
//   * the whole file (one trailing '\n' dropped, as `-f` does) is tokenized,
//     with BOS in front when the tokenizer adds BOS by default;
//   * it is cut into floor(tokens / ctx) chunks of ctx tokens (--chunks caps
//     the count); each chunk starts from an empty KV cache, positions 0..ctx-1,
//     and its first token is replaced by BOS when the tokenizer adds BOS;
//   * only the second half is scored: the logits at positions
//     first = ctx/2 .. ctx-2 predict tokens first+1 .. ctx-1 (ctx-1-first
//     tokens per chunk), each with log-softmax accumulated in double;
//   * PPL = exp(mean NLL); the error is llama.cpp's: PPL * sqrt(var(NLL) /
//     (count - 1)).
//
// docs/Perplexity.md documents the method and how it differs from llama.cpp.
//
//===----------------------------------------------------------------------===//
#include "Commands.h"

#include "llmc/llmc_loader.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace llvm;

namespace llmc::tool {

cl::SubCommand perplexityCmd("perplexity",
                             "Perplexity of a compiled model on a text file (llama.cpp's method)");

namespace {
cl::OptionCategory cat("llmc perplexity options");
cl::opt<std::string> library(cl::Positional, cl::desc("<model.so>"), cl::Required,
                             cl::sub(perplexityCmd));
cl::opt<std::string> textFile("text", cl::desc("Text file to score (e.g. wiki.test.raw)"),
                              cl::value_desc("file"), cl::Required, cl::sub(perplexityCmd),
                              cl::cat(cat));
cl::opt<int> ctxSize("ctx", cl::desc("Tokens per chunk (default 512)"), cl::init(512),
                     cl::sub(perplexityCmd), cl::cat(cat));
cl::opt<int> maxChunks("chunks", cl::desc("Score at most N chunks (default: all)"), cl::init(-1),
                       cl::sub(perplexityCmd), cl::cat(cat));
cl::opt<int> batchSize("batch",
                       cl::desc("Tokens per model call; chunks longer than this are fed in "
                                "pieces (default: --ctx)"),
                       cl::init(0), cl::sub(perplexityCmd), cl::cat(cat));
// Tests the path for libraries without all-position logits on any library.
cl::opt<bool> lastLogitsOnly("last-logits-only",
                             cl::desc("Use only last-position logits (token-by-token scoring)"),
                             cl::Hidden, cl::sub(perplexityCmd), cl::cat(cat));
cl::opt<bool> jsonOut("json",
                      cl::desc("Print the result as JSON on stdout (progress goes to stderr)"),
                      cl::sub(perplexityCmd), cl::cat(cat));

// Newer C API entry points, looked up by hand: llmc_load() requires every
// symbol it knows, and libraries built before these existed should still load.
using LogitsAllFn = const float *(*)(const llmc_session *, size_t *);
using AddBosFn = int (*)(const llmc_model *);

template <typename Fn> Fn optionalSymbol(const llmc_api &api, const char *name) {
  Fn f = nullptr;
  *(void **)(&f) = dlsym(api.handle, name);
  return f;
}

int fail(const Twine &msg, int code = 1) {
  errs() << "llmc perplexity: " << msg << "\n";
  return code;
}

/// -log p(tok | logits) like llama.cpp's log_softmax: max in float, the sum of
/// exp(logit - max) in double.
double negLogProb(const float *logits, int32_t vocab, int32_t tok) {
  float maxLogit = logits[0];
  for (int32_t i = 1; i < vocab; ++i)
    maxLogit = std::max(maxLogit, logits[i]);
  double sumExp = 0.0;
  for (int32_t i = 0; i < vocab; ++i)
    sumExp += std::exp(logits[i] - maxLogit);
  return -(double(logits[tok]) - maxLogit - std::log(sumExp));
}

/// Sums of NLL and NLL^2 over `rows` rows of logits; row j predicts targets[j].
/// Rows are independent, so they are split over threads.
void scoreRows(const float *logits, const int32_t *targets, int rows, int32_t vocab,
               int threads, double &nll, double &nll2) {
  threads = std::max(1, std::min(threads, rows));
  std::vector<double> s1(threads, 0.0), s2(threads, 0.0);
  auto work = [&](int t) {
    for (int j = t; j < rows; j += threads) {
      double v = negLogProb(logits + size_t(j) * vocab, vocab, targets[j]);
      s1[t] += v;
      s2[t] += v * v;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t)
    pool.emplace_back(work, t);
  work(0);
  for (auto &th : pool)
    th.join();
  for (int t = 0; t < threads; ++t) {
    nll += s1[t];
    nll2 += s2[t];
  }
}

/// The model's trained context, if the manifest records one.
std::optional<int64_t> manifestContext(const char *manifest) {
  auto parsed = json::parse(manifest);
  if (!parsed) {
    consumeError(parsed.takeError());
    return std::nullopt;
  }
  if (const json::Object *o = parsed->getAsObject())
    if (auto v = o->getInteger("context_length"))
      return *v;
  return std::nullopt;
}

int scoringThreads() {
  int n = std::max(1u, std::thread::hardware_concurrency());
  if (const char *env = std::getenv("LLMC_NUM_THREADS"))
    n = std::max(1, std::atoi(env));
  return n;
}
} // namespace

int runPerplexity() {
  using clock = std::chrono::steady_clock;
  raw_ostream &log = jsonOut ? errs() : outs(); // progress lines

  if (ctxSize < 4)
    return fail("--ctx must be at least 4 (got " + Twine(ctxSize.getValue()) + ")", 2);
  if (maxChunks == 0 || maxChunks < -1)
    return fail("--chunks must be positive", 2);
  if (batchSize < 0)
    return fail("--batch must be positive", 2);
  const int nCtx = ctxSize, nBatch = batchSize > 0 ? std::min<int>(batchSize, nCtx) : nCtx;

  auto buffer = MemoryBuffer::getFile(textFile, /*IsText=*/false, /*RequiresNullTerminator=*/true);
  if (!buffer)
    return fail("cannot read --text '" + textFile + "': " + buffer.getError().message());
  std::string text = (*buffer)->getBuffer().str();
  if (!text.empty() && text.back() == '\n') // as llama.cpp's -f does
    text.pop_back();

  llmc_api api;
  llmc_model *model = nullptr;
  if (std::string error; !loadModel(library, api, model, error))
    return fail(error);
  if (!api.model_is_causal_lm(model))
    return fail("'" + library + "' is not a causal language model (perplexity needs input_ids "
                "in and next-token logits out)");
  if (!api.model_has_tokenizer(model))
    return fail("'" + library + "' has no tokenizer; compile it with --tokenizer");
  if (auto trained = manifestContext(api.model_manifest(model)); trained && nCtx > *trained)
    return fail("--ctx " + Twine(nCtx) + " is larger than the model's context of " +
                Twine(*trained) + " tokens");
  const int32_t vocab = api.model_vocab_size(model);
  auto logitsAll = optionalSymbol<LogitsAllFn>(api, "llmc_session_logits_all");
  auto addBosFn = optionalSymbol<AddBosFn>(api, "llmc_token_add_bos");
  if (!addBosFn)
    errs() << "llmc perplexity: note: the library predates llmc_token_add_bos; no BOS is added\n";
  const bool addBos = addBosFn && addBosFn(model);
  const int32_t bos = api.token_bos(model);

  // Tokenize the whole text at once (llama.cpp: common_tokenize(text, add_special=true)).
  auto t0 = clock::now();
  size_t n = 0;
  api.tokenize(model, text.c_str(), addBos, nullptr, 0, &n);
  std::vector<int32_t> tokens(n);
  if (api.tokenize(model, text.c_str(), addBos, tokens.data(), n, &n) != LLMC_OK)
    return fail(api.last_error());
  tokens.resize(n);
  double tokenizeSeconds = std::chrono::duration<double>(clock::now() - t0).count();
  if ((int64_t)tokens.size() < nCtx)
    return fail("'" + textFile + "' tokenizes to " + Twine(tokens.size()) +
                " tokens, fewer than one chunk of --ctx " + Twine(nCtx));
  int nChunk = tokens.size() / nCtx;
  if (maxChunks > 0)
    nChunk = std::min<int>(nChunk, maxChunks);
  const int first = nCtx / 2, perChunk = nCtx - 1 - first;

  llmc_session *session = nullptr;
  if (api.session_create(model, nCtx, &session) != LLMC_OK)
    return fail(api.last_error());

  // Does the library return logits for every appended position? (Not when it
  // was built before llmc_session_logits_all, or computes the last row only.)
  bool allPositions = false;
  if (logitsAll && !lastLogitsOnly) {
    int32_t probe[2] = {tokens[0], tokens[1]};
    if (api.session_append(session, probe, 2) != LLMC_OK)
      return fail(api.last_error());
    size_t rows = 0;
    allPositions = logitsAll(session, &rows) && rows == 2;
    api.session_reset(session);
  }
  if (!allPositions)
    errs() << "llmc perplexity: note: the library returns last-position logits only; the "
              "scored half of each chunk is fed one token at a time (slower)\n";

  errs() << format("llmc perplexity: %zu tokens (tokenized in %.2f s, BOS %s), %d chunks of "
                   "%d, batch %d, scoring %d tokens per chunk\n",
                   tokens.size(), tokenizeSeconds, addBos ? "added" : "not added", nChunk, nCtx,
                   nBatch, perChunk);

  const int threads = scoringThreads();
  std::vector<float> scored(size_t(perChunk) * vocab); // logits rows first .. nCtx-2
  std::vector<double> running;
  double nll = 0.0, nll2 = 0.0;
  int64_t count = 0;
  auto loopStart = clock::now();
  for (int c = 0; c < nChunk; ++c) {
    auto chunkStart = clock::now();
    const int32_t *chunk = tokens.data() + size_t(c) * nCtx;
    std::vector<int32_t> input(chunk, chunk + nCtx);
    if (addBos && bos >= 0)
      input[0] = bos;
    api.session_reset(session);
    // Copies logits rows of absolute positions [pos, pos + rows) that are scored.
    auto keep = [&](const float *rowsData, int pos, int rows) {
      for (int r = 0; r < rows; ++r) {
        int p = pos + r;
        if (p >= first && p <= nCtx - 2)
          std::memcpy(scored.data() + size_t(p - first) * vocab, rowsData + size_t(r) * vocab,
                      vocab * sizeof(float));
      }
    };
    // With last-position logits only, prefill up to `first` and then step.
    const int prefillEnd = allPositions ? nCtx : first + 1;
    for (int pos = 0; pos < nCtx;) {
      int len = pos < prefillEnd ? std::min(nBatch, prefillEnd - pos) : 1;
      if (api.session_append(session, input.data() + pos, len) != LLMC_OK)
        return fail("chunk " + Twine(c + 1) + ": " + api.last_error());
      if (allPositions) {
        size_t rows = 0;
        const float *l = logitsAll(session, &rows);
        if (!l || rows != (size_t)len)
          return fail("chunk " + Twine(c + 1) + ": expected logits for " + Twine(len) +
                      " positions, the library returned " + Twine(rows));
        keep(l, pos, len);
      } else {
        keep(api.session_logits(session), pos + len - 1, 1);
      }
      pos += len;
    }
    scoreRows(scored.data(), chunk + first + 1, perChunk, vocab, threads, nll, nll2);
    count += perChunk;
    running.push_back(std::exp(nll / count));
    if (c == 0) {
      double pass = std::chrono::duration<double>(clock::now() - chunkStart).count();
      errs() << format("llmc perplexity: %.2f seconds per pass - ETA %.2f minutes\n", pass,
                       pass * nChunk / 60.0);
    }
    log << format("[%d]%.4f,", c + 1, running.back());
    log.flush();
  }
  double seconds = std::chrono::duration<double>(clock::now() - loopStart).count();
  log << "\n";
  api.session_destroy(session);
  api.model_close(model);

  double mean = nll / count, var = nll2 / count - mean * mean;
  double ppl = std::exp(mean);
  std::optional<double> error;
  if (var > 0 && count > 1)
    error = ppl * std::sqrt(var / (count - 1));
  double tokensPerSecond = double(nChunk) * nCtx / seconds;
  if (error)
    log << format("Final estimate: PPL = %.4f +/- %.5f\n", ppl, *error);
  else
    log << format("Final estimate: PPL = %.4f (no error estimate: too few scored tokens)\n", ppl);
  if (jsonOut) {
    json::Array chunkPpl;
    for (double v : running)
      chunkPpl.push_back(v);
    json::Object result{{"ppl", ppl},
                        {"stderr", error ? json::Value(*error) : json::Value(nullptr)},
                        {"tokens_scored", count},
                        {"chunks", nChunk},
                        {"ctx", nCtx},
                        {"batch", nBatch},
                        {"bos", addBos},
                        {"tokens", (int64_t)tokens.size()},
                        {"seconds", seconds},
                        {"tokens_per_second", tokensPerSecond},
                        {"tokenize_seconds", tokenizeSeconds},
                        {"all_positions", allPositions},
                        {"running_ppl", std::move(chunkPpl)}};
    outs() << formatv("{0:2}", json::Value(std::move(result))) << "\n";
  }
  errs() << format("llmc perplexity: %lld tokens scored in %d chunks, %.2f s (%.1f tokens/s "
                   "evaluated)\n",
                   (long long)count, nChunk, seconds, tokensPerSecond);
  return 0;
}

} // namespace llmc::tool
