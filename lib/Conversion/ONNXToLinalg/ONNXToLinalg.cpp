//===- ONNXToLinalg.cpp - the generic lowering pass -----------------------===//
#include "LoweringUtils.h"

#include "llmc/Conversion/Passes.h"
#include "llmc/Dialect/ONNX/ONNXDialect.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace llmc {
#define GEN_PASS_DEF_CONVERTONNXTOLINALG
#include "llmc/Conversion/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {
struct ConvertONNXToLinalgPass
    : public llmc::impl::ConvertONNXToLinalgBase<ConvertONNXToLinalgPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    lowering::populateElementwisePatterns(patterns);
    lowering::populateContractionPatterns(patterns);
    lowering::populateReductionPatterns(patterns);
    lowering::populateDataMovementPatterns(patterns);
    GreedyRewriteConfig config;
    config.setUseTopDownTraversal(true);
    (void)applyPatternsGreedily(getOperation(), std::move(patterns), config);
    // Whatever is left could not be lowered: report it at its ONNX node.
    bool failedAny = false;
    getOperation().walk([&](Operation *op) {
      if (!isa<onnx::ONNXDialect>(op->getDialect()) || isa<onnx::NoValueOp>(op))
        return;
      std::string types;
      llvm::raw_string_ostream os(types);
      llvm::interleaveComma(op->getOperandTypes(), os);
      auto isUnsigned = [](Type t) {
        auto rt = dyn_cast<RankedTensorType>(t);
        return rt && rt.getElementType().isUnsignedInteger();
      };
      bool anyUnsigned = llvm::any_of(op->getOperandTypes(), isUnsigned) ||
                         llvm::any_of(op->getResultTypes(), isUnsigned);
      op->emitError() << "cannot lower '" << op->getName()
                      << "' with operand types (" << types << "): "
                      << (anyUnsigned
                              ? "unsigned integer element types are not supported"
                              : "unsupported element type or attribute");
      failedAny = true;
    });
    getOperation().walk([](onnx::NoValueOp op) {
      if (op->use_empty())
        op->erase();
    });
    if (failedAny)
      signalPassFailure();
  }
};
} // namespace
