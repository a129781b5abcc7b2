//===- ONNXImporter.cpp - ONNX protobuf to the onnx dialect ---------------===//
//
// Reads the ModelProto (mmap'd, external data mapped lazily), creates one
// `func.func @main` whose arguments are the graph inputs, emits one onnx op
// per node with the result types symbolic shape inference gives, and keeps
// large initializers as `dense_resource` blobs pointing into the file.
// Every op's location is `"<node name>"("<file>":<node number>:0)` so
// diagnostics name the ONNX node.
//
//===----------------------------------------------------------------------===//
#include "Importer.h"

#include "llmc/Dialect/LLM/LLMDialect.h"
#include "llmc/Dialect/ONNX/ONNXDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <google/protobuf/io/coded_stream.h>
#include <onnx/onnx_pb.h>

#include <map>

using namespace mlir;
using namespace llmc;

using namespace llmc::importer;

std::optional<ArrayRef<char>>
Importer::tensorBytes(const ::onnx::TensorProto &t, Location loc,
                      int64_t numElements, Type et, int64_t byteCount) {
  int64_t bytes = byteCount >= 0 ? byteCount : numElements * elementByteWidth(et);
  if (t.data_location() == ::onnx::TensorProto::EXTERNAL) {
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto &kv : t.external_data()) {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = std::stoll(kv.value());
      else if (kv.key() == "length") length = std::stoll(kv.value());
    }
    llvm::SmallString<256> full(llvm::sys::path::parent_path(path_));
    llvm::sys::path::append(full, location);
    auto &buf = storage_.externalFiles[std::string(full)];
    if (!buf) {
      auto fileOrErr = llvm::MemoryBuffer::getFile(full, /*IsText=*/false,
                                                   /*RequiresNullTerminator=*/false);
      if (!fileOrErr) {
        emitError(loc) << "missing external data file '" << full
                       << "' for initializer '" << t.name()
                       << "': " << fileOrErr.getError().message();
        return std::nullopt;
      }
      buf = std::move(*fileOrErr);
    }
    if (length < 0)
      length = bytes;
    if (length != bytes || offset < 0 ||
        offset + length > (int64_t)buf->getBufferSize()) {
      emitError(loc) << "external data for '" << t.name() << "' in '" << full
                     << "' is out of range or has the wrong length (offset "
                     << offset << ", length " << length << ", expected "
                     << bytes << " bytes, file has " << buf->getBufferSize()
                     << ")";
      return std::nullopt;
    }
    return ArrayRef<char>(buf->getBufferStart() + offset, length);
  }
  if (t.has_raw_data()) {
    if ((int64_t)t.raw_data().size() != bytes) {
      emitError(loc) << "initializer '" << t.name() << "' has "
                     << t.raw_data().size() << " bytes of data, expected "
                     << bytes;
      return std::nullopt;
    }
    return ArrayRef<char>(t.raw_data().data(), t.raw_data().size());
  }
  if (byteCount >= 0) {
    emitError(loc) << "initializer '" << t.name()
                   << "' of a sub-byte type must use raw_data or external data";
    return std::nullopt;
  }
  // Typed repeated fields: repack into the element type's byte layout.
  auto owned = std::make_unique<std::vector<char>>(bytes);
  char *out = owned->data();
  auto fail = [&]() -> std::optional<ArrayRef<char>> {
    emitError(loc) << "initializer '" << t.name() << "' has "
                   << "the wrong number of elements for its shape";
    return std::nullopt;
  };
  using DT = ::onnx::TensorProto;
  switch (t.data_type()) {
  case DT::FLOAT:
    if (t.float_data_size() != numElements) return fail();
    memcpy(out, t.float_data().data(), bytes);
    break;
  case DT::DOUBLE:
    if (t.double_data_size() != numElements) return fail();
    memcpy(out, t.double_data().data(), bytes);
    break;
  case DT::INT64:
    if (t.int64_data_size() != numElements) return fail();
    memcpy(out, t.int64_data().data(), bytes);
    break;
  case DT::UINT64:
  case DT::UINT32:
    if (t.uint64_data_size() != numElements) return fail();
    for (int64_t i = 0; i < numElements; ++i) {
      uint64_t v = t.uint64_data(i);
      memcpy(out + i * elementByteWidth(et), &v, elementByteWidth(et));
    }
    break;
  default: // int32, int16, int8, uint8, uint16, bool, f16, bf16 use int32_data
    if (t.int32_data_size() != numElements) return fail();
    for (int64_t i = 0; i < numElements; ++i) {
      int32_t v = t.int32_data(i);
      memcpy(out + i * elementByteWidth(et), &v, elementByteWidth(et));
    }
  }
  storage_.ownedData.push_back(std::move(owned));
  return ArrayRef<char>(storage_.ownedData.back()->data(), bytes);
}

