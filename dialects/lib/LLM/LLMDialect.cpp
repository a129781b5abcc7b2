//===- LLMDialect.cpp - the llm dialect and its verifiers -----------------===//
#include "llmc/Dialect/LLM/LLMDialect.h"
#include "llmc/QuantLayout.h"
#include "llmc/SparseLayout.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace llmc::llm;

#include "llmc/Dialect/LLM/LLMOpsDialect.cpp.inc"

void LLMDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "llmc/Dialect/LLM/LLMOps.cpp.inc"
      >();
}

#define GET_OP_CLASSES
#include "llmc/Dialect/LLM/LLMOps.cpp.inc"

static int64_t lastDim(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape().back();
}

// Two dims agree unless both are static and differ.
static bool dimsCompatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// Optional `rope(cos, sin)` operands (llmc-fuse-rope): both or neither, f32,
/// broadcasting (dims of size 1, aligned right) to each tensor of `targets`
/// ([..., D] with D even).
/// KV-cache rows (--kv-cache=int8|bf16): f32 [.., D], int8 [.., D + 4], the
/// last 4 bytes of an int8 row holding its f32 scale (runtime/kernels/KVQuant.h),
/// or bf16 [.., D].
static bool isInt8KV(RankedTensorType t) { return t.getElementType().isInteger(8); }
static bool isKVRowType(RankedTensorType t) {
  return t.getElementType().isF32() || isInt8KV(t) || t.getElementType().isBF16();
}
/// The head size D stored in a KV row type (dynamic stays dynamic).
static int64_t kvHeadDim(RankedTensorType t) {
  int64_t d = t.getShape().back();
  return isInt8KV(t) && !ShapedType::isDynamic(d) ? d - 4 : d;
}

static LogicalResult verifyRope(Operation *op, Value cos, Value sin,
                                ArrayRef<RankedTensorType> targets) {
  if (!cos && !sin)
    return success();
  if (!cos || !sin)
    return op->emitOpError("rope needs both cos and sin");
  for (Value table : {cos, sin}) {
    auto t = cast<RankedTensorType>(table.getType());
    if (!t.getElementType().isF32())
      return op->emitOpError("rope cos/sin must be f32");
    for (RankedTensorType target : targets) {
      int64_t rank = target.getRank(), d = target.getShape().back();
      if (t.getRank() > rank || t.getRank() == 0)
        return op->emitOpError("rope cos/sin must have rank 1..") << rank;
      if (!ShapedType::isDynamic(d) && d % 2)
        return op->emitOpError("rope needs an even head size, got ") << d;
      if (!dimsCompatible(t.getShape().back(), d))
        return op->emitOpError("rope cos/sin must have the head size ") << d;
      for (int64_t i = 1; i < t.getRank(); ++i) {
        int64_t c = t.getShape()[t.getRank() - 1 - i], x = target.getShape()[rank - 1 - i];
        if (c != 1 && !dimsCompatible(c, x))
          return op->emitOpError("rope cos/sin do not broadcast to ") << target;
      }
    }
  }
  return success();
}

LogicalResult EmbeddingOp::verify() {
  auto table = cast<RankedTensorType>(getTable().getType());
  auto ids = cast<RankedTensorType>(getIds().getType());
  auto result = cast<RankedTensorType>(getResult().getType());
  if (table.getRank() != 2)
    return emitOpError("table must be rank 2 [vocab, embedding], got rank ")
           << table.getRank();
  if (!ids.getElementType().isInteger())
    return emitOpError("ids must be integers");
  if (result.getRank() != ids.getRank() + 1 ||
      !dimsCompatible(result.getShape().back(), table.getShape()[1]))
    return emitOpError("result must be ids.shape + [embedding]");
  return success();
}

LogicalResult RMSNormOp::verify() {
  auto w = cast<RankedTensorType>(getWeight().getType());
  if (w.getRank() != 1)
    return emitOpError("weight must be rank 1, got rank ") << w.getRank();
  if (!dimsCompatible(w.getShape()[0], lastDim(getInput())))
    return emitOpError("weight length must equal the normalized axis");
  if (getInput().getType() != getResult().getType())
    return emitOpError("result type must equal the input type");
  return success();
}

