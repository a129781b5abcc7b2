//===- QuantizedOps.cpp - pre-quantized ONNX weights ----------------------===//
//
// Models quantized by ONNX Runtime's tools arrive with their weights already
// quantized; they are imported into llm.quantized_linear (QuantLayout.h)
// directly, never dequantized to f32:
//
//  * com.microsoft::MatMulNBits(A, B, scales, zero_points?, g_idx?, bias?):
//    B is uint8 [N, n_blocks, blob], codes packed low nibble first along K,
//    w = (code - zero_point) * scale per block of `block_size` k; without
//    zero points the zero point is 2^(bits-1) (8 for 4 bits), which is
//    exactly llmc's symmetric grid (code - 8 / code - 128).
//  * MatMul(X, DequantizeLinear(constant int8/uint8/int4/uint4, scale,
//    zero_point?)): per tensor, per output channel (axis 1) or blocked
//    along K (axis 0, block_size, opset 21). Signed codes are shifted by
//    2^(bits-1) into llmc's unsigned codes (zero points with them).
//
// Both map exactly onto QuantLayout's groups along K, except the scales:
// llmc stores fp16 scales, so f32 scales are rounded to the nearest fp16
// (relative change <= 2^-11 per scale; docs/Quantization.md measures the
// effect). Zero points that are all 2^(bits-1) give the symmetric scheme,
// anything else the asymmetric one (one uint8 zero point per group).
// Everything the layout cannot hold exactly (2-bit codes, g_idx reordering,
// scales along N, non-integral float zero points) is an error naming the
// node. A DequantizeLinear whose consumer is not a MatMul weight (e.g. a
// Gather) is dequantized to an f32 constant with a warning.
//
//===----------------------------------------------------------------------===//
#include "Importer.h"

#include "llmc/Dialect/LLM/LLMDialect.h"
#include "llmc/QuantLayout.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstring>
#include <functional>

using namespace mlir;
using namespace llmc;
using namespace llmc::importer;

namespace llmc::importer {

namespace {

/// The elements of a constant tensor, read from its attribute (inline or
/// blob) or from an INT4/UINT4 initializer. Not copyable: `bytes` may point
/// into `own`.
struct ConstTensor {
  SmallVector<int64_t> shape;
  Type elementType;  ///< null for int4/uint4
  int int4 = 0;      ///< 1 = INT4, 2 = UINT4
  std::vector<char> own;
  ArrayRef<char> bytes;

  ConstTensor() = default;
  ConstTensor(const ConstTensor &) = delete;

  int64_t numElements() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
  bool isFloat() const { return elementType && isa<FloatType>(elementType); }
  bool isInteger() const { return int4 || (elementType && isa<IntegerType>(elementType)); }
  /// Bits of an integer element type (4 for int4/uint4).
  int intBits() const { return int4 ? 4 : elementType.getIntOrFloatBitWidth(); }
  bool isSigned() const { return int4 == 1 || (!int4 && !cast<IntegerType>(elementType).isUnsigned()); }

