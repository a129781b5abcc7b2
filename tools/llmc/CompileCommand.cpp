//===- CompileCommand.cpp - `llmc compile` --------------------------------===//
#include "Commands.h"
#include "Calibrate.h"
#include "SparsityOption.h"

#include "llmc/Codegen/Emitter.h"
#include "llmc/Codegen/Pipeline.h"
#include "llmc/Importer/ONNXImporter.h"
#include "llmc/InitAll.h"
#include "llmc/QuantLayout.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include <algorithm>
#include "llvm/Support/Path.h"
#include "llvm/Support/Timer.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace llvm;

namespace llmc::tool {

cl::SubCommand compileCmd("compile", "Compile an ONNX model into a shared library");

namespace {
cl::OptionCategory cat("llmc compile options");
cl::opt<std::string> input(cl::Positional, cl::desc("<model.onnx>"), cl::Required,
                           cl::sub(compileCmd));
cl::opt<std::string> output("o", cl::desc("Output file"), cl::value_desc("path"),
                            cl::Required, cl::sub(compileCmd), cl::cat(cat));
enum class Emit { ONNX, LLM, Linalg, MLIR, LLVM, Obj, SO };
cl::opt<Emit> emit(
    "emit", cl::desc("What to write (default: so)"), cl::init(Emit::SO),
    cl::values(clEnumValN(Emit::ONNX, "onnx", "imported onnx-dialect MLIR"),
               clEnumValN(Emit::LLM, "llm",
                          "MLIR after raising to the llm dialect, fusion and weight packing"),
               clEnumValN(Emit::Linalg, "linalg", "MLIR after lowering to linalg/tensor"),
               clEnumValN(Emit::MLIR, "mlir", "MLIR in the LLVM dialect"),
               clEnumValN(Emit::LLVM, "llvm", "optimized LLVM IR"),
               clEnumValN(Emit::Obj, "obj", "object file of the model code"),
               clEnumValN(Emit::SO, "so", "shared library (model + weights + runtime)")),
    cl::sub(compileCmd), cl::cat(cat));
cl::opt<bool> printIRAfterAll("print-ir-after-all",
                              cl::desc("Print the IR after every pass (to stderr)"),
                              cl::sub(compileCmd), cl::cat(cat));
cl::opt<std::string> target("target", cl::desc("Target: x86_64 (default: the host)"),
                            cl::init(""), cl::sub(compileCmd), cl::cat(cat));
cl::opt<std::string> mcpu("mcpu", cl::desc("CPU to tune for (default: host)"),
                          cl::init("host"), cl::sub(compileCmd), cl::cat(cat));
cl::opt<std::string> tokenizer("tokenizer",
                               cl::desc("tokenizer.json to embed (default: tokenizer.json "
                                        "next to the model, if present)"),
                               cl::init(""), cl::sub(compileCmd), cl::cat(cat));
cl::list<std::string> dims("dim", cl::desc("Fix a symbolic dim, e.g. --dim batch_size=1"),
                           cl::sub(compileCmd), cl::cat(cat));
cl::opt<bool> noBatchStep(
    "no-batch-step",
    cl::desc("Do not add the batch-step entry (ragged batches over a paged KV cache, used by "
             "`llmc serve`); decoders get it by default"),
    cl::sub(compileCmd), cl::cat(cat));
cl::opt<bool> noRaise("no-raise",
                      cl::desc("Skip raising to the llm dialect (the KV cache then stays a "
                               "plain input/output: run with llmc_graph_run)"),
                      cl::sub(compileCmd), cl::cat(cat));
cl::opt<bool> noKernels("no-kernels",
                        cl::desc("Lower llm ops to linalg instead of runtime kernels"),
                        cl::sub(compileCmd), cl::cat(cat));
cl::opt<bool> timing("time", cl::desc("Print the time spent in each phase"),
                     cl::sub(compileCmd), cl::cat(cat));
cl::opt<unsigned> optLevel("O", cl::desc("LLVM optimization level 0-3 (default 2)"), cl::Prefix,
                           cl::init(2), cl::sub(compileCmd), cl::cat(cat));
cl::list<std::string> disable("disable",
                            cl::desc("Switch off llm-level optimizations (comma-separated): "
                                     "fuse-rms-norm, fuse-gate-up, fuse-qkv, fuse-epilogue, "
                                     "pack-weights, plan-memory, fuse-rope, causal-mask, or all"),
                            cl::CommaSeparated, cl::sub(compileCmd), cl::cat(cat));
enum class Precision { F32, BF16 };
cl::opt<Precision> precision(
    "precision", cl::desc("Precision of linear-layer weights (default f32)"),
    cl::init(Precision::F32),
    cl::values(clEnumValN(Precision::F32, "f32", "32-bit float weights"),
               clEnumValN(Precision::BF16, "bf16",
                          "bfloat16 weights, activations rounded to bf16 in the dot products")),
    cl::sub(compileCmd), cl::cat(cat));
cl::opt<std::string> quantize(
    "quantize",
    cl::desc("Quantize linear-layer weights: int8|int4[,group=32|64|128][,sym|asym]"
             "[,method=rtn|gptq|awq][,lm-head=f32|int8|int4][,embedding=f32|int8|int4][,keep-lm-head]"
             "[,act=f32|int8] (act=f32: weight-only, the default; act=int8 (or w8a8 = int8,act=int8): "
             "int8 activations quantized at run time, per token for int8 weights (W8A8), per token "
             "and block of 32 for int4 weights (W4A8: group 0 or a multiple of 32); gptq and awq need "
             "--calibration)"),
    cl::init(""), cl::sub(compileCmd), cl::cat(cat));
cl::opt<std::string> sparsity(
    "sparsity",
    cl::desc("Prune linear-layer weights: 2:4|unstructured[=0.5][,method=magnitude|wanda]"
             "[,dense-kernels] (the LM head stays dense; sparse kernels skip the zeros, "
             "dense-kernels runs the pruned weights densely; wanda needs --calibration or "
             "--calibration-stats; 2:4 with --quantize=int4 keeps int4 values, dense-kernels "
             "combines with any round-to-nearest --quantize; docs/Sparsity.md)"),
    cl::init(""), cl::sub(compileCmd), cl::cat(cat));
cl::opt<std::string> kvCache(
    "kv-cache",
    cl::desc("Element type of the KV cache: f32 (default), int8 (each cached K/V row, one "
             "token and KV head, stored as D int8 codes + one f32 scale = max|x|/127; ~3.8x "
             "less KV memory at head size 64) or bf16 (each value rounded to bf16; 2x less "
             "KV memory; docs/Quantization.md#kv-cache)"),
    cl::value_desc("f32|int8|bf16"), cl::init("f32"), cl::sub(compileCmd), cl::cat(cat));
enum class Logits { All, Last };
cl::opt<Logits> logits(
    "logits", cl::desc("Positions whose logits the library computes (default all)"),
    cl::init(Logits::All),
    cl::values(clEnumValN(Logits::All, "all", "every position (needed for perplexity)"),
               clEnumValN(Logits::Last, "last", "the last position only (faster prefill)")),
    cl::sub(compileCmd), cl::cat(cat));
cl::opt<bool> keepTemps("keep-temps", cl::desc("Keep the linker's work directory"),
                        cl::sub(compileCmd), cl::cat(cat));
cl::opt<std::string> calibrationText(
    "calibration",
    cl::desc("Calibration text (plain) for --quantize=...,method=gptq|awq: an instrumented build of "
             "the model runs on it first (docs/Quantization.md)"),
    cl::value_desc("file"), cl::init(""), cl::sub(compileCmd), cl::cat(cat));
cl::opt<int> calibrationChunks("calibration-chunks",
                               cl::desc("Chunks of --calibration text to run (default 32)"),
                               cl::init(32), cl::sub(compileCmd), cl::cat(cat));
cl::opt<int> calibrationCtx("calibration-ctx",
                            cl::desc("Tokens per calibration chunk (default 256)"), cl::init(256),
                            cl::sub(compileCmd), cl::cat(cat));
cl::opt<std::string> calibrationStats(
    "calibration-stats",
    cl::desc("Calibration statistics saved by --save-calibration-stats (instead of --calibration)"),
    cl::value_desc("file"), cl::init(""), cl::sub(compileCmd), cl::cat(cat));
cl::opt<std::string> saveCalibrationStats(
    "save-calibration-stats", cl::desc("Keep the statistics --calibration collects in this file"),
    cl::value_desc("file"), cl::init(""), cl::sub(compileCmd), cl::cat(cat));
cl::opt<std::string> quantizeReport(
    "quantize-report", cl::desc("Write the per-tensor quantization choices as JSON"),
    cl::value_desc("file.json"), cl::init(""), cl::sub(compileCmd), cl::cat(cat));
// The first compile of --calibration (Calibrate.cpp).
cl::opt<bool> instrumentLinears("instrument-linears",
                                cl::desc("Observe the inputs of quantization candidates"),
                                cl::Hidden, cl::sub(compileCmd), cl::cat(cat));

/// Checked before compiling, which takes minutes for a large model: the
/// linker would otherwise report a missing or read-only directory at the end.
bool outputPathUsable() {
  if (output == "-")
    return true; // standard output (text emits)
  auto fail = [](const Twine &why) {
    errs() << "llmc: cannot write '" << output << "': " << why << "\n";
    return false;
  };
  if (sys::fs::is_directory(output))
    return fail("it is a directory");
  SmallString<256> dir(output);
  sys::path::remove_filename(dir);
  if (dir.empty())
    dir = ".";
  if (!sys::fs::is_directory(dir))
    return fail("directory '" + dir + "' does not exist");
  if (sys::fs::access(dir, sys::fs::AccessMode::Write))
    return fail("directory '" + dir + "' is not writable");
  if (sys::fs::exists(output) && sys::fs::access(output, sys::fs::AccessMode::Write))
    return fail("the file is not writable");
  return true;
}

int writeModule(mlir::ModuleOp module) {
  std::error_code ec;
  ToolOutputFile out(output, ec, sys::fs::OF_Text);
  if (ec) {
    errs() << "llmc: cannot write '" << output << "': " << ec.message() << "\n";
    return 1;
  }
  mlir::OpPrintingFlags flags;
  flags.elideLargeResourceString(64);
  module->print(out.os(), flags);
  out.keep();
  return 0;
}
/// --calibration / --calibration-stats / --quantize-report into `popts`:
/// runs the instrumented first compile when statistics are needed and not
/// given (Calibrate.cpp). Temporary files are removed by the caller's
/// `tempStats` / `tempReport`. Returns 0 or an exit code.
int prepareCalibration(llmc::PipelineOptions &popts, std::unique_ptr<FileRemover> &tempStats,
                       std::unique_ptr<FileRemover> &tempReport) {
  if (instrumentLinears) {
    if (popts.quantBits || noKernels || noRaise) {
      errs() << "llmc: --instrument-linears cannot be combined with --quantize, --no-kernels or "
                "--no-raise\n";
      return 2;
    }
    popts.instrumentLinears = true;
    return 0;
  }
  bool wantStats = !calibrationText.empty() || !calibrationStats.empty();
  // Wanda pruning scores with the same statistics (the diagonal of H).
  const bool wanda = !popts.sparsityPattern.empty() && popts.pruneMethod == "wanda";
  if (wanda && !wantStats) {
    errs() << "llmc: --sparsity=...,method=wanda needs --calibration=FILE (plain text; "
              "docs/Sparsity.md says which) or --calibration-stats=FILE\n";
    return 2;
  }
  if (!popts.quantBits && !wanda) {
    if (wantStats || !quantizeReport.empty()) {
      errs() << "llmc: --calibration, --calibration-stats and --quantize-report need --quantize\n";
      return 2;
    }
    return 0;
  }
  if ((popts.quantMethod == "gptq" || popts.quantMethod == "awq") && !wantStats) {
    errs() << "llmc: --quantize=...,method=" << popts.quantMethod
           << " needs --calibration=FILE (plain text; "
              "docs/Quantization.md says which) or --calibration-stats=FILE\n";
    return 2;
  }
  if (!calibrationText.empty() && !calibrationStats.empty()) {
    errs() << "llmc: give either --calibration or --calibration-stats, not both\n";
    return 2;
  }
  SmallString<128> path;
  if (!quantizeReport.empty()) {
    popts.quantReport = quantizeReport;
  } else {
    if (sys::fs::createTemporaryFile("llmc-quantize-report", "json", path)) {
      errs() << "llmc: cannot create a temporary file\n";
      return 1;
    }
    popts.quantReport = std::string(path);
    tempReport = std::make_unique<FileRemover>(popts.quantReport);
  }
  if (!calibrationStats.empty()) {
    popts.quantCalibration = calibrationStats;
    return 0;
  }
  if (calibrationText.empty())
    return 0;
  llmc::tool::CalibrationRequest req;
  req.model = input;
  req.textFile = calibrationText;
  req.chunks = calibrationChunks;
  req.ctx = calibrationCtx;
  req.keepTemps = keepTemps;
  if (!saveCalibrationStats.empty()) {
    req.statsPath = saveCalibrationStats;
  } else {
    if (sys::fs::createTemporaryFile("llmc-calibration", "bin", path)) {
      errs() << "llmc: cannot create a temporary file\n";
      return 1;
    }
    req.statsPath = std::string(path);
    tempStats = std::make_unique<FileRemover>(req.statsPath);
  }
  // The instrumented compile must number the same linears: same fusions,
  // dims, CPU (panel width) and tokenizer.
  auto &a = req.compileArgs;
  a.push_back("--mcpu=" + mcpu);
  if (!target.empty())
    a.push_back("--target=" + target);
  if (!tokenizer.empty())
    a.push_back("--tokenizer=" + tokenizer);
  for (const std::string &d : dims)
    a.push_back("--dim=" + d);
  for (const std::string &d : disable)
    a.push_back("--disable=" + d);
  if (int rc = llmc::tool::collectCalibrationStats(req))
    return rc;
  popts.quantCalibration = req.statsPath;
  return 0;
}
} // namespace

int runCompile() {
  if (!target.empty() && !StringRef(target).starts_with("x86_64")) {
    errs() << "llmc: target '" << target << "' is not supported yet (supported: x86_64)\n";
    return 2;
  }
  if (!outputPathUsable())
    return 2;
  mlir::DialectRegistry registry;
  llmc::registerAllDialects(registry);
  mlir::MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  mlir::registerAllPasses();
  llmc::registerAllPasses();

  TimerGroup timers("llmc", "llmc compile phases");
  auto phase = [&](StringRef name) {
    auto t = std::make_unique<Timer>(name, name, timers);
    if (timing)
      t->startTimer();
    return t;
  };

  llmc::ImportOptions opts;
  for (const std::string &d : dims) {
    auto [name, value] = StringRef(d).split('=');
    int64_t v;
    if (value.getAsInteger(10, v)) {
      errs() << "llmc: --dim expects name=value, got '" << d << "'\n";
      return 2;
    }
    opts.dimValues[name.str()] = v;
  }
  opts.quantPanel = llmc::preferredPanelWidth(mcpu); // for pre-quantized weights
  auto tImport = phase("import");
  llmc::ImportedModel imported = llmc::importONNXFile(ctx, input, opts);
  if (!imported.module)
    return 1;
  if (timing)
    tImport->stopTimer();
  mlir::ModuleOp module = *imported.module;
  if (emit == Emit::ONNX)
    return writeModule(module);

  llmc::PipelineOptions popts;
  popts.raise = !noRaise;
  popts.useKernels = !noKernels;
  for (const std::string &name : disable) {
    const auto &known = llmc::optimizationNames();
    if (name == "all") {
      popts.disabled.insert(known.begin(), known.end());
      continue;
    }
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      errs() << "llmc: unknown optimization '" << name << "' in --disable (known:";
      for (const std::string &k : known)
        errs() << " " << k;
      errs() << ")\n";
      return 2;
    }
    popts.disabled.insert(name);
  }
  if (precision == Precision::BF16) {
    if (noKernels || noRaise || !popts.enabled("pack-weights")) {
      errs() << "llmc: --precision=bf16 needs packed kernel weights (it cannot be combined "
                "with --no-kernels, --no-raise or --disable=pack-weights)\n";
      return 2;
    }
    popts.precision = "bf16";
  }
  popts.panel = llmc::preferredPanelWidth(mcpu);
  if (!quantize.empty()) {
    SmallVector<StringRef> parts;
    StringRef(quantize).split(parts, ',');
    for (StringRef part : parts) {
      auto [key, value] = part.split('=');
      if (part == "int8" || part == "int4") {
        popts.quantBits = part == "int8" ? 8 : 4;
      } else if (part == "w8a8") { // shorthand for int8,act=int8
        popts.quantBits = 8;
        popts.quantActBits = 8;
      } else if (key == "act" && (value == "int8" || value == "f32")) {
        popts.quantActBits = value == "int8" ? 8 : 0;
      } else if (part == "sym" || part == "asym") {
        popts.quantSymmetric = part == "sym";
      } else if (part == "keep-lm-head") {
        popts.quantKeepLmHead = true;
      } else if (part == "no-act-order" || part == "no-clip") {
        (part == "no-act-order" ? popts.quantActOrder : popts.quantClipSearch) = false;
      } else if (key == "group" && !value.getAsInteger(10, popts.quantGroup) &&
                 popts.quantGroup >= 0) {
      } else if (key == "method" && (value == "rtn" || value == "gptq" || value == "awq")) {
        popts.quantMethod = value.str();
      } else if (key == "method") {
        errs() << "llmc: --quantize method '" << value
               << "' is not available (available: rtn, gptq, awq)\n";
        return 2;
      } else if ((key == "lm-head" || key == "embedding") &&
                 (value == "f32" || value == "int8" || value == "int4")) {
        (key == "lm-head" ? popts.quantLmHead : popts.quantEmbedding) = value.str();
      } else {
        errs() << "llmc: cannot parse --quantize component '" << part
               << "' (expected int8|int4, group=N, sym|asym, method=rtn|gptq|awq, "
                  "lm-head=f32|int8|int4, embedding=f32|int8|int4, keep-lm-head, no-act-order, "
                  "no-clip, act=f32|int8, w8a8)\n";
        return 2;
      }
    }
    if (!popts.quantBits) {
      errs() << "llmc: --quantize needs int8 or int4\n";
      return 2;
    }
    if (popts.quantActBits && popts.quantBits == 4 && popts.quantGroup % llmc::quant::kActBlock != 0) {
      errs() << "llmc: --quantize=int4,...,act=int8 (W4A8) needs group=0 (per channel) or a multiple of "
             << llmc::quant::kActBlock << ", got group=" << popts.quantGroup << "\n";
      return 2;
    }
    if (noKernels || noRaise) {
      errs() << "llmc: --quantize needs the runtime kernels and raising (not --no-kernels or "
                "--no-raise)\n";
      return 2;
    }
  }
  if (!sparsity.empty()) {
    std::string err = parseSparsityOption(sparsity, popts);
    if (err.empty() && (noKernels || noRaise))
      err = "--sparsity needs the runtime kernels and raising (not --no-kernels or --no-raise)";
    if (err.empty() && popts.quantBits && popts.quantMethod != "rtn")
      err = "--sparsity cannot be combined with --quantize=...,method=" + popts.quantMethod + " (use rtn)";
    // With dense-kernels the pruned weights stay ordinary linears, which the
    // quantizer then takes like any other (round to nearest maps a zero to
    // code 0 of the symmetric grid, so they stay zero).
    if (err.empty() && popts.quantBits && popts.sparseKernels &&
        (popts.quantBits != 4 || popts.sparsityPattern != "2:4"))
      err = "--sparsity combines with --quantize only as --sparsity=2:4 --quantize=int4 (the other sparse "
            "kernels take f32 values), or with --sparsity=...,dense-kernels (pruned, then quantized and "
            "run densely)";
    if (!err.empty()) {
      errs() << "llmc: " << err << "\n";
      return 2;
    }
  }
  std::unique_ptr<FileRemover> tempStats, tempReport;
  if (int rc = prepareCalibration(popts, tempStats, tempReport))
    return rc;
  if (!popts.sparsityPattern.empty() && popts.pruneMethod == "wanda") {
    popts.pruneStats = popts.quantCalibration;
    // The statistics number the linears before pruning; the quantizer
    // (round to nearest here) sees only the layers left dense.
    popts.quantCalibration.clear();
  }
  if (kvCache != "f32" && kvCache != "int8" && kvCache != "bf16") {
    errs() << "llmc: unknown --kv-cache type '" << kvCache << "' (expected f32, int8 or bf16)\n";
    return 2;
  }
  if (kvCache != "f32" && (noKernels || noRaise)) {
    errs() << "llmc: --kv-cache=" << kvCache
           << " needs the runtime kernels and raising (not --no-kernels or --no-raise)\n";
    return 2;
  }
  popts.kvCache = kvCache;
  popts.logitsLast = logits == Logits::Last;
  popts.batchStep = !noBatchStep && !instrumentLinears; // calibration runs @main only
  auto runPM = [&](auto build, StringRef name) -> bool {
    mlir::PassManager pm(&ctx);
    if (printIRAfterAll) {
      ctx.disableMultithreading();
      mlir::OpPrintingFlags flags;
      flags.elideLargeResourceString(64);
      pm.enableIRPrinting([](mlir::Pass *, mlir::Operation *) { return false; },
                          [](mlir::Pass *, mlir::Operation *) { return true; },
                          /*printModuleScope=*/true, /*printAfterOnlyOnChange=*/false,
                          /*printAfterOnlyOnFailure=*/false, errs(), flags);
    }
    build(pm, popts);
    auto t = phase(name);
    bool ok = succeeded(pm.run(module));
    if (timing)
      t->stopTimer();
    return ok;
  };
  auto printReport = [&] {
    if (!popts.quantReport.empty())
      llmc::tool::printQuantizeReport(popts.quantReport, outs());
  };
  if (emit == Emit::LLM) {
    if (!runPM(llmc::buildRaisingPipeline, "raise"))
      return 1;
    printReport();
    return writeModule(module);
  }
  if (!runPM(llmc::buildFrontendPipeline, "lower to linalg"))
    return 1;
  printReport();
  if (emit == Emit::Linalg)
    return writeModule(module);
  if (!runPM(llmc::buildBackendPipeline, "bufferize and lower to LLVM"))
    return 1;
  if (emit == Emit::MLIR)
    return writeModule(module);