LogicalResult Importer::defineConstant(const ::onnx::TensorProto &t, const std::string &name,
                                       Location loc) {
  auto *keep = storage_.model.mutable_graph()->add_initializer();
  *keep = t;
  keep->set_name(name);
  auto e = importTensor(*keep, loc);
  if (failed(e))
    return failure();
  values_[name] = *e;
  return success();
}

FailureOr<Importer::Entry> Importer::importTensor(const ::onnx::TensorProto &t,
                                                  Location loc) {
  Type et = elementTypeFromONNX(&ctx_, t.data_type());
  if (!et) {
    emitError(loc) << "initializer '" << t.name()
                   << "' has unsupported data type " << t.data_type();
    return failure();
  }
  SmallVector<int64_t> shape(t.dims().begin(), t.dims().end());
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      emitError(loc) << "initializer '" << t.name() << "' has a negative dim";
      return failure();
    }
    n *= d;
  }
  auto bytes = tensorBytes(t, loc, n, et);
  if (!bytes)
    return failure();
  auto type = RankedTensorType::get(shape, et);
  Entry e;
  for (int64_t d : shape)
    e.info.dims.push_back(SymbolicDim::constant(d));
  e.info.elementType = et;

  ElementsAttr attr;
  if (n <= opts_.inlineConstantLimit || et.isInteger(1)) {
    if (et.isInteger(1)) {
      SmallVector<bool> bits;
      for (int64_t i = 0; i < n; ++i)
        bits.push_back((*bytes)[i] != 0);
      attr = DenseElementsAttr::get(type, ArrayRef<bool>(bits));
    } else {
      attr = DenseElementsAttr::getFromRawBuffer(type, *bytes);
    }
    auto dense = cast<DenseElementsAttr>(attr);
    if (auto it = dyn_cast<IntegerType>(et); it && it.getWidth() > 1) {
      std::vector<SymbolicDim> data;
      for (const APInt &v : dense.getValues<APInt>())
        data.push_back(SymbolicDim::constant(
            it.isUnsigned() ? (int64_t)v.getZExtValue() : v.getSExtValue()));
      e.info.data = data;
    }
  } else {
    size_t align = elementByteWidth(et);
    ArrayRef<char> data = *bytes;
    AsmResourceBlob blob;
    if (reinterpret_cast<uintptr_t>(data.data()) % align == 0)
      blob = UnmanagedAsmResourceBlob::allocateWithAlign(data, align);
    else
      blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(data, align);
    std::string name = t.name().empty() ? "weight" : t.name();
    attr = DenseResourceElementsAttr::get(type, name, std::move(blob));
  }
  e.value = arith::ConstantOp::create(b_, loc, cast<TypedAttr>(attr));
  return e;
}

FailureOr<Type> Importer::valueInfoType(const ::onnx::ValueInfoProto &vi,
                                        SmallVectorImpl<SymbolicDim> &dims,
                                        Location loc) {
  if (!vi.type().has_tensor_type()) {
    emitError(loc) << "graph input '" << vi.name()
                   << "' is not a tensor (sequences, maps and optionals are "
                      "not supported)";
    return failure();
  }
  const auto &tt = vi.type().tensor_type();
  Type et = elementTypeFromONNX(&ctx_, tt.elem_type());
  if (!et) {
    emitError(loc) << "graph input '" << vi.name()
                   << "' has unsupported element type " << tt.elem_type();
    return failure();
  }
  if (!tt.has_shape()) {
    emitError(loc) << "graph input '" << vi.name()
                   << "' has no shape (rank must be known)";
    return failure();
  }
  int i = 0;
  for (const auto &d : tt.shape().dim()) {
    if (d.has_dim_value()) {
      dims.push_back(SymbolicDim::constant(d.dim_value()));
    } else {
      std::string name = d.has_dim_param() && !d.dim_param().empty()
                             ? d.dim_param()
                             : vi.name() + "_dim" + std::to_string(i);
      int sym = symbols_.getOrCreate(name);
      auto it = opts_.dimValues.find(name);
      if (it != opts_.dimValues.end())
        symbols_.bind(sym, it->second);
      dims.push_back(symbols_.resolve(SymbolicDim::symbol(sym)));
    }
    ++i;
  }
  return et;
}

