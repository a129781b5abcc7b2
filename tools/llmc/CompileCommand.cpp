//===- CompileCommand.cpp - `llmc compile` --------------------------------===//
#include "Commands.h"

#include "llmc/Codegen/Emitter.h"
#include "llmc/Codegen/Pipeline.h"
#include "llmc/Importer/ONNXImporter.h"
#include "llmc/InitAll.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
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
                                     "pack-weights, plan-memory, or all"),
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
             "[,method=rtn][,keep-lm-head] (weight-only, round to nearest; f32 activations)"),
    cl::init(""), cl::sub(compileCmd), cl::cat(cat));
enum class Logits { All, Last };
cl::opt<Logits> logits(
    "logits", cl::desc("Positions whose logits the library computes (default all)"),
    cl::init(Logits::All),
    cl::values(clEnumValN(Logits::All, "all", "every position (needed for perplexity)"),
               clEnumValN(Logits::Last, "last", "the last position only (faster prefill)")),
    cl::sub(compileCmd), cl::cat(cat));
cl::opt<bool> keepTemps("keep-temps", cl::desc("Keep the linker's work directory"),
                        cl::sub(compileCmd), cl::cat(cat));

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
} // namespace

int runCompile() {
  if (!target.empty() && !StringRef(target).starts_with("x86_64")) {
    errs() << "llmc: target '" << target << "' is not supported yet (supported: x86_64)\n";
    return 2;
  }
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
      } else if (part == "sym" || part == "asym") {
        popts.quantSymmetric = part == "sym";
      } else if (part == "keep-lm-head") {
        popts.quantKeepLmHead = true;
      } else if (key == "group" && !value.getAsInteger(10, popts.quantGroup) &&
                 popts.quantGroup >= 0) {
      } else if (key == "method" && value == "rtn") {
      } else if (key == "method") {
        errs() << "llmc: --quantize method '" << value
               << "' is not available (available: rtn)\n";
        return 2;
      } else {
        errs() << "llmc: cannot parse --quantize component '" << part
               << "' (expected int8|int4, group=N, sym|asym, method=rtn, keep-lm-head)\n";
        return 2;
      }
    }
    if (!popts.quantBits) {
      errs() << "llmc: --quantize needs int8 or int4\n";
      return 2;
    }
    if (noKernels || noRaise) {
      errs() << "llmc: --quantize needs the runtime kernels and raising (not --no-kernels or "
                "--no-raise)\n";
      return 2;
    }
  }
  popts.logitsLast = logits == Logits::Last;
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
  if (emit == Emit::LLM)
    return runPM(llmc::buildRaisingPipeline, "raise") ? writeModule(module) : 1;
  if (!runPM(llmc::buildFrontendPipeline, "lower to linalg"))
    return 1;
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