int64_t LinearOp::getWeightColumns() {
  int64_t n = lastDim(getResult());
  if (ShapedType::isDynamic(n))
    return n;
  return getGated() ? 2 * n : n;
}

LogicalResult LinearOp::verify() {
  auto w = cast<RankedTensorType>(getWeight().getType());
  int64_t k = lastDim(getInput()), n = lastDim(getResult());
  if (isPacked()) {
    if (w.getRank() != 1)
      return emitOpError("packed weight must be rank 1, got rank ") << w.getRank();
    if (getTransposeWeight())
      return emitOpError("packed weight cannot be transposed");
    if (*getPackedPanel() < 1)
      return emitOpError("packed_panel must be >= 1");
    if (ShapedType::isDynamic(k) || ShapedType::isDynamic(n))
      return emitOpError("packed weight needs static K and N");
    Type et = w.getElementType();
    if (!et.isF32() && !et.isBF16())
      return emitOpError("packed weight must be f32 or bf16");
    int64_t nr = *getPackedPanel();
    int64_t panels = (n + nr - 1) / nr * (getGated() ? 2 : 1);
    int64_t rows = et.isBF16() ? (k + 1) / 2 * 2 : k;
    if (w.hasStaticShape() && w.getDimSize(0) != panels * nr * rows)
      return emitOpError("packed weight has ") << w.getDimSize(0) << " elements, expected "
                                               << panels * nr * rows;
  } else {
    if (w.getRank() != 2)
      return emitOpError("weight must be rank 2, got rank ") << w.getRank();
    int64_t wk = getTransposeWeight() ? w.getShape()[1] : w.getShape()[0];
    int64_t wn = getTransposeWeight() ? w.getShape()[0] : w.getShape()[1];
    if (!dimsCompatible(wk, k))
      return emitOpError("input features (") << k << ") do not match the weight (" << wk << ")";
    if (!dimsCompatible(wn, getWeightColumns()))
      return emitOpError("result features do not match the weight")
             << (getGated() ? " (a gated weight has 2N columns)" : "");
  }
  if (getGated() && getBias())
    return emitOpError("a gated linear cannot have a bias");
  if (getBias()) {
    auto b = cast<RankedTensorType>(getBias().getType());
    if (b.getRank() != 1 || !dimsCompatible(b.getShape()[0], n))
      return emitOpError("bias must be [N]");
  }
  if (getResidual()) {
    auto r = cast<RankedTensorType>(getResidual().getType());
    auto y = cast<RankedTensorType>(getResult().getType());
    if (r.getRank() != y.getRank())
      return emitOpError("residual must have the result's shape");
    for (int64_t i = 0; i < r.getRank(); ++i)
      if (!dimsCompatible(r.getDimSize(i), y.getDimSize(i)))
        return emitOpError("residual must have the result's shape");
  }
  return success();
}

LogicalResult QuantizedLinearOp::verify() {
  int64_t k = lastDim(getInput()), n = lastDim(getResult());
  if (ShapedType::isDynamic(k) || ShapedType::isDynamic(n))
    return emitOpError("needs static K and N");
  llmc::quant::Scheme scheme{int(getBits()), int64_t(getGroup()), getSymmetric()};
  // Int8 activations have kernels for int8 weights (W8A8) and for int4
  // weights whose groups are whole activation blocks (W4A8,
  // runtime/kernels/W8A8Linear.cpp).
  if (uint64_t act = getActBits()) {
    if (act != 8)
      return emitOpError("act_bits must be 0 (f32 activations) or 8 (int8), got ") << act;
    if (getBits() == 4)
      if (std::string e = llmc::quant::w4a8Unsupported(scheme); !e.empty())
        return emitOpError("act_bits = 8: ") << e;
  }
  int64_t nw = getGated() ? 2 * n : n;
  if (getGated() && n % int64_t(getPanel()) != 0)
    return emitOpError("a gated weight needs N to be a multiple of the panel");
  std::string error;
  llmc::quant::Layout l = llmc::quant::makeLayout(scheme, k, nw, int64_t(getPanel()), &error);
  if (!error.empty())
    return emitOpError(error);
  auto size = [](Value v) { return cast<RankedTensorType>(v.getType()).getNumElements(); };
  if (size(getCodes()) != l.codeBytes())
    return emitOpError("codes hold ") << size(getCodes()) << " bytes, expected " << l.codeBytes();
  if (size(getScales()) != l.numParams())
    return emitOpError("expected ") << l.numParams() << " scales";
  if (!getSymmetric() && (!getZeros() || size(getZeros()) != l.numParams()))
    return emitOpError("an asymmetric scheme needs ") << l.numParams() << " zero points";
  if (getGated() && getBias())
    return emitOpError("a gated linear cannot have a bias");
  return success();
}