  int64_t intAt(int64_t i) const {
    if (int4) {
      uint8_t b = uint8_t(bytes[i / 2]);
      int v = (i % 2 == 0) ? (b & 0xf) : (b >> 4);
      return int4 == 1 && v >= 8 ? v - 16 : v;
    }
    unsigned w = elementType.getIntOrFloatBitWidth() / 8;
    uint64_t u = 0;
    std::memcpy(&u, bytes.data() + i * w, w);
    if (!isSigned() || w == 8)
      return int64_t(u);
    int sh = 64 - 8 * int(w);
    return int64_t(u << sh) >> sh;
  }
  double floatAt(int64_t i) const {
    const char *p = bytes.data();
    if (elementType.isF32()) {
      float f;
      std::memcpy(&f, p + 4 * i, 4);
      return f;
    }
    if (elementType.isF64()) {
      double d;
      std::memcpy(&d, p + 8 * i, 8);
      return d;
    }
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    if (elementType.isF16())
      return quant::fromF16(h);
    uint32_t u = uint32_t(h) << 16; // bf16
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

/// Reads `v` if it is an arith.constant; false otherwise.
bool readConstant(Value v, ConstTensor &out) {
  auto cst = v ? v.getDefiningOp<arith::ConstantOp>() : nullptr;
  if (!cst)
    return false;
  auto type = dyn_cast<RankedTensorType>(cst.getType());
  if (!type || type.getElementType().isInteger(1))
    return false;
  out.shape.assign(type.getShape().begin(), type.getShape().end());
  out.elementType = type.getElementType();
  if (auto r = dyn_cast<DenseResourceElementsAttr>(cst.getValue())) {
    AsmResourceBlob *blob = r.getRawHandle().getBlob();
    if (!blob)
      return false;
    out.bytes = blob->getData();
    return true;
  }
  auto d = dyn_cast<DenseElementsAttr>(cst.getValue());
  if (!d)
    return false;
  ArrayRef<char> raw = d.getRawData();
  if (d.isSplat()) {
    int64_t n = out.numElements(), w = raw.size();
    out.own.resize(size_t(n * w));
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(out.own.data() + i * w, raw.data(), w);
    out.bytes = ArrayRef<char>(out.own.data(), out.own.size());
  } else {
    out.bytes = raw;
  }
  return true;
}

/// A [K, N] weight in QuantLayout terms, logical (not yet in panels).
struct LogicalQuantWeight {
  int bits = 4;
  int64_t K = 0, N = 0;
  int64_t group = 0; ///< 0 = one group of all K per column
  std::vector<uint8_t> codes;   ///< [K][N]
  std::vector<float> scales;    ///< [numGroups][N]
  std::vector<uint8_t> zeros;   ///< [numGroups][N]
  int64_t numGroups() const { return group ? (K + group - 1) / group : 1; }
};

} // namespace

class QuantizedOpImporter {
public:
  QuantizedOpImporter(Importer &imp, const ::onnx::NodeProto &node, int index)
      : imp(imp), node(node), attrs(node), loc(imp.nodeLoc(node, index)) {}

  LogicalResult matMulNBits();
  LogicalResult matMulOfDequantize(const Importer::PendingDequantize &dq);
  LogicalResult dequantizeToF32(const std::string &name);

private:
  Importer &imp;
  const ::onnx::NodeProto &node;
  NodeAttributes attrs;
  Location loc;

  std::string input(int i) const { return i < node.input_size() ? node.input(i) : ""; }

  LogicalResult fail(const Twine &msg) {
    return emitError(loc) << node.op_type() << " node '" << node.name() << "': " << msg;
  }

  /// The constant input `name` (`what` names it in errors).
  LogicalResult constantInput(const std::string &name, StringRef what, ConstTensor &out) {
    auto it = imp.values_.find(name);
    if (it != imp.values_.end() && readConstant(it->second.value, out))
      return success();
    auto i4 = imp.int4Initializers_.find(name);
    if (i4 != imp.int4Initializers_.end()) {
      const ::onnx::TensorProto &t = *i4->second;
      out.shape.assign(t.dims().begin(), t.dims().end());
      out.int4 = t.data_type() == kOnnxInt4 ? 1 : 2;
      int64_t n = out.numElements();
      auto bytes = imp.tensorBytes(t, loc, n, Type(), (n + 1) / 2);
      if (!bytes)
        return failure();
      out.bytes = *bytes;
      return success();
    }
    return fail(Twine("the ") + what + " '" + name + "' must be a constant (an initializer)");
  }

