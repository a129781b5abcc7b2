//===- RaiseCausalMask.cpp - exported causal masks to llm.attention causal ===//
//
// Decoder exports build the causal mask out of ONNX ops (transformers'
// cache_position construction):
//
//   rows   = Range(past, past + S, 1)            past = Shape(cache slot)[2]
//   keys   = Range(0, T, 1)                      S    = Shape(input_ids)[1]
//   future = Greater(keys, Unsqueeze(rows, 1))   [S, T]
//   mask   = Where(Or(future', padded), -big, 0) future' = future with
//                                                leading unit axes
//
// llm.attention computes that mask's causal half itself when `causal` is
// set, and then never visits the keys after a query's position (half the
// work of a prefill). This pass sets `causal` and keeps only the padding
// half (`padded`) as the mask, or no mask at all.
//
//===----------------------------------------------------------------------===//
#include "MatchUtils.h"
#include "llmc/Dialect/LLM/LLMDialect.h"
#include "llmc/Dialect/ONNX/ONNXDialect.h"
#include "llmc/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Verifier.h"

#include <cmath>

namespace llmc {
#define GEN_PASS_DEF_RAISECAUSALMASK
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;
using namespace llmc::match;

namespace {

/// v = Gather(Shape(x), i) on axis 0 with a scalar index: (x, i), else null.
std::optional<std::pair<Value, int64_t>> shapeDim(Value v) {
  auto gather = def<onnx::GatherOp>(v);
  if (!gather || gather.getAxis().value_or(0) != 0 || rankOf(gather.getIndices()) != 0)
    return std::nullopt;
  auto shape = def<onnx::ShapeOp>(gather.getData());
  if (!shape || shape.getStart().value_or(0) != 0 || shape.getEnd())
    return std::nullopt;
  auto index = scalarConstant(gather.getIndices());
  if (!index)
    return std::nullopt;
  int64_t rank = rankOf(shape.getData()), i = int64_t(*index);
  if (i < 0)
    i += rank;
  if (i < 0 || i >= rank)
    return std::nullopt;
  return std::make_pair(shape.getData(), i);
}

/// The axes an Unsqueeze inserts, normalized to its result rank.
std::optional<SmallVector<int64_t>> unsqueezeAxes(onnx::UnsqueezeOp op) {
  auto axes = axesOf(op.getAxes(), op.getAxesInput());
  if (!axes)
    return std::nullopt;
  int64_t rank = rankOf(op.getResult());
  for (int64_t &a : *axes)
    if (a < 0)
      a += rank;
  return axes;
}

/// Range(start, limit, 1): (start, limit), else null.
std::optional<std::pair<Value, Value>> unitRange(Value v) {
  auto range = def<onnx::RangeOp>(v);
  auto step = range ? scalarConstant(range.getDelta()) : std::nullopt;
  if (!step || *step != 1.0)
    return std::nullopt;
  return std::make_pair(range.getStart(), range.getLimit());
}

class CausalMaskMatcher {
public:
  explicit CausalMaskMatcher(func::FuncOp fn) : fn_(fn) {}

  /// True if `cond` ([S, T] plus leading unit axes) is true exactly for the
  /// keys after each query's absolute position: key t > past + s.
  bool isFuture(Value cond) {
    // Leading unit axes only (they broadcast over batch and heads).
    while (auto unsq = def<onnx::UnsqueezeOp>(cond)) {
      auto axes = unsqueezeAxes(unsq);
      int64_t rank = rankOf(unsq.getResult());
      if (!axes || llvm::any_of(*axes, [&](int64_t a) { return a < 0 || a >= rank - 2; }))
        return false;
      cond = unsq.getData();
    }
    if (rankOf(cond) != 2)
      return false;
    Value keys, rows; // keys > rows
    if (auto gt = def<onnx::GreaterOp>(cond)) {
      keys = gt.getA();
      rows = gt.getB();
    } else if (auto lt = def<onnx::LessOp>(cond)) {
      keys = lt.getB();
      rows = lt.getA();
    } else {
      return false;
    }
    // keys: Range(0, T) along the last axis (T is the attention's key
    // length: the mask broadcasts to [B, H, S, T]).
    auto keyRange = unitRange(keys);
    if (!keyRange || rankOf(keys) != 1 || scalarConstant(keyRange->first) != 0.0)
      return false;
    // rows: Unsqueeze(Range(past, past + S), 1), a column [S, 1].
    auto unsq = def<onnx::UnsqueezeOp>(rows);
    auto axes = unsq ? unsqueezeAxes(unsq) : std::nullopt;
    if (!axes || *axes != SmallVector<int64_t>{1} || rankOf(unsq.getData()) != 1)
      return false;
    auto rowRange = unitRange(unsq.getData());
    if (!rowRange || !isPastLength(rowRange->first))
      return false;
    auto add = def<onnx::AddOp>(rowRange->second);
    if (!add)
      return false;
    auto parts = ordered(add.getA(), add.getB(),
                         [&](Value x) { return x == rowRange->first; });
    return parts && isQueryLength(parts->second);
  }

private:
  /// Shape(cache slot)[cache axis]: the number of cached positions. The
  /// runtime keeps one length per sequence, so every slot has the same.
  bool isPastLength(Value v) {
    auto dim = shapeDim(v);
    auto arg = dim ? dyn_cast<BlockArgument>(dim->first) : BlockArgument();
    if (!arg || arg.getOwner()->getParentOp() != fn_.getOperation())
      return false;
    auto axis = fn_.getArgAttrOfType<IntegerAttr>(arg.getArgNumber(), "llmc.cache_axis");
    return axis && fn_.getArgAttr(arg.getArgNumber(), "llmc.cache_slot") &&
           axis.getInt() == dim->second;
  }

