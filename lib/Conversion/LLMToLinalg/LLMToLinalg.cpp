//===- LLMToLinalg.cpp - llm ops to kernel calls and linalg ---------------===//
//
// llm.linear / llm.attention on f32 call the runtime's micro-kernels: the
// operands are handed over as buffers (bufferization.to_buffer, read-only)
// and the result buffer is allocated here and re-entered as a tensor with
// bufferization.to_tensor (restrict): one-shot bufferization then treats
// the call as an opaque producer. Everything else gets a linalg reference
// lowering, which is also used for linear/attention with use-kernels=false.
//
//===----------------------------------------------------------------------===//
#include "../ONNXToLinalg/LoweringUtils.h"

#include "llmc/Conversion/Passes.h"
#include "llmc/Dialect/LLM/LLMDialect.h"
#include "llmc/Dialect/ONNX/ONNXDialect.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace llmc {
#define GEN_PASS_DEF_CONVERTLLMTOLINALG
#include "llmc/Conversion/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;
using namespace llmc::lowering;

namespace {

/// Fully dynamic 2-D/4-D view type: kernels are declared once per module
/// and called with buffers of any static shape.
MemRefType anyShapeType(int64_t rank, Type et) {
  return stridedMemRefType(
      RankedTensorType::get(SmallVector<int64_t>(rank, ShapedType::kDynamic), et));
}


/// Declares (once) an external kernel taking the given argument types.
func::FuncOp declareKernel(ModuleOp module, StringRef name, TypeRange argTypes) {
  if (auto f = module.lookupSymbol<func::FuncOp>(name))
    return f;
  OpBuilder b(module.getBodyRegion());
  auto f = func::FuncOp::create(b, module.getLoc(), name,
                                b.getFunctionType(argTypes, {}));
  f.setPrivate();
  f->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  return f;
}

Value asBuffer(OpBuilder &b, Location loc, Value t) {
  auto tt = cast<RankedTensorType>(t.getType());
  return bufferization::ToBufferOp::create(b, loc, stridedMemRefType(tt), t, /*readOnly=*/true);
}

//===----------------------------------------------------------------------===//
// llm.linear
//===----------------------------------------------------------------------===//

Value linearReference(OpBuilder &b, Location loc, Value x2, Value w,
                      bool transposed, RankedTensorType out2) {
  MLIRContext *ctx = b.getContext();
  auto d = [&](int i) { return getAffineDimExpr(i, ctx); };
  Type et = out2.getElementType();
  Value init = filledTensor(b, loc, out2, {dimOf(b, loc, x2, 0), indexConst(b, loc, out2.getDimSize(1))},
                            scalarConst(b, loc, et, 0));
  SmallVector<AffineMap> maps{
      AffineMap::get(3, 0, {d(0), d(2)}, ctx),
      transposed ? AffineMap::get(3, 0, {d(1), d(2)}, ctx) : AffineMap::get(3, 0, {d(2), d(1)}, ctx),
      AffineMap::get(3, 0, {d(0), d(1)}, ctx)};
  SmallVector<utils::IteratorType> iters{utils::IteratorType::parallel,
                                         utils::IteratorType::parallel,
                                         utils::IteratorType::reduction};
  return buildMulAccumulate(b, loc, out2, x2, w, init, maps, iters);
}

/// Collapses the leading dims of `v` ([..., C]) into one: returns [M, C]
/// and the leading dim values.
Value collapseRows(OpBuilder &b, Location loc, Value v, SmallVectorImpl<Value> &lead, Value &m) {
  auto t = cast<RankedTensorType>(v.getType());
  int64_t rank = t.getRank(), c = t.getShape().back();
  m = indexConst(b, loc, 1);
  lead.clear();
  for (int64_t i = 0; i < rank - 1; ++i) {
    lead.push_back(dimOf(b, loc, v, i));
    m = arith::MulIOp::create(b, loc, m, lead.back());
  }
  return reshapeTo(b, loc, v, RankedTensorType::get({ShapedType::kDynamic, c}, t.getElementType()),
                   {m, indexConst(b, loc, c)});
}

/// The call of a fused linear kernel (packed or quantized): x, then the
/// weight buffers `weightArgs`, then bias, residual, y and the integer
/// arguments `intArgs` followed by flags and the RMSNorm epsilon. The
/// epilogue operands and flags (include/llmc/PackedLayout.h) come from the
/// op; the result replaces `op` reshaped to its type.
template <typename OpTy>
void lowerFusedLinearCall(OpTy op, PatternRewriter &rw, StringRef kernel,
                          ArrayRef<Value> weightBuffers, ArrayRef<Value> intArgs) {
  Location loc = op.getLoc();
  auto outType = cast<RankedTensorType>(op.getType());
  int64_t n = outType.getShape().back();
  Type f32 = rw.getF32Type();
  auto any1 = anyShapeType(1, f32), any2 = anyShapeType(2, f32);
  auto asType = [&](Type t, Value v) { return memref::CastOp::create(rw, loc, t, v).getResult(); };
  SmallVector<Value> lead;
  Value m;
  Value xb = asType(any2, asBuffer(rw, loc, collapseRows(rw, loc, op.getInput(), lead, m)));
  int32_t flags = 0;
  Value bias, residual = xb; // unused operands are ignored by the kernel
  if (op.getBias()) {
    flags |= 1;
    bias = asType(any1, asBuffer(rw, loc, op.getBias()));
  } else {
    Value zero = arith::ConstantOp::create(
        rw, loc, DenseElementsAttr::get(RankedTensorType::get({1}, f32), 0.f));
    bias = asType(any1, asBuffer(rw, loc, zero));
  }
  if (op.getResidual()) {
    flags |= 2;
    SmallVector<Value> rlead;
    Value rm;
    residual = asType(any2, asBuffer(rw, loc, collapseRows(rw, loc, op.getResidual(), rlead, rm)));
  }
  if (op.getGated())
    flags |= 4;
  float eps = 0.f;
  if (auto e = op.getRmsEpsilon()) {
    flags |= 8;
    eps = e->convertToFloat();
  }
  auto y2t = RankedTensorType::get({ShapedType::kDynamic, n}, f32);
  Value alloc = memref::AllocOp::create(rw, loc, MemRefType::get(y2t.getShape(), f32),
                                        ValueRange{m}, rw.getI64IntegerAttr(64));
  SmallVector<Value> args{xb};
  for (Value w : weightBuffers)
    args.push_back(asType(anyShapeType(1, cast<MemRefType>(w.getType()).getElementType()), w));
  args.append({bias, residual, asType(any2, alloc)});
  args.append(intArgs.begin(), intArgs.end());
  args.push_back(arith::ConstantIntOp::create(rw, loc, rw.getI32Type(), flags));
  args.push_back(arith::ConstantOp::create(rw, loc, rw.getF32FloatAttr(eps)));
  auto fn = declareKernel(op->template getParentOfType<ModuleOp>(), kernel,
                          llvm::map_to_vector(args, [](Value v) { return v.getType(); }));
  func::CallOp::create(rw, loc, fn, args);
  Value y2 = bufferization::ToTensorOp::create(rw, loc, y2t, alloc, /*restrict=*/true,
                                               /*writable=*/true);
  lead.push_back(indexConst(rw, loc, n));
  rw.replaceOp(op, reshapeTo(rw, loc, y2, outType, lead));
}

struct LinearLowering : public OpRewritePattern<llm::LinearOp> {
  LinearLowering(MLIRContext *ctx, bool useKernels)
      : OpRewritePattern(ctx), useKernels(useKernels) {}
  bool useKernels;

