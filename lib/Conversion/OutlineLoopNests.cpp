//===- OutlineLoopNests.cpp - one function per top-level loop body --------===//
#include "llmc/Conversion/Passes.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/IR/PatternMatch.h"

namespace llmc {
#define GEN_PASS_DEF_OUTLINELOOPNESTS
#include "llmc/Conversion/Passes.h.inc"
} // namespace llmc

using namespace mlir;

namespace {
struct OutlineLoopNestsPass
    : public llmc::impl::OutlineLoopNestsBase<OutlineLoopNestsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<scf::ForOp> loops;
    for (auto func : module.getOps<func::FuncOp>())
      if (!func.isExternal())
        for (Operation &op : func.getBody().front())
          if (auto loop = dyn_cast<scf::ForOp>(op))
            loops.push_back(loop);
    IRRewriter rewriter(&getContext());
    int counter = 0;
    for (scf::ForOp loop : loops) {
      rewriter.setInsertionPoint(loop);
      auto fn = outlineSingleBlockRegion(rewriter, loop.getLoc(), loop.getRegion(),
                                         "llmc_loop_" + std::to_string(counter++));
      if (failed(fn)) {
        loop.emitError("cannot outline loop nest");
        return signalPassFailure();
      }
      fn->setPrivate();
    }
  }
};
} // namespace
