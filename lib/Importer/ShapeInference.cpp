//===- ShapeInference.cpp - symbolic shape/value inference for ONNX -------===//
#include "llmc/Importer/ShapeInference.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/STLExtras.h"

#include <onnx/onnx_pb.h>

#include <climits>

using namespace llmc;
using llvm::ArrayRef;
using llvm::SmallVector;
using llvm::StringRef;

//===----------------------------------------------------------------------===//
// DimSymbolTable
//===----------------------------------------------------------------------===//

int DimSymbolTable::getOrCreate(const std::string &name) {
  auto it = byName_.find(name);
  if (it != byName_.end())
    return it->second;
  int id = names_.size();
  names_.push_back(name);
  byName_[name] = id;
  return id;
}

int DimSymbolTable::fresh(const std::string &hint) {
  int id = names_.size();
  names_.push_back(hint + "_" + std::to_string(id));
  return id;
}

SymbolicDim DimSymbolTable::resolve(const SymbolicDim &d) const {
  SymbolicDim r = d;
  // Substitutions may chain (a -> b + 1, b -> c); a few rounds reach the
  // fixpoint because unify() never creates cycles.
  for (int round = 0; round < 16; ++round) {
    bool changed = false;
    for (const auto &[mono, c] : r.terms())
      for (int s : mono)
        if (subst_.count(s)) {
          changed = true;
          break;
        }
    if (!changed)
      break;
    for (const auto &[sym, value] : subst_)
      r = r.substitute(sym, value);
  }
  return r;
}

static bool mentions(const SymbolicDim &d, int sym) {
  for (const auto &[mono, c] : d.terms())
    for (int s : mono)
      if (s == sym)
        return true;
  return false;
}

void DimSymbolTable::unify(const SymbolicDim &a0, const SymbolicDim &b0) {
  SymbolicDim a = resolve(a0), b = resolve(b0);
  if (a == b || a.isUnknown() || b.isUnknown())
    return;
  // Prefer to eliminate symbols made up during inference, then named ones.
  auto sa = a.getSymbol(), sb = b.getSymbol();
  if (sa && sb && names_[*sa].find('_') == std::string::npos &&
      names_[*sb].find('_') != std::string::npos)
    std::swap(a, b), std::swap(sa, sb);
  if (sa && !mentions(b, *sa))
    subst_[*sa] = b;
  else if (sb && !mentions(a, *sb))
    subst_[*sb] = a;
}

//===----------------------------------------------------------------------===//
// Attributes and element types
//===----------------------------------------------------------------------===//

NodeAttributes::NodeAttributes(const onnx::NodeProto &node) : node_(node) {}