LogicalResult PagedAttentionOp::verify() {
  auto q = cast<RankedTensorType>(getQuery().getType());
  auto k = cast<RankedTensorType>(getKey().getType());
  auto v = cast<RankedTensorType>(getValue().getType());
  auto kp = cast<RankedTensorType>(getKeyPool().getType());
  auto vp = cast<RankedTensorType>(getValuePool().getType());
  for (RankedTensorType t : {q, k, v, kp, vp})
    if (t.getRank() != 4)
      return emitOpError("query, key, value and the pools must be rank-4 tensors");
  for (RankedTensorType t : {q, k, v})
    if (!t.getElementType().isF32())
      return emitOpError("query, key and value must be f32");
  if (!isKVRowType(kp) || kp.getElementType() != vp.getElementType())
    return emitOpError("the pools must both be f32, both int8 (rows of D codes + a 4-byte "
                       "scale) or both bf16");
  int64_t h = q.getShape()[1], kvh = k.getShape()[1];
  if (!ShapedType::isDynamic(h) && !ShapedType::isDynamic(kvh) &&
      (kvh == 0 || h % kvh != 0))
    return emitOpError("query heads (") << h
           << ") must be a multiple of key/value heads (" << kvh << ")";
  if (!dimsCompatible(q.getShape()[3], k.getShape()[3]))
    return emitOpError("query and key head sizes differ");
  // The pools hold [block, KV head, row in block, D]: heads and head sizes
  // must match the new entries they receive.
  if (!dimsCompatible(kp.getShape()[1], kvh) || !dimsCompatible(vp.getShape()[1], v.getShape()[1]) ||
      !dimsCompatible(kvHeadDim(kp), k.getShape()[3]) ||
      !dimsCompatible(kvHeadDim(vp), v.getShape()[3]))
    return emitOpError("pools must be [blocks, KV heads, block size, D] of the new keys/values");
  auto isI32 = [](Value x, int64_t rank) {
    auto t = cast<RankedTensorType>(x.getType());
    return t.getRank() == rank && t.getElementType().isInteger(32);
  };
  if (!isI32(getBlockTables(), 2) || !isI32(getSeqStarts(), 1) || !isI32(getSeqPositions(), 1))
    return emitOpError("block_tables must be 2-D i32, seq_starts and seq_positions 1-D i32");
  if (getResult().getType() != RankedTensorType::get(
          {q.getShape()[0], q.getShape()[1], q.getShape()[2], v.getShape()[3]},
          q.getElementType()))
    return emitOpError("result must be [1, H, T, Dv]");
  return verifyRope(*this, getCos(), getSin(), {q, k});
}

