//===- PlanMemory.cpp - one activation arena from liveness -----------------===//
//
// After bufferization every intermediate tensor is its own memref.alloc (a
// hundred or more per decoder step). This pass assigns the allocations of a
// function's entry block to offsets in one arena, so buffers whose lifetimes
// do not overlap share memory: fewer mallocs per step, a smaller and hotter
// working set.
//
// Sizes are dynamic (sequence length, past length), so the plan is a
// formula evaluated at run time. It is chosen by first-fit placement at a
// representative size (every dynamic dimension of the arguments = 64): that
// fixes, for each pair of buffers that are live at the same time, which one
// lies below the other. At run time each buffer's offset is the highest end
// of the buffers planned below it (a longest path in that order), so two
// buffers live at the same time never overlap, whatever the real sizes;
// at sizes shaped like the representative ones the arena is as small as
// the first-fit plan. Each step reports the arena size and the sum of all
// planned buffers to the runtime (llmc_rt_note_activation_memory), so the
// saving is measured on real shapes.
//
// Each arena is freed right after the last use of its buffers (marked
// bufferization.manual_deallocation, which ownership-based deallocation
// leaves alone): that pass frees what it owns only at the end of the block,
// so a decoder's per-layer arenas would otherwise all stay allocated until
// the step returns.
//
//===----------------------------------------------------------------------===//
#include "llmc/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"