  Value createBytes(ArrayRef<char> data, Type et, int64_t n, const std::string &name);
  LogicalResult emitQuantizedLinear(const std::string &inputName, const LogicalQuantWeight &w,
                                    const std::string &biasName, const std::string &weightName,
                                    const std::string &outName);
};

Value QuantizedOpImporter::createBytes(ArrayRef<char> data, Type et, int64_t n, const std::string &name) {
  auto type = RankedTensorType::get({n}, et);
  TypedAttr attr;
  if (n <= imp.opts_.inlineConstantLimit) {
    attr = DenseElementsAttr::getFromRawBuffer(type, data);
  } else {
    AsmResourceBlob blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(data, 64);
    attr = DenseResourceElementsAttr::get(type, name, std::move(blob));
  }
  return arith::ConstantOp::create(imp.b_, loc, attr);
}

LogicalResult QuantizedOpImporter::emitQuantizedLinear(const std::string &inputName,
                                                       const LogicalQuantWeight &w,
                                                       const std::string &biasName,
                                                       const std::string &weightName,
                                                       const std::string &outName) {
  auto xi = imp.values_.find(inputName);
  if (xi == imp.values_.end())
    return fail("input '" + inputName + "' is not defined before the node");
  const SymValue &x = xi->second.info;
  if (!x.elementType.isF32())
    return fail("the input must be float32 (llmc's quantized kernels take f32 activations)");
  if (x.rank() < 2)
    return fail("the input must have rank >= 2");
  auto k = imp.symbols_.resolve(x.dims.back()).getConstant();
  if (!k || *k != w.K)
    return fail("the input's last dim (" + (k ? std::to_string(*k) : std::string("dynamic")) +
                ") must equal the weight's K = " + std::to_string(w.K));

  bool symmetric = true;
  for (uint8_t z : w.zeros)
    symmetric &= z == quant::symmetricZero(w.bits);
  quant::Scheme scheme{w.bits, w.group, symmetric};
  std::string error;
  quant::Layout l = quant::makeLayout(scheme, w.K, w.N, imp.opts_.quantPanel, &error);
  if (!error.empty())
    return fail("the weight does not fit llmc's quantized layout: " + error);
  // Fill the panel layout. Padding rows (K up to the group) and padding
  // columns get code == zero, so they dequantize to 0 (as quantizeRTN's).
  std::vector<uint8_t> codes(l.codeBytes(), 0), zeros(l.numParams(), 0);
  std::vector<uint16_t> scales(l.numParams(), 0);
  const int64_t G = l.groupSize;
  for (int64_t n = 0; n < l.numPanels * l.nr; ++n)
    for (int64_t g = 0; g < l.numGroups; ++g) {
      int64_t p = l.paramIndex(g, n);
      uint8_t zero = uint8_t(symmetric ? quant::symmetricZero(w.bits) : 0);
      if (n < w.N) {
        float s = w.scales[g * w.N + n];
        if (!std::isfinite(s) || std::fabs(s) > 65504.f)
          return fail("scale " + std::to_string(s) + " (column " + std::to_string(n) + ", block " +
                      std::to_string(g) + ") does not fit llmc's fp16 scales");
        scales[p] = quant::toF16(s); // nearest: the codes are given, no range to protect
        zero = w.zeros[g * w.N + n];
        if (!symmetric)
          zeros[p] = zero;
      }
      for (int64_t kk = g * G; kk < (g + 1) * G; ++kk)
        quant::setCode(l, codes.data(), kk, n, (n < w.N && kk < w.K) ? w.codes[kk * w.N + n] : zero);
    }

  auto u8 = imp.b_.getIntegerType(8, false);
  Value cCodes = createBytes(ArrayRef<char>((const char *)codes.data(), codes.size()), u8, codes.size(),
                             weightName + ".codes");
  Value cScales = createBytes(ArrayRef<char>((const char *)scales.data(), scales.size() * 2),
                              imp.b_.getIntegerType(16), scales.size(), weightName + ".scales");
  Value cZeros;
  if (!symmetric)
    cZeros = createBytes(ArrayRef<char>((const char *)zeros.data(), zeros.size()), u8, zeros.size(),
                         weightName + ".zeros");
  Value bias;
  if (!biasName.empty()) {
    auto bi = imp.values_.find(biasName);
    if (bi == imp.values_.end())
      return fail("bias '" + biasName + "' is not defined before the node");
    const SymValue &b = bi->second.info;
    auto bn = b.rank() == 1 ? imp.symbols_.resolve(b.dims[0]).getConstant() : std::nullopt;
    if (!b.elementType.isF32() || !bn || *bn != w.N)
      return fail("the bias must be float32 [N] with N = " + std::to_string(w.N));
    bias = bi->second.value;
  }
  SymValue outInfo{x.elementType, x.dims, std::nullopt};
  outInfo.dims.back() = SymbolicDim::constant(w.N);
  auto outType = tensorType(outInfo.dims, outInfo.elementType, imp.symbols_);
  // Weight-only (f32 activations): the trailing attributes keep their defaults.
  auto op = llm::QuantizedLinearOp::create(imp.b_, loc, Type(outType), xi->second.value, cCodes, cScales, cZeros,
                                           bias, Value(), uint64_t(w.bits), uint64_t(w.group), uint64_t(l.nr),
                                           symmetric, FloatAttr());
  if (failed(verify(op)))
    return fail("invalid quantized linear");
  imp.values_[outName] = Importer::Entry{op.getResult(), outInfo};
  return success();
}

// MatMulNBits(A, B, scales, zero_points?, g_idx?, bias?); attributes K, N,
// bits, block_size, accuracy_level (a compute hint of ONNX Runtime: level 4
// quantizes A to int8 there; llmc keeps A in f32 at every level).
LogicalResult QuantizedOpImporter::matMulNBits() {
  int64_t K = attrs.getInt("K", -1), N = attrs.getInt("N", -1);
  int64_t bits = attrs.getInt("bits", 4), block = attrs.getInt("block_size", -1);
  if (K <= 0 || N <= 0 || block <= 0)
    return fail("needs the attributes K, N and block_size (positive)");
  if (bits != 4 && bits != 8)
    return fail("bits=" + std::to_string(bits) + " is not supported (llmc's quantized layout has 4 and 8 bits)");
  if (block % quant::kAlignment(int(bits)) != 0)
    return fail("block_size " + std::to_string(block) + " is not a multiple of " +
                std::to_string(quant::kAlignment(int(bits))));
  if (node.output_size() != 1)
    return fail("expected one output");
  const int64_t nBlocks = (K + block - 1) / block, blob = block * bits / 8;

  ConstTensor B, S;
  if (failed(constantInput(input(1), "packed weight B", B)) || failed(constantInput(input(2), "scales", S)))
    return failure();
  if (B.int4 || !B.elementType.isUnsignedInteger(8) || B.shape.size() != 3 || B.shape[0] != N ||
      B.shape[1] != nBlocks || B.shape[2] != blob) {
    std::string got;
    for (int64_t d : B.shape)
      got += (got.empty() ? "" : ", ") + std::to_string(d);
    return fail("B must be uint8 [N, n_blocks, blob] = [" + std::to_string(N) + ", " + std::to_string(nBlocks) +
                ", " + std::to_string(blob) + "] for K=" + std::to_string(K) + ", bits=" + std::to_string(bits) +
                ", block_size=" + std::to_string(block) + "; got [" + got + "]");
  }
  if (!S.isFloat() || S.numElements() != N * nBlocks)
    return fail("scales must be float with N * n_blocks = " + std::to_string(N * nBlocks) + " elements, got " +
                std::to_string(S.numElements()));

  LogicalQuantWeight w;
  w.bits = int(bits);
  w.K = K;
  w.N = N;
  w.group = block;
  w.codes.resize(K * N);
  w.scales.resize(nBlocks * N);
  w.zeros.assign(nBlocks * N, uint8_t(quant::symmetricZero(int(bits))));
  const uint8_t *b = reinterpret_cast<const uint8_t *>(B.bytes.data());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      int64_t blk = k / block, i = k % block;
      uint8_t byte = b[(n * nBlocks + blk) * blob + (bits == 4 ? i / 2 : i)];
      w.codes[k * N + n] = bits == 8 ? byte : uint8_t(i % 2 ? byte >> 4 : byte & 0xf);
    }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < nBlocks; ++g)
      w.scales[g * N + n] = float(S.floatAt(n * nBlocks + g));