  llmc::TargetOptions topts;
  topts.triple = target;
  topts.cpu = mcpu;
  topts.optLevel = optLevel;
  if (emit == Emit::LLVM) {
    auto t = phase("LLVM optimization");
    return failed(llmc::emitLLVMIR(module, topts, output)) ? 1 : 0;
  }
  std::string objPath = output;
  SmallString<128> tmpObj;
  if (emit == Emit::SO) {
    if (sys::fs::createTemporaryFile("llmc-model", "o", tmpObj)) {
      errs() << "llmc: cannot create a temporary file\n";
      return 1;
    }
    objPath = std::string(tmpObj);
  }
  {
    auto t = phase("LLVM codegen");
    if (failed(llmc::emitObject(module, topts, objPath)))
      return 1;
    if (timing)
      t->stopTimer();
  }
  if (emit == Emit::Obj)
    return 0;

  llmc::LinkOptions lopts;
  lopts.output = output;
  lopts.keepWorkDir = keepTemps;
  lopts.tokenizerPath = tokenizer;
  if (lopts.tokenizerPath.empty()) {
    SmallString<256> guess(sys::path::parent_path(input));
    sys::path::append(guess, "tokenizer.json");
    if (sys::fs::exists(guess))
      lopts.tokenizerPath = std::string(guess);
  } else if (!sys::fs::exists(lopts.tokenizerPath)) {
    errs() << "llmc: tokenizer '" << lopts.tokenizerPath << "' does not exist\n";
    return 1;
  }
  auto t = phase("link");
  bool ok = succeeded(llmc::linkSharedLibrary(module, objPath, lopts));
  if (timing)
    t->stopTimer();
  sys::fs::remove(objPath);
  return ok ? 0 : 1;
}

} // namespace llmc::tool
