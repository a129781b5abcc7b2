//===- LLVMEmitter.cpp - LLVM dialect to LLVM IR and object files ---------===//
#include "llmc/Codegen/Emitter.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

using namespace mlir;

namespace llmc {

/// Loop strength reduction takes half of the backend's time on generated
/// models (thousands of small loops) for little gain: switch it off.
static void tuneBackendOptions() {
  auto &opts = llvm::cl::getRegisteredOptions();
  auto it = opts.find("disable-lsr");
  if (it != opts.end())
    if (auto *o = static_cast<llvm::cl::opt<bool> *>(it->second))
      o->setValue(true);
}

static std::unique_ptr<llvm::TargetMachine> makeTargetMachine(const TargetOptions &t,
                                                              std::string &error) {
  tuneBackendOptions();
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(t.triple.empty() ? llvm::sys::getDefaultTargetTriple() : t.triple);
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  std::string cpu = t.cpu, features = t.features;
  if (cpu == "host") {
    cpu = llvm::sys::getHostCPUName().str();
    llvm::SubtargetFeatures f;
    for (const auto &kv : llvm::sys::getHostCPUFeatures())
      f.AddFeature(kv.getKey(), kv.getValue());
    features = f.getString() + (t.features.empty() ? "" : "," + t.features);
  }
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      triple, cpu, features, options, llvm::Reloc::PIC_, std::nullopt,
      t.optLevel >= 2 ? llvm::CodeGenOptLevel::Aggressive : llvm::CodeGenOptLevel::Default));
  if (!tm)
    error = "cannot create a target machine for " + triple.str();
  return tm;
}

/// `void <name>_packed(void **args)` calls `_mlir_ciface_<name>` with
/// args[0..N): the runtime calls models of any arity through it. Entries:
/// llmc_main (one sequence) and llmc_step (a ragged batch), if present.
static void addPackedEntry(llvm::Module &m, StringRef name) {
  llvm::Function *entry = m.getFunction(("_mlir_ciface_" + name).str());
  if (!entry)
    return;
  // The model body is one large function; inlining it into each wrapper
  // would only multiply code size and compile time.
  if (llvm::Function *body = m.getFunction(name))
    body->addFnAttr(llvm::Attribute::NoInline);
  entry->addFnAttr(llvm::Attribute::NoInline);
  for (llvm::Function &f : m)
    if (f.getName().starts_with("llmc_loop_"))
      f.addFnAttr(llvm::Attribute::NoInline);
  llvm::LLVMContext &ctx = m.getContext();
  auto *ptrTy = llvm::PointerType::getUnqual(ctx);
  auto *fnTy = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptrTy}, false);
  auto *packed = llvm::Function::Create(fnTy, llvm::GlobalValue::ExternalLinkage,
                                        (name + "_packed").str(), m);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", packed));
  SmallVector<llvm::Value *> args;
  for (unsigned i = 0; i < entry->arg_size(); ++i) {
    llvm::Value *slot = b.CreateConstGEP1_64(ptrTy, packed->getArg(0), i);
    args.push_back(b.CreateLoad(ptrTy, slot));
  }
  b.CreateCall(entry, args);
  b.CreateRetVoid();
}

static std::unique_ptr<llvm::Module>
translate(ModuleOp module, llvm::LLVMContext &llvmCtx, llvm::TargetMachine &tm, int optLevel) {
  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  module->getContext()->appendDialectRegistry(registry);
  auto llvmModule = translateModuleToLLVMIR(module, llvmCtx, "llmc_model");
  if (!llvmModule) {
    module.emitError("translation to LLVM IR failed");
    return nullptr;
  }
  addPackedEntry(*llvmModule, "llmc_main");
  addPackedEntry(*llvmModule, "llmc_step");
  llvmModule->setTargetTriple(tm.getTargetTriple());
  llvmModule->setDataLayout(tm.createDataLayout());
  auto opt = makeOptimizingTransformer(optLevel, /*sizeLevel=*/0, &tm);
  if (auto err = opt(llvmModule.get())) {
    module.emitError("LLVM optimization failed: ") << llvm::toString(std::move(err));
    return nullptr;
  }
  return llvmModule;
}

LogicalResult emitLLVMIR(ModuleOp module, const TargetOptions &t, const std::string &path) {
  std::string error;
  auto tm = makeTargetMachine(t, error);
  if (!tm)
    return module.emitError(error);
  llvm::LLVMContext llvmCtx;
  auto m = translate(module, llvmCtx, *tm, t.optLevel);
  if (!m)
    return failure();
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return module.emitError("cannot write '") << path << "': " << ec.message();
  m->print(os, nullptr);
  return success();
}

LogicalResult emitObject(ModuleOp module, const TargetOptions &t, const std::string &path) {
  std::string error;
  auto tm = makeTargetMachine(t, error);
  if (!tm)
    return module.emitError(error);
  llvm::LLVMContext llvmCtx;
  auto m = translate(module, llvmCtx, *tm, t.optLevel);
  if (!m)
    return failure();
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return module.emitError("cannot write '") << path << "': " << ec.message();
  llvm::legacy::PassManager pm;
  if (tm->addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::ObjectFile))
    return module.emitError("the target cannot emit object files");
  pm.run(*m);
  return success();
}

} // namespace llmc