  LogicalResult matchAndRewrite(llm::LinearOp op, PatternRewriter &rw) const override {
    auto xt = cast<RankedTensorType>(op.getInput().getType());
    if (!isa<FloatType>(xt.getElementType()))
      return rw.notifyMatchFailure(op, "llm.linear needs floats");
    if (op.isPacked())
      return lowerPacked(op, rw);
    if (op.getRmsEpsilon() || op.getGated() || op.getResidual())
      return unfuse(op, rw);
    return lowerPlain(op, rw);
  }

  /// A packed linear is one call of the packed GEMM kernel with its fused
  /// prologue/epilogues (flags of include/llmc/PackedLayout.h).
  LogicalResult lowerPacked(llm::LinearOp op, PatternRewriter &rw) const {
    Location loc = op.getLoc();
    auto xt = cast<RankedTensorType>(op.getInput().getType());
    if (!useKernels || !xt.getElementType().isF32())
      return op.emitOpError("packed weights need the runtime kernels and f32 activations");
    bool bf16 = cast<RankedTensorType>(op.getWeight().getType()).getElementType().isBF16();
    auto i64 = [&](int64_t v) { return arith::ConstantIntOp::create(rw, loc, rw.getI64Type(), v).getResult(); };
    lowerFusedLinearCall(op, rw, bf16 ? "llmc_rt_linear_packed_bf16" : "llmc_rt_linear_packed_f32",
                         {asBuffer(rw, loc, op.getWeight())},
                         {i64(xt.getShape().back()), i64(cast<RankedTensorType>(op.getType()).getShape().back()),
                          arith::ConstantIntOp::create(rw, loc, rw.getI32Type(), *op.getPackedPanel())});
    return success();
  }

  /// Without packed kernels the fused forms are taken apart again into
  /// rms_norm (unit gain) -> linear -> swiglu -> add, each lowered as usual.
  LogicalResult unfuse(llm::LinearOp op, PatternRewriter &rw) const {
    Location loc = op.getLoc();
    auto xt = cast<RankedTensorType>(op.getInput().getType());
    auto outType = cast<RankedTensorType>(op.getType());
    Type et = xt.getElementType();
    Value x = op.getInput();
    int64_t k = xt.getShape().back();
    if (auto eps = op.getRmsEpsilonAttr()) {
      Value ones = arith::ConstantOp::create(
          rw, loc, DenseElementsAttr::get(RankedTensorType::get({k}, et), rw.getFloatAttr(et, 1.0)));
      x = llm::RMSNormOp::create(rw, loc, xt, x, ones, eps);
    }
    SmallVector<int64_t> shape(outType.getShape());
    shape.back() = op.getWeightColumns();
    auto wideType = RankedTensorType::get(shape, et);
    Value y = llm::LinearOp::create(rw, loc, wideType, x, op.getWeight(), op.getBias(),
                                    op.getTransposeWeight());
    if (op.getGated()) {
      int64_t rank = outType.getRank(), n = outType.getShape().back();
      SmallVector<OpFoldResult> sizes, strides(rank, rw.getIndexAttr(1));
      for (int64_t i = 0; i < rank - 1; ++i)
        sizes.push_back(OpFoldResult(dimOf(rw, loc, y, i)));
      sizes.push_back(rw.getIndexAttr(n));
      auto half = [&](int64_t off) {
        SmallVector<OpFoldResult> offsets(rank, rw.getIndexAttr(0));
        offsets.back() = rw.getIndexAttr(off);
        return tensor::ExtractSliceOp::create(rw, loc, outType, y, offsets, sizes, strides)
            .getResult();
      };
      y = llm::SwiGLUOp::create(rw, loc, outType, half(0), half(n));
    }
    if (op.getResidual())
      y = buildElementwise(rw, loc, outType, {y, op.getResidual()},
                           [](OpBuilder &b, Location l, ValueRange a) -> Value {
                             return arith::AddFOp::create(b, l, a[0], a[1]);
                           });
    rw.replaceOp(op, y);
    return success();
  }

