//===- ExternalizeWeights.cpp - weights leave the IR as symbols -----------===//
#include "llmc/Conversion/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/SymbolTable.h"

namespace llmc {
#define GEN_PASS_DEF_EXTERNALIZEWEIGHTS
#include "llmc/Conversion/Passes.h.inc"
} // namespace llmc

using namespace mlir;

namespace {
struct ExternalizeWeightsPass
    : public llmc::impl::ExternalizeWeightsBase<ExternalizeWeightsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<NamedAttribute> weights;
    SymbolTable symbols(module);
    int counter = 0;
    for (auto global : llvm::make_early_inc_range(module.getOps<memref::GlobalOp>())) {
      auto init = global.getInitialValue();
      if (!init)
        continue;
      auto blob = dyn_cast<DenseResourceElementsAttr>(*init);
      if (!blob)
        continue;
      std::string name = "llmc_weight_" + std::to_string(counter++);
      if (failed(symbols.rename(global, name))) {
        global.emitError("cannot rename weight global");
        return signalPassFailure();
      }
      global.removeInitialValueAttr();
      global.setPublic();
      weights.push_back(NamedAttribute(StringAttr::get(&getContext(), name), blob));
    }
    module->setAttr("llmc.weights", DictionaryAttr::get(&getContext(), weights));
  }
};
} // namespace