namespace llmc {
#define GEN_PASS_DEF_PLANMEMORY
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;

namespace {

constexpr int64_t kAlign = 64;

struct Buffer {
  memref::AllocOp alloc;
  int64_t start = 0, end = 0; // positions in the entry block
};

/// Value of an index computation at the representative point (dynamic dims
/// of the arguments = kRepresentativeDim); nullopt for unknown ops.
constexpr int64_t kRepresentativeDim = 64;
std::optional<int64_t> representative(Value v, DenseMap<Value, std::optional<int64_t>> &memo) {
  if (auto it = memo.find(v); it != memo.end())
    return it->second;
  std::optional<int64_t> r;
  Operation *def = v.getDefiningOp();
  auto arg = [&](unsigned i) { return representative(def->getOperand(i), memo); };
  if (!def) {
    r = std::nullopt;
  } else if (auto c = dyn_cast<arith::ConstantOp>(def)) {
    if (auto i = dyn_cast<IntegerAttr>(c.getValue()))
      r = i.getInt();
  } else if (auto dim = dyn_cast<memref::DimOp>(def)) {
    auto t = dyn_cast<MemRefType>(dim.getSource().getType());
    auto idx = representative(dim.getIndex(), memo);
    if (t && idx && *idx >= 0 && *idx < t.getRank())
      r = t.isDynamicDim(*idx) ? kRepresentativeDim : t.getDimSize(*idx);
  } else if (isa<arith::IndexCastOp, arith::IndexCastUIOp, arith::ExtSIOp, arith::ExtUIOp,
                 arith::TruncIOp>(def)) {
    r = arg(0);
  } else if (def->getNumOperands() == 2 && def->getNumResults() == 1) {
    auto a = arg(0), b = arg(1);
    if (a && b) {
      if (isa<arith::AddIOp>(def)) r = *a + *b;
      else if (isa<arith::SubIOp>(def)) r = *a - *b;
      else if (isa<arith::MulIOp>(def)) r = *a * *b;
      else if (isa<arith::DivSIOp, arith::DivUIOp, arith::FloorDivSIOp>(def)) r = *b ? *a / *b : 0;
      else if (isa<arith::CeilDivSIOp, arith::CeilDivUIOp>(def)) r = *b ? (*a + *b - 1) / *b : 0;
      else if (isa<arith::RemSIOp, arith::RemUIOp>(def)) r = *b ? *a % *b : 0;
      else if (isa<arith::MaxSIOp, arith::MaxUIOp>(def)) r = std::max(*a, *b);
      else if (isa<arith::MinSIOp, arith::MinUIOp>(def)) r = std::min(*a, *b);
      else if (auto cmp = dyn_cast<arith::CmpIOp>(def)) {
        switch (cmp.getPredicate()) {
        case arith::CmpIPredicate::eq: r = *a == *b; break;
        case arith::CmpIPredicate::ne: r = *a != *b; break;
        case arith::CmpIPredicate::slt: case arith::CmpIPredicate::ult: r = *a < *b; break;
        case arith::CmpIPredicate::sle: case arith::CmpIPredicate::ule: r = *a <= *b; break;
        case arith::CmpIPredicate::sgt: case arith::CmpIPredicate::ugt: r = *a > *b; break;
        case arith::CmpIPredicate::sge: case arith::CmpIPredicate::uge: r = *a >= *b; break;
        }
      }
    }
  } else if (auto sel = dyn_cast<arith::SelectOp>(def)) {
    if (auto c = arg(0))
      r = *c ? arg(1) : arg(2);
  }
  memo[v] = r;
  return r;
}

/// Makes `v` available before `anchor`: true if it already is, or if it is
/// a pure computation whose operands can be made available (those ops are
/// moved up); false if it depends on a memory read or region after `anchor`.
bool hoist(Value v, Operation *anchor, Block &entry, DenseMap<Operation *, bool> &memo) {
  if (auto arg = dyn_cast<BlockArgument>(v))
    return arg.getOwner() == &entry;
  Operation *def = v.getDefiningOp();
  if (def->getBlock() != &entry)
    return false;
  if (def->isBeforeInBlock(anchor))
    return true;
  if (auto it = memo.find(def); it != memo.end())
    return it->second;
  // memref.dim reads only the descriptor, never the data.
  bool ok = def->getNumRegions() == 0 && (isMemoryEffectFree(def) || isa<memref::DimOp>(def));
  for (Value operand : def->getOperands())
    ok = ok && hoist(operand, anchor, entry, memo);
  if (ok)
    def->moveBefore(anchor);
  memo[def] = ok;
  return ok;
}

/// Position of the last op of the entry block that uses the buffer or a
/// view of it; -1 if the buffer escapes (returned or captured by an op we
/// do not understand).
int64_t lastUse(memref::AllocOp alloc, Block &entry, const DenseMap<Operation *, int64_t> &pos) {
  int64_t last = pos.lookup(alloc);
  SmallVector<Value> worklist{alloc.getResult()};
  llvm::SmallPtrSet<Value, 16> seen;
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    if (!seen.insert(v).second)
      continue;
    for (Operation *user : v.getUsers()) {
      if (isa<func::ReturnOp>(user))
        return -1;
      Operation *top = entry.findAncestorOpInBlock(*user);
      if (!top)
        return -1;
      last = std::max(last, pos.lookup(top));
      // Anything derived from the buffer (views, casts, reshapes) keeps it
      // alive as long as it is used.
      for (Value r : user->getResults())
        if (isa<BaseMemRefType>(r.getType()))
          worklist.push_back(r);
    }
  }
  return last;
}

struct PlanMemoryPass : public llmc::impl::PlanMemoryBase<PlanMemoryPass> {
  // A module pass: the runtime hook is declared once at module level, which
  // a function pass running @main and @step in parallel could not do safely.
  void runOnOperation() override {
    for (auto fn : llvm::to_vector(getOperation().getOps<func::FuncOp>()))
      if (!fn.isExternal())
        planFunction(fn);
  }

