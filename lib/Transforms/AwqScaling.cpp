//===- AwqScaling.cpp - AWQ's per-input scales, folded into the producers -===//
//
// See AwqScaling.h. Weights are rewritten as new constants (named after the
// old ones with an "awq" suffix); the old ones die with their last use.
//
//===----------------------------------------------------------------------===//
#include "AwqScaling.h"

#include "ConstantWeights.h"
#include "QuantCandidates.h"

#include "llmc/Dialect/ONNX/ONNXDialect.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/DenseMap.h"

using namespace mlir;
using namespace llmc;

namespace {

/// Where 1 / s goes.
struct Producer {
  llm::RMSNormOp norm;  // gain / s
  llm::LinearOp gated;  // up columns / s
};

/// A constant like `old` whose logical element (k, n) of a [K, N] weight
/// (stored [N, K] if `transposed`) is multiplied by factor(k, n).
Value rescaled(OpBuilder &b, Location loc, Value old, bool transposed,
               llvm::function_ref<float(int64_t k, int64_t n)> factor) {
  auto type = cast<RankedTensorType>(old.getType());
  auto data = weights::readF32(old);
  const int64_t rows = type.getDimSize(0), cols = type.getRank() == 2 ? type.getDimSize(1) : 1;
  return weights::createConstant(b, loc, type, weights::nameOf(old, "awq"), [&](void *p) {
    float *out = static_cast<float *>(p);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        out[r * cols + c] = (*data)[r * cols + c] * (transposed ? factor(c, r) : factor(r, c));
  });
}

} // namespace

LogicalResult awqfold::applyScales(ArrayRef<llm::LinearOp> candidates, calib::Reader &stats,
                                   function_ref<std::optional<quant::Scheme>(size_t)> schemeOf,
                                   const awq::Options &options, std::vector<Choice> &choices) {
  choices.assign(candidates.size(), Choice());
  llvm::DenseMap<Operation *, size_t> index;
  for (size_t i = 0; i < candidates.size(); ++i)
    index[candidates[i]] = i;
  std::vector<bool> done(candidates.size(), false);

  for (size_t i = 0; i < candidates.size(); ++i) {
    if (done[i])
      continue;
    llm::LinearOp op = candidates[i];
    std::optional<quant::Scheme> scheme = schemeOf(i);
    if (!scheme) {
      choices[i].note = "awq: not scaled (the LM head keeps its tie to the embedding table; f32 layers need no scales)";
      continue;
    }
    auto [K, N] = quantcand::weightShape(op);
    // The linears that share the input and where 1 / s goes.
    SmallVector<size_t> group;
    Producer prod;
    std::string why;
    Value x = op.getInput();
    if (auto norm = x.getDefiningOp<llm::RMSNormOp>()) {
      auto gain = cast<RankedTensorType>(norm.getWeight().getType());
      if (!weights::isReadableF32Constant(norm.getWeight()) || gain.getRank() != 1 || gain.getDimSize(0) != K)
        why = "the RMSNorm gain is not a constant of K values";
      for (OpOperand &use : norm.getResult().getUses()) {
        if (isa<onnx::ShapeOp, tensor::DimOp>(use.getOwner()))
          continue; // reads only the shape, which scaling keeps
        auto lin = dyn_cast<llm::LinearOp>(use.getOwner());
        auto it = lin ? index.find(lin) : index.end();
        if (it == index.end() || use.getOperandNumber() != 0 || done[it->second]) {
          why = "the RMSNorm output is also read by " + use.getOwner()->getName().getStringRef().str();
          break;
        }
        std::optional<quant::Scheme> s = schemeOf(it->second);
        if (!s || s->bits != scheme->bits || s->group != scheme->group || s->symmetric != scheme->symmetric) {
          why = "the linears reading the RMSNorm output are not all quantized alike";
          break;
        }
        group.push_back(it->second);
      }
      prod.norm = norm;
    } else if (auto g = x.getDefiningOp<llm::LinearOp>()) {
      if (!g.getGated() || g.getBias() || g.getResidual() || !g.getResult().hasOneUse() ||
          !weights::isReadableF32Constant(g.getWeight()) ||
          cast<RankedTensorType>(g.getWeight().getType()).getRank() != 2 ||
          cast<RankedTensorType>(g.getType()).getShape().back() != K)
        why = "the input comes from a linear that is not a plain gated (SwiGLU) one used only here";
      group.push_back(i);
      prod.gated = g;
    } else {
      why = "the input does not come from an RMSNorm or a gated (SwiGLU) linear";
    }
    if (!why.empty()) {
      choices[i].note = "awq: rounded to nearest, " + why;
      continue;
    }

    // The search, on the statistics of the group's input.
    const calib::EntryInfo &e = stats.entries()[group.front()];
    std::vector<double> H;
    if (e.tokens <= 0)
      return op.emitError("llmc-quantize-weights: linear ") << group.front() << " never ran during calibration";
    if (!stats.readGram(group.front(), H))
      return op.emitError("llmc-quantize-weights: cannot read the calibration statistics of linear ")
             << group.front();
    std::vector<std::vector<float>> data;
    std::vector<awq::WeightRef> refs;
    data.reserve(group.size());
    for (size_t m : group) {
      llm::LinearOp lin = candidates[m];
      data.push_back(*weights::readF32(lin.getWeight()));
      refs.push_back({data.back().data(), lin.getTransposeWeight(), quantcand::weightShape(lin).second});
    }
    awq::Result res;
    if (std::string err = awq::searchScales(refs, K, H.data(), e.tokens, *scheme, options, res); !err.empty())
      return op.emitError("llmc-quantize-weights: AWQ: ") << err;
    const std::vector<float> &s = res.scales;

    // Fold: W' = diag(s) W for the group, 1 / s into the producer.
    for (size_t m : group) {
      llm::LinearOp lin = candidates[m];
      OpBuilder b(lin);
      lin.getWeightMutable().assign(rescaled(b, lin.getLoc(), lin.getWeight(), lin.getTransposeWeight(),
                                             [&](int64_t k, int64_t) { return s[k]; }));
      choices[m] = Choice{s, res.alpha, res.error, res.rtnError, ""};
      done[m] = true;
    }
    if (prod.norm) {
      OpBuilder b(prod.norm);
      prod.norm.getWeightMutable().assign(rescaled(b, prod.norm.getLoc(), prod.norm.getWeight(), false,
                                                   [&](int64_t k, int64_t) { return 1.f / s[k]; }));
    } else {
      // Logical columns [0, n) are the gate, [n, 2n) the up projection.
      const int64_t n = cast<RankedTensorType>(prod.gated.getType()).getShape().back();
      OpBuilder b(prod.gated);
      prod.gated.getWeightMutable().assign(
          rescaled(b, prod.gated.getLoc(), prod.gated.getWeight(), prod.gated.getTransposeWeight(),
                   [&](int64_t, int64_t c) { return c >= n ? 1.f / s[c - n] : 1.f; }));
    }
  }
  return success();
}
