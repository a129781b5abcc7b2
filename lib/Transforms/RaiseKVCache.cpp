//===- RaiseKVCache.cpp - find KV-cache slots in a decoder graph ----------===//
#include "llmc/Transforms/Passes.h"

namespace llmc {
#define GEN_PASS_DEF_RAISEKVCACHE
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {
struct RaiseKVCachePass : public llmc::impl::RaiseKVCacheBase<RaiseKVCachePass> {
  void runOnOperation() override {
    auto main = getOperation().lookupSymbol<func::FuncOp>("main");
    if (!main)
      return;
    auto ret = cast<func::ReturnOp>(main.getBody().front().getTerminator());
    OpBuilder b(&getContext());
    int64_t slot = 0;
    for (BlockArgument arg : main.getArguments()) {
      // Exactly one Concat consumes the slot; other users may only read its
      // shape (exporters compute the past length with Shape).
      onnx::ConcatOp concat;
      bool onlyShapeReads = true;
      for (Operation *user : arg.getUsers()) {
        if (auto c = dyn_cast<onnx::ConcatOp>(user)) {
          if (concat && concat != c)
            onlyShapeReads = false;
          concat = c;
        } else if (!isa<onnx::ShapeOp>(user)) {
          onlyShapeReads = false;
        }
      }
      if (!concat || !onlyShapeReads || concat.getInputs().size() != 2 ||
          concat.getInputs()[0] != arg || concat.getInputs()[1] == arg)
        continue;
      auto type = cast<RankedTensorType>(arg.getType());
      int64_t axis = concat.getAxis();
      if (axis < 0)
        axis += type.getRank();
      // A cache grows: its past length must be symbolic (a static concat of
      // inputs is an ordinary Concat).
      if (!type.isDynamicDim(axis))
        continue;
      // The concatenated tensor must be returned (the `present` output).
      std::optional<unsigned> resultIdx;
      for (OpOperand &use : concat.getResult().getUses())
        if (use.getOwner() == ret)
          resultIdx = use.getOperandNumber();
      if (!resultIdx)
        continue;
      b.setInsertionPoint(concat);
      auto append = llm::KVCacheAppendOp::create(
          b, concat.getLoc(), concat.getType(), arg, concat.getInputs()[1],
          b.getI64IntegerAttr(axis), b.getI64IntegerAttr(slot));
      concat.replaceAllUsesWith(append.getResult());
      concat.erase();
      main.setArgAttr(arg.getArgNumber(), "llmc.cache_slot", b.getI64IntegerAttr(slot));
      main.setArgAttr(arg.getArgNumber(), "llmc.cache_axis", b.getI64IntegerAttr(axis));
      main.setResultAttr(*resultIdx, "llmc.cache_slot", b.getI64IntegerAttr(slot));
      ++slot;
    }
  }
};
} // namespace
