//===- BatchStep.cpp - a second entry that runs a ragged batch on a paged KV
//
// @main runs the new tokens of one sequence against its contiguous KV cache.
// A server wants one model step over many sequences at once: a few prompt
// chunks and many one-token decodes, each sequence at its own position, with
// KV in fixed-size blocks of a shared pool. This pass adds that entry as
// @step, a clone of the optimized @main where
//
//   * the new tokens of all sequences are concatenated (batch 1, T tokens):
//     every op except attention is row-wise, so only attention changes;
//   * each `kv_cache_append` + `attention` pair becomes one
//     `llm.paged_attention` that stores the new K/V in the pools and attends
//     causally within each sequence through its block table;
//   * the attention mask (derived from `attention_mask` and the past length)
//     goes away; if the mask input feeds anything else the pass fails;
//   * the LM head runs only on the rows listed in `logits_indices`.
//
// @step's arguments: input_ids [1, T], position_ids [1, T] (as @main), one
// pool per cache slot [num_blocks, KVH, block_size, D] (`llmc.kv_pool`),
// block_tables [S, max_blocks] i32, seq_starts [S + 1] i32,
// seq_positions [S] i32, logits_indices [N] i64; result: logits [1, N, V].
// Runs after fusion and packing, so both entries share the packed weights.
//
//===----------------------------------------------------------------------===//
#include "LMHead.h"
#include "llmc/Transforms/Passes.h"

#include "llvm/ADT/BitVector.h"