  /// Shape(ids)[1] where ids are the token ids the model embeds: the number
  /// of new positions, which is the query length S of every attention.
  bool isQueryLength(Value v) {
    auto dim = shapeDim(v);
    auto arg = dim ? dyn_cast<BlockArgument>(dim->first) : BlockArgument();
    if (!arg || arg.getOwner()->getParentOp() != fn_.getOperation() || dim->second != 1 ||
        rankOf(arg) != 2)
      return false;
    return llvm::any_of(arg.getUsers(), [&](Operation *user) {
      auto emb = dyn_cast<llm::EmbeddingOp>(user);
      return emb && emb.getIds() == arg;
    });
  }

  func::FuncOp fn_;
};

/// A scalar constant that masks a score out: float32 min or below, or -inf.
bool isMaskedValue(Value v) {
  auto c = scalarConstant(v);
  return c && (std::isinf(*c) ? *c < 0 : *c <= -1e30);
}

struct RaiseCausalMaskPass : public llmc::impl::RaiseCausalMaskBase<RaiseCausalMaskPass> {
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    CausalMaskMatcher matcher(fn);
    SmallVector<llm::AttentionOp> attentions;
    fn.walk([&](llm::AttentionOp op) { attentions.push_back(op); });
    for (llm::AttentionOp att : attentions) {
      if (att.getCausal() || !att.getMask())
        continue;
      // Keys = the cache + the S new ones, so T - S is the cached length
      // that the mask's rows start from.
      if (!att.getKey().getDefiningOp<llm::KVCacheAppendOp>() ||
          !att.getValue().getDefiningOp<llm::KVCacheAppendOp>())
        continue;
      auto where = def<onnx::WhereOp>(att.getMask());
      if (!where || !isMaskedValue(where.getX()) || scalarConstant(where.getY()) != 0.0)
        continue;
      // The condition: the future alone, or Or(future, padding).
      Value cond = where.getCondition(), padding;
      if (!matcher.isFuture(cond)) {
        auto orOp = def<onnx::OrOp>(cond);
        if (!orOp)
          continue;
        auto parts = ordered(orOp.getA(), orOp.getB(),
                             [&](Value x) { return matcher.isFuture(x); });
        if (!parts)
          continue;
        padding = parts->second;
      }
      OpBuilder b(att);
      Value mask;
      if (padding) {
        // Where(padding, -big, 0): the same broadcast, without the [S, T] part.
        auto pt = cast<RankedTensorType>(padding.getType());
        if (pt.getRank() > 4 || rankOf(where.getX()) > pt.getRank() ||
            rankOf(where.getY()) > pt.getRank())
          continue;
        mask = onnx::WhereOp::create(b, where.getLoc(),
                                     RankedTensorType::get(pt.getShape(), b.getF32Type()),
                                     padding, where.getX(), where.getY());
      }
      auto causal = llm::AttentionOp::create(
          b, att.getLoc(), att.getType(), att.getQuery(), att.getKey(), att.getValue(), mask,
          att.getCos(), att.getSin(), att.getScaleAttr(), b.getBoolAttr(true),
          att.getRopeInterleavedAttr());
      if (failed(verify(causal))) {
        causal.erase();
        if (mask)
          mask.getDefiningOp()->erase();
        continue;
      }
      att.getResult().replaceAllUsesWith(causal.getResult());
      att.erase();
    }
  }
};

} // namespace