  LogicalResult lowerPlain(llm::LinearOp op, PatternRewriter &rw) const {
    Location loc = op.getLoc();
    Value w = op.getWeight();
    auto xt = cast<RankedTensorType>(op.getInput().getType());
    auto outType = cast<RankedTensorType>(op.getType());
    Type et = xt.getElementType();
    int64_t n = outType.getShape().back();
    SmallVector<Value> lead;
    Value m;
    Value x2 = collapseRows(rw, loc, op.getInput(), lead, m);
    auto y2t = RankedTensorType::get({ShapedType::kDynamic, n}, et);
    Value y2;
    if (useKernels && et.isF32()) {
      auto module = op->getParentOfType<ModuleOp>();
      auto any2 = anyShapeType(2, et);
      SmallVector<Type> argTypes{any2, any2, any2, rw.getI32Type()};
      auto fn = declareKernel(module, "llmc_rt_linear_f32", argTypes);
      auto toAny = [&](Value v) { return memref::CastOp::create(rw, loc, any2, v).getResult(); };
      Value xb = toAny(asBuffer(rw, loc, x2)), wb = toAny(asBuffer(rw, loc, w));
      auto mt = MemRefType::get(y2t.getShape(), et);
      Value alloc = memref::AllocOp::create(rw, loc, mt, ValueRange{m}, rw.getI64IntegerAttr(64));
      Value view = toAny(alloc);
      Value tr = arith::ConstantIntOp::create(rw, loc, rw.getI32Type(), op.getTransposeWeight());
      func::CallOp::create(rw, loc, fn, ValueRange{xb, wb, view, tr});
      y2 = bufferization::ToTensorOp::create(rw, loc, y2t, alloc, /*restrict=*/true,
                                             /*writable=*/true);
    } else {
      y2 = linearReference(rw, loc, x2, w, op.getTransposeWeight(), y2t);
    }
    lead.push_back(indexConst(rw, loc, n));
    Value y = reshapeTo(rw, loc, y2, outType, lead);
    if (op.getBias())
      y = buildElementwise(rw, loc, outType, {y, op.getBias()},
                           [](OpBuilder &b, Location l, ValueRange a) -> Value {
                             return arith::AddFOp::create(b, l, a[0], a[1]);
                           });
    rw.replaceOp(op, y);
    return success();
  }
};

/// llm.quantized_linear: one call of the quantized kernel (weight-only
/// int8/int4, f32 activations; with act_bits = 8 the W8A8 kernel, which
/// quantizes the input rows itself and takes the same arguments) with the
/// same fused flags as the packed one.
struct QuantizedLinearLowering : public OpRewritePattern<llm::QuantizedLinearOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(llm::QuantizedLinearOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto xt = cast<RankedTensorType>(op.getInput().getType());
    if (!xt.getElementType().isF32())
      return rw.notifyMatchFailure(op, "quantized linear needs f32 activations");
    auto i64 = [&](int64_t v) { return arith::ConstantIntOp::create(rw, loc, rw.getI64Type(), v).getResult(); };
    auto i32 = [&](int64_t v) { return arith::ConstantIntOp::create(rw, loc, rw.getI32Type(), v).getResult(); };
    Value codes = asBuffer(rw, loc, op.getCodes());
    // Symmetric schemes have no zero points: the kernel ignores the buffer.
    Value zeros = op.getZeros() ? asBuffer(rw, loc, op.getZeros()) : codes;
    lowerFusedLinearCall(op, rw, op.getActBits() ? "llmc_rt_linear_w8a8" : "llmc_rt_linear_quant",
                         {codes, asBuffer(rw, loc, op.getScales()), zeros},
                         {i64(xt.getShape().back()), i64(cast<RankedTensorType>(op.getType()).getShape().back()),
                          i32(op.getPanel()), i32(op.getBits()), i32(op.getGroup()),
                          i32(op.getSymmetric())});
    return success();
  }
};

