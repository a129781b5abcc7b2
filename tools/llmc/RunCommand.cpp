//===- RunCommand.cpp - `llmc run`: generate text with a compiled model ---===//
#include "Commands.h"

#include "llmc/llmc_loader.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <dlfcn.h>
#include <string>
#include <vector>

using namespace llvm;

namespace llmc::tool {

cl::SubCommand runCmd("run", "Generate text with a library made by `llmc compile`");

namespace {
cl::OptionCategory cat("llmc run options");
cl::opt<std::string> library(cl::Positional, cl::desc("<model.so>"), cl::Required, cl::sub(runCmd));
cl::opt<std::string> prompt("prompt", cl::desc("Prompt text"), cl::init(""), cl::sub(runCmd), cl::cat(cat));
cl::opt<bool> chat("chat", cl::desc("Wrap the prompt in the ChatML template (<|im_start|>user ...)"),
                   cl::sub(runCmd), cl::cat(cat));
cl::opt<std::string> ids("ids", cl::desc("Prompt as comma-separated token ids (no tokenizer needed)"),
                         cl::init(""), cl::sub(runCmd), cl::cat(cat));
cl::opt<int> numTokens("n", cl::desc("Tokens to generate (default 64)"), cl::init(64), cl::sub(runCmd), cl::cat(cat));
cl::opt<float> temperature("temperature", cl::desc("Sampling temperature; 0 = greedy (default)"),
                           cl::init(0.f), cl::sub(runCmd), cl::cat(cat));
cl::opt<int> topK("top-k", cl::desc("Top-k filter (0 = off)"), cl::init(0), cl::sub(runCmd), cl::cat(cat));
cl::opt<float> topP("top-p", cl::desc("Nucleus filter (1 = off)"), cl::init(1.f), cl::sub(runCmd), cl::cat(cat));
cl::opt<uint64_t> seed("seed", cl::desc("Sampling seed"), cl::init(0), cl::sub(runCmd), cl::cat(cat));
cl::opt<int> maxContext("max-context", cl::desc("KV-cache capacity in tokens (default 2048)"),
                        cl::init(2048), cl::sub(runCmd), cl::cat(cat));
cl::opt<bool> bos("bos", cl::desc("Start the prompt with BOS"), cl::init(false), cl::sub(runCmd), cl::cat(cat));
cl::opt<bool> printIds("print-ids", cl::desc("Print generated token ids instead of text"),
                       cl::sub(runCmd), cl::cat(cat));
cl::opt<bool> stats("stats", cl::desc("Print prefill/decode speed to stderr"), cl::sub(runCmd), cl::cat(cat));
cl::opt<bool> ignoreEos("ignore-eos", cl::desc("Do not stop at end-of-sequence tokens"),
                        cl::sub(runCmd), cl::cat(cat));

/// Rejects values the sampler would silently reinterpret (a negative
/// temperature as greedy, top-p > 1 as off) or that cannot work.
bool optionsValid() {
  auto bad = [](const Twine &msg) {
    errs() << "llmc: " << msg << "\n";
    return false;
  };
  if (numTokens < 0)
    return bad("-n must be >= 0 (got " + Twine(int(numTokens)) + ")");
  if (!(temperature >= 0.f))
    return bad("--temperature must be >= 0 (0 = greedy; got " +
               formatv("{0}", float(temperature)).str() + ")");
  if (topK < 0)
    return bad("--top-k must be >= 0 (0 = off; got " + Twine(int(topK)) + ")");
  if (!(topP > 0.f && topP <= 1.f))
    return bad("--top-p must be in (0, 1] (1 = off; got " + formatv("{0}", float(topP)).str() +
               ")");
  if (maxContext <= 0)
    return bad("--max-context must be > 0 (got " + Twine(int(maxContext)) + ")");
  return true;
}
} // namespace

int runRun() {
  if (!optionsValid())
    return 2;
  llmc_api api;
  llmc_model *model = nullptr;
  if (std::string error; !loadModel(library, api, model, error)) {
    errs() << "llmc: " << error << "\n";
    return 1;
  }
  if (!api.model_is_causal_lm(model)) {
    errs() << "llmc: '" << library << "' is not a causal language model\n";
    return 1;
  }
  std::vector<int32_t> tokens;
  if (!ids.empty()) {
    SmallVector<StringRef> parts;
    StringRef(ids).split(parts, ',', -1, false);
    for (StringRef p : parts) {
      int32_t v;
      if (p.trim().getAsInteger(10, v)) {
        errs() << "llmc: --ids: '" << p << "' is not an integer\n";
        return 2;
      }
      tokens.push_back(v);
    }
  } else {
    if (!api.model_has_tokenizer(model)) {
      errs() << "llmc: the library has no tokenizer; pass --ids or compile with --tokenizer\n";
      return 1;
    }
    std::string text = prompt;
    if (chat)
      text = "<|im_start|>user\n" + text + "<|im_end|>\n<|im_start|>assistant\n";
    size_t n = 0;
    api.tokenize(model, text.c_str(), bos, nullptr, 0, &n);
    tokens.resize(n);
    if (api.tokenize(model, text.c_str(), bos, tokens.data(), n, &n) != LLMC_OK) {
      errs() << "llmc: " << api.last_error() << "\n";
      return 1;
    }
  }
  if (tokens.empty()) {
    int32_t b = api.token_bos(model);
    if (b < 0) {
      errs() << "llmc: empty prompt and no BOS token\n";
      return 2;
    }
    tokens.push_back(b);
  }
  if (int64_t(tokens.size()) > maxContext) {
    errs() << "llmc: the prompt has " << tokens.size() << " tokens, more than --max-context="
           << maxContext << "\n";
    return 2;
  }
  llmc_session *session = nullptr;
  if (api.session_create(model, maxContext, &session) != LLMC_OK) {
    errs() << "llmc: " << api.last_error() << "\n";
    return 1;
  }
  llmc_sampling_params sp{temperature, topK, topP, seed};
  llmc_sampler *sampler = api.sampler_create(&sp);
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  if (api.session_append(session, tokens.data(), tokens.size()) != LLMC_OK) {
    errs() << "llmc: " << api.last_error() << "\n";
    return 1;
  }
  auto t1 = clock::now();
  int generated = 0;
  bool contextFull = false;
  int32_t vocab = api.model_vocab_size(model);
  bool haveTok = api.model_has_tokenizer(model);
  for (; generated < numTokens; ++generated) {
    int32_t next = api.sampler_sample(sampler, api.session_logits(session), vocab);
    if (!ignoreEos && haveTok && api.token_is_end(model, next))
      break;
    if (printIds || !haveTok) {
      outs() << (generated > 0 ? " " : "") << next;
    } else {
      const char *text;
      size_t len;
      api.token_text(model, next, &text, &len);
      outs() << StringRef(text, len);
    }
    outs().flush();
    if (generated + 1 == numTokens)
      break;
    const llmc_status st = api.session_append(session, &next, 1);
    if (st == LLMC_ERROR_CONTEXT_FULL) {
      contextFull = true; // the token is out; the session has no room for it
      ++generated;
      break;
    }
    if (st != LLMC_OK) {
      errs() << "\nllmc: " << api.last_error() << "\n";
      return 1;
    }
  }
  auto t2 = clock::now();
  outs() << "\n";
  outs().flush();
  if (contextFull)
    errs() << "llmc: stopped after " << generated
           << " tokens: the context is full (--max-context=" << maxContext << ")\n";
  if (stats) {
    double pre = std::chrono::duration<double>(t1 - t0).count();
    double dec = std::chrono::duration<double>(t2 - t1).count();
    errs() << format("prefill: %zu tokens in %.3f s (%.1f tok/s); decode: %d tokens in %.3f s (%.1f tok/s)\n",
                     tokens.size(), pre, tokens.size() / pre, generated, dec,
                     generated > 0 ? generated / dec : 0.0);
    // Optional symbol: libraries built before memory planning lack it.
    using ActivationFn = void (*)(int64_t *, int64_t *);
    if (auto fn = reinterpret_cast<ActivationFn>(dlsym(api.handle, "llmc_activation_memory"))) {
      int64_t arena = 0, buffers = 0;
      fn(&arena, &buffers);
      if (arena > 0)
        errs() << format("activation memory: %.2f MiB planned arena vs %.2f MiB in separate "
                         "buffers (%.1fx less)\n",
                         arena / 1048576.0, buffers / 1048576.0, double(buffers) / arena);
    }
  }
  api.sampler_destroy(sampler);
  api.session_destroy(session);
  api.model_close(model);
  return 0;
}

} // namespace llmc::tool
