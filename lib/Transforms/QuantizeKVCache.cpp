//===- QuantizeKVCache.cpp - int8 / bf16 KV-cache rows (--kv-cache) -------===//
//
// The KV cache is the memory that grows with context and batch: at f32 a
// SmolLM2 token costs 30 layers x 2 x 3 heads x 64 x 4 bytes = 45 KiB. This
// pass retypes it so each cached row (one token, one KV head: D values) is
// D int8 codes + its f32 scale, [.., D] f32 -> [.., D + 4] i8 (about 3.8x
// smaller at D = 64). Only types change here; the row format is the runtime's
// (runtime/kernels/KVQuant.h), whose store kernels quantize new rows and whose
// attention kernels read the codes. With bf16 a row stays D values, each the
// f32 rounded to bf16 (2x smaller, no scale): [.., D] f32 -> [.., D] bf16.
// Keeping "dtype x dims" in the manifest lets the runtime allocate session
// caches and paged pools unchanged.
//
//===----------------------------------------------------------------------===//
#include "llmc/Transforms/Passes.h"

namespace llmc {
#define GEN_PASS_DEF_QUANTIZEKVCACHE
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {

constexpr int64_t kScaleBytes = 4; // f32 scale behind the codes of a row

/// [B, KVH, T, D] f32 -> [B, KVH, T, D + 4] i8 (int8) or [B, KVH, T, D] bf16.
RankedTensorType storedRows(RankedTensorType t, bool bf16) {
  if (bf16)
    return RankedTensorType::get(t.getShape(), BFloat16Type::get(t.getContext()));
  SmallVector<int64_t> shape(t.getShape());
  shape.back() += kScaleBytes;
  return RankedTensorType::get(shape, IntegerType::get(t.getContext(), 8));
}

/// Rewrites `llmc.dims` (if any) so its last entry is the new row size.
DictionaryAttr withRowDim(DictionaryAttr attrs, int64_t rowBytes) {
  if (!attrs)
    return attrs;
  auto dims = attrs.getAs<ArrayAttr>("llmc.dims");
  if (!dims || dims.empty())
    return attrs;
  SmallVector<Attribute> d(dims.begin(), dims.end());
  d.back() = StringAttr::get(attrs.getContext(), std::to_string(rowBytes));
  NamedAttrList list(attrs);
  list.set("llmc.dims", ArrayAttr::get(attrs.getContext(), d));
  return list.getDictionary(attrs.getContext());
}

struct QuantizeKVCachePass : public llmc::impl::QuantizeKVCacheBase<QuantizeKVCachePass> {
  using QuantizeKVCacheBase::QuantizeKVCacheBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (dtype == "f32")
      return;
    if (dtype != "int8" && dtype != "bf16") {
      module.emitError() << "unknown KV-cache type '" << dtype
                         << "' (expected f32, int8 or bf16)";
      return signalPassFailure();
    }
    auto main = module.lookupSymbol<func::FuncOp>("main");
    if (!main || main.isExternal())
      return;
    if (module.lookupSymbol<func::FuncOp>("step")) {
      module.emitError("llmc-quantize-kv-cache must run before llmc-batch-step");
      return signalPassFailure();
    }
    if (failed(quantize(main)))
      signalPassFailure();
  }

  LogicalResult quantize(func::FuncOp main) {
    const bool bf16 = dtype == "bf16";
    auto ret = cast<func::ReturnOp>(main.getBody().front().getTerminator());
    SmallVector<Type> resultTypes(main.getResultTypes());
    for (unsigned i = 0; i < main.getNumArguments(); ++i) {
      if (!main.getArgAttr(i, "llmc.cache_slot"))
        continue;
      BlockArgument arg = main.getArgument(i);
      auto name = main.getArgAttrOfType<StringAttr>(i, "llmc.name");
      auto fail = [&](const Twine &why) {
        return main.emitError() << "--kv-cache=" << dtype << ": KV-cache slot '"
                                << (name ? name.getValue() : StringRef("?")) << "' " << why;
      };
      auto t = cast<RankedTensorType>(arg.getType());
      auto axis = main.getArgAttrOfType<IntegerAttr>(i, "llmc.cache_axis");
      if (t.getRank() != 4 || !t.getElementType().isF32() || t.isDynamicDim(3) ||
          (axis && axis.getInt() != 2))
        return fail("is not an f32 [batch, heads, seq, head_dim] tensor with a static head_dim "
                    "growing along axis 2");
      RankedTensorType stored = storedRows(t, bf16);

      SmallVector<Operation *> users(arg.getUsers().begin(), arg.getUsers().end());
      for (Operation *user : users) {
        if (auto append = dyn_cast<llm::KVCacheAppendOp>(user)) {
          if (append.getPast() != arg)
            return fail("is appended to another slot");
          auto rt = cast<RankedTensorType>(append.getType());
          append.getResult().setType(storedRows(rt, bf16));
          for (OpOperand &use : append.getResult().getUses()) {
            Operation *owner = use.getOwner();
            if (owner == ret) { // the present.* output: same row type
              unsigned r = use.getOperandNumber();
              resultTypes[r] = append.getType();
              main.setResultAttrs(r, withRowDim(main.getResultAttrDict(r), stored.getShape().back()));
            } else if (!isa<llm::AttentionOp>(owner)) {
              return fail(Twine("feeds '") + owner->getName().getStringRef() +
                          "', which cannot read " + dtype + " KV-cache rows");
            } // attention: its keys and values must both be stored rows (checked below)
          }
        } else if (auto shape = dyn_cast<onnx::ShapeOp>(user)) {
          if (!bf16) // bf16 rows keep their shape
            replaceShape(shape, t);
        } else {
          return fail(Twine("is read by '") + user->getName().getStringRef() +
                      "', which cannot read " + dtype + " KV-cache rows");
        }
      }
      arg.setType(stored);
      main.setArgAttrs(i, withRowDim(main.getArgAttrDict(i), stored.getShape().back()));
    }
    // Attention reads keys and values of one kind.
    WalkResult walk = main.walk([&](llm::AttentionOp att) {
      auto isF32 = [](Value v) {
        return cast<RankedTensorType>(v.getType()).getElementType().isF32();
      };
      if (isF32(att.getKey()) != isF32(att.getValue())) {
        att.emitError() << "--kv-cache=" << dtype
                        << ": attention reads one cached and one uncached operand among its "
                           "keys and values";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return failure();
    main.setFunctionType(FunctionType::get(
        main.getContext(), main.getBody().front().getArgumentTypes(), resultTypes));
    return success();
  }

  /// onnx.Shape of a slot (exporters read the past length with it) keeps
  /// its values: the new last dim minus the scale bytes.
  void replaceShape(onnx::ShapeOp shape, RankedTensorType oldType) {
    int64_t rank = oldType.getRank();
    int64_t start = shape.getStart().value_or(0), end = shape.getEnd().value_or(rank);
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start = std::clamp<int64_t>(start, 0, rank);
    end = std::clamp<int64_t>(end, 0, rank);
    if (end <= start || end != rank)
      return; // the head_dim entry is not part of the result
    auto st = cast<RankedTensorType>(shape.getType());
    SmallVector<int64_t> fix(end - start, 0);
    fix.back() = kScaleBytes;
    OpBuilder b(shape->getContext());
    b.setInsertionPointAfter(shape);
    auto c = arith::ConstantOp::create(
        b, shape.getLoc(),
        DenseElementsAttr::get(RankedTensorType::get({end - start}, st.getElementType()),
                               ArrayRef<int64_t>(fix)));
    auto sub = onnx::SubOp::create(b, shape.getLoc(), st, shape.getResult(), c.getResult());
    shape.getResult().replaceAllUsesExcept(sub.getResult(), sub);
  }
};

} // namespace