/// llm.sparse_linear: one call of the 2:4 (f32 or int4 values) or
/// unstructured sparse kernel (include/llmc/SparseLayout.h) with the same
/// fused flags as the packed one.
struct SparseLinearLowering : public OpRewritePattern<llm::SparseLinearOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(llm::SparseLinearOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto xt = cast<RankedTensorType>(op.getInput().getType());
    if (!xt.getElementType().isF32())
      return rw.notifyMatchFailure(op, "sparse linear needs f32 activations");
    auto i64 = [&](int64_t v) { return arith::ConstantIntOp::create(rw, loc, rw.getI64Type(), v).getResult(); };
    SmallVector<Value> weightBuffers{asBuffer(rw, loc, op.getValues()), asBuffer(rw, loc, op.getIndices())};
    if (op.getStarts())
      weightBuffers.push_back(asBuffer(rw, loc, op.getStarts()));
    if (op.getScales())
      weightBuffers.push_back(asBuffer(rw, loc, op.getScales()));
    StringRef kernel = op.getFormat() != "2:4" ? "llmc_rt_linear_sparse_ell_f32"
                       : op.getBits() == 4   ? "llmc_rt_linear_sparse24_q4"
                                             : "llmc_rt_linear_sparse24_f32";
    lowerFusedLinearCall(op, rw, kernel, weightBuffers,
                         {i64(xt.getShape().back()), i64(cast<RankedTensorType>(op.getType()).getShape().back()),
                          arith::ConstantIntOp::create(rw, loc, rw.getI32Type(), op.getPanel())});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// llm.attention
//===----------------------------------------------------------------------===//

/// A rope table (cos/sin, rank <= 4) with leading unit dims: [.., D] -> 4-D.
Value ropeTable4(PatternRewriter &rw, Location loc, Value t) {
  auto tt = cast<RankedTensorType>(t.getType());
  if (tt.getRank() == 4)
    return t;
  SmallVector<int64_t> shape(4 - tt.getRank(), 1);
  shape.append(tt.getShape().begin(), tt.getShape().end());
  SmallVector<Value> dims(4 - tt.getRank(), indexConst(rw, loc, 1));
  for (int64_t i = 0; i < tt.getRank(); ++i)
    dims.push_back(dimOf(rw, loc, t, i));
  return reshapeTo(rw, loc, t, RankedTensorType::get(shape, tt.getElementType()), dims);
}

/// The part of an attention kernel's name that says how K/V rows are stored:
/// "" (f32), "kv8_" (--kv-cache=int8) or "kvbf16_" (--kv-cache=bf16).
StringRef kvRowsInfix(Type rowElement) {
  if (rowElement.isInteger(8))
    return "kv8_";
  return rowElement.isBF16() ? "kvbf16_" : "";
}

struct AttentionLowering : public OpRewritePattern<llm::AttentionOp> {
  AttentionLowering(MLIRContext *ctx, bool useKernels)
      : OpRewritePattern(ctx), useKernels(useKernels) {}
  bool useKernels;

  LogicalResult matchAndRewrite(llm::AttentionOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto qt = cast<RankedTensorType>(op.getQuery().getType());
    auto outType = cast<RankedTensorType>(op.getType());
    Type et = qt.getElementType();
    if (!et.isF32())
      return rw.notifyMatchFailure(op, "llm.attention supports f32");
    if (op.getCos() && !useKernels) {
      // Reference path: the fused rotary (llmc-fuse-rope) taken apart again.
      Value q = llm::RotaryOp::create(rw, loc, qt, op.getQuery(), op.getCos(), op.getSin(),
                                      rw.getBoolAttr(op.getRopeInterleaved()));
      rw.replaceOpWithNewOp<llm::AttentionOp>(op, outType, q, op.getKey(), op.getValue(),
                                              op.getMask(), op.getScaleAttr(), op.getCausalAttr());
      return success();
    }
    Value mask = op.getMask();
    if (mask) {
      auto mt = cast<RankedTensorType>(mask.getType());
      if (!mt.getElementType().isF32())
        return rw.notifyMatchFailure(op, "mask must be f32");
      if (mt.getRank() < 4) {
        SmallVector<int64_t> shape(4 - mt.getRank(), 1);
        shape.append(mt.getShape().begin(), mt.getShape().end());
        SmallVector<Value> dims(4 - mt.getRank(), indexConst(rw, loc, 1));
        for (int64_t i = 0; i < mt.getRank(); ++i)
          dims.push_back(dimOf(rw, loc, mask, i));
        mask = reshapeTo(rw, loc, mask, RankedTensorType::get(shape, et), dims);
      } else if (mt.getRank() > 4) {
        return rw.notifyMatchFailure(op, "mask rank > 4");
      }
    }
    // --kv-cache=int8: keys/values are int8 cache rows [.., D + 4]
    // (runtime/kernels/KVQuant.h), read by the _kv8 kernels only; bf16 rows
    // (--kv-cache=bf16) by the _kvbf16 kernels only.
    auto vt = cast<RankedTensorType>(op.getValue().getType());
    const bool kv8 = vt.getElementType().isInteger(8);
    const StringRef rows = kvRowsInfix(vt.getElementType());
    if (!rows.empty() && !useKernels)
      return rw.notifyMatchFailure(op, "int8 / bf16 KV-cache rows need the runtime kernels");
    SmallVector<Value> dims;
    for (int64_t i = 0; i < 3; ++i)
      dims.push_back(dimOf(rw, loc, op.getQuery(), i));
    dims.push_back(kv8 ? indexConst(rw, loc, outType.getShape()[3])
                       : dimOf(rw, loc, op.getValue(), 3));
    if (useKernels) {
      auto module = op->getParentOfType<ModuleOp>();
      Value qb = asBuffer(rw, loc, op.getQuery());
      Value kb = asBuffer(rw, loc, op.getKey());
      Value vb = asBuffer(rw, loc, op.getValue());
      Value mb = mask ? asBuffer(rw, loc, mask) : qb;
      auto mt = MemRefType::get(outType.getShape(), et);
      Value alloc = memref::AllocOp::create(rw, loc, mt, dynamicDims(outType, dims),
                                            rw.getI64IntegerAttr(64));
      auto any4 = anyShapeType(4, et), kvAny4 = anyShapeType(4, vt.getElementType());
      auto cast = [&](Value v) {
        auto t = llvm::cast<MemRefType>(v.getType()).getElementType() == et ? any4 : kvAny4;
        return memref::CastOp::create(rw, loc, t, v).getResult();
      };
      Value hasMask = arith::ConstantIntOp::create(rw, loc, rw.getI32Type(), mask ? 1 : 0);
      Value causal = arith::ConstantIntOp::create(rw, loc, rw.getI32Type(), op.getCausal());
      Value scale = arith::ConstantOp::create(rw, loc, op.getScaleAttr());
      if (op.getCos()) {
        // llmc-fuse-rope: the kernel rotates the query rows as it loads them.
        Value cb = asBuffer(rw, loc, ropeTable4(rw, loc, op.getCos()));
        Value sb = asBuffer(rw, loc, ropeTable4(rw, loc, op.getSin()));
        Value interleaved =
            arith::ConstantIntOp::create(rw, loc, rw.getI32Type(), op.getRopeInterleaved());
        SmallVector<Value> args{cast(qb), cast(kb), cast(vb), cast(mb), cast(cb), cast(sb),
                                cast(alloc), hasMask, causal, scale, interleaved};
        auto fn = declareKernel(module, ("llmc_rt_attention_" + rows + "rope_f32").str(),
                                llvm::map_to_vector(args, [](Value v) { return v.getType(); }));
        func::CallOp::create(rw, loc, fn, args);
        rw.replaceOp(op, bufferization::ToTensorOp::create(rw, loc, outType, alloc, true, true));
        return success();
      }
      SmallVector<Type> argTypes{any4, kvAny4, kvAny4, any4, any4, rw.getI32Type(),
                                 rw.getI32Type(), rw.getF32Type()};
      auto fn = declareKernel(module, ("llmc_rt_attention_" + rows + "f32").str(), argTypes);
      func::CallOp::create(rw, loc, fn,
                           ValueRange{cast(qb), cast(kb), cast(vb), cast(mb), cast(alloc),
                                      hasMask, causal, scale});
      Value r = bufferization::ToTensorOp::create(rw, loc, outType, alloc, true, true);
      rw.replaceOp(op, r);
      return success();
    }
    return referenceLowering(op, mask, dims, rw);
  }

  /// scores = scale * Q K^T (+ mask, causal) -> onnx.Softmax -> P V, with
  /// query head h reading KV head h floordiv (H / KVH).
  LogicalResult referenceLowering(llm::AttentionOp op, Value mask, ArrayRef<Value> outDims,
                                  PatternRewriter &rw) const {
    Location loc = op.getLoc();
    Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
    auto qt = cast<RankedTensorType>(q.getType()), kt = cast<RankedTensorType>(k.getType());
    int64_t h = qt.getDimSize(1), kvh = kt.getDimSize(1);
    if (ShapedType::isDynamic(h) || ShapedType::isDynamic(kvh))
      return rw.notifyMatchFailure(op, "reference attention needs static head counts");
    int64_t group = h / kvh;
    MLIRContext *ctx = rw.getContext();
    Type et = qt.getElementType();
    auto d = [&](int i) { return getAffineDimExpr(i, ctx); };
    Value bDim = dimOf(rw, loc, q, 0), sDim = dimOf(rw, loc, q, 2), tDim = dimOf(rw, loc, k, 2);
    auto scoresType = RankedTensorType::get({qt.getDimSize(0), h, qt.getDimSize(2), kt.getDimSize(2)}, et);
    SmallVector<Value> sdims{bDim, indexConst(rw, loc, h), sDim, tDim};
    // (b, h, s, t, d)
    Value zeroInit = filledTensor(rw, loc, scoresType, sdims, scalarConst(rw, loc, et, 0));
    SmallVector<AffineMap> qkMaps{
        AffineMap::get(5, 0, {d(0), d(1), d(2), d(4)}, ctx),
        AffineMap::get(5, 0, {d(0), d(1).floorDiv(group), d(3), d(4)}, ctx),
        AffineMap::get(5, 0, {d(0), d(1), d(2), d(3)}, ctx)};
    SmallVector<utils::IteratorType> qkIters(4, utils::IteratorType::parallel);
    qkIters.push_back(utils::IteratorType::reduction);
    Value scores = buildMulAccumulate(rw, loc, scoresType, q, k, zeroInit, qkMaps, qkIters);
    // Scale, mask, causal.
    Value scale = scalarConst(rw, loc, et, op.getScale().convertToDouble());
    Value negInf = lowestValue(rw, loc, et);
    bool causal = op.getCausal();
    SmallVector<Value> ins{scores};
    SmallVector<AffineMap> maps{rw.getMultiDimIdentityMap(4)};
    if (mask) {
      ins.push_back(mask);
      maps.push_back(broadcastMap(scoresType, mask));
    }
    maps.push_back(rw.getMultiDimIdentityMap(4));
    Value empty = emptyTensor(rw, loc, scoresType, sdims);
    Value offset = arith::SubIOp::create(rw, loc, tDim, sDim); // T - S
    Value masked = linalg::GenericOp::create(
                       rw, loc, TypeRange{scoresType}, ins, ValueRange{empty}, maps,
                       SmallVector<utils::IteratorType>(4, utils::IteratorType::parallel),
                       [&](OpBuilder &b, Location l, ValueRange a) {
                         Value x = arith::MulFOp::create(b, l, a[0], scale);
                         if (mask)
                           x = arith::AddFOp::create(b, l, x, a[1]);
                         if (causal) {
                           Value si = linalg::IndexOp::create(b, l, 2);
                           Value ti = linalg::IndexOp::create(b, l, 3);
                           Value limit = arith::AddIOp::create(b, l, si, offset);
                           Value future = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sgt, ti, limit);
                           x = arith::SelectOp::create(b, l, future, negInf, x);
                         }
                         linalg::YieldOp::create(b, l, x);
                       })
                       .getResult(0);
    Value probs = onnx::SoftmaxOp::create(rw, loc, scoresType, masked, rw.getI64IntegerAttr(-1));
    // (b, h, s, e, t)
    auto outType = cast<RankedTensorType>(op.getType());
    Value outInit = filledTensor(rw, loc, outType, outDims, scalarConst(rw, loc, et, 0));
    SmallVector<AffineMap> pvMaps{
        AffineMap::get(5, 0, {d(0), d(1), d(2), d(4)}, ctx),
        AffineMap::get(5, 0, {d(0), d(1).floorDiv(group), d(4), d(3)}, ctx),
        AffineMap::get(5, 0, {d(0), d(1), d(2), d(3)}, ctx)};
    Value out = buildMulAccumulate(rw, loc, outType, probs, v, outInit, pvMaps, qkIters);
    rw.replaceOp(op, out);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Reference lowerings
//===----------------------------------------------------------------------===//

struct RMSNormLowering : public OpRewritePattern<llm::RMSNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(llm::RMSNormOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto xt = cast<RankedTensorType>(x.getType());
    Type et = xt.getElementType();
    if (!isa<FloatType>(et))
      return rw.notifyMatchFailure(op, "rms_norm needs floats");
    int64_t rank = xt.getRank();
    MLIRContext *ctx = rw.getContext();
    SmallVector<int64_t> rshape(xt.getShape().drop_back());
    auto rt = RankedTensorType::get(rshape, et);
    SmallVector<Value> dims, rdims;
    for (int64_t i = 0; i < rank; ++i)
      dims.push_back(dimOf(rw, loc, x, i));
    rdims.assign(dims.begin(), dims.end() - 1);
    Value acc = filledTensor(rw, loc, rt, rdims, scalarConst(rw, loc, et, 0));
    SmallVector<AffineExpr> rexprs;
    for (int64_t i = 0; i < rank - 1; ++i)
      rexprs.push_back(getAffineDimExpr(i, ctx));
    AffineMap toReduced = AffineMap::get(rank, 0, rexprs, ctx);
    SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
    iters.back() = utils::IteratorType::reduction;
    Value sumsq = linalg::GenericOp::create(
                      rw, loc, TypeRange{rt}, ValueRange{x}, ValueRange{acc},
                      SmallVector<AffineMap>{rw.getMultiDimIdentityMap(rank), toReduced}, iters,
                      [](OpBuilder &b, Location l, ValueRange a) {
                        Value sq = arith::MulFOp::create(b, l, a[0], a[0]);
                        linalg::YieldOp::create(b, l, arith::AddFOp::create(b, l, a[1], sq).getResult());
                      })
                      .getResult(0);
    Value n = arith::SIToFPOp::create(rw, loc, et,
                                      fromIndex(rw, loc, dims.back(), rw.getI64Type()));
    Value eps = scalarConst(rw, loc, et, op.getEpsilon().convertToDouble());
    Value init = emptyTensor(rw, loc, xt, dims);
    AffineMap wMap = AffineMap::get(rank, 0, {getAffineDimExpr(rank - 1, ctx)}, ctx);
    SmallVector<utils::IteratorType> par(rank, utils::IteratorType::parallel);
    Value r = linalg::GenericOp::create(
                  rw, loc, TypeRange{xt}, ValueRange{x, sumsq, op.getWeight()}, ValueRange{init},
                  SmallVector<AffineMap>{rw.getMultiDimIdentityMap(rank), toReduced, wMap,
                                         rw.getMultiDimIdentityMap(rank)},
                  par,
                  [&](OpBuilder &b, Location l, ValueRange a) {
                    Value mean = arith::DivFOp::create(b, l, a[1], n);
                    Value inv = math::RsqrtOp::create(b, l, arith::AddFOp::create(b, l, mean, eps));
                    Value y = arith::MulFOp::create(b, l, arith::MulFOp::create(b, l, a[0], inv), a[2]);
                    linalg::YieldOp::create(b, l, y);
                  })
                  .getResult(0);
    rw.replaceOp(op, r);
    return success();
  }
};

struct RotaryLowering : public OpRewritePattern<llm::RotaryOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(llm::RotaryOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto xt = cast<RankedTensorType>(x.getType());
    int64_t rank = xt.getRank(), d = xt.getDimSize(rank - 1);
    if (ShapedType::isDynamic(d) || d % 2)
      return rw.notifyMatchFailure(op, "head size must be static and even");
    bool interleaved = op.getInterleaved();
    SmallVector<Value> dims;
    for (int64_t i = 0; i < rank; ++i)
      dims.push_back(dimOf(rw, loc, x, i));
    Value init = emptyTensor(rw, loc, xt, dims);
    SmallVector<AffineMap> maps{rw.getMultiDimIdentityMap(rank), broadcastMap(xt, op.getCos()),
                                broadcastMap(xt, op.getSin()), rw.getMultiDimIdentityMap(rank)};
    SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
    Value r = linalg::GenericOp::create(
                  rw, loc, TypeRange{xt}, ValueRange{x, op.getCos(), op.getSin()},
                  ValueRange{init}, maps, iters,
                  [&](OpBuilder &b, Location l, ValueRange a) {
                    SmallVector<Value> idx;
                    for (int64_t i = 0; i < rank; ++i)
                      idx.push_back(linalg::IndexOp::create(b, l, i));
                    Value i = idx.back();
                    Value partner, first;
                    if (interleaved) {
                      Value odd = arith::RemUIOp::create(b, l, i, indexConst(b, l, 2));
                      first = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, odd, indexConst(b, l, 0));
                      partner = arith::XOrIOp::create(b, l, i, indexConst(b, l, 1));
                    } else {
                      Value half = indexConst(b, l, d / 2);
                      first = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, i, half);
                      partner = arith::SelectOp::create(b, l, first, arith::AddIOp::create(b, l, i, half),
                                                        arith::SubIOp::create(b, l, i, half));
                    }
                    idx.back() = partner;
                    Value other = tensor::ExtractOp::create(b, l, x, idx);
                    Value rot = arith::SelectOp::create(b, l, first, arith::NegFOp::create(b, l, other), other);
                    Value y = arith::AddFOp::create(b, l, arith::MulFOp::create(b, l, a[0], a[1]),
                                                    arith::MulFOp::create(b, l, rot, a[2]));
                    linalg::YieldOp::create(b, l, y);
                  })
                  .getResult(0);
    rw.replaceOp(op, r);
    return success();
  }
};