FailureOr<Attribute> Importer::convertAttribute(const ::onnx::AttributeProto &a,
                                                Location loc) {
  switch (a.type()) {
  case ::onnx::AttributeProto::INT:
    return Attribute(b_.getI64IntegerAttr(a.i()));
  case ::onnx::AttributeProto::FLOAT:
    return Attribute(b_.getF32FloatAttr(a.f()));
  case ::onnx::AttributeProto::STRING:
    return Attribute(b_.getStringAttr(a.s()));
  case ::onnx::AttributeProto::INTS:
    return Attribute(b_.getI64ArrayAttr(
        SmallVector<int64_t>(a.ints().begin(), a.ints().end())));
  case ::onnx::AttributeProto::FLOATS: {
    SmallVector<Attribute> fs;
    for (float f : a.floats())
      fs.push_back(b_.getF32FloatAttr(f));
    return Attribute(b_.getArrayAttr(fs));
  }
  case ::onnx::AttributeProto::TENSOR: {
    auto e = importTensor(a.t(), loc);
    if (failed(e))
      return failure();
    auto cst = e->value.getDefiningOp<arith::ConstantOp>();
    Attribute v = cst.getValue();
    cst.erase();
    return v;
  }
  default:
    emitError(loc) << "attribute '" << a.name() << "' has an unsupported kind ("
                   << a.type() << ")";
    return failure();
  }
}

ArrayAttr Importer::dimsAttr(ArrayRef<SymbolicDim> dims) {
  SmallVector<Attribute> out;
  for (const auto &d : dims)
    out.push_back(b_.getStringAttr(symbols_.str(d)));
  return b_.getArrayAttr(out);
}

// Number of operands each op's ODS definition has when its trailing ONNX
// inputs are optional; omitted ones become onnx.NoValue.
static int fixedOperandCount(StringRef op) {
  return llvm::StringSwitch<int>(op)
      .Case("Gemm", 3)
      .Case("Clip", 3)
      .Case("Slice", 5)
      .Cases({"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
             "ReduceSumSquare", "ReduceL2"}, 2)
      .Cases({"Unsqueeze", "Squeeze", "Trilu"}, 2)
      .Default(-1);
}