  if (!input(3).empty()) {
    ConstTensor Z;
    if (failed(constantInput(input(3), "zero_points", Z)))
      return failure();
    if (Z.isInteger() && !Z.int4 && Z.elementType.isUnsignedInteger(8)) {
      // Packed like B: per column ceil(n_blocks * bits / 8) bytes.
      int64_t perCol = (nBlocks * bits + 7) / 8;
      if (Z.numElements() != N * perCol)
        return fail("uint8 zero_points must have N * ceil(n_blocks * bits / 8) = " + std::to_string(N * perCol) +
                    " elements, got " + std::to_string(Z.numElements()));
      const uint8_t *z = reinterpret_cast<const uint8_t *>(Z.bytes.data());
      for (int64_t n = 0; n < N; ++n)
        for (int64_t g = 0; g < nBlocks; ++g) {
          uint8_t byte = z[n * perCol + (bits == 4 ? g / 2 : g)];
          w.zeros[g * N + n] = bits == 8 ? byte : uint8_t(g % 2 ? byte >> 4 : byte & 0xf);
        }
    } else if (Z.isFloat()) {
      // Unpacked, [N, n_blocks]: only integral zero points are on llmc's grid.
      if (Z.numElements() != N * nBlocks)
        return fail("float zero_points must have N * n_blocks = " + std::to_string(N * nBlocks) + " elements");
      for (int64_t n = 0; n < N; ++n)
        for (int64_t g = 0; g < nBlocks; ++g) {
          double z = Z.floatAt(n * nBlocks + g);
          if (z != std::floor(z) || z < 0 || z > quant::maxCode(int(bits)))
            return fail("float zero point " + std::to_string(z) + " (column " + std::to_string(n) + ", block " +
                        std::to_string(g) + ") is not an integer in [0, " +
                        std::to_string(quant::maxCode(int(bits))) +
                        "]: llmc's layout stores integer zero points");
          w.zeros[g * N + n] = uint8_t(z);
        }
    } else {
      return fail("zero_points must be uint8 (packed) or of the scales' float type");
    }
  }
  if (!input(4).empty()) {
    // g_idx maps each k to its block; only the identity grouping k / block
    // (what a model without act-order reordering stores) fits the layout.
    ConstTensor I;
    if (failed(constantInput(input(4), "g_idx", I)))
      return failure();
    if (!I.isInteger() || I.numElements() != K)
      return fail("g_idx must be an integer tensor of K = " + std::to_string(K) + " elements");
    for (int64_t k = 0; k < K; ++k)
      if (I.intAt(k) != k / block)
        return fail("g_idx reorders K (k = " + std::to_string(k) + " is in block " + std::to_string(I.intAt(k)) +
                    ", not " + std::to_string(k / block) +
                    "): act-order groups are not supported, llmc's groups are contiguous along K");
  }
  return emitQuantizedLinear(input(0), w, input(5), input(1), node.output(0));
}

/// The parameters of a DequantizeLinear of a constant, read and checked.
struct DequantizeParams {
  ConstTensor x, scale, zero;
  bool hasZero = false;
  int64_t axis = 1, block = 0;
};

static LogicalResult readDequantize(const ::onnx::NodeProto &dq, DequantizeParams &p,
                                    const std::function<LogicalResult(const std::string &, StringRef,
                                                                      ConstTensor &)> &constant,
                                    const std::function<LogicalResult(const Twine &)> &fail) {
  NodeAttributes a(dq);
  if (failed(constant(dq.input(0), "quantized input", p.x)) ||
      failed(constant(dq.input_size() > 1 ? dq.input(1) : "", "scale", p.scale)))
    return failure();
  p.hasZero = dq.input_size() > 2 && !dq.input(2).empty();
  if (p.hasZero && failed(constant(dq.input(2), "zero point", p.zero)))
    return failure();
  if (!p.x.isInteger() || p.x.intBits() > 8)
    return fail("only int8, uint8, int4 and uint4 inputs are supported");
  if (!p.scale.isFloat())
    return fail("the scale must be a float tensor");
  if (a.get("output_dtype") && a.getInt("output_dtype", 0) != ::onnx::TensorProto::FLOAT)
    return fail("only float32 outputs are supported");
  if (p.hasZero && (!p.zero.isInteger() || p.zero.int4 != p.x.int4 ||
                    (!p.x.int4 && p.zero.elementType != p.x.elementType) ||
                    p.zero.numElements() != p.scale.numElements()))
    return fail("the zero point must have the input's type and the scale's shape");
  int64_t rank = p.x.shape.size();
  p.axis = a.getInt("axis", 1);
  if (p.axis < 0)
    p.axis += rank;
  p.block = a.getInt("block_size", 0);
  if (p.scale.numElements() != 1 && (p.axis < 0 || p.axis >= rank))
    return fail("axis out of range");
  if (p.block > 0) {
    if (p.scale.shape.size() != size_t(rank))
      return fail("blocked quantization needs a scale of the input's rank");
    for (int64_t d = 0; d < rank; ++d) {
      int64_t want = d == p.axis ? (p.x.shape[d] + p.block - 1) / p.block : p.x.shape[d];
      if (p.scale.shape[d] != want)
        return fail("the scale's shape does not match the input's and block_size");
    }
  } else if (p.scale.numElements() != 1 && p.scale.numElements() != p.x.shape[p.axis]) {
    return fail("a per-axis scale must have the size of the input's axis " + std::to_string(p.axis));
  }
  return success();
}

/// Index of the scale of element i of x (row-major) under DequantizeLinear's rules.
static int64_t scaleIndex(const DequantizeParams &p, int64_t i) {
  if (p.scale.numElements() == 1)
    return 0;
  int64_t inner = 1;
  for (size_t d = p.axis + 1; d < p.x.shape.size(); ++d)
    inner *= p.x.shape[d];
  int64_t dim = p.x.shape[p.axis], c = (i / inner) % dim;
  if (p.block <= 0)
    return c;
  int64_t nb = (dim + p.block - 1) / p.block, outer = i / (inner * dim);
  return (outer * nb + c / p.block) * inner + i % inner;
}

// MatMul(X, DequantizeLinear(q, scale, zero_point)) with q [K, N].
LogicalResult QuantizedOpImporter::matMulOfDequantize(const Importer::PendingDequantize &pending) {
  const ::onnx::NodeProto &dq = pending.node;
  std::string dqName = dq.name().empty() ? "#" + std::to_string(pending.index + 1) : dq.name();
  auto dqFail = [&](const Twine &msg) -> LogicalResult {
    return emitError(imp.nodeLoc(dq, pending.index))
           << "DequantizeLinear node '" << dqName << "' (weight of MatMul node '" << node.name() << "'): " << msg;
  };
  auto constant = [&](const std::string &name, StringRef what, ConstTensor &out) -> LogicalResult {
    auto it = imp.values_.find(name);
    if (it != imp.values_.end() && readConstant(it->second.value, out))
      return success();
    if (imp.int4Initializers_.count(name))
      return constantInput(name, what, out);
    return dqFail(Twine("the ") + what + " '" + name + "' must be a constant");
  };
  DequantizeParams p;
  if (failed(readDequantize(dq, p, constant, dqFail)))
    return failure();
  if (p.x.shape.size() != 2)
    return dqFail("a MatMul weight must be 2-D [K, N]");
  const int64_t K = p.x.shape[0], N = p.x.shape[1];
  LogicalQuantWeight w;
  w.bits = p.x.intBits() == 4 ? 4 : 8;
  w.K = K;
  w.N = N;
  if (p.scale.numElements() == 1) {
    w.group = 0; // per tensor: every column's single group has the same scale
  } else if (p.axis == 1 && p.block <= 0) {
    w.group = 0; // per output channel
  } else if (p.axis == 0 && p.block > 0) {
    w.group = p.block;
  } else {
    return dqFail(p.axis == 0 ? "per-row scales (axis 0 without block_size) vary along K within a column; "
                                "llmc's layout has one scale per group of K and output column"
                              : "blocks along N (axis 1 with block_size) do not fit llmc's layout, whose "
                                "groups run along K");
  }
  if (w.group && w.group % quant::kAlignment(w.bits) != 0)
    return dqFail("block_size " + std::to_string(w.group) + " is not a multiple of " +
                  std::to_string(quant::kAlignment(w.bits)) + " (llmc's int" + std::to_string(w.bits) +
                  " group alignment)");
  const int shift = p.x.isSigned() ? quant::symmetricZero(w.bits) : 0; // signed -> unsigned codes
  int64_t G = w.numGroups();
  w.codes.resize(K * N);
  w.scales.resize(G * N);
  w.zeros.resize(G * N);
  for (int64_t i = 0; i < K * N; ++i)
    w.codes[i] = uint8_t(p.x.intAt(i) + shift);
  for (int64_t g = 0; g < G; ++g)
    for (int64_t n = 0; n < N; ++n) {
      // Any element of the group locates its scale: take its first row.
      int64_t s = scaleIndex(p, (w.group ? g * w.group : 0) * N + n);
      w.scales[g * N + n] = float(p.scale.floatAt(s));
      w.zeros[g * N + n] = uint8_t((p.hasZero ? p.zero.intAt(s) : 0) + shift);
    }
  std::string weightName = dq.input(0);
  return emitQuantizedLinear(input(0), w, "", weightName, node.output(0));
}

// The f32 value of a deferred DequantizeLinear, computed as ONNX Runtime
// does: (x - zero_point) * scale in f32.
LogicalResult QuantizedOpImporter::dequantizeToF32(const std::string &name) {
  // Stays pending too: a MatMul using the same weight still reads it quantized.
  Importer::PendingDequantize pending = imp.pendingDequantize_.at(name);
  const ::onnx::NodeProto &dq = pending.node;
  Location dqLoc = imp.nodeLoc(dq, pending.index);
  std::string dqName = dq.name().empty() ? "#" + std::to_string(pending.index + 1) : dq.name();
  auto dqFail = [&](const Twine &msg) -> LogicalResult {
    return emitError(dqLoc) << "DequantizeLinear node '" << dqName << "': " << msg;
  };
  auto constant = [&](const std::string &n, StringRef what, ConstTensor &out) -> LogicalResult {
    auto it = imp.values_.find(n);
    if (it != imp.values_.end() && readConstant(it->second.value, out))
      return success();
    if (imp.int4Initializers_.count(n))
      return constantInput(n, what, out);
    return dqFail(Twine("the ") + what + " '" + n + "' must be a constant");
  };
  DequantizeParams p;
  if (failed(readDequantize(dq, p, constant, dqFail)))
    return failure();
  int64_t n = p.x.numElements();
  std::vector<float> y(n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t s = scaleIndex(p, i);
    y[i] = float(p.x.intAt(i) - (p.hasZero ? p.zero.intAt(s) : 0)) * float(p.scale.floatAt(s));
  }
  ::onnx::TensorProto t;
  t.set_data_type(::onnx::TensorProto::FLOAT);
  for (int64_t d : p.x.shape)
    t.add_dims(d);
  t.set_raw_data(std::string(reinterpret_cast<const char *>(y.data()), y.size() * 4));
  return imp.defineConstant(t, name, dqLoc);
}

} // namespace llmc::importer