LogicalResult SparseLinearOp::verify() {
  int64_t k = lastDim(getInput()), n = lastDim(getResult());
  if (ShapedType::isDynamic(k) || ShapedType::isDynamic(n))
    return emitOpError("needs static K and N");
  int64_t nr = getPanel();
  if (nr < 1)
    return emitOpError("panel must be >= 1");
  auto values = cast<RankedTensorType>(getValues().getType());
  auto indices = cast<RankedTensorType>(getIndices().getType());
  int mats = getGated() ? 2 : 1;
  int64_t panels = (n + nr - 1) / nr * mats;
  if (getBits() != 32 && getBits() != 4)
    return emitOpError("bits must be 32 (f32 values) or 4 (int4), got ") << getBits();
  if (getBits() == 4) {
    if (getFormat() != "2:4")
      return emitOpError("int4 values need the 2:4 format");
    if (!getScales())
      return emitOpError("int4 values need scales");
    auto scales = cast<RankedTensorType>(getScales().getType());
    if (!values.getElementType().isInteger(8) || !indices.getElementType().isInteger(32) ||
        !scales.getElementType().isInteger(16))
      return emitOpError("int4 2:4 needs 8-bit codes, i32 metadata words and i16 (fp16) scales");
    llmc::sparse::Sparse24Q4Layout l = llmc::sparse::makeSparse24Q4Layout(k, n, nr, mats);
    if (values.getNumElements() != l.numCodes() || indices.getNumElements() != l.numMeta() ||
        scales.getNumElements() != l.numScales())
      return emitOpError("int4 2:4 weight has ")
             << values.getNumElements() << " codes, " << indices.getNumElements() << " metadata words and "
             << scales.getNumElements() << " scales, expected " << l.numCodes() << ", " << l.numMeta() << " and "
             << l.numScales();
  } else if (getScales()) {
    return emitOpError("f32 values take no scales");
  }
  if (values.getRank() != 1 || indices.getRank() != 1 || (getBits() == 32 && !values.getElementType().isF32()))
    return emitOpError("values must be 1-D f32 (or int4 codes) and indices 1-D");
  if (getBits() == 4) {
    // checked above
  } else if (getFormat() == "2:4") {
    if (getStarts())
      return emitOpError("a 2:4 weight has no starts");
    if (!indices.getElementType().isInteger(32))
      return emitOpError("2:4 indices must be i32 metadata words");
    llmc::sparse::Sparse24Layout l = llmc::sparse::makeSparse24Layout(k, n, nr, mats);
    if (values.getNumElements() != l.numValues() || indices.getNumElements() != l.numMeta())
      return emitOpError("2:4 weight has ") << values.getNumElements() << " values and "
                                            << indices.getNumElements() << " metadata words, expected "
                                            << l.numValues() << " and " << l.numMeta();
  } else if (getFormat() == "unstructured") {
    if (!getStarts())
      return emitOpError("an unstructured weight needs starts");
    auto starts = cast<RankedTensorType>(getStarts().getType());
    if (!indices.getElementType().isInteger(8) || !starts.getElementType().isInteger(32))
      return emitOpError("unstructured indices must be 8-bit offsets and starts i32");
    int64_t chunks = (k + llmc::sparse::kEllChunk - 1) / llmc::sparse::kEllChunk;
    if (starts.getNumElements() != panels * chunks + 1)
      return emitOpError("starts has ") << starts.getNumElements() << " entries, expected "
                                        << panels * chunks + 1;
    if (values.getNumElements() != indices.getNumElements() || values.getNumElements() % nr != 0)
      return emitOpError("values and offsets must have the same size, whole rows of the panel");
  } else {
    return emitOpError("format must be \"2:4\" or \"unstructured\", got '") << getFormat() << "'";
  }
  if (getGated() && getBias())
    return emitOpError("a gated linear cannot have a bias");
  if (getBias()) {
    auto b = cast<RankedTensorType>(getBias().getType());
    if (b.getRank() != 1 || !dimsCompatible(b.getShape()[0], n))
      return emitOpError("bias must be [N]");
  }
  return success();
}