const onnx::AttributeProto *NodeAttributes::get(StringRef name) const {
  for (const auto &a : node_.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

int64_t NodeAttributes::getInt(StringRef name, int64_t dflt) const {
  const auto *a = get(name);
  return a ? a->i() : dflt;
}

float NodeAttributes::getFloat(StringRef name, float dflt) const {
  const auto *a = get(name);
  return a ? a->f() : dflt;
}

std::optional<std::vector<int64_t>>
NodeAttributes::getInts(StringRef name) const {
  const auto *a = get(name);
  if (!a)
    return std::nullopt;
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

mlir::Type llmc::elementTypeFromONNX(mlir::MLIRContext *ctx, int32_t t) {
  using DT = onnx::TensorProto;
  switch (t) {
  case DT::FLOAT: return mlir::Float32Type::get(ctx);
  case DT::DOUBLE: return mlir::Float64Type::get(ctx);
  case DT::FLOAT16: return mlir::Float16Type::get(ctx);
  case DT::BFLOAT16: return mlir::BFloat16Type::get(ctx);
  case DT::INT8: return mlir::IntegerType::get(ctx, 8);
  case DT::INT16: return mlir::IntegerType::get(ctx, 16);
  case DT::INT32: return mlir::IntegerType::get(ctx, 32);
  case DT::INT64: return mlir::IntegerType::get(ctx, 64);
  case DT::BOOL: return mlir::IntegerType::get(ctx, 1);
  case DT::UINT8:
    return mlir::IntegerType::get(ctx, 8, mlir::IntegerType::Unsigned);
  case DT::UINT16:
    return mlir::IntegerType::get(ctx, 16, mlir::IntegerType::Unsigned);
  case DT::UINT32:
    return mlir::IntegerType::get(ctx, 32, mlir::IntegerType::Unsigned);
  case DT::UINT64:
    return mlir::IntegerType::get(ctx, 64, mlir::IntegerType::Unsigned);
  default: return {};
  }
}

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

namespace {
using Dims = SmallVector<SymbolicDim>;

struct Ctx {
  const onnx::NodeProto &node;
  int64_t opset;
  ArrayRef<const SymValue *> in;
  DimSymbolTable &syms;
  mlir::MLIRContext *mctx;
  NodeAttributes attrs;
  std::string error;

  const SymValue *input(size_t i) const {
    return i < in.size() ? in[i] : nullptr;
  }
  SymbolicDim c(int64_t v) const { return SymbolicDim::constant(v); }
  SymbolicDim r(const SymbolicDim &d) const { return syms.resolve(d); }
  SymbolicDim freshDim() { return SymbolicDim::symbol(syms.fresh("d")); }
  bool fail(const std::string &msg) {
    error = msg;
    return false;
  }
  /// Constant integer values of an input, if all known.
  std::optional<std::vector<int64_t>> constInts(size_t i) const {
    const SymValue *v = input(i);
    if (!v || !v->data)
      return std::nullopt;
    std::vector<int64_t> out;
    for (const auto &d : *v->data) {
      auto k = r(d).getConstant();
      if (!k)
        return std::nullopt;
      out.push_back(*k);
    }
    return out;
  }
};

int64_t normAxis(int64_t axis, int64_t rank) {
  return axis < 0 ? axis + rank : axis;
}

std::optional<SymbolicDim> broadcastDim(Ctx &cx, SymbolicDim a, SymbolicDim b) {
  a = cx.r(a);
  b = cx.r(b);
  if (a == b)
    return a;
  if (a.getConstant() == 1)
    return b;
  if (b.getConstant() == 1)
    return a;
  if (a.isConstant() && b.isConstant())
    return std::nullopt;
  // Symbolic vs constant (non-1): the graph is only valid if the symbol takes
  // that value or is 1; the result is the constant and the generated code
  // checks at run time that the operand's dim matches.
  if (a.isConstant())
    return a;
  if (b.isConstant())
    return b;
  cx.syms.unify(a, b);
  return cx.r(a);
}

bool broadcastShapes(Ctx &cx, ArrayRef<const SymValue *> vals, Dims &out) {
  int64_t rank = 0;
  for (auto *v : vals)
    rank = std::max<int64_t>(rank, v->rank());
  out.assign(rank, SymbolicDim::constant(1));
  for (auto *v : vals) {
    int64_t off = rank - v->rank();
    for (int64_t i = 0; i < v->rank(); ++i) {
      auto d = broadcastDim(cx, out[off + i], v->dims[i]);
      if (!d)
        return cx.fail("incompatible broadcast dimensions " +
                       cx.syms.str(out[off + i]) + " and " +
                       cx.syms.str(v->dims[i]));
      out[off + i] = *d;
    }
  }
  return true;
}

SymbolicDim product(Ctx &cx, ArrayRef<SymbolicDim> dims) {
  SymbolicDim p = SymbolicDim::constant(1);
  for (const auto &d : dims)
    p = p * cx.r(d);
  return p;
}

// Elementwise evaluation of integer data (for shape arithmetic).
std::optional<std::vector<SymbolicDim>>
evalBinaryData(Ctx &cx, const std::string &op, const SymValue &a,
               const SymValue &b, int64_t outCount) {
  if (!a.data || !b.data)
    return std::nullopt;
  size_t na = a.data->size(), nb = b.data->size();
  if (!(na == 1 || nb == 1 || na == nb) || outCount != (int64_t)std::max(na, nb))
    return std::nullopt;
  std::vector<SymbolicDim> out;
  for (size_t i = 0; i < std::max(na, nb); ++i) {
    SymbolicDim x = cx.r((*a.data)[na == 1 ? 0 : i]);
    SymbolicDim y = cx.r((*b.data)[nb == 1 ? 0 : i]);
    auto cxv = x.getConstant(), cyv = y.getConstant();
    if (op == "Add") out.push_back(x + y);
    else if (op == "Sub") out.push_back(x - y);
    else if (op == "Mul") out.push_back(x * y);
    else if (op == "Div") {
      // ONNX integer Div truncates toward zero (like the generated code);
      // symbolic operands only divide exactly.
      if (cxv && cyv) {
        if (*cyv == 0 || (*cyv == -1 && *cxv == INT64_MIN))
          return std::nullopt;
        out.push_back(SymbolicDim::constant(*cxv / *cyv));
      } else {
        out.push_back(x.exactDiv(y));
      }
    }
    else if (op == "Equal" || op == "Less" || op == "Greater" ||
             op == "LessOrEqual" || op == "GreaterOrEqual" || op == "Max" ||
             op == "Min") {
      if (op == "Equal" && x == y) {
        out.push_back(SymbolicDim::constant(1));
        continue;
      }
      if (!cxv || !cyv)
        return std::nullopt;
      int64_t u = *cxv, v = *cyv, res = 0;
      if (op == "Equal") res = u == v;
      else if (op == "Less") res = u < v;
      else if (op == "Greater") res = u > v;
      else if (op == "LessOrEqual") res = u <= v;
      else if (op == "GreaterOrEqual") res = u >= v;
      else if (op == "Max") res = std::max(u, v);
      else res = std::min(u, v);
      out.push_back(SymbolicDim::constant(res));
    } else
      return std::nullopt;
    if (out.back().isUnknown())
      return std::nullopt;
  }
  return out;
}

bool isIntegerData(mlir::Type t) {
  auto it = mlir::dyn_cast<mlir::IntegerType>(t);
  return it && it.getWidth() > 1;
}

constexpr int64_t kMaxTrackedValues = 64;

std::optional<int64_t> staticCount(Ctx &cx, ArrayRef<SymbolicDim> dims) {
  return product(cx, dims).getConstant();
}

// Axes either from an attribute (older opsets) or a constant input.
std::optional<std::vector<int64_t>> axesOf(Ctx &cx, size_t inputIdx,
                                           bool &present) {
  present = true;
  if (auto a = cx.attrs.getInts("axes"))
    return a;
  if (cx.input(inputIdx))
    return cx.constInts(inputIdx);
  present = false;
  return std::vector<int64_t>{};
}
} // namespace

//===----------------------------------------------------------------------===//
// Per-op rules
//===----------------------------------------------------------------------===//

static bool inferImpl(Ctx &cx, llvm::SmallVectorImpl<SymValue> &res) {
  const std::string &op = cx.node.op_type();
  auto in0 = cx.input(0);
  auto result = [&](mlir::Type et, Dims dims) -> SymValue & {
    res.push_back(SymValue{et, std::move(dims), std::nullopt});
    return res.back();
  };
  auto i1 = mlir::IntegerType::get(cx.mctx, 1);
  auto i64 = mlir::IntegerType::get(cx.mctx, 64);

  static const char *unary[] = {"Abs", "Neg", "Sqrt", "Reciprocal", "Exp",
                                "Log", "Tanh", "Sigmoid", "Relu", "Cos", "Sin",
                                "Erf", "Floor", "Ceil", "Softsign", "Softplus",
                                "Sign", "LeakyRelu", "Softmax", "LogSoftmax",
                                "Trilu", "Clip"};
  for (const char *u : unary)
    if (op == u) {
      auto &r = result(in0->elementType, in0->dims);
      if (op == "Neg" && in0->data) {
        std::vector<SymbolicDim> d;
        for (auto &x : *in0->data)
          d.push_back(SymbolicDim::constant(0) - cx.r(x));
        r.data = d;
      }
      return true;
    }
  if (op == "Identity") {
    res.push_back(*in0);
    return true;
  }
  if (op == "Not") {
    result(i1, in0->dims);
    return true;
  }

  static const char *binary[] = {"Add", "Sub", "Mul", "Div", "Pow",
                                 "Equal", "Less", "Greater", "LessOrEqual",
                                 "GreaterOrEqual", "And", "Or", "Xor",
                                 "Max", "Min", "Sum", "Mean"};
  for (const char *b : binary)
    if (op == b) {
      SmallVector<const SymValue *> vals;
      for (auto *v : cx.in)
        if (v)
          vals.push_back(v);
      if (vals.empty())
        return cx.fail("needs at least one input");
      Dims dims;
      if (!broadcastShapes(cx, vals, dims))
        return false;
      bool isCompare = op == "Equal" || op == "Less" || op == "Greater" ||
                       op == "LessOrEqual" || op == "GreaterOrEqual" ||
                       op == "And" || op == "Or" || op == "Xor";
      auto &r = result(isCompare ? mlir::Type(i1) : vals[0]->elementType, dims);
      auto count = staticCount(cx, dims);
      if (vals.size() == 2 && count && *count <= kMaxTrackedValues &&
          isIntegerData(vals[0]->elementType))
        r.data = evalBinaryData(cx, op, *vals[0], *vals[1], *count);
      return true;
    }

  if (op == "Where") {
    Dims dims;
    if (!broadcastShapes(cx, cx.in, dims))
      return false;
    auto &r = result(cx.input(1)->elementType, dims);
    auto cond = cx.constInts(0);
    auto count = staticCount(cx, dims);
    const SymValue *x = cx.input(1), *y = cx.input(2);
    if (cond && count && x->data && y->data && *count <= kMaxTrackedValues) {
      std::vector<SymbolicDim> d;
      auto pick = [](const std::vector<SymbolicDim> &v, int64_t i) {
        return v.size() == 1 ? v[0] : v[i];
      };
      bool ok = cond->size() == 1 || (int64_t)cond->size() == *count;
      ok &= x->data->size() == 1 || (int64_t)x->data->size() == *count;
      ok &= y->data->size() == 1 || (int64_t)y->data->size() == *count;
      for (int64_t i = 0; ok && i < *count; ++i)
        d.push_back(((cond->size() == 1 ? (*cond)[0] : (*cond)[i]) != 0)
                        ? pick(*x->data, i)
                        : pick(*y->data, i));
      if (ok)
        r.data = d;
    }
    return true;
  }

  if (op == "Cast") {
    mlir::Type et = elementTypeFromONNX(cx.mctx, cx.attrs.getInt("to", 0));
    if (!et)
      return cx.fail("unsupported Cast target type " +
                     std::to_string(cx.attrs.getInt("to", 0)));
    auto &r = result(et, in0->dims);
    if (in0->data && isIntegerData(in0->elementType) && isIntegerData(et))
      r.data = in0->data;
    return true;
  }

  if (op == "MatMul") {
    const SymValue *a = in0, *b = cx.input(1);
    if (a->rank() < 1 || b->rank() < 1)
      return cx.fail("MatMul operands must have rank >= 1");
    SymValue a2 = *a, b2 = *b;
    bool aVec = a->rank() == 1, bVec = b->rank() == 1;
    if (aVec)
      a2.dims.insert(a2.dims.begin(), SymbolicDim::constant(1));
    if (bVec)
      b2.dims.push_back(SymbolicDim::constant(1));
    cx.syms.unify(a2.dims.back(), b2.dims[b2.rank() - 2]);
    auto ka = cx.r(a2.dims.back()), kb = cx.r(b2.dims[b2.rank() - 2]);
    if (ka.isConstant() && kb.isConstant() && ka != kb)
      return cx.fail("MatMul inner dimensions differ: " + cx.syms.str(ka) +
                     " vs " + cx.syms.str(kb));
    SymValue ab{a->elementType, Dims(a2.dims.begin(), a2.dims.end() - 2), {}};
    SymValue bb{b->elementType, Dims(b2.dims.begin(), b2.dims.end() - 2), {}};
    Dims dims;
    if (!broadcastShapes(cx, {&ab, &bb}, dims))
      return false;
    if (!aVec)
      dims.push_back(a2.dims[a2.rank() - 2]);
    if (!bVec)
      dims.push_back(b2.dims.back());
    result(a->elementType, dims);
    return true;
  }

  if (op == "Gemm") {
    const SymValue *a = in0, *b = cx.input(1);
    if (a->rank() != 2 || b->rank() != 2)
      return cx.fail("Gemm operands must be rank 2");
    bool ta = cx.attrs.getInt("transA", 0), tb = cx.attrs.getInt("transB", 0);
    SymbolicDim m = a->dims[ta ? 1 : 0], k1 = a->dims[ta ? 0 : 1];
    SymbolicDim k2 = b->dims[tb ? 1 : 0], n = b->dims[tb ? 0 : 1];
    cx.syms.unify(k1, k2);
    if (cx.r(k1).isConstant() && cx.r(k2).isConstant() && cx.r(k1) != cx.r(k2))
      return cx.fail("Gemm inner dimensions differ");
    result(a->elementType, {m, n});
    return true;
  }

  if (op.rfind("Reduce", 0) == 0) {
    bool present;
    auto axes = axesOf(cx, 1, present);
    if (!axes)
      return cx.fail("axes must be a constant");
    bool keep = cx.attrs.getInt("keepdims", 1);
    bool noop = cx.attrs.getInt("noop_with_empty_axes", 0);
    std::vector<bool> reduce(in0->rank(), false);
    if (axes->empty() && !noop)
      reduce.assign(in0->rank(), true);
    for (int64_t a : *axes) {
      a = normAxis(a, in0->rank());
      if (a < 0 || a >= in0->rank())
        return cx.fail("reduction axis out of range");
      reduce[a] = true;
    }
    Dims dims;
    for (int64_t i = 0; i < in0->rank(); ++i)
      if (!reduce[i])
        dims.push_back(in0->dims[i]);
      else if (keep)
        dims.push_back(SymbolicDim::constant(1));
    result(in0->elementType, dims);
    return true;
  }

  if (op == "Reshape") {
    const SymValue *shape = cx.input(1);
    if (shape->rank() != 1 || !cx.r(shape->dims[0]).isConstant())
      return cx.fail("Reshape needs a 1-D shape of static length");
    int64_t n = *cx.r(shape->dims[0]).getConstant();
    bool allowZero = cx.attrs.getInt("allowzero", 0);
    Dims dims;
    if (!shape->data) {
      for (int64_t i = 0; i < n; ++i)
        dims.push_back(cx.freshDim());
      result(in0->elementType, dims);
      return true;
    }
    int inferIdx = -1;
    for (int64_t i = 0; i < n; ++i) {
      SymbolicDim d = cx.r((*shape->data)[i]);
      auto k = d.getConstant();
      if (k && *k == 0 && !allowZero) {
        if (i >= in0->rank())
          return cx.fail("Reshape copies dim " + std::to_string(i) +
                         " from an input of lower rank");
        d = in0->dims[i];
      } else if (k && *k == -1) {
        if (inferIdx >= 0)
          return cx.fail("Reshape shape has more than one -1");
        inferIdx = i;
      } else if (k && *k < -1)
        return cx.fail("Reshape shape has a negative dim");
      dims.push_back(d);
    }
    if (inferIdx >= 0) {
      SymbolicDim known = SymbolicDim::constant(1);
      for (int64_t i = 0; i < n; ++i)
        if (i != inferIdx)
          known = known * cx.r(dims[i]);
      SymbolicDim q = product(cx, in0->dims).exactDiv(known);
      dims[inferIdx] = q.isUnknown() ? cx.freshDim() : q;
    }
    for (auto &d : dims)
      if (d.isUnknown())
        d = cx.freshDim();
    auto &r = result(in0->elementType, dims);
    if (in0->data)
      r.data = in0->data;
    return true;
  }

  if (op == "Transpose") {
    auto perm = cx.attrs.getInts("perm");
    std::vector<int64_t> p;
    if (perm)
      p = *perm;
    else
      for (int64_t i = in0->rank() - 1; i >= 0; --i)
        p.push_back(i);
    if ((int64_t)p.size() != in0->rank())
      return cx.fail("Transpose perm length differs from the rank");
    Dims dims;
    for (int64_t i : p) {
      if (i < 0 || i >= in0->rank())
        return cx.fail("Transpose perm entry out of range");
      dims.push_back(in0->dims[i]);
    }
    result(in0->elementType, dims);
    return true;
  }

  if (op == "Concat") {
    int64_t rank = in0->rank();
    int64_t axis = normAxis(cx.attrs.getInt("axis", 0), rank);
    if (axis < 0 || axis >= rank)
      return cx.fail("Concat axis out of range");
    Dims dims = in0->dims;
    dims[axis] = SymbolicDim::constant(0);
    bool allData = true;
    std::vector<SymbolicDim> data;
    for (auto *v : cx.in) {
      if (v->rank() != rank)
        return cx.fail("Concat inputs have different ranks");
      for (int64_t i = 0; i < rank; ++i)
        if (i != axis) {
          auto d = broadcastDim(cx, dims[i], v->dims[i]);
          if (!d || (cx.r(dims[i]) != cx.r(v->dims[i]) &&
                     cx.r(dims[i]).isConstant() && cx.r(v->dims[i]).isConstant()))
            return cx.fail("Concat inputs differ outside the axis");
        }
      dims[axis] = dims[axis] + cx.r(v->dims[axis]);
      if (v->data && rank == 1)
        data.insert(data.end(), v->data->begin(), v->data->end());
      else
        allData = false;
    }
    auto &r = result(in0->elementType, dims);
    if (allData && rank == 1)
      r.data = data;
    return true;
  }

  if (op == "Slice") {
    auto starts = cx.input(1), ends = cx.input(2);
    if (starts->rank() != 1 || !cx.r(starts->dims[0]).isConstant())
      return cx.fail("Slice starts must be a 1-D tensor of static length");
    size_t n = *cx.r(starts->dims[0]).getConstant();
    // Bounds only known at run time (e.g. read from an input tensor) give
    // the sliced dims fresh symbols; the lowering computes them.
    bool boundsKnown = starts->data && ends->data && starts->data->size() == n &&
                       ends->data->size() == n;
    std::vector<int64_t> axes, steps(n, 1);
    if (cx.input(3)) {
      auto a = cx.constInts(3);
      if (!a)
        return cx.fail("Slice axes must be constant");
      axes = *a;
    } else
      for (size_t i = 0; i < n; ++i)
        axes.push_back(i);
    if (cx.input(4)) {
      auto s = cx.constInts(4);
      if (!s)
        return cx.fail("Slice steps must be constant");
      steps = *s;
    }
    if (axes.size() != n || steps.size() != n)
      return cx.fail("Slice starts, ends, axes and steps differ in length");
    Dims dims = in0->dims;
    for (size_t i = 0; i < n; ++i) {
      int64_t ax = normAxis(axes[i], in0->rank());
      if (ax < 0 || ax >= in0->rank())
        return cx.fail("Slice axis out of range");
      int64_t step = steps[i];
      if (step == 0)
        return cx.fail("Slice step is 0");
      if (!boundsKnown) {
        dims[ax] = cx.freshDim();
        continue;
      }
      SymbolicDim dim = cx.r(in0->dims[ax]);
      SymbolicDim st = cx.r((*starts->data)[i]), en = cx.r((*ends->data)[i]);
      auto kd = dim.getConstant(), ks = st.getConstant(), ke = en.getConstant();
      if (kd && ks && ke) {
        int64_t d = *kd, s = *ks, e = *ke;
        if (s < 0) s += d;
        if (e < 0) e += d;
        if (step > 0) {
          s = std::clamp<int64_t>(s, 0, d);
          e = std::clamp<int64_t>(e, 0, d);
          dims[ax] = SymbolicDim::constant(std::max<int64_t>(0, (e - s + step - 1) / step));
        } else if (d == 0) {
          dims[ax] = SymbolicDim::constant(0);
        } else {
          // Negative steps: start is clamped to [0, d-1], end to [-1, d-1].
          s = std::clamp<int64_t>(s, 0, d - 1);
          e = std::clamp<int64_t>(e, -1, d - 1);
          dims[ax] = SymbolicDim::constant(std::max<int64_t>(0, (s - e - step - 1) / -step));
        }
        continue;
      }
      if (step != 1 && step != -1) {
        dims[ax] = cx.freshDim();
        continue;
      }
      // Symbolic extent: resolve negative/huge constant bounds against the
      // dim (huge ones are clamped as ONNX does); assume symbolic bounds lie
      // inside the dim (true for the slices exporters emit, e.g.
      // x[..., :seq_len] or x[::-1]).
      constexpr int64_t kHuge = INT64_MAX >> 2;
      SymbolicDim one = SymbolicDim::constant(1);
      auto bound = [&](SymbolicDim v, std::optional<int64_t> k, bool isEnd) {
        if (k && *k <= -kHuge) // clamped to the front
          return step > 0 ? SymbolicDim::constant(0)
                          : SymbolicDim::constant(isEnd ? -1 : 0);
        if (k && *k >= kHuge) // clamped to the back
          return step > 0 ? dim : dim - one;
        if (k && *k < 0)
          return dim + v;
        return v;
      };
      SymbolicDim s = bound(st, ks, false), e = bound(en, ke, true);
      dims[ax] = step > 0 ? e - s : s - e;
    }
    auto &r = result(in0->elementType, dims);
    if (in0->data && in0->rank() == 1 && n == 1 && steps[0] == 1) {
      auto c = cx.constInts(1), e = cx.constInts(2);
      auto kd = cx.r(in0->dims[0]).getConstant();
      if (c && e && kd) {
        int64_t d = *kd, s = (*c)[0], en = (*e)[0];
        if (s < 0) s += d;
        if (en < 0) en += d;
        s = std::clamp<int64_t>(s, 0, d);
        en = std::clamp<int64_t>(en, 0, d);
        std::vector<SymbolicDim> out;
        for (int64_t i = s; i < en; ++i)
          out.push_back((*in0->data)[i]);
        r.data = out;
      }
    }
    return true;
  }

  if (op == "Gather") {
    const SymValue *idx = cx.input(1);
    int64_t axis = normAxis(cx.attrs.getInt("axis", 0), in0->rank());
    if (axis < 0 || axis >= in0->rank())
      return cx.fail("Gather axis out of range");
    Dims dims(in0->dims.begin(), in0->dims.begin() + axis);
    dims.append(idx->dims.begin(), idx->dims.end());
    dims.append(in0->dims.begin() + axis + 1, in0->dims.end());
    auto &r = result(in0->elementType, dims);
    auto ids = cx.constInts(1);
    if (in0->data && in0->rank() == 1 && ids) {
      std::vector<SymbolicDim> out;
      int64_t n = in0->data->size();
      for (int64_t i : *ids) {
        if (i < 0) i += n;
        if (i < 0 || i >= n)
          return cx.fail("Gather index out of range");
        out.push_back((*in0->data)[i]);
      }
      r.data = out;
    }
    return true;
  }

  if (op == "Unsqueeze" || op == "Squeeze") {
    bool present;
    auto axes = axesOf(cx, 1, present);
    if (!axes)
      return cx.fail("axes must be a constant");
    Dims dims;
    if (op == "Unsqueeze") {
      int64_t outRank = in0->rank() + axes->size();
      std::vector<bool> isNew(outRank, false);
      for (int64_t a : *axes) {
        a = normAxis(a, outRank);
        if (a < 0 || a >= outRank || isNew[a])
          return cx.fail("Unsqueeze axes out of range or repeated");
        isNew[a] = true;
      }
      int64_t j = 0;
      for (int64_t i = 0; i < outRank; ++i)
        dims.push_back(isNew[i] ? SymbolicDim::constant(1) : in0->dims[j++]);
    } else {
      std::vector<bool> drop(in0->rank(), false);
      if (!present)
        for (int64_t i = 0; i < in0->rank(); ++i) {
          if (cx.r(in0->dims[i]).getConstant() == 1)
            drop[i] = true;
          else if (!cx.r(in0->dims[i]).isConstant())
            return cx.fail("Squeeze without axes on a dynamic dim");
        }
      for (int64_t a : *axes) {
        a = normAxis(a, in0->rank());
        if (a < 0 || a >= in0->rank())
          return cx.fail("Squeeze axis out of range");
        auto k = cx.r(in0->dims[a]).getConstant();
        if (k && *k != 1)
          return cx.fail("Squeeze of a dim that is not 1");
        drop[a] = true;
      }
      for (int64_t i = 0; i < in0->rank(); ++i)
        if (!drop[i])
          dims.push_back(in0->dims[i]);
    }
    auto &r = result(in0->elementType, dims);
    r.data = in0->data;
    return true;
  }

  if (op == "Flatten") {
    int64_t axis = normAxis(cx.attrs.getInt("axis", 1), in0->rank());
    if (axis < 0 || axis > in0->rank())
      return cx.fail("Flatten axis out of range");
    result(in0->elementType,
           {product(cx, ArrayRef(in0->dims).take_front(axis)),
            product(cx, ArrayRef(in0->dims).drop_front(axis))});
    return true;
  }

  if (op == "Expand") {
    const SymValue *shape = cx.input(1);
    if (!shape->data)
      return cx.fail("Expand shape must be computable at compile time");
    SymValue target{in0->elementType, Dims(shape->data->begin(), shape->data->end()), {}};
    Dims dims;
    if (!broadcastShapes(cx, {in0, &target}, dims))
      return false;
    result(in0->elementType, dims);
    return true;
  }

  if (op == "Tile") {
    auto reps = cx.input(1);
    if (!reps->data || (int64_t)reps->data->size() != in0->rank())
      return cx.fail("Tile repeats must be known and match the rank");
    Dims dims;
    for (int64_t i = 0; i < in0->rank(); ++i)
      dims.push_back(cx.r(in0->dims[i]) * cx.r((*reps->data)[i]));
    result(in0->elementType, dims);
    return true;
  }

  if (op == "Shape") {
    int64_t rank = in0->rank();
    int64_t start = cx.attrs.getInt("start", 0), end = cx.attrs.getInt("end", rank);
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start = std::clamp<int64_t>(start, 0, rank);
    end = std::clamp<int64_t>(end, 0, rank);
    std::vector<SymbolicDim> data;
    for (int64_t i = start; i < end; ++i)
      data.push_back(cx.r(in0->dims[i]));
    auto &r = result(i64, {SymbolicDim::constant(data.size())});
    r.data = data;
    return true;
  }

  if (op == "Size") {
    auto &r = result(i64, {});
    r.data = std::vector<SymbolicDim>{product(cx, in0->dims)};
    return true;
  }

  if (op == "ConstantOfShape") {
    if (!in0->data)
      return cx.fail("ConstantOfShape shape must be computable at compile time");
    mlir::Type et = mlir::Float32Type::get(cx.mctx);
    const auto *value = cx.attrs.get("value");
    if (value) {
      et = elementTypeFromONNX(cx.mctx, value->t().data_type());
      if (!et)
        return cx.fail("unsupported ConstantOfShape value type");
    }
    Dims dims(in0->data->begin(), in0->data->end());
    auto &r = result(et, dims);
    auto count = staticCount(cx, dims);
    if (isIntegerData(et) && count && *count <= kMaxTrackedValues) {
      int64_t v = 0;
      if (value && value->t().int64_data_size())
        v = value->t().int64_data(0);
      else if (value && value->t().int32_data_size())
        v = value->t().int32_data(0);
      else if (value && !value->t().raw_data().empty()) {
        const std::string &raw = value->t().raw_data();
        if (raw.size() == 8)
          v = *reinterpret_cast<const int64_t *>(raw.data());
        else if (raw.size() == 4)
          v = *reinterpret_cast<const int32_t *>(raw.data());
      }
      r.data = std::vector<SymbolicDim>(*count, SymbolicDim::constant(v));
    }
    return true;
  }

  if (op == "Range") {
    const SymValue *start = in0, *limit = cx.input(1), *delta = cx.input(2);
    SymbolicDim n = SymbolicDim::unknown();
    auto val = [&](const SymValue *v) {
      return v->data && v->data->size() == 1 ? cx.r((*v->data)[0])
                                              : SymbolicDim::unknown();
    };
    SymbolicDim s = val(start), l = val(limit), d = val(delta);
    auto ks = s.getConstant(), kl = l.getConstant(), kd = d.getConstant();
    if (isIntegerData(start->elementType) && ks && kl && kd && *kd != 0)
      n = SymbolicDim::constant(
          std::max<int64_t>(0, (*kl - *ks + *kd + (*kd > 0 ? -1 : 1)) / *kd));
    else if (kd && *kd == 1 && !s.isUnknown() && !l.isUnknown())
      n = l - s;
    auto &r = result(start->elementType, {n.isUnknown() ? cx.freshDim() : n});
    if (isIntegerData(start->elementType) && !s.isUnknown() && kd &&
        n.isConstant() && *n.getConstant() <= kMaxTrackedValues) {
      std::vector<SymbolicDim> data;
      for (int64_t i = 0; i < *n.getConstant(); ++i)
        data.push_back(s + SymbolicDim::constant(i * *kd));
      r.data = data;
    }
    return true;
  }

  return cx.fail("no shape rule");
}

std::optional<std::string>
llmc::inferNode(const onnx::NodeProto &node, int64_t opset,
                ArrayRef<const SymValue *> inputs, DimSymbolTable &symbols,
                mlir::MLIRContext *ctx, llvm::SmallVectorImpl<SymValue> &results) {
  Ctx cx{node, opset, inputs, symbols, ctx, NodeAttributes(node), {}};
  // Every rule reads input 0; ops with all inputs optional do not exist here.
  if (inputs.empty() || !inputs[0])
    return std::string("missing first input");
  if (!inferImpl(cx, results))
    return cx.error;
  for (auto &r : results) {
    for (auto &d : r.dims)
      d = symbols.resolve(d);
    if (r.data && (int64_t)r.data->size() > kMaxTrackedValues)
      r.data.reset();
  }
  return std::nullopt;
}
