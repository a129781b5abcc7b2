//===- Elementwise.cpp - ONNX elementwise ops to linalg.generic -----------===//
//
// Every elementwise ONNX op becomes one linalg.generic over the broadcast
// output shape; the scalar body is chosen by op name and element type.
//
//===----------------------------------------------------------------------===//
#include "LoweringUtils.h"

#include "llmc/Dialect/ONNX/ONNXDialect.h"

#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace llmc;
using namespace llmc::lowering;

namespace {

bool isFloat(Type t) { return isa<FloatType>(t); }

Value compare(OpBuilder &b, Location loc, StringRef op, Value x, Value y) {
  if (isFloat(x.getType())) {
    auto p = llvm::StringSwitch<arith::CmpFPredicate>(op)
                 .Case("Equal", arith::CmpFPredicate::OEQ)
                 .Case("Less", arith::CmpFPredicate::OLT)
                 .Case("LessOrEqual", arith::CmpFPredicate::OLE)
                 .Case("Greater", arith::CmpFPredicate::OGT)
                 .Default(arith::CmpFPredicate::OGE);
    return arith::CmpFOp::create(b, loc, p, x, y);
  }
  bool u = x.getType().isUnsignedInteger() || x.getType().isInteger(1);
  auto p = llvm::StringSwitch<arith::CmpIPredicate>(op)
               .Case("Equal", arith::CmpIPredicate::eq)
               .Case("Less", u ? arith::CmpIPredicate::ult : arith::CmpIPredicate::slt)
               .Case("LessOrEqual", u ? arith::CmpIPredicate::ule : arith::CmpIPredicate::sle)
               .Case("Greater", u ? arith::CmpIPredicate::ugt : arith::CmpIPredicate::sgt)
               .Default(u ? arith::CmpIPredicate::uge : arith::CmpIPredicate::sge);
  return arith::CmpIOp::create(b, loc, p, x, y);
}

/// x^e for signless integers of one type, wrapping like numpy: square and
/// multiply over every bit of e (unrolled: a generic body has one block).
/// Negative exponents follow math.ipowi: 1 for x = 1, +-1 for x = -1, else 0.
Value integerPower(OpBuilder &b, Location loc, Value x, Value e) {
  Type t = x.getType();
  unsigned w = t.getIntOrFloatBitWidth();
  Value zero = scalarConst(b, loc, t, 0), one = scalarConst(b, loc, t, 1);
  Value result = one, base = x, bits = e;
  for (unsigned i = 0; i + 1 < w; ++i) {
    Value bit = arith::AndIOp::create(b, loc, bits, one);
    Value set = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, bit, zero);
    Value mul = arith::MulIOp::create(b, loc, result, base);
    result = arith::SelectOp::create(b, loc, set, mul, result);
    bits = arith::ShRUIOp::create(b, loc, bits, one);
    if (i + 2 < w)
      base = arith::MulIOp::create(b, loc, base, base);
  }
  Value negE = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, e, zero);
  Value minusOne = scalarConst(b, loc, t, -1);
  Value isOne = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, x, one);
  Value isMinusOne = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, x, minusOne);
  Value odd = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne,
                                    arith::AndIOp::create(b, loc, e, one), zero);
  Value signed1 = arith::SelectOp::create(b, loc, odd, minusOne, one);
  Value negResult = arith::SelectOp::create(
      b, loc, isOne, one, arith::SelectOp::create(b, loc, isMinusOne, signed1, zero));
  return arith::SelectOp::create(b, loc, negE, negResult, result);
}

