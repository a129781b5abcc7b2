//===- Importer.h - the ONNX importer's internal state ----------*- C++ -*-===//
//
// Shared by ONNXImporter.cpp (protobuf, initializers, standard nodes) and
// FusedOps.cpp (fused and contrib ops expanded into standard ops / llm ops).
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_LIB_IMPORTER_IMPORTER_H
#define LLMC_LIB_IMPORTER_IMPORTER_H

#include "llmc/Importer/ONNXImporter.h"
#include "llmc/Importer/ShapeInference.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/Support/MemoryBuffer.h"

#include <onnx/onnx_pb.h>

#include <map>

namespace llmc::importer {

using namespace mlir;


/// Everything the blobs of an imported module point into.
struct ModelStorage {
  ::onnx::ModelProto model;
  std::unique_ptr<llvm::MemoryBuffer> file;
  std::map<std::string, std::unique_ptr<llvm::MemoryBuffer>> externalFiles;
  std::vector<std::unique_ptr<std::vector<char>>> ownedData;
};

// TensorProto.DataType values of 4-bit integers (ONNX 1.16+; the system's
// onnx headers may predate them).
constexpr int kOnnxUInt4 = 21;
constexpr int kOnnxInt4 = 22;

constexpr int64_t kMinOpset = 13;
constexpr int64_t kMaxOpset = 25;

class Importer {
public:
  Importer(MLIRContext &ctx, std::string path, const ImportOptions &opts,
           ModelStorage &storage)
      : ctx_(ctx), path_(std::move(path)), opts_(opts), storage_(storage),
        b_(&ctx) {}

  OwningOpRef<ModuleOp> run();

private:
  friend class FusedOpExpander;
  friend class QuantizedOpImporter;
  struct Entry {
    Value value;
    SymValue info;
  };

  Location nodeLoc(const ::onnx::NodeProto &node, int index) {
    std::string name = node.name().empty()
                           ? node.op_type() + "_" + std::to_string(index)
                           : node.name();
    return NameLoc::get(StringAttr::get(&ctx_, name),
                        FileLineColLoc::get(&ctx_, path_, index + 1, 0));
  }

  /// `byteCount` >= 0 overrides numElements * width (sub-byte types: int4).
  std::optional<ArrayRef<char>> tensorBytes(const ::onnx::TensorProto &t,
                                            Location loc, int64_t numElements,
                                            Type elementType, int64_t byteCount = -1);
  FailureOr<Entry> importTensor(const ::onnx::TensorProto &t, Location loc);
  /// Imports a tensor made during import (Constant nodes, expansions) as the
  /// value `name`; a copy is kept with the model because blobs point into it.
  LogicalResult defineConstant(const ::onnx::TensorProto &t, const std::string &name,
                               Location loc);
  FailureOr<Type> valueInfoType(const ::onnx::ValueInfoProto &vi,
                                SmallVectorImpl<SymbolicDim> &dims, Location loc);
  LogicalResult importNode(const ::onnx::NodeProto &node, int index);
  /// Fused/contrib ops (RMSNormalization, RotaryEmbedding, Attention,
  /// SimplifiedLayerNormalization, SkipSimplifiedLayerNormalization,
  /// GroupQueryAttention): expanded into standard ops and llm ops.
  /// Returns std::nullopt if `node` is not one of them.
  std::optional<LogicalResult> importFusedNode(const ::onnx::NodeProto &node, int index);
  /// Pre-quantized weights (QuantizedOps.cpp): com.microsoft MatMulNBits and
  /// MatMul(x, DequantizeLinear(constant)) become llm.quantized_linear;
  /// DequantizeLinear of a constant is deferred until its consumer is seen.
  /// Returns std::nullopt if `node` is left to the generic path.
  std::optional<LogicalResult> importQuantizedNode(const ::onnx::NodeProto &node, int index);
  /// A deferred DequantizeLinear (its output is not in values_ yet).
  struct PendingDequantize {
    ::onnx::NodeProto node;
    int index;
  };
  /// Imports the deferred DequantizeLinear producing `name` as an f32
  /// constant (for consumers other than a MatMul weight).
  LogicalResult materializeDequantize(const std::string &name, Location userLoc, const std::string &user);
  FailureOr<Attribute> convertAttribute(const ::onnx::AttributeProto &a,
                                        Location loc);
  ArrayAttr dimsAttr(ArrayRef<SymbolicDim> dims);

  MLIRContext &ctx_;
  std::string path_;
  const ImportOptions &opts_;
  ModelStorage &storage_;
  OpBuilder b_;
  DimSymbolTable symbols_;
  std::map<std::string, Entry> values_;
  /// INT4/UINT4 initializers (no MLIR element type here): read only as
  /// DequantizeLinear inputs.
  std::map<std::string, const ::onnx::TensorProto *> int4Initializers_;
  std::map<std::string, PendingDequantize> pendingDequantize_;
  int64_t opset_ = 0;
  Value noValue_;
};

inline RankedTensorType tensorType(ArrayRef<SymbolicDim> dims, Type et,
                            const DimSymbolTable &syms) {
  SmallVector<int64_t> shape;
  for (const auto &d : dims) {
    auto k = syms.resolve(d).getConstant();
    shape.push_back(k ? *k : ShapedType::kDynamic);
  }
  return RankedTensorType::get(shape, et);
}

inline int64_t elementByteWidth(Type t) {
  if (t.isInteger(1))
    return 1;
  return (t.getIntOrFloatBitWidth() + 7) / 8;
}


} // namespace llmc::importer

#endif