struct SwiGLULowering : public OpRewritePattern<llm::SwiGLUOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(llm::SwiGLUOp op, PatternRewriter &rw) const override {
    auto t = cast<RankedTensorType>(op.getType());
    Value r = buildElementwise(rw, op.getLoc(), t, {op.getGate(), op.getUp()},
                               [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                                 Type et = a[0].getType();
                                 Value one = scalarConst(b, l, et, 1);
                                 Value e = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, a[0]));
                                 Value sig = arith::DivFOp::create(b, l, one, arith::AddFOp::create(b, l, one, e));
                                 return arith::MulFOp::create(b, l, arith::MulFOp::create(b, l, a[0], sig), a[1]);
                               });
    rw.replaceOp(op, r);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// llm.paged_attention
//===----------------------------------------------------------------------===//

/// One runtime call per layer: it stores the new K/V rows in the pools and
/// attends through the block tables (runtime/kernels/PagedAttention.cpp).
/// The pools are buffers the runtime owns (the step's `llmc.kv_pool`
/// arguments); the call writes them, so they are taken as writable buffers.
struct PagedAttentionLowering : public OpRewritePattern<llm::PagedAttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(llm::PagedAttentionOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto module = op->getParentOfType<ModuleOp>();
    auto outType = cast<RankedTensorType>(op.getType());
    Type f32 = rw.getF32Type(), i32 = rw.getI32Type();
    auto any4 = anyShapeType(4, f32);
    auto poolAny4 = anyShapeType(
        4, llvm::cast<RankedTensorType>(op.getKeyPool().getType()).getElementType());
    auto cast = [&](Type t, Value v) { return memref::CastOp::create(rw, loc, t, v).getResult(); };
    auto pool = [&](Value t) {
      auto tt = llvm::cast<RankedTensorType>(t.getType());
      return bufferization::ToBufferOp::create(rw, loc, stridedMemRefType(tt), t, /*readOnly=*/false)
          .getResult();
    };
    SmallVector<Value> dims;
    for (int64_t i = 0; i < 3; ++i)
      dims.push_back(dimOf(rw, loc, op.getQuery(), i));
    dims.push_back(dimOf(rw, loc, op.getValue(), 3));
    auto mt = MemRefType::get(outType.getShape(), f32);
    Value alloc = memref::AllocOp::create(rw, loc, mt, dynamicDims(outType, dims),
                                          rw.getI64IntegerAttr(64));
    Value scale = arith::ConstantOp::create(rw, loc, op.getScaleAttr());
    SmallVector<Value> args{cast(any4, asBuffer(rw, loc, op.getQuery())),
                            cast(any4, asBuffer(rw, loc, op.getKey())),
                            cast(any4, asBuffer(rw, loc, op.getValue())),
                            cast(poolAny4, pool(op.getKeyPool())),
                            cast(poolAny4, pool(op.getValuePool())),
                            cast(anyShapeType(2, i32), asBuffer(rw, loc, op.getBlockTables())),
                            cast(anyShapeType(1, i32), asBuffer(rw, loc, op.getSeqStarts())),
                            cast(anyShapeType(1, i32), asBuffer(rw, loc, op.getSeqPositions()))};
    // --kv-cache=int8 / bf16 pools: the _kv8 / _kvbf16 kernels quantize or
    // round the new rows as they store them and read those rows
    // (runtime/kernels/KVQuant.h).
    const StringRef rows =
        kvRowsInfix(llvm::cast<RankedTensorType>(op.getKeyPool().getType()).getElementType());
    std::string kernel = ("llmc_rt_paged_attention_" + rows + "f32").str();
    if (op.getCos()) {
      // llmc-fuse-rope: keys rotated as they are stored, queries as loaded.
      kernel = ("llmc_rt_paged_attention_" + rows + "rope_f32").str();
      args.push_back(cast(any4, asBuffer(rw, loc, ropeTable4(rw, loc, op.getCos()))));
      args.push_back(cast(any4, asBuffer(rw, loc, ropeTable4(rw, loc, op.getSin()))));
    }
    args.append({cast(any4, alloc), scale});
    if (op.getCos())
      args.push_back(arith::ConstantIntOp::create(rw, loc, i32, op.getRopeInterleaved()));
    auto fn = declareKernel(module, kernel,
                            llvm::map_to_vector(args, [](Value v) { return v.getType(); }));
    func::CallOp::create(rw, loc, fn, args);
    Value r = bufferization::ToTensorOp::create(rw, loc, outType, alloc, true, true);
    rw.replaceOp(op, r);
    return success();
  }
};