/// Scalar body of an elementwise ONNX op; null if the op/type is unsupported.
Value scalarBody(OpBuilder &b, Location loc, Operation *op, ValueRange a,
                 Type outElem, bool clipMin, bool clipMax) {
  StringRef name = op->getName().stripDialect();
  Type t = a[0].getType();
  bool f = isFloat(t);
  auto one = [&] { return scalarConst(b, loc, t, 1.0); };
  auto zero = [&] { return scalarConst(b, loc, t, 0.0); };

  if (name == "Add" || name == "Sum") {
    Value acc = a[0];
    for (Value v : a.drop_front())
      acc = f ? arith::AddFOp::create(b, loc, acc, v).getResult()
              : arith::AddIOp::create(b, loc, acc, v).getResult();
    return acc;
  }
  if (name == "Mean") {
    Value acc = a[0];
    for (Value v : a.drop_front())
      acc = arith::AddFOp::create(b, loc, acc, v);
    return arith::DivFOp::create(b, loc, acc,
                                 scalarConst(b, loc, t, (double)a.size()));
  }
  if (name == "Sub")
    return f ? arith::SubFOp::create(b, loc, a[0], a[1]).getResult()
             : arith::SubIOp::create(b, loc, a[0], a[1]).getResult();
  if (name == "Mul")
    return f ? arith::MulFOp::create(b, loc, a[0], a[1]).getResult()
             : arith::MulIOp::create(b, loc, a[0], a[1]).getResult();
  if (name == "Div") {
    if (f)
      return arith::DivFOp::create(b, loc, a[0], a[1]);
    // Integer division by zero is undefined in ONNX; give 0 instead of a
    // SIGFPE that would kill the host process.
    Value isZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, a[1], zero());
    Value safe = arith::SelectOp::create(b, loc, isZero, one(), a[1]);
    Value q = arith::DivSIOp::create(b, loc, a[0], safe);
    return arith::SelectOp::create(b, loc, isZero, zero(), q);
  }
  if (name == "Pow") {
    if (f) {
      Value e = castScalar(b, loc, a[1], t);
      return math::PowFOp::create(b, loc, a[0], e);
    }
    if (t.isInteger(1))
      return {};
    Type et = a[1].getType();
    if (et.isSignlessInteger() && !et.isInteger(1)) {
      // In the wider of the two types (wrapping mod 2^w commutes with the
      // final truncation), so a wide exponent is not truncated first.
      Type wide = et.getIntOrFloatBitWidth() > t.getIntOrFloatBitWidth() ? et : t;
      Value r = integerPower(b, loc, castScalar(b, loc, a[0], wide),
                             castScalar(b, loc, a[1], wide));
      return castScalar(b, loc, r, t);
    }
    if (!isa<FloatType>(et))
      return {};
    // Integer base, float exponent: computed in double, truncated to the
    // base type (the result type of ONNX Pow is the base's).
    Type f64 = b.getF64Type();
    Value x = castScalar(b, loc, a[0], f64), e = castScalar(b, loc, a[1], f64);
    return castScalar(b, loc, math::PowFOp::create(b, loc, x, e), t);
  }
  if (name == "Max" || name == "Min") {
    Value acc = a[0];
    for (Value v : a.drop_front()) {
      if (f)
        acc = name == "Max" ? arith::MaximumFOp::create(b, loc, acc, v).getResult()
                            : arith::MinimumFOp::create(b, loc, acc, v).getResult();
      else
        acc = name == "Max" ? arith::MaxSIOp::create(b, loc, acc, v).getResult()
                            : arith::MinSIOp::create(b, loc, acc, v).getResult();
    }
    return acc;
  }
  if (name == "Equal" || name == "Less" || name == "LessOrEqual" ||
      name == "Greater" || name == "GreaterOrEqual")
    return compare(b, loc, name, a[0], a[1]);
  if (name == "And")
    return arith::AndIOp::create(b, loc, a[0], a[1]);
  if (name == "Or")
    return arith::OrIOp::create(b, loc, a[0], a[1]);
  if (name == "Xor")
    return arith::XOrIOp::create(b, loc, a[0], a[1]);
  if (name == "Not")
    return arith::XOrIOp::create(b, loc, a[0], scalarConst(b, loc, t, 1));
  if (name == "Where")
    return arith::SelectOp::create(b, loc, a[0], a[1], a[2]);
  if (name == "Cast")
    return castScalar(b, loc, a[0], outElem);
  if (name == "Identity")
    return a[0];
  if (name == "Neg")
    return f ? arith::NegFOp::create(b, loc, a[0]).getResult()
             : arith::SubIOp::create(b, loc, zero(), a[0]).getResult();
  if (name == "Abs")
    return f ? math::AbsFOp::create(b, loc, a[0]).getResult()
             : math::AbsIOp::create(b, loc, a[0]).getResult();
  if (name == "Relu")
    return f ? arith::MaximumFOp::create(b, loc, a[0], zero()).getResult()
             : arith::MaxSIOp::create(b, loc, a[0], zero()).getResult();
  if (name == "Sign") {
    Value pos = compare(b, loc, "Greater", a[0], zero());
    Value neg = compare(b, loc, "Less", a[0], zero());
    Value negOne = scalarConst(b, loc, t, -1.0);
    Value r = arith::SelectOp::create(b, loc, neg, negOne, zero());
    return arith::SelectOp::create(b, loc, pos, one(), r);
  }
  if (name == "Clip") {
    Value r = a[0];
    // Operands after the first are min then max when present (see pattern).
    if (clipMin)
      r = f ? arith::MaximumFOp::create(b, loc, r, a[1]).getResult()
            : arith::MaxSIOp::create(b, loc, r, a[1]).getResult();
    if (clipMax) {
      Value mx = a.back();
      r = f ? arith::MinimumFOp::create(b, loc, r, mx).getResult()
            : arith::MinSIOp::create(b, loc, r, mx).getResult();
    }
    return r;
  }
  if (!f)
    return {};
  if (name == "Sqrt") return math::SqrtOp::create(b, loc, a[0]);
  if (name == "Reciprocal") return arith::DivFOp::create(b, loc, one(), a[0]);
  if (name == "Exp") return math::ExpOp::create(b, loc, a[0]);
  if (name == "Log") return math::LogOp::create(b, loc, a[0]);
  if (name == "Tanh") return math::TanhOp::create(b, loc, a[0]);
  if (name == "Cos") return math::CosOp::create(b, loc, a[0]);
  if (name == "Sin") return math::SinOp::create(b, loc, a[0]);
  if (name == "Erf") return math::ErfOp::create(b, loc, a[0]);
  if (name == "Floor") return math::FloorOp::create(b, loc, a[0]);
  if (name == "Ceil") return math::CeilOp::create(b, loc, a[0]);
  if (name == "Sigmoid") {
    Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, a[0]));
    return arith::DivFOp::create(b, loc, one(),
                                 arith::AddFOp::create(b, loc, one(), e));
  }
  if (name == "Softsign") {
    Value d = arith::AddFOp::create(b, loc, one(), math::AbsFOp::create(b, loc, a[0]));
    return arith::DivFOp::create(b, loc, a[0], d);
  }
  if (name == "Softplus")
    return math::Log1pOp::create(b, loc, math::ExpOp::create(b, loc, a[0]));
  if (name == "LeakyRelu") {
    auto alphaAttr = op->getAttrOfType<FloatAttr>("alpha");
    double alpha = alphaAttr ? alphaAttr.getValueAsDouble() : 0.01;
    Value neg = compare(b, loc, "Less", a[0], zero());
    Value scaled = arith::MulFOp::create(b, loc, a[0], scalarConst(b, loc, t, alpha));
    return arith::SelectOp::create(b, loc, neg, scaled, a[0]);
  }
  return {};
}