LogicalResult AttentionOp::verify() {
  auto q = cast<RankedTensorType>(getQuery().getType());
  auto k = cast<RankedTensorType>(getKey().getType());
  auto v = cast<RankedTensorType>(getValue().getType());
  if (q.getRank() != 4 || k.getRank() != 4 || v.getRank() != 4)
    return emitOpError("query, key and value must be rank 4 [B, heads, seq, D]");
  int64_t h = q.getShape()[1], kvh = k.getShape()[1];
  if (!ShapedType::isDynamic(h) && !ShapedType::isDynamic(kvh) &&
      (kvh == 0 || h % kvh != 0))
    return emitOpError("query heads (") << h
           << ") must be a multiple of key/value heads (" << kvh << ")";
  // Keys/values are f32, or both int8 / both bf16 cache rows (--kv-cache).
  if (k.getElementType() != v.getElementType() || !isKVRowType(k))
    return emitOpError("key and value must both be f32, both int8 or both bf16 KV-cache rows");
  if (!k.getElementType().isF32() && !q.getElementType().isF32())
    return emitOpError("int8 / bf16 KV-cache rows need an f32 query");
  if (!dimsCompatible(q.getShape()[3], kvHeadDim(k)))
    return emitOpError("query and key head sizes differ");
  if (getResult().getType() != RankedTensorType::get(
          {q.getShape()[0], q.getShape()[1], q.getShape()[2], kvHeadDim(v)},
          q.getElementType()))
    return emitOpError("result must be [B, H, S, Dv]");
  return verifyRope(*this, getCos(), getSin(), {q});
}

LogicalResult KVCacheAppendOp::verify() {
  auto past = cast<RankedTensorType>(getPast().getType());
  auto upd = cast<RankedTensorType>(getUpdate().getType());
  auto result = cast<RankedTensorType>(getType());
  if (past.getElementType() != result.getElementType())
    return emitOpError("result must have the element type of the cache slot");
  if (isInt8KV(past)) {
    // --kv-cache=int8: f32 rows appended to int8 rows of D codes + a scale.
    if (past.getRank() != 4 || getAxis() != 2 || !upd.getElementType().isF32() ||
        upd.getRank() != 4 || !dimsCompatible(kvHeadDim(past), upd.getShape()[3]) ||
        past.getShape()[3] != result.getShape()[3])
      return emitOpError("an int8 cache slot [B, KVH, T, D + 4] takes f32 rows [B, KVH, S, D] "
                         "along axis 2");
  } else if (past.getElementType().isBF16() && upd.getElementType().isF32()) {
    // --kv-cache=bf16: f32 rows rounded to bf16 as they are stored.
    if (past.getRank() != 4 || getAxis() != 2 || upd.getRank() != 4 ||
        !dimsCompatible(past.getShape()[3], upd.getShape()[3]) ||
        past.getShape()[3] != result.getShape()[3])
      return emitOpError("a bf16 cache slot [B, KVH, T, D] takes f32 rows [B, KVH, S, D] along "
                         "axis 2");
  }
  return verifyRope(*this, getCos(), getSin(), {cast<RankedTensorType>(getUpdate().getType())});
}

LogicalResult QuantizedEmbeddingOp::verify() {
  auto ids = cast<RankedTensorType>(getIds().getType());
  auto result = cast<RankedTensorType>(getResult().getType());
  if (!ids.getElementType().isInteger())
    return emitOpError("ids must be integers");
  if (result.getRank() != ids.getRank() + 1)
    return emitOpError("result must be ids.shape + [embedding]");
  int64_t e = result.getShape().back();
  if (ShapedType::isDynamic(e))
    return emitOpError("needs a static embedding size");
  std::string error;
  llmc::quant::Layout l = llmc::quant::makeLayout(
      llmc::quant::Scheme{int(getBits()), int64_t(getGroup()), getSymmetric()}, e, int64_t(getVocab()),
      int64_t(getPanel()), &error);
  if (!error.empty())
    return emitOpError(error);
  auto size = [](Value v) { return cast<RankedTensorType>(v.getType()).getNumElements(); };
  if (size(getCodes()) != l.codeBytes())
    return emitOpError("codes hold ") << size(getCodes()) << " bytes, expected " << l.codeBytes();
  if (size(getScales()) != l.numParams())
    return emitOpError("expected ") << l.numParams() << " scales";
  if (!getSymmetric() && (!getZeros() || size(getZeros()) != l.numParams()))
    return emitOpError("an asymmetric scheme needs ") << l.numParams() << " zero points";
  return success();
}
