//===- ShapeInference.h - symbolic shape/value inference for ONNX -*- C++ -*-===//
//
// Gives every ONNX node result a rank, an element type and dims that are
// polynomials over the graph's symbolic dims, and propagates the *values* of
// small integer tensors (what `Shape`, `Gather`, `Concat`... compute) so that
// reshape targets and masks built from shapes get precise types.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_IMPORTER_SHAPEINFERENCE_H
#define LLMC_IMPORTER_SHAPEINFERENCE_H

#include "llmc/Importer/SymbolicDim.h"

#include "mlir/IR/Types.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace onnx {
class NodeProto;
class AttributeProto;
} // namespace onnx

namespace llmc {

/// What the importer knows about one ONNX value.
struct SymValue {
  mlir::Type elementType;
  llvm::SmallVector<SymbolicDim> dims;
  /// Element values (row-major) for small integer tensors, when known.
  std::optional<std::vector<SymbolicDim>> data;

  int64_t rank() const { return dims.size(); }
};

/// Symbols (named graph dims and dims created during inference) and the
/// equalities learned from broadcasting, applied as substitutions.
class DimSymbolTable {
public:
  int getOrCreate(const std::string &name);
  int fresh(const std::string &hint);
  SymbolicDim resolve(const SymbolicDim &d) const;
  /// Records that `a` and `b` are equal (when one side is a lone symbol).
  void unify(const SymbolicDim &a, const SymbolicDim &b);
  void bind(int symbol, int64_t value) { subst_[symbol] = SymbolicDim::constant(value); }
  const std::vector<std::string> &names() const { return names_; }
  std::string str(const SymbolicDim &d) const { return resolve(d).str(names_); }

private:
  std::vector<std::string> names_;
  std::map<std::string, int> byName_;
  std::map<int, SymbolicDim> subst_;
};

/// ONNX node attributes, read with ONNX defaults.
class NodeAttributes {
public:
  explicit NodeAttributes(const onnx::NodeProto &node);
  const onnx::AttributeProto *get(llvm::StringRef name) const;
  int64_t getInt(llvm::StringRef name, int64_t dflt) const;
  float getFloat(llvm::StringRef name, float dflt) const;
  std::optional<std::vector<int64_t>> getInts(llvm::StringRef name) const;

private:
  const onnx::NodeProto &node_;
};

/// Maps an ONNX TensorProto.DataType to an MLIR element type (null if not
/// representable).
mlir::Type elementTypeFromONNX(mlir::MLIRContext *ctx, int32_t dataType);

/// Infers result shapes (and small values) of one node. `inputs[i]` is null
/// for an omitted optional input. Returns an error message on failure.
std::optional<std::string>
inferNode(const onnx::NodeProto &node, int64_t opset,
          llvm::ArrayRef<const SymValue *> inputs, DimSymbolTable &symbols,
          mlir::MLIRContext *ctx, llvm::SmallVectorImpl<SymValue> &results);

} // namespace llmc

#endif