struct ElementwiseLowering : public RewritePattern {
  ElementwiseLowering(StringRef name, MLIRContext *ctx)
      : RewritePattern(name, 1, ctx) {}

  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rewriter) const override {
    auto outType = cast<RankedTensorType>(op->getResult(0).getType());
    SmallVector<Value> operands;
    for (Value v : op->getOperands())
      if (!isa<NoneType>(v.getType()))
        operands.push_back(v);
    bool isClip = op->getName().stripDialect() == "Clip";
    bool clipMin = isClip && !isa<NoneType>(op->getOperand(1).getType());
    bool clipMax = isClip && !isa<NoneType>(op->getOperand(2).getType());
    for (Value v : operands) {
      Type et = cast<RankedTensorType>(v.getType()).getElementType();
      if (et.isUnsignedInteger())
        return rewriter.notifyMatchFailure(op, "unsigned integer tensors are not supported");
    }
    bool ok = true;
    Value result = buildElementwise(
        rewriter, op->getLoc(), outType, operands,
        [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
          Value v = scalarBody(b, loc, op, args, outType.getElementType(),
                               clipMin, clipMax);
          if (!v) {
            ok = false;
            return args[0];
          }
          return v;
        });
    if (!ok) {
      // Drop the half-built generic; the op stays and is reported.
      rewriter.eraseOp(result.getDefiningOp());
      return rewriter.notifyMatchFailure(op, "unsupported element type");
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void llmc::lowering::populateElementwisePatterns(RewritePatternSet &patterns) {
  static const char *names[] = {
      "Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "LessOrEqual",
      "Greater", "GreaterOrEqual", "And", "Or", "Xor", "Not", "Max", "Min",
      "Sum", "Mean", "Where", "Cast", "Neg", "Abs", "Relu", "Sign", "Sqrt",
      "Reciprocal", "Exp", "Log", "Tanh", "Cos", "Sin", "Erf", "Floor",
      "Ceil", "Sigmoid", "Softsign", "Softplus", "LeakyRelu", "Clip"};
  for (const char *n : names)
    patterns.add<ElementwiseLowering>((std::string("onnx.") + n),
                                      patterns.getContext());
}
