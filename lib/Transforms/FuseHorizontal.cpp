//===- FuseHorizontal.cpp - merge sibling linears reading one input (QKV) -===//
//
// Q, K and V projections read the same normalized activations. One GEMM over
// the concatenated weight streams the activations once, launches one
// parallel region instead of three and gives the kernel a wider N to split
// across threads (K/V alone are narrow under GQA).
//
//===----------------------------------------------------------------------===//
#include "LinearUtils.h"
#include "llmc/Transforms/Passes.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/MapVector.h"

namespace llmc {
#define GEN_PASS_DEF_FUSEHORIZONTAL
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {

/// Linears in a group must agree on everything but the weight columns.
bool compatible(llm::LinearOp a, llm::LinearOp b) {
  auto at = cast<RankedTensorType>(a.getType()), bt = cast<RankedTensorType>(b.getType());
  return linear::sameNormalization(a, b) && (bool)a.getBias() == (bool)b.getBias() &&
         at.getRank() == bt.getRank() && at.getElementType() == bt.getElementType() &&
         at.getShape().drop_back() == bt.getShape().drop_back();
}

bool candidate(llm::LinearOp op) {
  if (!linear::isPlainConstantLinear(op))
    return false;
  if (op.getBias() && !weights::isReadableF32Constant(op.getBias()))
    return false;
  return !ShapedType::isDynamic(cast<RankedTensorType>(op.getType()).getShape().back());
}

void fuseGroup(ArrayRef<llm::LinearOp> group) {
  llm::LinearOp first = group.front();
  for (llm::LinearOp op : group)
    if (op->isBeforeInBlock(first))
      first = op;
  OpBuilder b(first);
  Location loc = b.getFusedLoc(llvm::map_to_vector(group, [](llm::LinearOp o) { return o.getLoc(); }));
  int64_t total = 0;
  for (llm::LinearOp op : group)
    total += linear::weightColumns(op);
  auto gt = cast<RankedTensorType>(first.getWeight().getType());
  int64_t k = first.getTransposeWeight() ? gt.getDimSize(1) : gt.getDimSize(0);
  Value w = weights::createConstant(
      b, loc, RankedTensorType::get({k, total}, b.getF32Type()),
      weights::nameOf(first.getWeight(), "merged"), [&](void *p) {
        int64_t off = 0;
        for (llm::LinearOp op : group) {
          linear::copyColumns(op, *weights::readF32(op.getWeight()), off, total,
                              static_cast<float *>(p));
          off += linear::weightColumns(op);
        }
      });
  Value bias;
  if (first.getBias())
    bias = weights::createConstant(b, loc, RankedTensorType::get({total}, b.getF32Type()),
                                   weights::nameOf(first.getBias(), "merged"), [&](void *p) {
                                     float *out = static_cast<float *>(p);
                                     for (llm::LinearOp op : group) {
                                       std::vector<float> v = *weights::readF32(op.getBias());
                                       out = std::copy(v.begin(), v.end(), out);
                                     }
                                   });
  auto rt = cast<RankedTensorType>(first.getType());
  SmallVector<int64_t> shape(rt.getShape());
  shape.back() = total;
  auto fused = llm::LinearOp::create(b, loc, RankedTensorType::get(shape, rt.getElementType()),
                                     first.getInput(), w, bias, /*transposeWeight=*/false);
  if (auto eps = first.getRmsEpsilonAttr())
    fused.setRmsEpsilonAttr(eps);
  // Each original result is a column slice of the merged one (created
  // behind it: the group's ops, including `first`, are erased below).
  b.setInsertionPointAfter(fused);
  int64_t rank = rt.getRank();
  SmallVector<OpFoldResult> sizes;
  for (int64_t i = 0; i < rank - 1; ++i)
    sizes.push_back(ShapedType::isDynamic(rt.getDimSize(i))
                        ? OpFoldResult(tensor::DimOp::create(b, loc, fused.getResult(), i).getResult())
                        : OpFoldResult(b.getIndexAttr(rt.getDimSize(i))));
  sizes.push_back(b.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
  int64_t off = 0;
  SmallVector<Value> slices;
  for (llm::LinearOp op : group) {
    int64_t n = linear::weightColumns(op);
    SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0));
    offsets.back() = b.getIndexAttr(off);
    sizes.back() = b.getIndexAttr(n);
    slices.push_back(tensor::ExtractSliceOp::create(b, op.getLoc(),
                                                    cast<RankedTensorType>(op.getType()),
                                                    fused.getResult(), offsets, sizes, strides));
    off += n;
  }
  for (size_t i = 0; i < group.size(); ++i) {
    llm::LinearOp op = group[i];
    op.getResult().replaceAllUsesWith(slices[i]);
    op.erase();
  }
}

struct FuseHorizontalPass : public llmc::impl::FuseHorizontalBase<FuseHorizontalPass> {
  void runOnOperation() override {
    // input value -> groups of compatible linears reading it, in order.
    llvm::MapVector<Value, SmallVector<SmallVector<llm::LinearOp>>> byInput;
    getOperation().walk([&](llm::LinearOp op) {
      if (!candidate(op))
        return;
      auto &groups = byInput[op.getInput()];
      for (auto &g : groups)
        if (g.front()->getBlock() == op->getBlock() && compatible(g.front(), op)) {
          g.push_back(op);
          return;
        }
      groups.push_back({op});
    });
    for (auto &[input, groups] : byInput)
      for (auto &g : groups)
        if (g.size() > 1)
          fuseGroup(g);
  }
};
} // namespace
