//===- FuseGateUp.cpp - SwiGLU gate/up projections to one gated linear ----===//
//
// silu(x Wg) * (x Wu) reads x twice and writes two [M, N] intermediates; as
// one gated linear the kernel streams x once and keeps both tiles in
// registers until silu(gate) * up is stored.
//
//===----------------------------------------------------------------------===//
#include "LinearUtils.h"
#include "llmc/Transforms/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace llmc {
#define GEN_PASS_DEF_FUSEGATEUP
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {

struct GateUpPattern : public OpRewritePattern<llm::SwiGLUOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(llm::SwiGLUOp op, PatternRewriter &rw) const override {
    auto gate = op.getGate().getDefiningOp<llm::LinearOp>();
    auto up = op.getUp().getDefiningOp<llm::LinearOp>();
    if (!linear::isPlainConstantLinear(gate) || !linear::isPlainConstantLinear(up))
      return rw.notifyMatchFailure(op, "gate and up must be plain constant linears");
    if (gate == up || gate.getInput() != up.getInput() || !linear::sameNormalization(gate, up))
      return rw.notifyMatchFailure(op, "gate and up read different inputs");
    if (gate.getBias() || up.getBias())
      return rw.notifyMatchFailure(op, "biased projections are not fused");
    if (!gate->hasOneUse() || !up->hasOneUse())
      return rw.notifyMatchFailure(op, "projections have other uses");
    int64_t n = linear::weightColumns(gate);
    if (n != linear::weightColumns(up))
      return rw.notifyMatchFailure(op, "gate and up widths differ");
    auto gw = weights::readF32(gate.getWeight()), uw = weights::readF32(up.getWeight());
    auto gt = cast<RankedTensorType>(gate.getWeight().getType());
    int64_t k = gate.getTransposeWeight() ? gt.getDimSize(1) : gt.getDimSize(0);
    auto wt = RankedTensorType::get({k, 2 * n}, rw.getF32Type());
    Value w = weights::createConstant(rw, op.getLoc(), wt, weights::nameOf(gate.getWeight(), "gateup"),
                                      [&](void *p) {
                                        float *out = static_cast<float *>(p);
                                        linear::copyColumns(gate, *gw, 0, 2 * n, out);
                                        linear::copyColumns(up, *uw, n, 2 * n, out);
                                      });
    auto fused = llm::LinearOp::create(rw, op.getLoc(), op.getType(), gate.getInput(), w,
                                       Value(), /*transposeWeight=*/false);
    fused.setGated(true);
    if (auto eps = gate.getRmsEpsilonAttr())
      fused.setRmsEpsilonAttr(eps);
    rw.replaceOp(op, fused.getResult());
    rw.eraseOp(gate);
    rw.eraseOp(up);
    return success();
  }
};

struct FuseGateUpPass : public llmc::impl::FuseGateUpBase<FuseGateUpPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<GateUpPattern>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
