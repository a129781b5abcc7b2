//===- Linker.cpp - weights object and the final shared library -----------===//
//
// Weights never pass through LLVM: their bytes go into a binary file that a
// tiny assembly file pulls in with `.incbin` under the symbol names
// llmc-externalize-weights chose. The system C compiler assembles it and
// links model object + weights + runtime archives into the `.so`.
//
//===----------------------------------------------------------------------===//
#include "llmc/Codegen/Emitter.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#ifndef LLMC_RUNTIME_ARCHIVES
#define LLMC_RUNTIME_ARCHIVES ""
#endif

using namespace mlir;

namespace llmc {

static LogicalResult run(ModuleOp module, ArrayRef<std::string> argv) {
  SmallVector<StringRef> args(argv.begin(), argv.end());
  std::string err;
  int rc = llvm::sys::ExecuteAndWait(argv[0], args, std::nullopt, {}, 0, 0, &err);
  if (rc != 0) {
    std::string cmd;
    for (auto &a : argv)
      cmd += a + " ";
    return module.emitError("command failed (exit ") << rc << "): " << cmd << err;
  }
  return success();
}

static std::string findCompiler() {
  if (const char *cc = getenv("LLMC_CC"))
    return cc;
  for (const char *name : {"cc", "gcc", "clang-22", "clang"})
    if (auto p = llvm::sys::findProgramByName(name))
      return *p;
  return "";
}

LogicalResult linkSharedLibrary(ModuleOp module, const std::string &modelObject,
                                const LinkOptions &opts) {
  std::string dir = opts.workDir;
  if (dir.empty()) {
    SmallString<128> tmp;
    if (llvm::sys::fs::createUniqueDirectory("llmc", tmp))
      return module.emitError("cannot create a temporary directory");
    dir = std::string(tmp);
  }
  auto path = [&](StringRef name) {
    SmallString<256> p(dir);
    llvm::sys::path::append(p, name);
    return std::string(p);
  };

  // 1. weights.bin + the assembly that names each blob.
  std::error_code ec;
  llvm::raw_fd_ostream bin(path("weights.bin"), ec, llvm::sys::fs::OF_None);
  if (ec)
    return module.emitError("cannot write weights: ") << ec.message();
  std::string asmText;
  llvm::raw_string_ostream as(asmText);
  // A large-data section ("l", SHF_X86_64_LARGE) is placed beyond the
  // code and small data, so weights over 2 GiB (1B+ parameter models) do
  // not push the code's 32-bit PC-relative references out of range.
  as << "  .section .lrodata.llmc_weights,\"al\",@progbits\n";
  uint64_t offset = 0;
  auto weights = module->getAttrOfType<DictionaryAttr>("llmc.weights");
  if (weights) {
    for (NamedAttribute w : weights) {
      auto attr = cast<DenseResourceElementsAttr>(w.getValue());
      AsmResourceBlob *blob = attr.getRawHandle().getBlob();
      if (!blob)
        return module.emitError("weight '") << w.getName() << "' has no data";
      ArrayRef<char> data = blob->getData();
      uint64_t pad = (64 - offset % 64) % 64;
      for (uint64_t i = 0; i < pad; ++i)
        bin << '\0';
      offset += pad;
      bin.write(data.data(), data.size());
      as << "  .globl " << w.getName() << "\n  .type " << w.getName()
         << ",@object\n  .p2align 6\n" << w.getName() << ":\n  .incbin \""
         << path("weights.bin") << "\", " << offset << ", " << data.size()
         << "\n  .size " << w.getName() << ", " << data.size() << "\n";
      offset += data.size();
    }
  }
  bin.close();

  // 2. Manifest and tokenizer as NUL-terminated strings.
  auto manifest = module->getAttrOfType<StringAttr>("llmc.manifest");
  if (!manifest)
    return module.emitError("module has no llmc.manifest (run llmc-lower-function-abi)");
  {
    llvm::raw_fd_ostream m(path("manifest.json"), ec);
    m << manifest.getValue();
  }
  as << "  .section .rodata.llmc_meta,\"a\",@progbits\n"
     << "  .globl llmc_manifest\n  .type llmc_manifest,@object\nllmc_manifest:\n"
     << "  .incbin \"" << path("manifest.json") << "\"\n  .byte 0\n";
  uint64_t tokSize = 0;
  as << "  .globl llmc_tokenizer_json\n  .type llmc_tokenizer_json,@object\n"
     << "llmc_tokenizer_json:\n";
  if (!opts.tokenizerPath.empty()) {
    uint64_t size;
    if (llvm::sys::fs::file_size(opts.tokenizerPath, size))
      return module.emitError("cannot read tokenizer '") << opts.tokenizerPath << "'";
    tokSize = size;
    SmallString<256> abs(opts.tokenizerPath);
    llvm::sys::fs::make_absolute(abs);
    as << "  .incbin \"" << abs << "\"\n";
  }
  as << "  .byte 0\n  .p2align 3\n  .globl llmc_tokenizer_json_size\n"
     << "llmc_tokenizer_json_size:\n  .quad " << tokSize << "\n"
     << "  .section .note.GNU-stack,\"\",@progbits\n";
  {
    llvm::raw_fd_ostream s(path("weights.S"), ec);
    s << asmText;
  }

  std::string cc = findCompiler();
  if (cc.empty())
    return module.emitError("no C compiler found to assemble and link (set LLMC_CC)");
  if (failed(run(module, {cc, "-c", path("weights.S"), "-o", path("weights.o")})))
    return failure();

  // 3. Link.
  std::string archives = opts.runtimeLibrary.empty() ? LLMC_RUNTIME_ARCHIVES
                                                     : opts.runtimeLibrary;
  if (const char *env = getenv("LLMC_RUNTIME_ARCHIVES"))
    archives = env;
  SmallVector<StringRef> parts;
  StringRef(archives).split(parts, '|', -1, false);
  if (parts.empty())
    return module.emitError("llmc was built without the runtime archives");
  std::vector<std::string> argv{cc, "-shared", "-o", opts.output, modelObject,
                                path("weights.o"), "-Wl,--whole-archive"};
  for (StringRef a : parts) {
    if (!llvm::sys::fs::exists(a))
      return module.emitError("runtime archive '") << a << "' not found";
    argv.push_back(a.str());
  }
  for (const char *f : {"-Wl,--no-whole-archive", "-lpcre2-8", "-lstdc++", "-lm",
                        "-lpthread", "-ldl"})
    argv.push_back(f);
  if (failed(run(module, argv)))
    return failure();
  if (!opts.keepWorkDir && opts.workDir.empty())
    llvm::sys::fs::remove_directories(dir);
  return success();
}

} // namespace llmc
