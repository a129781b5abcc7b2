//===- Calibrate.cpp - calibration statistics for `llmc compile` ----------===//
//
// `llmc compile --quantize=...,method=gptq|awq --calibration=FILE` compiles the
// model twice. The first compile (this executable again, with the hidden
// `--instrument-linears`) builds an f32 library whose quantization
// candidates report their inputs to the runtime (llmc-instrument-linears,
// runtime/api/Calibration.cpp). It is loaded here, fed the calibration text
// in chunks of `ctx` tokens (each from an empty KV cache, BOS first when the
// tokenizer adds one, as `llmc perplexity` does), and its statistics are
// written with llmc_calibration_write for the second, quantizing compile.
//
//===----------------------------------------------------------------------===//
#include "Calibrate.h"
#include "Commands.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"

#include <algorithm>
#include <chrono>

using namespace llvm;

namespace llmc::tool {

namespace {
double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int fail(const Twine &msg) {
  errs() << "llmc: calibration: " << msg << "\n";
  return 1;
}

template <typename Fn> Fn symbol(const llmc_api &api, const char *name) {
  Fn f = nullptr;
  *(void **)(&f) = dlsym(api.handle, name);
  return f;
}

/// Removes the temporary directory unless asked to keep it.
struct TempDir {
  SmallString<128> path;
  bool keep = false;
  ~TempDir() {
    if (!path.empty() && !keep)
      sys::fs::remove_directories(path);
  }
};
} // namespace

int collectCalibrationStats(const CalibrationRequest &req) {
  auto start = std::chrono::steady_clock::now();
  auto text = MemoryBuffer::getFile(req.textFile, /*IsText=*/false, /*RequiresNullTerminator=*/true);
  if (!text)
    return fail("cannot read '" + req.textFile + "': " + text.getError().message());
  if (req.chunks <= 0 || req.ctx < 2)
    return fail("--calibration-chunks must be positive and --calibration-ctx at least 2");

  TempDir dir;
  dir.keep = req.keepTemps;
  if (std::error_code ec = sys::fs::createUniqueDirectory("llmc-calibration", dir.path))
    return fail("cannot create a temporary directory: " + ec.message());
  SmallString<128> lib(dir.path);
  sys::path::append(lib, "instrumented.so");

  // 1. The instrumented library.
  std::string exe = sys::fs::getMainExecutable("llmc", (void *)&collectCalibrationStats);
  std::vector<std::string> argv{exe, "compile", req.model, "-o", std::string(lib), "--instrument-linears"};
  argv.insert(argv.end(), req.compileArgs.begin(), req.compileArgs.end());
  std::vector<StringRef> args(argv.begin(), argv.end());
  errs() << "llmc: calibration: compiling the instrumented f32 library\n";
  std::string execError;
  int rc = sys::ExecuteAndWait(exe, args, std::nullopt, {}, 0, 0, &execError);
  if (rc != 0)
    return fail("the instrumented compile failed" + (execError.empty() ? "" : ": " + execError));
  double compileSeconds = secondsSince(start);

  // 2. Run it on the text.
  llmc_api api;
  llmc_model *model = nullptr;
  if (std::string error; !loadModel(std::string(lib), api, model, error))
    return fail(error);
  auto writeStats = symbol<int (*)(const char *)>(api, "llmc_calibration_write");
  auto numLinears = symbol<int64_t (*)()>(api, "llmc_calibration_linears");
  auto addBosFn = symbol<int (*)(const llmc_model *)>(api, "llmc_token_add_bos");
  if (!writeStats || !numLinears)
    return fail("the instrumented library lacks llmc_calibration_write (runtime too old?)");
  if (!api.model_is_causal_lm(model) || !api.model_has_tokenizer(model))
    return fail("calibration needs a causal LM with a tokenizer (--tokenizer)");
  const bool addBos = addBosFn && addBosFn(model);
  const int32_t bos = api.token_bos(model);
  size_t n = 0;
  const char *chars = (*text)->getBufferStart();
  api.tokenize(model, chars, addBos, nullptr, 0, &n);
  std::vector<int32_t> tokens(n);
  if (api.tokenize(model, chars, addBos, tokens.data(), n, &n) != LLMC_OK)
    return fail(api.last_error());
  tokens.resize(n);
  const int64_t ctx = req.ctx;
  int64_t chunks = std::min<int64_t>(req.chunks, (int64_t(tokens.size()) + ctx - 1) / ctx);
  if (tokens.size() < 16)
    return fail("'" + req.textFile + "' has only " + Twine(tokens.size()) + " tokens");
  llmc_session *session = nullptr;
  if (api.session_create(model, int32_t(ctx), &session) != LLMC_OK)
    return fail(api.last_error());
  auto runStart = std::chrono::steady_clock::now();
  int64_t used = 0;
  for (int64_t c = 0; c < chunks; ++c) {
    size_t begin = size_t(c * ctx), end = std::min(tokens.size(), size_t((c + 1) * ctx));
    std::vector<int32_t> chunk(tokens.begin() + begin, tokens.begin() + end);
    if (addBos && bos >= 0)
      chunk[0] = bos;
    api.session_reset(session);
    if (api.session_append(session, chunk.data(), chunk.size()) != LLMC_OK)
      return fail("chunk " + Twine(c + 1) + ": " + api.last_error());
    used += int64_t(chunk.size());
  }
  double runSeconds = secondsSince(runStart);
  api.session_destroy(session);
  if (numLinears() == 0)
    return fail("the model has no linear layer to calibrate");
  if (writeStats(req.statsPath.c_str()) != 0)
    return fail("cannot write the statistics to '" + req.statsPath + "'");
  api.model_close(model);
  uint64_t bytes = 0;
  sys::fs::file_size(req.statsPath, bytes);
  errs() << format("llmc: calibration: %lld tokens in %lld chunks of <= %lld from '%s' (%zu available); "
                   "%lld linears; instrumented compile %.1f s, run %.1f s; statistics %.1f MB\n",
                   (long long)used, (long long)chunks, (long long)ctx, req.textFile.c_str(), tokens.size(),
                   (long long)numLinears(), compileSeconds, runSeconds, double(bytes) / 1e6);
  if (req.keepTemps)
    errs() << "llmc: calibration: kept " << dir.path << "\n";
  return 0;
}

bool printQuantizeReport(const std::string &jsonPath, raw_ostream &os) {
  auto buf = MemoryBuffer::getFile(jsonPath);
  if (!buf)
    return false;
  auto parsed = json::parse((*buf)->getBuffer());
  if (!parsed) {
    consumeError(parsed.takeError());
    return false;
  }
  const json::Object *root = parsed->getAsObject();
  const json::Array *tensors = root ? root->getArray("tensors") : nullptr;
  if (!tensors)
    return false;
  os << "llmc: quantization (method " << root->getString("method").value_or("?");
  if (auto t = root->getInteger("calibration_tokens"))
    os << ", " << *t << " calibration tokens; err = ||X(Wq-W)||^2 / ||XW||^2 on them";
  os << "):\n";
  for (const json::Value &v : *tensors) {
    const json::Object *t = v.getAsObject();
    if (!t)
      continue;
    std::string shape;
    if (const json::Array *s = t->getArray("shape"); s && s->size() == 2)
      shape = std::to_string((*s)[0].getAsInteger().value_or(0)) + "x" +
              std::to_string((*s)[1].getAsInteger().value_or(0));
    os << format("  %-44s %-9s %-12s %-15s %-6s %11lld B", t->getString("name").value_or("").str().c_str(),
                 t->getString("kind").value_or("").str().c_str(), shape.c_str(),
                 t->getString("scheme").value_or("").str().c_str(),
                 t->getString("method").value_or("").str().c_str(),
                 (long long)t->getInteger("bytes").value_or(0));
    if (auto e = t->getNumber("rel_error"))
      os << format("  err %.5f", *e);
    if (auto e = t->getNumber("rtn_rel_error"))
      os << format(" (rtn %.5f)", *e);
    if (auto s = t->getString("note"))
      os << "  [" << *s << "]";
    os << "\n";
  }
  os << format("  total %.2f MB of weights (f32: %.2f MB) in the quantized layers, head and embedding\n",
               double(root->getInteger("total_bytes").value_or(0)) / 1e6,
               double(root->getInteger("total_f32_bytes").value_or(0)) / 1e6);
  return true;
}

} // namespace llmc::tool