namespace llmc {
#define GEN_PASS_DEF_BATCHSTEP
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {

StringRef argName(func::FuncOp fn, unsigned i) {
  auto n = fn.getArgAttrOfType<StringAttr>(i, "llmc.name");
  return n ? n.getValue() : StringRef();
}

/// Erases ops without uses and side effects, last to first, until none is left.
void eraseDeadCode(func::FuncOp fn) {
  bool changed = true;
  while (changed) {
    changed = false;
    SmallVector<Operation *> ops;
    fn.walk([&](Operation *op) { ops.push_back(op); });
    for (Operation *op : llvm::reverse(ops))
      if (op != fn && isOpTriviallyDead(op)) {
        op->erase();
        changed = true;
      }
  }
}

struct BatchStepPass : public llmc::impl::BatchStepBase<BatchStepPass> {
  using BatchStepBase::BatchStepBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto main = module.lookupSymbol<func::FuncOp>("main");
    if (!main || main.isExternal())
      return;
    bool hasCache = false;
    for (unsigned i = 0; i < main.getNumArguments(); ++i)
      hasCache |= bool(main.getArgAttr(i, "llmc.cache_slot"));
    if (!hasCache)
      return; // not a decoder with a KV cache: nothing to batch
    if (failed(buildStep(module, main)))
      signalPassFailure();
  }

  LogicalResult buildStep(ModuleOp module, func::FuncOp main) {
    MLIRContext *ctx = &getContext();
    OpBuilder b(ctx);
    b.setInsertionPointAfter(main);
    auto step = cast<func::FuncOp>(b.clone(*main));
    step.setName("step");
    // Without `required` a graph that cannot run batched keeps @main only
    // (a warning; `llmc serve` then runs one session per sequence).
    auto fail = [&](const Twine &msg) {
      step.erase();
      if (!required) {
        main.emitWarning("no batch step: ") << msg;
        return success();
      }
      main.emitError("cannot build the batch step: ") << msg;
      return failure();
    };

    // Locate the arguments the step keeps, replaces or drops.
    std::optional<unsigned> ids, positions, mask;
    SmallVector<unsigned> cacheArgs;
    for (unsigned i = 0; i < step.getNumArguments(); ++i) {
      if (step.getArgAttr(i, "llmc.cache_slot"))
        cacheArgs.push_back(i);
      else if (argName(step, i) == "input_ids")
        ids = i;
      else if (argName(step, i) == "position_ids")
        positions = i;
      else if (argName(step, i) == "attention_mask")
        mask = i;
      else
        return fail("unexpected input '" + argName(step, i) +
                    "' (the step knows input_ids, position_ids, attention_mask and the KV cache)");
    }
    if (!ids || !positions)
      return fail("the model needs inputs named input_ids and position_ids");

    // New arguments: a pool per cache slot, then the batch description.
    auto i32 = b.getI32Type();
    auto dyn = ShapedType::kDynamic;
    Location loc = step.getLoc();
    DenseMap<Value, Value> poolOf; // cache arg -> pool arg
    auto addArg = [&](Type t, StringRef name, ArrayRef<StringRef> dims) {
      unsigned idx = step.getNumArguments();
      SmallVector<Attribute> dimAttrs;
      for (StringRef d : dims)
        dimAttrs.push_back(b.getStringAttr(d));
      SmallVector<NamedAttribute> attrs{b.getNamedAttr("llmc.name", b.getStringAttr(name)),
                                        b.getNamedAttr("llmc.dims", b.getArrayAttr(dimAttrs))};
      if (failed(step.insertArgument(idx, t, b.getDictionaryAttr(attrs), loc)))
        return Value();
      return Value(step.getArgument(idx));
    };
    for (unsigned i : cacheArgs) {
      auto t = cast<RankedTensorType>(step.getArgument(i).getType());
      if (t.getRank() != 4 || t.isDynamicDim(1) || t.isDynamicDim(3))
        return fail("KV-cache slot '" + argName(step, i) +
                    "' is not [batch, heads, seq, head_dim] with static heads and head_dim");
      int64_t slot = step.getArgAttrOfType<IntegerAttr>(i, "llmc.cache_slot").getInt();
      std::string heads = std::to_string(t.getDimSize(1)), dim = std::to_string(t.getDimSize(3));
      Value pool = addArg(RankedTensorType::get({dyn, t.getDimSize(1), dyn, t.getDimSize(3)},
                                                t.getElementType()),
                          ("kv_pool." + std::to_string(slot)),
                          {"num_blocks", heads, "block_size", dim});
      step.setArgAttr(cast<BlockArgument>(pool).getArgNumber(), "llmc.kv_pool",
                      b.getI64IntegerAttr(slot));
      poolOf[step.getArgument(i)] = pool;
    }
    Value tables = addArg(RankedTensorType::get({dyn, dyn}, i32), "block_tables",
                          {"num_seqs", "max_blocks"});
    Value starts = addArg(RankedTensorType::get({dyn}, i32), "seq_starts", {"num_seqs + 1"});
    Value seqPos = addArg(RankedTensorType::get({dyn}, i32), "seq_positions", {"num_seqs"});
    Value rowsWanted = addArg(RankedTensorType::get({dyn}, b.getI64Type()), "logits_indices",
                              {"num_logits"});
    if (!tables || !starts || !seqPos || !rowsWanted)
      return fail("cannot add arguments");

    // kv_cache_append + attention -> paged_attention.
    SmallVector<llm::AttentionOp> attentions;
    step.walk([&](llm::AttentionOp op) { attentions.push_back(op); });
    for (llm::AttentionOp att : attentions) {
      auto k = att.getKey().getDefiningOp<llm::KVCacheAppendOp>();
      auto v = att.getValue().getDefiningOp<llm::KVCacheAppendOp>();
      if (!k || !v || !poolOf.count(k.getPast()) || !poolOf.count(v.getPast()))
        return fail("an attention reads keys/values that are not the KV cache");
      if (!att.getCausal() && !att.getMask())
        return fail("an attention is neither causal nor masked (bidirectional)");
      // After llmc-fuse-rope the query rotation (attention) and the key
      // rotation (append) move into the paged op, which applies one cos/sin
      // to both: they must agree, and values are never rotated.
      if (v.getCos() || bool(k.getCos()) != bool(att.getCos()) ||
          (att.getCos() && (k.getCos() != att.getCos() || k.getSin() != att.getSin() ||
                            k.getRopeInterleaved() != att.getRopeInterleaved())))
        return fail("an attention and its KV cache appends apply different rotary embeddings");
      b.setInsertionPoint(att);
      auto paged = llm::PagedAttentionOp::create(
          b, att.getLoc(), att.getType(), att.getQuery(), k.getUpdate(), v.getUpdate(),
          poolOf[k.getPast()], poolOf[v.getPast()], tables, starts, seqPos, att.getCos(),
          att.getSin(), att.getScaleAttr(), b.getI64IntegerAttr(k.getSlot()),
          b.getI64IntegerAttr(v.getSlot()), b.getBoolAttr(att.getRopeInterleaved()));
      att.getResult().replaceAllUsesWith(paged.getResult());
      att.erase();
    }

    // Results: logits only (the present.* outputs live in the pools now).
    auto ret = cast<func::ReturnOp>(step.front().getTerminator());
    std::optional<unsigned> logitsIdx = lmhead::logitsResult(step);
    if (!logitsIdx)
      return fail("the model has no output named `logits`");
    llvm::BitVector dropResults(step.getNumResults());
    for (unsigned r = 0; r < step.getNumResults(); ++r)
      dropResults[r] = r != *logitsIdx;
    std::string why;
    Operation *head = lmhead::rowwiseHead(step, *logitsIdx, why);
    if (!head)
      return fail(why);

    // Gather the wanted rows of the head's input: [1, T, D] -> [1, N, D].
    b.setInsertionPoint(head);
    Value hidden = head->getOperand(0);
    auto ht = cast<RankedTensorType>(hidden.getType());
    auto flat = tensor::CollapseShapeOp::create(
        b, head->getLoc(), RankedTensorType::get({dyn, ht.getDimSize(2)}, ht.getElementType()),
        hidden, SmallVector<ReassociationIndices>{{0, 1}, {2}});
    auto rowIds = tensor::ExpandShapeOp::create(
        b, head->getLoc(), RankedTensorType::get({1, dyn}, b.getI64Type()), rowsWanted,
        SmallVector<ReassociationIndices>{{0, 1}},
        SmallVector<OpFoldResult>{b.getIndexAttr(1),
                                  OpFoldResult(tensor::DimOp::create(b, loc, rowsWanted, 0).getResult())});
    auto rows = llm::EmbeddingOp::create(
        b, head->getLoc(), RankedTensorType::get({1, dyn, ht.getDimSize(2)}, ht.getElementType()),
        flat, rowIds);
    Value logits = lmhead::cloneHeadOnRows(b, head, rows);
    ret->setOperand(*logitsIdx, logits);
    b.setInsertionPoint(ret);
    func::ReturnOp::create(b, ret.getLoc(), ValueRange{logits});
    ret.erase();
    if (failed(step.eraseResults(dropResults)))
      return fail("cannot drop the present.* outputs");
    step.setFunctionType(FunctionType::get(ctx, step.getArgumentTypes(), {logits.getType()}));
    step.setResultAttr(0, "llmc.dims",
                       b.getArrayAttr({b.getStringAttr("1"), b.getStringAttr("num_logits"),
                                       b.getStringAttr(std::to_string(
                                           cast<RankedTensorType>(logits.getType()).getDimSize(2)))}));

    eraseDeadCode(step);

    // Whatever still reads the cache slots or the mask cannot run batched.
    llvm::BitVector dropArgs(step.getNumArguments());
    for (unsigned i : cacheArgs) {
      if (!step.getArgument(i).use_empty())
        return fail("KV-cache slot '" + argName(step, i) + "' is read by more than attention");
      dropArgs.set(i);
    }
    if (mask) {
      for (Operation *user : step.getArgument(*mask).getUsers())
        return fail(Twine("the attention mask feeds '") + user->getName().getStringRef() +
                    "', not only attention masking; a batch step has no per-sequence mask");
      dropArgs.set(*mask);
    }
    if (failed(step.eraseArguments(dropArgs)))
      return fail("cannot drop the cache and mask arguments");
    for (unsigned i = 0; i < step.getNumArguments(); ++i)
      if (argName(step, i) == "input_ids" || argName(step, i) == "position_ids")
        step.setArgAttr(i, "llmc.dims",
                        b.getArrayAttr({b.getStringAttr("1"), b.getStringAttr("num_tokens")}));
    return success();
  }
};
} // namespace
