//===- ConstantWeights.h - read and create weight constants -----*- C++ -*-===//
//
// Fusion and packing passes rewrite weights at compile time. Weights arrive
// as `arith.constant` holding a dense_resource blob (large tensors, no copy
// of the model file) or a DenseElementsAttr (small tensors, e.g. in lit
// tests); these helpers read either as f32 and create new constants the
// same way the importer does (blobs above a small size, so lit tests can
// still read small results).
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_TRANSFORMS_CONSTANTWEIGHTS_H
#define LLMC_TRANSFORMS_CONSTANTWEIGHTS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Value.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace llmc::weights {

/// True if `v` is an f32 constant with a static shape that can be read.
bool isReadableF32Constant(mlir::Value v);

/// Elements of an f32 constant in row-major order, or nullopt.
std::optional<std::vector<float>> readF32(mlir::Value v);

/// A new f32 (or bf16, with `fill` writing uint16 bits) constant of `type`
/// whose `numElements` are written by `fill` into zero-initialized storage.
/// `nameHint` names the resource blob.
mlir::Value createConstant(mlir::OpBuilder &b, mlir::Location loc, mlir::RankedTensorType type,
                           llvm::StringRef nameHint,
                           const std::function<void(void *data)> &fill);

/// Name hint for a constant derived from `v` (its resource name if any).
std::string nameOf(mlir::Value v, llvm::StringRef suffix);

} // namespace llmc::weights

#endif