LogicalResult Importer::materializeDequantize(const std::string &name, Location userLoc, const std::string &user) {
  const ::onnx::NodeProto dq = pendingDequantize_.at(name).node;
  std::string dqName = dq.name().empty() ? name : dq.name();
  // Printed directly: the context drops warnings without a handler.
  llvm::errs() << userLoc << ": warning: DequantizeLinear node '" << dqName << "' feeds " << user
               << ", not a MatMul weight: it is dequantized to f32 at compile time\n";
  QuantizedOpImporter q(*this, dq, pendingDequantize_.at(name).index);
  return q.dequantizeToF32(name);
}

std::optional<LogicalResult> Importer::importQuantizedNode(const ::onnx::NodeProto &node, int index) {
  const std::string &op = node.op_type(), &dom = node.domain();
  bool isStd = dom.empty() || dom == "ai.onnx";
  if (dom == "com.microsoft" && op == "MatMulNBits") {
    for (const std::string &in : node.input())
      if (!in.empty() && !values_.count(in) && !int4Initializers_.count(in))
        return LogicalResult(emitError(nodeLoc(node, index))
                             << "node '" << node.name() << "' uses '" << in << "', which is not defined before it");
    return QuantizedOpImporter(*this, node, index).matMulNBits();
  }
  // A DequantizeLinear of a constant waits for its consumer.
  if (isStd && op == "DequantizeLinear" && node.input_size() >= 2 && node.output_size() == 1) {
    const std::string &x = node.input(0);
    auto it = values_.find(x);
    bool constant = int4Initializers_.count(x) ||
                    (it != values_.end() && it->second.value.getDefiningOp<arith::ConstantOp>());
    if (!constant)
      return LogicalResult(emitError(nodeLoc(node, index))
                           << "DequantizeLinear node '" << node.name() << "': the input '" << x
                           << "' is not a constant; only weights may be quantized (activation QDQ is not supported)");
    pendingDequantize_[node.output(0)] = PendingDequantize{node, index};
    return success();
  }
  if (isStd && op == "MatMul" && node.input_size() == 2 && pendingDequantize_.count(node.input(1)) &&
      !pendingDequantize_.count(node.input(0))) {
    PendingDequantize dq = pendingDequantize_.at(node.input(1));
    // Another consumer of the same DequantizeLinear will dequantize it to
    // f32 if it needs the value; this MatMul reads the quantized weight.
    return QuantizedOpImporter(*this, node, index).matMulOfDequantize(dq);
  }
  // Any other use of a deferred DequantizeLinear gets its f32 value.
  for (const std::string &in : node.input())
    if (pendingDequantize_.count(in) && !values_.count(in)) {
      std::string user = node.op_type() + " node '" + node.name() + "'";
      if (failed(materializeDequantize(in, nodeLoc(node, index), user)))
        return LogicalResult(failure());
    }
  return std::nullopt;
}
