//===- LoweringUtils.h - helpers shared by the ONNX lowerings ---*- C++ -*-===//
#ifndef LLMC_CONVERSION_ONNXTOLINALG_LOWERINGUTILS_H
#define LLMC_CONVERSION_ONNXTOLINALG_LOWERINGUTILS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

namespace llmc::lowering {

using mlir::Location;
using mlir::OpBuilder;
using mlir::Type;
using mlir::Value;
using mlir::ValueRange;

/// Size of dim `i` of a ranked tensor as an index value.
Value dimOf(OpBuilder &b, Location loc, Value tensor, int64_t i);
/// All dims of `type`, taking dynamic ones from `dynamicFrom(i)`.
llvm::SmallVector<Value> dynamicDims(mlir::RankedTensorType type,
                                     llvm::ArrayRef<Value> allDims);
/// tensor.empty of `type` with runtime sizes `allDims` (one per dim).
Value emptyTensor(OpBuilder &b, Location loc, mlir::RankedTensorType type,
                  llvm::ArrayRef<Value> allDims);
/// Filled tensor.
Value filledTensor(OpBuilder &b, Location loc, mlir::RankedTensorType type,
                   llvm::ArrayRef<Value> allDims, Value fillValue);

Value indexConst(OpBuilder &b, Location loc, int64_t v);
/// Casts an integer scalar to index (signed) and back.
Value toIndex(OpBuilder &b, Location loc, Value intValue);
Value fromIndex(OpBuilder &b, Location loc, Value idx, Type intType);
/// Reads element `i` of a 1-D (or 0-D when i == 0) integer tensor as index.
Value extractIndex(OpBuilder &b, Location loc, Value tensor, int64_t i);

/// A scalar constant of element type `t` (float or integer).
Value scalarConst(OpBuilder &b, Location loc, Type t, double v);
/// Largest / smallest finite-or-infinite value of `t`, for max/min reductions.
Value lowestValue(OpBuilder &b, Location loc, Type t);
Value highestValue(OpBuilder &b, Location loc, Type t);

/// Output dims of a broadcasting elementwise op, with run-time checks that
/// dynamic operand dims agree (a mismatch aborts with a message rather than
/// reading out of bounds).
llvm::SmallVector<Value> broadcastOutputDims(OpBuilder &b, Location loc,
                                             mlir::RankedTensorType outType,
                                             ValueRange operands);
/// Indexing map reading `operand` (right-aligned to the output, size-1 dims
/// broadcast) inside a loop nest over `outType`'s dims.
mlir::AffineMap broadcastMap(mlir::RankedTensorType outType, Value operand);

using ScalarBuilder =
    llvm::function_ref<Value(OpBuilder &, Location, ValueRange)>;
/// linalg.generic computing `body(operand elements...)` elementwise with
/// broadcasting into a tensor of `outType`.
Value buildElementwise(OpBuilder &b, Location loc,
                       mlir::RankedTensorType outType, ValueRange operands,
                       ScalarBuilder body);

/// Reshapes `x` to `outType` with the given runtime dims.
Value reshapeTo(OpBuilder &b, Location loc, Value x,
                mlir::RankedTensorType outType, llvm::ArrayRef<Value> outDims);

/// linalg.generic accumulating lhs * rhs into `init` (summing over the
/// reduction iterators); float or integer elements. Every contraction of
/// the generic and reference lowerings goes through this.
Value buildMulAccumulate(OpBuilder &b, Location loc, mlir::RankedTensorType outType,
                         Value lhs, Value rhs, Value init,
                         llvm::ArrayRef<mlir::AffineMap> maps,
                         llvm::ArrayRef<mlir::utils::IteratorType> iterators);

/// The memref type of `t`'s shape with a fully dynamic strided layout, so
/// that any view of a buffer (e.g. a KV-cache slot) can be passed.
mlir::MemRefType stridedMemRefType(mlir::RankedTensorType t);

/// Converts a scalar between element types following ONNX Cast rules.
Value castScalar(OpBuilder &b, Location loc, Value v, Type to);

void populateElementwisePatterns(mlir::RewritePatternSet &patterns);
void populateContractionPatterns(mlir::RewritePatternSet &patterns);
void populateReductionPatterns(mlir::RewritePatternSet &patterns);
void populateDataMovementPatterns(mlir::RewritePatternSet &patterns);

} // namespace llmc::lowering

#endif
