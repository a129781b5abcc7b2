//===- RaiseEmbedding.cpp - token embedding lookups to llm.embedding ------===//
#include "llmc/Transforms/Passes.h"

#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace llmc {
#define GEN_PASS_DEF_RAISEEMBEDDING
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {
struct EmbeddingPattern : public OpRewritePattern<onnx::GatherOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(onnx::GatherOp op, PatternRewriter &rw) const override {
    auto table = cast<RankedTensorType>(op.getData().getType());
    auto ids = cast<RankedTensorType>(op.getIndices().getType());
    if (op.getAxis().value_or(0) != 0 || table.getRank() != 2 ||
        !isa<FloatType>(table.getElementType()) || !ids.getElementType().isInteger() ||
        ids.getElementType().isInteger(1) || !matchPattern(op.getData(), m_Constant()))
      return rw.notifyMatchFailure(op, "not a row lookup in a constant [vocab, dim] table");
    rw.replaceOpWithNewOp<llm::EmbeddingOp>(op, op.getType(), op.getData(), op.getIndices());
    return success();
  }
};

struct RaiseEmbeddingPass : public llmc::impl::RaiseEmbeddingBase<RaiseEmbeddingPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<EmbeddingPattern>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
