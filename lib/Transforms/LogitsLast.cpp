//===- LogitsLast.cpp - compute the `logits` output for the last position only
//
// Generation samples from the last position's logits; the LM head over every
// prompt position is the largest GEMM of a prefill ([S, dim] x [dim, vocab])
// and its result is thrown away. With this pass the hidden state is sliced
// to the last position before the LM head: the `logits` output becomes
// [B, 1, vocab] (the manifest says so, and the runtime reads that row).
// Perplexity needs every position, so it is opt-in (`--logits=last`).
//
//===----------------------------------------------------------------------===//
#include "LMHead.h"
#include "llmc/Transforms/Passes.h"

namespace llmc {
#define GEN_PASS_DEF_LOGITSLAST
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {

struct LogitsLastPass : public llmc::impl::LogitsLastBase<LogitsLastPass> {
  void runOnOperation() override {
    auto main = getOperation().lookupSymbol<func::FuncOp>("main");
    if (!main || main.isExternal())
      return;
    std::optional<unsigned> r = lmhead::logitsResult(main);
    if (!r) {
      main.emitWarning("--logits=last: no output named `logits`; nothing changed");
      return;
    }
    std::string why;
    Operation *head = lmhead::rowwiseHead(main, *r, why);
    if (!head) {
      main.emitWarning("--logits=last: ") << why << "; logits stay computed for every position";
      return;
    }
    OpBuilder b(head);
    Location loc = head->getLoc();
    Value x = head->getOperand(0);
    // Slice before a final norm that only feeds the head: normalize one row.
    auto norm = x.getDefiningOp<llm::RMSNormOp>();
    if (norm && norm->hasOneUse())
      x = norm.getInput();
    else
      norm = {};
    auto xt = cast<RankedTensorType>(x.getType());
    Value seq = tensor::DimOp::create(b, loc, x, 1);
    Value last = arith::SubIOp::create(b, loc, seq, arith::ConstantIndexOp::create(b, loc, 1));
    SmallVector<OpFoldResult> offsets{b.getIndexAttr(0), OpFoldResult(last), b.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes{
        xt.isDynamicDim(0) ? OpFoldResult(tensor::DimOp::create(b, loc, x, 0).getResult())
                           : OpFoldResult(b.getIndexAttr(xt.getDimSize(0))),
        b.getIndexAttr(1), b.getIndexAttr(xt.getDimSize(2))};
    SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
    auto sliceType = RankedTensorType::get({xt.getDimSize(0), 1, xt.getDimSize(2)},
                                           xt.getElementType());
    Value lastRow = tensor::ExtractSliceOp::create(b, loc, sliceType, x, offsets, sizes, strides);
    if (norm) {
      auto newNorm = cast<llm::RMSNormOp>(b.clone(*norm));
      newNorm.getInputMutable().assign(lastRow);
      newNorm.getResult().setType(sliceType);
      lastRow = newNorm.getResult();
    }
    Value logits = lmhead::cloneHeadOnRows(b, head, lastRow);
    auto ret = cast<func::ReturnOp>(main.front().getTerminator());
    ret->setOperand(*r, logits);
    if (head->use_empty())
      head->erase();
    if (norm && norm->use_empty())
      norm->erase();
    SmallVector<Type> results(main.getResultTypes());
    results[*r] = logits.getType();
    main.setFunctionType(FunctionType::get(&getContext(), main.getArgumentTypes(), results));
    if (auto dims = main.getResultAttrOfType<ArrayAttr>(*r, "llmc.dims"); dims && dims.size() == 3)
      main.setResultAttr(*r, "llmc.dims", b.getArrayAttr({dims[0], b.getStringAttr("1"), dims[2]}));
  }
};
} // namespace