/// Reference path (no kernels): `kv_cache_append ... rope(cos, sin)` taken
/// apart into kv_cache_append(past, rotary(update)). With kernels the
/// function-ABI lowering rotates the keys while storing them.
struct KVCacheAppendRopeUnfuse : public OpRewritePattern<llm::KVCacheAppendOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(llm::KVCacheAppendOp op, PatternRewriter &rw) const override {
    if (!op.getCos())
      return failure();
    Value upd = llm::RotaryOp::create(rw, op.getLoc(), op.getUpdate().getType(), op.getUpdate(),
                                      op.getCos(), op.getSin(),
                                      rw.getBoolAttr(op.getRopeInterleaved()));
    rw.replaceOpWithNewOp<llm::KVCacheAppendOp>(op, op.getType(), op.getPast(), upd,
                                                op.getAxisAttr(), op.getSlotAttr());
    return success();
  }
};

struct EmbeddingLowering : public OpRewritePattern<llm::EmbeddingOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(llm::EmbeddingOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value table = op.getTable(), ids = op.getIds();
    auto outType = cast<RankedTensorType>(op.getType());
    auto it = cast<RankedTensorType>(ids.getType());
    int64_t q = it.getRank(), outRank = outType.getRank();
    SmallVector<Value> dims;
    for (int64_t i = 0; i < q; ++i)
      dims.push_back(dimOf(rw, loc, ids, i));
    dims.push_back(dimOf(rw, loc, table, 1));
    Value init = emptyTensor(rw, loc, outType, dims);
    SmallVector<AffineExpr> idExprs;
    for (int64_t i = 0; i < q; ++i)
      idExprs.push_back(rw.getAffineDimExpr(i));
    SmallVector<AffineMap> maps{AffineMap::get(outRank, 0, idExprs, rw.getContext()),
                                rw.getMultiDimIdentityMap(outRank)};
    SmallVector<utils::IteratorType> iters(outRank, utils::IteratorType::parallel);
    Value vocab = dimOf(rw, loc, table, 0);
    Value r = linalg::GenericOp::create(
                  rw, loc, TypeRange{outType}, ValueRange{ids}, ValueRange{init}, maps, iters,
                  [&](OpBuilder &b, Location l, ValueRange a) {
                    Value id = toIndex(b, l, a[0]);
                    Value zero = indexConst(b, l, 0);
                    Value hi = arith::SubIOp::create(b, l, vocab, indexConst(b, l, 1));
                    id = arith::MaxSIOp::create(b, l, arith::MinSIOp::create(b, l, id, hi), zero);
                    Value col = linalg::IndexOp::create(b, l, q);
                    linalg::YieldOp::create(b, l, tensor::ExtractOp::create(b, l, table, ValueRange{id, col}).getResult());
                  })
                  .getResult(0);
    rw.replaceOp(op, r);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Quantized embedding and calibration observers (GPTQ)
//===----------------------------------------------------------------------===//

/// llm.quantized_embedding: ids flattened to [M], one call of
/// llmc_rt_embedding_quant_{i64,i32} writing [M, E], reshaped back.
struct QuantizedEmbeddingLowering : public OpRewritePattern<llm::QuantizedEmbeddingOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(llm::QuantizedEmbeddingOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto it = cast<RankedTensorType>(op.getIds().getType());
    auto outType = cast<RankedTensorType>(op.getType());
    Type idType = it.getElementType();
    if (!idType.isInteger(64) && !idType.isInteger(32))
      return rw.notifyMatchFailure(op, "ids must be i64 or i32");
    if (!outType.getElementType().isF32())
      return rw.notifyMatchFailure(op, "the result must be f32");
    int64_t e = outType.getShape().back();
    SmallVector<Value> lead;
    Value m = indexConst(rw, loc, 1);
    for (int64_t i = 0; i < it.getRank(); ++i) {
      lead.push_back(dimOf(rw, loc, op.getIds(), i));
      m = arith::MulIOp::create(rw, loc, m, lead.back());
    }
    Value ids1 = reshapeTo(rw, loc, op.getIds(), RankedTensorType::get({ShapedType::kDynamic}, idType), {m});
    Type f32 = rw.getF32Type();
    auto asType = [&](Type t, Value v) { return memref::CastOp::create(rw, loc, t, v).getResult(); };
    auto any1 = [&](Value v) {
      return asType(anyShapeType(1, cast<MemRefType>(v.getType()).getElementType()), v);
    };
    Value codes = asBuffer(rw, loc, op.getCodes());
    Value zeros = op.getZeros() ? asBuffer(rw, loc, op.getZeros()) : codes; // ignored when symmetric
    auto y2t = RankedTensorType::get({ShapedType::kDynamic, e}, f32);
    Value alloc = memref::AllocOp::create(rw, loc, MemRefType::get(y2t.getShape(), f32), ValueRange{m},
                                          rw.getI64IntegerAttr(64));
    auto i32 = [&](int64_t v) { return arith::ConstantIntOp::create(rw, loc, rw.getI32Type(), v).getResult(); };
    SmallVector<Value> args{any1(asBuffer(rw, loc, ids1)),
                            any1(codes),
                            any1(asBuffer(rw, loc, op.getScales())),
                            any1(zeros),
                            asType(anyShapeType(2, f32), alloc),
                            arith::ConstantIntOp::create(rw, loc, rw.getI64Type(), op.getVocab()),
                            i32(op.getPanel()),
                            i32(op.getBits()),
                            i32(op.getGroup()),
                            i32(op.getSymmetric())};
    auto fn = declareKernel(op->getParentOfType<ModuleOp>(),
                            idType.isInteger(64) ? "llmc_rt_embedding_quant_i64" : "llmc_rt_embedding_quant_i32",
                            llvm::map_to_vector(args, [](Value v) { return v.getType(); }));
    func::CallOp::create(rw, loc, fn, args);
    Value y2 = bufferization::ToTensorOp::create(rw, loc, y2t, alloc, /*restrict=*/true, /*writable=*/true);
    lead.push_back(indexConst(rw, loc, e));
    rw.replaceOp(op, reshapeTo(rw, loc, y2, outType, lead));
    return success();
  }
};