  void planFunction(func::FuncOp fn) {
    Block &entry = fn.front();
    DenseMap<Operation *, int64_t> pos;
    SmallVector<Operation *> byPos;
    for (Operation &op : entry) {
      pos[&op] = int64_t(byPos.size());
      byPos.push_back(&op);
    }

    // Candidates in program order.
    SmallVector<Buffer> candidates;
    for (auto alloc : entry.getOps<memref::AllocOp>()) {
      MemRefType t = alloc.getType();
      if (!t.getLayout().isIdentity() || !t.getElementType().isIntOrFloat() ||
          t.getElementTypeBitWidth() % 8 != 0 || alloc.getSymbolOperands().size())
        continue;
      int64_t end = lastUse(alloc, entry, pos);
      if (end >= 0)
        candidates.push_back({alloc, pos[alloc], end});
    }

    // Segments: a segment's arena is allocated just before its first
    // buffer, so every later buffer whose sizes can be computed there joins
    // it. Sizes read from memory later (shape arithmetic on tensors) start
    // a new segment. Buffers of different segments never share bytes.
    SmallVector<std::pair<Operation *, SmallVector<Buffer>>> segments;
    DenseMap<Operation *, bool> memo;
    for (Buffer &buf : candidates) {
      bool joined = false;
      if (!segments.empty()) {
        Operation *anchor = segments.back().first;
        joined = llvm::all_of(buf.alloc.getDynamicSizes(),
                              [&](Value d) { return hoist(d, anchor, entry, memo); });
      }
      if (!joined) {
        OpBuilder b(buf.alloc);
        segments.push_back({arith::ConstantIndexOp::create(b, fn.getLoc(), 0), {}});
        memo.clear();
      }
      segments.back().second.push_back(buf);
    }

    Value arenaSum, totalSum;
    int64_t planned = 0;
    for (auto &[anchor, buffers] : segments) {
      if (buffers.size() >= 2) {
        int64_t end = 0;
        for (Buffer &buf : buffers)
          end = std::max(end, buf.end);
        auto [arena, total] = planSegment(anchor, buffers, byPos[end]);
        OpBuilder b(anchor);
        arenaSum = arenaSum ? arith::AddIOp::create(b, fn.getLoc(), arenaSum, arena) : arena;
        totalSum = totalSum ? arith::AddIOp::create(b, fn.getLoc(), totalSum, total) : total;
        planned += buffers.size();
      }
      anchor->erase();
    }
    if (!planned)
      return;
    OpBuilder b(entry.getTerminator());
    reportToRuntime(b, fn.getLoc(), arenaSum, totalSum);
    fn->setAttr("llmc.planned_buffers", b.getI64IntegerAttr(planned));
  }

