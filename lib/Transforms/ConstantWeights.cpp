//===- ConstantWeights.cpp - read and create weight constants -------------===//
#include "ConstantWeights.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"

#include <cstring>

using namespace mlir;

namespace llmc::weights {

// Constants at most this many elements stay inline (readable in lit tests).
static constexpr int64_t kInlineLimit = 64;

static ElementsAttr constantAttr(Value v) {
  auto c = v ? v.getDefiningOp<arith::ConstantOp>() : arith::ConstantOp();
  if (!c)
    return {};
  return dyn_cast<ElementsAttr>(c.getValue());
}

bool isReadableF32Constant(Value v) {
  ElementsAttr attr = constantAttr(v);
  if (!attr || !attr.getShapedType().hasStaticShape() || !attr.getElementType().isF32())
    return false;
  if (auto res = dyn_cast<DenseResourceElementsAttr>(attr))
    return res.getRawHandle().getBlob() != nullptr;
  return isa<DenseElementsAttr>(attr);
}

std::optional<std::vector<float>> readF32(Value v) {
  if (!isReadableF32Constant(v))
    return std::nullopt;
  ElementsAttr attr = constantAttr(v);
  int64_t n = attr.getNumElements();
  std::vector<float> out(n);
  if (auto res = dyn_cast<DenseResourceElementsAttr>(attr)) {
    ArrayRef<char> raw = res.getRawHandle().getBlob()->getData();
    if ((int64_t)raw.size() != n * 4)
      return std::nullopt;
    std::memcpy(out.data(), raw.data(), raw.size());
    return out;
  }
  auto dense = cast<DenseElementsAttr>(attr);
  if (dense.isSplat()) {
    std::fill(out.begin(), out.end(), dense.getSplatValue<float>());
    return out;
  }
  int64_t i = 0;
  for (float f : dense.getValues<float>())
    out[i++] = f;
  return out;
}

Value createConstant(OpBuilder &b, Location loc, RankedTensorType type, StringRef nameHint,
                     const std::function<void(void *)> &fill) {
  int64_t n = type.getNumElements();
  unsigned width = type.getElementType().getIntOrFloatBitWidth() / 8;
  TypedAttr attr;
  if (n <= kInlineLimit) {
    std::vector<char> bytes(n * width, 0);
    fill(bytes.data());
    attr = DenseElementsAttr::getFromRawBuffer(type, bytes);
  } else {
    AsmResourceBlob blob = HeapAsmResourceBlob::allocate(n * width, /*align=*/64,
                                                         /*dataIsMutable=*/true);
    MutableArrayRef<char> data = blob.getMutableData();
    std::memset(data.data(), 0, data.size());
    fill(data.data());
    attr = DenseResourceElementsAttr::get(type, nameHint, std::move(blob));
  }
  return arith::ConstantOp::create(b, loc, attr);
}

std::string nameOf(Value v, StringRef suffix) {
  std::string base = "weight";
  if (ElementsAttr attr = constantAttr(v))
    if (auto res = dyn_cast<DenseResourceElementsAttr>(attr))
      base = res.getRawHandle().getKey().str();
  return base + "." + suffix.str();
}

} // namespace llmc::weights