LogicalResult Importer::importNode(const ::onnx::NodeProto &node, int index) {
  Location loc = nodeLoc(node, index);
  const std::string &op = node.op_type();
  const std::string &domain = node.domain();
  std::string nodeName = node.name().empty() ? "#" + std::to_string(index + 1)
                                             : node.name();
  if (auto quantized = importQuantizedNode(node, index))
    return *quantized;
  if (auto fused = importFusedNode(node, index))
    return *fused;
  if (!domain.empty() && domain != "ai.onnx") {
    emitError(loc) << "unsupported ONNX op '" << op << "' (domain '" << domain
                   << "', opset " << opset_ << ") at node '" << nodeName << "'";
    return failure();
  }

  if (op == "Constant") {
    if (node.output_size() != 1)
      return emitError(loc) << "Constant must have one output";
    NodeAttributes attrs(node);
    ::onnx::TensorProto t;
    if (const auto *v = attrs.get("value")) {
      t = v->t();
    } else if (const auto *v = attrs.get("value_float")) {
      t.set_data_type(::onnx::TensorProto::FLOAT);
      t.add_float_data(v->f());
    } else if (const auto *v = attrs.get("value_floats")) {
      t.set_data_type(::onnx::TensorProto::FLOAT);
      t.add_dims(v->floats_size());
      for (float f : v->floats()) t.add_float_data(f);
    } else if (const auto *v = attrs.get("value_int")) {
      t.set_data_type(::onnx::TensorProto::INT64);
      t.add_int64_data(v->i());
    } else if (const auto *v = attrs.get("value_ints")) {
      t.set_data_type(::onnx::TensorProto::INT64);
      t.add_dims(v->ints_size());
      for (int64_t i : v->ints()) t.add_int64_data(i);
    } else {
      return emitError(loc) << "Constant node '" << nodeName
                            << "' has no supported value attribute";
    }
    return defineConstant(t, node.output(0), loc);
  }

  OperationName opName("onnx." + op, &ctx_);
  if (!opName.isRegistered()) {
    emitError(loc) << "unsupported ONNX op '" << op << "' (domain 'ai.onnx', opset "
                   << opset_ << ") at node '" << nodeName << "'";
    return failure();
  }

  SmallVector<Value> operands;
  SmallVector<const SymValue *> infos;
  for (const std::string &name : node.input()) {
    if (name.empty()) {
      operands.push_back(noValue_);
      infos.push_back(nullptr);
      continue;
    }
    auto it = values_.find(name);
    if (it == values_.end())
      return emitError(loc) << "node '" << nodeName << "' uses '" << name
                            << "', which is not defined before it (the graph "
                               "must be topologically sorted)";
    operands.push_back(it->second.value);
    infos.push_back(&it->second.info);
  }
  int fixed = fixedOperandCount(op);
  if (fixed >= 0) {
    if ((int)operands.size() > fixed)
      return emitError(loc) << op << " node '" << nodeName << "' has "
                            << operands.size() << " inputs, at most " << fixed
                            << " allowed";
    while ((int)operands.size() < fixed) {
      operands.push_back(noValue_);
      infos.push_back(nullptr);
    }
  }

  SmallVector<SymValue> results;
  if (auto err = inferNode(node, opset_, infos, symbols_, &ctx_, results))
    return emitError(loc) << op << " node '" << nodeName << "': " << *err;
  if ((int)results.size() < node.output_size())
    return emitError(loc) << op << " node '" << nodeName
                          << "' has more outputs than llmc supports";

  // Integer results whose values are all known at compile time become
  // constants right away, so shape arithmetic never reaches codegen.
  bool allConstant = results.size() == 1 && results[0].data;
  if (allConstant)
    for (const auto &d : *results[0].data)
      allConstant &= symbols_.resolve(d).isConstant();
  if (allConstant) {
    SmallVector<int64_t> shape;
    for (const auto &d : results[0].dims) {
      auto k = symbols_.resolve(d).getConstant();
      if (!k) { allConstant = false; break; }
      shape.push_back(*k);
    }
    if (allConstant) {
      auto type = RankedTensorType::get(shape, results[0].elementType);
      SmallVector<APInt> vals;
      unsigned width = results[0].elementType.getIntOrFloatBitWidth();
      for (const auto &d : *results[0].data)
        vals.push_back(APInt(width, *symbols_.resolve(d).getConstant(), true));
      Value c = arith::ConstantOp::create(b_, loc, DenseElementsAttr::get(type, vals));
      values_[node.output(0)] = Entry{c, results[0]};
      return success();
    }
  }

  OperationState state(loc, opName);
  state.addOperands(operands);
  for (const auto &r : results)
    state.addTypes(tensorType(r.dims, r.elementType, symbols_));
  for (const auto &a : node.attribute()) {
    auto attr = convertAttribute(a, loc);
    if (failed(attr))
      return failure();
    state.addAttribute(a.name(), *attr);
  }
  // Elementwise binaries whose operands have provably equal shapes (same
  // symbolic dims) are marked so that fusion can drop broadcasting
  // (llmc-fuse-epilogue); the types alone cannot tell two `?` dims apart.
  if (infos.size() == 2 && infos[0] && infos[1] && results.size() == 1 &&
      (op == "Add" || op == "Mul" || op == "Sub") &&
      infos[0]->dims.size() == infos[1]->dims.size()) {
    bool same = true;
    for (size_t i = 0; i < infos[0]->dims.size() && same; ++i)
      same = symbols_.resolve(infos[0]->dims[i]) == symbols_.resolve(infos[1]->dims[i]);
    if (same)
      state.addAttribute("llmc.same_shape", b_.getUnitAttr());
  }
  Operation *created = b_.create(state);
  if (failed(verify(created))) {
    emitError(loc) << "while importing " << op << " node '" << nodeName << "'";
    return failure();
  }
  for (int i = 0; i < node.output_size(); ++i)
    if (!node.output(i).empty())
      values_[node.output(i)] = Entry{created->getResult(i), results[i]};
  return success();
}