  /// Places `buffers` in one arena allocated before `anchor` and freed after
  /// `lastUser`; returns the arena's and the buffers' total byte counts
  /// (index values).
  std::pair<Value, Value> planSegment(Operation *anchor, MutableArrayRef<Buffer> buffers,
                                      Operation *lastUser) {
    // Representative sizes and a first-fit placement at them.
    DenseMap<Value, std::optional<int64_t>> repMemo;
    SmallVector<int64_t> repSize, repOffset;
    for (Buffer &buf : buffers) {
      MemRefType t = buf.alloc.getType();
      int64_t bytes = t.getElementTypeBitWidth() / 8;
      unsigned dyn = 0;
      for (int64_t d : t.getShape()) {
        std::optional<int64_t> v =
            ShapedType::isDynamic(d) ? representative(buf.alloc.getDynamicSizes()[dyn++], repMemo) : d;
        bytes *= v && *v > 0 ? *v : kRepresentativeDim; // unknown: assume a typical size
      }
      repSize.push_back((bytes + kAlign - 1) / kAlign * kAlign);
    }
    auto overlapInTime = [&](size_t a, size_t b) {
      return buffers[a].start <= buffers[b].end && buffers[b].start <= buffers[a].end;
    };
    for (size_t i = 0; i < buffers.size(); ++i) {
      // Lowest offset that fits between the already placed buffers it meets.
      SmallVector<std::pair<int64_t, int64_t>> taken;
      for (size_t j = 0; j < i; ++j)
        if (overlapInTime(i, j))
          taken.push_back({repOffset[j], repOffset[j] + repSize[j]});
      llvm::sort(taken);
      int64_t offset = 0;
      for (auto [lo, hi] : taken) {
        if (offset + repSize[i] <= lo)
          break;
        offset = std::max(offset, hi);
      }
      repOffset.push_back(offset);
    }

    // Run-time sizes and offsets, computed before the anchor in the
    // placement's bottom-up order: a buffer sits above every buffer placed
    // below it that is live at the same time.
    OpBuilder b(anchor);
    Location loc = anchor->getLoc();
    auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v).getResult(); };
    SmallVector<Value> sizes(buffers.size()), offsets(buffers.size());
    Value total = c(0);
    for (size_t i = 0; i < buffers.size(); ++i) {
      MemRefType t = buffers[i].alloc.getType();
      Value bytes = c(t.getElementTypeBitWidth() / 8);
      unsigned dyn = 0;
      for (int64_t d : t.getShape())
        bytes = b.createOrFold<arith::MulIOp>(loc, bytes,
                                      ShapedType::isDynamic(d)
                                          ? buffers[i].alloc.getDynamicSizes()[dyn++]
                                          : c(d));
      // Round up to the alignment so every buffer starts on a cache line.
      sizes[i] = b.createOrFold<arith::MulIOp>(
          loc,
          b.createOrFold<arith::DivUIOp>(loc, b.createOrFold<arith::AddIOp>(loc, bytes, c(kAlign - 1)),
                                         c(kAlign)),
          c(kAlign));
      total = b.createOrFold<arith::AddIOp>(loc, total, sizes[i]);
    }
    SmallVector<size_t> order(buffers.size());
    for (size_t i = 0; i < order.size(); ++i)
      order[i] = i;
    llvm::stable_sort(order, [&](size_t a, size_t b) { return repOffset[a] < repOffset[b]; });
    Value arena = c(0);
    for (size_t oi = 0; oi < order.size(); ++oi) {
      size_t i = order[oi];
      Value offset = c(0);
      for (size_t oj = 0; oj < oi; ++oj) {
        size_t j = order[oj];
        if (overlapInTime(i, j))
          offset = b.createOrFold<arith::MaxUIOp>(loc, offset,
                                          b.createOrFold<arith::AddIOp>(loc, offsets[j], sizes[j]));
      }
      offsets[i] = offset;
      arena = b.createOrFold<arith::MaxUIOp>(loc, arena, b.createOrFold<arith::AddIOp>(loc, offset, sizes[i]));
    }
    // A static arena gets a static type here: canonicalization would
    // otherwise rebuild the alloc and drop the manual-deallocation mark.
    std::optional<int64_t> staticBytes = getConstantIntValue(arena);
    auto arenaType = MemRefType::get({staticBytes.value_or(ShapedType::kDynamic)}, b.getI8Type());
    auto arenaAlloc = memref::AllocOp::create(
        b, loc, arenaType, staticBytes ? ValueRange{} : ValueRange{arena}, b.getI64IntegerAttr(kAlign));
    Value arenaBuf = arenaAlloc;
    StringRef manual = bufferization::BufferizationDialect::kManualDeallocation;
    arenaAlloc->setAttr(manual, b.getUnitAttr());
    OpBuilder db(lastUser->getContext());
    db.setInsertionPointAfter(lastUser);
    memref::DeallocOp::create(db, loc, arenaBuf)->setAttr(manual, b.getUnitAttr());
    for (auto [buf, offset] : llvm::zip(buffers, offsets)) {
      memref::AllocOp alloc = buf.alloc;
      OpBuilder vb(alloc);
      Value view = memref::ViewOp::create(vb, alloc.getLoc(), alloc.getType(), arenaBuf, offset,
                                          alloc.getDynamicSizes());
      alloc.getResult().replaceAllUsesWith(view);
      alloc.erase();
    }
    return {arena, total};
  }

  /// Calls llmc_rt_note_activation_memory(arena bytes, sum of buffers).
  void reportToRuntime(OpBuilder &b, Location loc, Value arena, Value total) {
    ModuleOp module = getOperation();
    StringRef name = "llmc_rt_note_activation_memory";
    auto fnType = b.getFunctionType({b.getI64Type(), b.getI64Type()}, {});
    auto callee = module.lookupSymbol<func::FuncOp>(name);
    if (!callee) {
      OpBuilder mb(module.getBodyRegion());
      callee = func::FuncOp::create(mb, loc, name, fnType);
      callee.setPrivate();
    }
    auto i64 = [&](Value v) { return arith::IndexCastOp::create(b, loc, b.getI64Type(), v).getResult(); };
    func::CallOp::create(b, loc, callee, ValueRange{i64(arena), i64(total)});
  }
};
} // namespace
