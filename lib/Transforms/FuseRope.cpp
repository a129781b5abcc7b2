//===- FuseRope.cpp - rotary embedding applied inside attention ------------===//
//
// After raising, each layer rotates its queries and new keys in two separate
// passes over memory (llm.rotary, broadcast cos/sin tables), then appends the
// keys to the cache and attends:
//
//   q = rotary(q0, cos, sin); k = rotary(k0, cos, sin)
//   kc = kv_cache_append(past_k, k); o = attention(q, kc, vc, mask)
//
// This pass moves the rotation into the consumers: the attention kernel
// rotates each query row as it loads it into its tile, and the keys are
// rotated where they are written into the cache:
//
//   kc = kv_cache_append(past_k, k0) rope(cos, sin)
//   o  = attention(q0, kc, vc, mask) rope(cos, sin)
//
// and the same for the batch step's `paged_attention` (which both stores the
// new keys and attends). It only fuses what is provably the same
// computation: queries and keys rotated with the same cos/sin values in the
// same form, rotaries used by nothing else, equal even head sizes, cos/sin
// broadcasting to both (checked by the ops' verifiers). Anything else keeps
// its llm.rotary (V rotaries, rotaries feeding other ops, different tables).
//
//===----------------------------------------------------------------------===//
#include "llmc/Transforms/Passes.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"

namespace llmc {
#define GEN_PASS_DEF_FUSEROPE
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {

/// The rotary producing `v`, if `v` has no other use (fusing a rotary that
/// something else reads would compute the rotation twice).
llm::RotaryOp soleRotary(Value v) {
  auto r = v.getDefiningOp<llm::RotaryOp>();
  return r && r->hasOneUse() ? r : llm::RotaryOp();
}

/// Same tables, same form, f32 and equal static even head sizes.
bool compatible(llm::RotaryOp q, llm::RotaryOp k) {
  if (q.getCos() != k.getCos() || q.getSin() != k.getSin() ||
      q.getInterleaved() != k.getInterleaved())
    return false;
  auto qt = cast<RankedTensorType>(q.getInput().getType());
  auto kt = cast<RankedTensorType>(k.getInput().getType());
  int64_t d = qt.getShape().back();
  return qt.getRank() == 4 && kt.getRank() == 4 && qt.getElementType().isF32() &&
         kt.getElementType().isF32() && !ShapedType::isDynamic(d) && d % 2 == 0 &&
         kt.getShape().back() == d;
}

/// `op` if it verifies; otherwise it is erased and null returned (the
/// verifier's complaint is not an error here, only a reason not to fuse).
template <typename OpTy> OpTy verified(OpTy op) {
  ScopedDiagnosticHandler quiet(op->getContext(), [](Diagnostic &) { return success(); });
  if (succeeded(verify(op)))
    return op;
  op.erase();
  return OpTy();
}

struct FuseRopePass : public llmc::impl::FuseRopeBase<FuseRopePass> {
  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (isa<llm::AttentionOp, llm::PagedAttentionOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      if (auto att = dyn_cast<llm::AttentionOp>(op))
        fuse(att);
      else
        fuse(cast<llm::PagedAttentionOp>(op));
    }
  }

  /// Contiguous cache: the query rotary goes into the attention, the key
  /// rotary into the kv_cache_append that produces its keys. An append that
  /// already rotates (another attention reading the same cache fused
  /// first) is fine if it uses the same tables and form. Both new ops are
  /// built and verified before anything is replaced: all or nothing.
  void fuse(llm::AttentionOp att) {
    if (att.getCos())
      return;
    llm::RotaryOp rq = soleRotary(att.getQuery());
    auto append = att.getKey().getDefiningOp<llm::KVCacheAppendOp>();
    if (!rq || !append)
      return;
    OpBuilder b(att);
    llm::RotaryOp rk;
    llm::KVCacheAppendOp fusedAppend;
    if (!append.getCos()) {
      rk = soleRotary(append.getUpdate());
      if (!rk || !compatible(rq, rk))
        return;
      b.setInsertionPoint(append);
      // The append keeps computing concat(past, rotary(k)) for every reader
      // of the cache (the present.* output included).
      fusedAppend = verified(llm::KVCacheAppendOp::create(
          b, append.getLoc(), append.getType(), append.getPast(), rk.getInput(), rk.getCos(),
          rk.getSin(), append.getAxisAttr(), append.getSlotAttr(),
          b.getBoolAttr(rk.getInterleaved())));
      if (!fusedAppend)
        return;
    } else if (append.getCos() != rq.getCos() || append.getSin() != rq.getSin() ||
               append.getRopeInterleaved() != rq.getInterleaved()) {
      return;
    }
    b.setInsertionPoint(att);
    auto fused = verified(llm::AttentionOp::create(
        b, att.getLoc(), att.getType(), rq.getInput(), att.getKey(), att.getValue(),
        att.getMask(), rq.getCos(), rq.getSin(), att.getScaleAttr(), att.getCausalAttr(),
        b.getBoolAttr(rq.getInterleaved())));
    if (!fused) {
      if (fusedAppend)
        fusedAppend.erase();
      return;
    }
    if (fusedAppend) {
      append.getResult().replaceAllUsesWith(fusedAppend.getResult());
      append.erase();
      rk.erase();
    }
    att.getResult().replaceAllUsesWith(fused.getResult());
    att.erase();
    rq.erase();
  }

  /// Paged cache (@step): one op stores the new keys and attends, so both
  /// rotaries go into it.
  void fuse(llm::PagedAttentionOp att) {
    if (att.getCos())
      return;
    llm::RotaryOp rq = soleRotary(att.getQuery()), rk = soleRotary(att.getKey());
    if (!rq || !rk || rq == rk || !compatible(rq, rk))
      return;
    OpBuilder b(att);
    auto fused = verified(llm::PagedAttentionOp::create(
        b, att.getLoc(), att.getType(), rq.getInput(), rk.getInput(), att.getValue(),
        att.getKeyPool(), att.getValuePool(), att.getBlockTables(), att.getSeqStarts(),
        att.getSeqPositions(), rq.getCos(), rq.getSin(), att.getScaleAttr(),
        att.getKeySlotAttr(), att.getValueSlotAttr(), b.getBoolAttr(rq.getInterleaved())));
    if (!fused)
      return;
    att.getResult().replaceAllUsesWith(fused.getResult());
    att.erase();
    rq.erase();
    rk.erase();
  }
};
} // namespace