/// llm.observe: the input as [M, K] goes to llmc_rt_calibration_observe.
struct ObserveLowering : public OpRewritePattern<llm::ObserveOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(llm::ObserveOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto xt = cast<RankedTensorType>(op.getInput().getType());
    if (!xt.getElementType().isF32() || xt.getRank() < 2)
      return rw.notifyMatchFailure(op, "observe needs an f32 input of rank >= 2");
    SmallVector<Value> lead;
    Value m;
    auto any2 = anyShapeType(2, rw.getF32Type());
    Value xb = memref::CastOp::create(rw, loc, any2,
                                      asBuffer(rw, loc, collapseRows(rw, loc, op.getInput(), lead, m)));
    auto i64 = [&](int64_t v) { return arith::ConstantIntOp::create(rw, loc, rw.getI64Type(), v).getResult(); };
    SmallVector<Value> args{xb, i64(op.getId()), i64(op.getColumns())};
    auto fn = declareKernel(op->getParentOfType<ModuleOp>(), "llmc_rt_calibration_observe",
                            llvm::map_to_vector(args, [](Value v) { return v.getType(); }));
    func::CallOp::create(rw, loc, fn, args);
    rw.eraseOp(op);
    return success();
  }
};

struct ConvertLLMToLinalgPass
    : public llmc::impl::ConvertLLMToLinalgBase<ConvertLLMToLinalgPass> {
  using ConvertLLMToLinalgBase::ConvertLLMToLinalgBase;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<LinearLowering, AttentionLowering>(&getContext(), useKernels.getValue());
    patterns.add<RMSNormLowering, RotaryLowering, SwiGLULowering, EmbeddingLowering>(&getContext());
    if (useKernels)
      patterns.add<QuantizedLinearLowering, PagedAttentionLowering>(&getContext());
    if (useKernels)
      patterns.add<SparseLinearLowering>(&getContext());
    patterns.add<ObserveLowering>(&getContext());
    if (!useKernels)
      patterns.add<KVCacheAppendRopeUnfuse>(&getContext());
    if (useKernels)
      patterns.add<QuantizedEmbeddingLowering>(&getContext());
    (void)applyPatternsGreedily(getOperation(), std::move(patterns));
    bool failedAny = false;
    getOperation().walk([&](Operation *op) {
      if (isa<llm::LLMDialect>(op->getDialect()) && !isa<llm::KVCacheAppendOp>(op)) {
        op->emitError() << "cannot lower '" << op->getName() << "'";
        failedAny = true;
      }
    });
    if (failedAny)
      signalPassFailure();
  }
};

} // namespace