OwningOpRef<ModuleOp> Importer::run() {
  const ::onnx::GraphProto &graph = storage_.model.graph();
  Location fileLoc = FileLineColLoc::get(&ctx_, path_, 0, 0);

  for (const auto &imp : storage_.model.opset_import())
    if (imp.domain().empty() || imp.domain() == "ai.onnx")
      opset_ = imp.version();
  if (opset_ == 0) {
    emitError(fileLoc) << "model does not import the default ONNX opset";
    return {};
  }
  if (opset_ < kMinOpset || opset_ > kMaxOpset) {
    emitError(fileLoc) << "ONNX opset " << opset_ << " is not supported (llmc "
                       << "supports opsets " << kMinOpset << " to " << kMaxOpset
                       << ")";
    return {};
  }

  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  (*module)->setAttr("llmc.source", b_.getStringAttr(path_));
  (*module)->setAttr("llmc.opset", b_.getI64IntegerAttr(opset_));
  b_.setInsertionPointToEnd(module->getBody());

  std::set<std::string> initNames;
  for (const auto &t : graph.initializer())
    initNames.insert(t.name());

  SmallVector<Type> argTypes;
  SmallVector<std::string> argNames;
  SmallVector<SmallVector<SymbolicDim>> argDims;
  for (const auto &in : graph.input()) {
    if (initNames.count(in.name()))
      continue;
    SmallVector<SymbolicDim> dims;
    auto et = valueInfoType(in, dims, fileLoc);
    if (failed(et))
      return {};
    argTypes.push_back(tensorType(dims, *et, symbols_));
    argNames.push_back(in.name());
    argDims.push_back(dims);
  }

  auto func = func::FuncOp::create(b_, fileLoc, "main",
                                   b_.getFunctionType(argTypes, {}));
  Block *body = func.addEntryBlock();
  b_.setInsertionPointToStart(body);
  noValue_ = llmc::onnx::NoValueOp::create(b_, fileLoc, b_.getNoneType());
  for (size_t i = 0; i < argNames.size(); ++i)
    values_[argNames[i]] =
        Entry{body->getArgument(i), SymValue{cast<RankedTensorType>(argTypes[i]).getElementType(), argDims[i], std::nullopt}};

  for (const auto &t : graph.initializer()) {
    if (t.data_type() == kOnnxInt4 || t.data_type() == kOnnxUInt4) {
      int4Initializers_[t.name()] = &t;
      continue;
    }
    auto e = importTensor(t, NameLoc::get(b_.getStringAttr(t.name()), fileLoc));
    if (failed(e))
      return {};
    values_[t.name()] = *e;
  }

  int index = 0;
  for (const auto &node : graph.node())
    if (failed(importNode(node, index++)))
      return {};

  SmallVector<Value> results;
  SmallVector<Type> resultTypes;
  for (const auto &out : graph.output()) {
    if (pendingDequantize_.count(out.name()) && !values_.count(out.name()) &&
        failed(materializeDequantize(out.name(), fileLoc, "graph output")))
      return {};
    auto it = values_.find(out.name());
    if (it == values_.end()) {
      emitError(fileLoc) << "graph output '" << out.name()
                         << "' is not produced by any node";
      return {};
    }
    results.push_back(it->second.value);
    resultTypes.push_back(it->second.value.getType());
  }
  func::ReturnOp::create(b_, fileLoc, results);
  func.setType(b_.getFunctionType(argTypes, resultTypes));

  // Interface metadata for the manifest: names and symbolic dims, resolved
  // after all unifications.
  for (size_t i = 0; i < argNames.size(); ++i) {
    func.setArgAttr(i, "llmc.name", b_.getStringAttr(argNames[i]));
    func.setArgAttr(i, "llmc.dims", dimsAttr(argDims[i]));
  }
  int r = 0;
  for (const auto &out : graph.output()) {
    func.setResultAttr(r, "llmc.name", b_.getStringAttr(out.name()));
    func.setResultAttr(r, "llmc.dims", dimsAttr(values_[out.name()].info.dims));
    ++r;
  }
  if (noValue_.use_empty())
    noValue_.getDefiningOp()->erase();
  return module;
}

ImportedModel llmc::importONNXFile(MLIRContext &ctx, const std::string &path,
                                   const ImportOptions &options) {
  ctx.loadDialect<llmc::onnx::ONNXDialect, llm::LLMDialect, arith::ArithDialect,
                  func::FuncDialect>();
  auto storage = std::make_shared<ModelStorage>();
  Location fileLoc = FileLineColLoc::get(&ctx, path, 0, 0);
  auto fileOrErr = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                               /*RequiresNullTerminator=*/false);
  if (!fileOrErr) {
    emitError(fileLoc) << "cannot open '" << path
                       << "': " << fileOrErr.getError().message();
    return {};
  }
  storage->file = std::move(*fileOrErr);
  google::protobuf::io::CodedInputStream stream(
      reinterpret_cast<const uint8_t *>(storage->file->getBufferStart()),
      storage->file->getBufferSize());
  stream.SetTotalBytesLimit(INT_MAX);
  if (!storage->model.ParseFromCodedStream(&stream) ||
      !stream.ConsumedEntireMessage()) {
    emitError(fileLoc) << "'" << path
                       << "' is not a valid ONNX model (protobuf parse failed)";
    return {};
  }
  if (!storage->model.has_graph()) {
    emitError(fileLoc) << "'" << path << "' has no graph";
    return {};
  }
  storage->file.reset(); // the parsed message holds copies of its bytes
  Importer importer(ctx, path, options, *storage);
  ImportedModel result;
  result.module = importer.run();
  result.storage = storage;
  return result;
}
