//===- MatchUtils.h - small helpers for the raising patterns ----*- C++ -*-===//
#ifndef LLMC_TRANSFORMS_MATCHUTILS_H
#define LLMC_TRANSFORMS_MATCHUTILS_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/Value.h"

#include <optional>

namespace llmc::match {

/// The value of a constant holding exactly one float/int element (any rank).
inline std::optional<double> scalarConstant(mlir::Value v) {
  mlir::DenseElementsAttr attr;
  if (!v || !mlir::matchPattern(v, mlir::m_Constant(&attr)) || attr.getNumElements() != 1)
    return std::nullopt;
  mlir::Type et = attr.getElementType();
  if (mlir::isa<mlir::FloatType>(et))
    return (*attr.getValues<llvm::APFloat>().begin()).convertToDouble();
  if (et.isInteger())
    return (double)(*attr.getValues<llvm::APInt>().begin()).getSExtValue();
  return std::nullopt;
}

/// Integer values of a constant (e.g. axes), if it is one.
inline std::optional<llvm::SmallVector<int64_t>> intConstants(mlir::Value v) {
  mlir::DenseIntElementsAttr attr;
  if (!v || !mlir::matchPattern(v, mlir::m_Constant(&attr)))
    return std::nullopt;
  llvm::SmallVector<int64_t> out;
  for (const llvm::APInt &i : attr.getValues<llvm::APInt>())
    out.push_back(i.getSExtValue());
  return out;
}

/// The axes of an op that takes them as an attribute (older opsets) or as a
/// constant operand (newer ones, `none` when omitted): the attribute's
/// values, else the operand's, else nullopt (omitted or not constant).
inline std::optional<llvm::SmallVector<int64_t>> axesOf(std::optional<mlir::ArrayAttr> attr,
                                                         mlir::Value operand) {
  if (attr) {
    llvm::SmallVector<int64_t> vals;
    for (auto i : attr->getAsValueRange<mlir::IntegerAttr>())
      vals.push_back(i.getSExtValue());
    return vals;
  }
  if (mlir::isa<mlir::NoneType>(operand.getType()))
    return std::nullopt;
  return intConstants(operand);
}

/// `op` defines `v` with the given type, else null.
template <typename OpTy> OpTy def(mlir::Value v) {
  return v ? v.getDefiningOp<OpTy>() : OpTy();
}

/// For a binary op, returns (a, b) ordered so that `isFirst(a)` holds, if
/// either order does.
template <typename Pred>
std::optional<std::pair<mlir::Value, mlir::Value>> ordered(mlir::Value a, mlir::Value b,
                                                           Pred isFirst) {
  if (isFirst(a))
    return std::make_pair(a, b);
  if (isFirst(b))
    return std::make_pair(b, a);
  return std::nullopt;
}

inline int64_t rankOf(mlir::Value v) {
  return mlir::cast<mlir::RankedTensorType>(v.getType()).getRank();
}

/// True if `axes` names exactly the last axis of a tensor of rank `rank`.
inline bool isLastAxis(llvm::ArrayRef<int64_t> axes, int64_t rank) {
  return axes.size() == 1 && (axes[0] == -1 || axes[0] == rank - 1);
}

} // namespace llmc::match

#endif
