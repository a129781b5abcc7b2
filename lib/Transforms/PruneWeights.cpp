//===- PruneWeights.cpp - magnitude / Wanda pruning to 2:4 or unstructured ---===//
//
// Zeroing half the weights of a linear layer halves the bytes and
// multiply-adds a sparse kernel needs (llmc-pack-sparse-weights lowers the
// marked layers to them). Which half: the weights with the smallest score
// per output column, within every block of 4 consecutive k (2:4) or over
// the whole column (unstructured), as in SparseLayout.h's reference rules.
//
// The pass runs before llmc-fuse-rms-norm (where llmc-quantize-weights
// runs), so a layer's input is still the normalized activation the model
// defines. Wanda (Sun et al. 2023) scores |w[k, n]| * ||x_k||_2 over
// calibration tokens, the same ranking whether or not the RMSNorm gain g is
// folded (|g w| ||x/g|| = |w| ||x||). Magnitude scores |w[k, n]| as stored;
// `norm-gain` scores the folded g[k] w[k, n] instead, which measured much
// worse on SmolLM2 (its small gains sit on the channels with huge inputs).
//
//===----------------------------------------------------------------------===//
#include "ConstantWeights.h"
#include "llmc/CalibrationStats.h"
#include "llmc/SparseLayout.h"
#include "llmc/Transforms/Passes.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cmath>
#include <map>

namespace llmc {
#define GEN_PASS_DEF_PRUNEWEIGHTS
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {

/// True if `op` produces the function's `logits` result.
bool feedsLogits(llm::LinearOp op) {
  auto fn = op->getParentOfType<func::FuncOp>();
  for (OpOperand &use : op.getResult().getUses())
    if (isa<func::ReturnOp>(use.getOwner()))
      if (auto name = fn.getResultAttrOfType<StringAttr>(use.getOperandNumber(), "llmc.name"))
        if (name.getValue() == "logits")
          return true;
  return false;
}

/// Per-linear input statistics (docs/Sparsity.md): the binary file of
/// `llmc compile --calibration`, or text: a first line
/// "llmc-input-stats 1", then one record per line, "<key> <K> <K values>",
/// the values being sum over calibration tokens of x_k^2 (the diagonal of
/// X^T X). Keys: "linear.<i>" (the i-th constant linear in walk order) or
/// the name of a weight constant.
struct InputStats {
  std::map<std::string, std::vector<double>> records;

  static LogicalResult load(StringRef path, Operation *where, InputStats &out) {
    calib::Reader reader;
    if (reader.open(path.str()).empty())
      return loadCalibration(reader, path, where, out);
    auto buf = llvm::MemoryBuffer::getFile(path);
    if (!buf)
      return where->emitError("llmc-prune-weights: cannot read input statistics '")
             << path << "': " << buf.getError().message();
    SmallVector<StringRef> lines;
    (*buf)->getBuffer().split(lines, '\n');
    if (lines.empty() || lines[0].trim() != "llmc-input-stats 1")
      return where->emitError("llmc-prune-weights: '") << path << "' does not start with 'llmc-input-stats 1'";
    for (size_t i = 1; i < lines.size(); ++i) {
      SmallVector<StringRef> tok;
      llvm::SplitString(lines[i], tok);
      if (tok.empty())
        continue;
      int64_t k;
      if (tok.size() < 2 || tok[1].getAsInteger(10, k) || k < 0 || int64_t(tok.size()) != k + 2)
        return where->emitError("llmc-prune-weights: ") << path << ":" << i + 1
                                                        << ": expected '<key> <K> <K numbers>'";
      std::vector<double> v(k);
      for (int64_t j = 0; j < k; ++j)
        if (tok[j + 2].getAsDouble(v[j]) || !(v[j] >= 0) || !std::isfinite(v[j]))
          return where->emitError("llmc-prune-weights: ") << path << ":" << i + 1 << ": value " << j
                                                          << " is not a finite number >= 0";
      out.records[tok[0].str()] = std::move(v);
    }
    return success();
  }

  /// The statistics `llmc compile --calibration` collects (GPTQ's Gram
  /// matrices, include/llmc/CalibrationStats.h): entry i is linear i, and
  /// only the diagonal of its H is read.
  static LogicalResult loadCalibration(calib::Reader &reader, StringRef path, Operation *where,
                                       InputStats &out) {
    std::FILE *f = std::fopen(path.str().c_str(), "rb");
    if (!f)
      return where->emitError("llmc-prune-weights: cannot read '") << path << "'";
    for (size_t i = 0; i < reader.entries().size(); ++i) {
      const calib::EntryInfo &e = reader.entries()[i];
      if (e.K == 0)
        continue; // the linear never ran
      std::vector<double> diag(e.K);
      for (int64_t r = 0; r < e.K; ++r) {
        // H[r][r] is element r*K - r(r-1)/2 of the row-major upper triangle.
        int64_t at = e.offset + (r * e.K - r * (r - 1) / 2) * int64_t(sizeof(double));
        if (std::fseek(f, long(at), SEEK_SET) != 0 || std::fread(&diag[r], sizeof(double), 1, f) != 1) {
          std::fclose(f);
          return where->emitError("llmc-prune-weights: '") << path << "' is truncated";
        }
      }
      out.records["linear." + std::to_string(i)] = std::move(diag);
    }
    std::fclose(f);
    return success();
  }

  /// The record of linear `index` whose weight constant is named `name`:
  /// by index, else by name or a prefix of it that ends before a '.'
  /// (fused and folded weights are named "<original>.<suffix>").
  const std::vector<double> *find(int64_t index, StringRef name) const {
    auto it = records.find("linear." + std::to_string(index));
    if (it != records.end())
      return &it->second;
    for (StringRef n = name; !n.empty();) {
      it = records.find(n.str());
      if (it != records.end())
        return &it->second;
      size_t dot = n.rfind('.');
      n = dot == StringRef::npos ? StringRef() : n.take_front(dot);
    }
    return nullptr;
  }
};

struct PruneWeightsPass : public llmc::impl::PruneWeightsBase<PruneWeightsPass> {
  using PruneWeightsBase::PruneWeightsBase;

  void runOnOperation() override {
    Operation *fn = getOperation();
    cache.clear();
    inputStats.records.clear();
    if (pattern != "2:4" && pattern != "unstructured") {
      fn->emitError("llmc-prune-weights: pattern must be 2:4 or unstructured, got '") << pattern << "'";
      return signalPassFailure();
    }
    if (!(sparsity >= 0.0 && sparsity < 1.0)) {
      fn->emitError("llmc-prune-weights: sparsity must be in [0, 1), got ") << sparsity;
      return signalPassFailure();
    }
    if (method != "magnitude" && method != "wanda") {
      fn->emitError("llmc-prune-weights: method must be magnitude or wanda, got '") << method << "'";
      return signalPassFailure();
    }
    const bool wanda = method == "wanda";
    if (wanda && stats.empty()) {
      fn->emitError("llmc-prune-weights: method=wanda needs input statistics (stats=FILE)");
      return signalPassFailure();
    }
    if (wanda && failed(InputStats::load(stats, fn, inputStats)))
      return signalPassFailure();

    SmallVector<std::pair<llm::LinearOp, int64_t>> todo;
    int64_t index = 0;
    fn->walk([&](llm::LinearOp op) {
      if (op.isPacked() || !weights::isReadableF32Constant(op.getWeight()) ||
          cast<RankedTensorType>(op.getWeight().getType()).getRank() != 2)
        return;
      int64_t i = index++;
      if (!pruneLmHead && feedsLogits(op))
        return;
      todo.push_back({op, i});
    });
    for (auto [op, i] : todo)
      if (failed(prune(op, i, wanda)))
        return signalPassFailure();
  }

  /// The weight constant's name (its resource key).
  static std::string weightName(Value w) {
    std::string n = weights::nameOf(w, "");
    n.pop_back(); // nameOf appends "." + suffix
    return n;
  }

  LogicalResult prune(llm::LinearOp op, int64_t index, bool wanda) {
    auto wt = cast<RankedTensorType>(op.getWeight().getType());
    const bool tr = op.getTransposeWeight();
    const int64_t k = tr ? wt.getDimSize(1) : wt.getDimSize(0);
    const int64_t cols = tr ? wt.getDimSize(0) : wt.getDimSize(1);
    const bool twoFour = pattern == "2:4";
    if (twoFour && k % 4 != 0) {
      op.emitWarning("left dense: 2:4 sparsity needs K (") << k << ") to be a multiple of 4";
      return success();
    }
    // Per-k factor of the score |w[k, n]| * scale[k].
    std::vector<float> scale(k, 1.f);
    if (wanda) {
      const std::vector<double> *rec = inputStats.find(index, weightName(op.getWeight()));
      if (!rec)
        return op.emitError("llmc-prune-weights: no input statistics for linear ")
               << index << " (weight '" << weightName(op.getWeight()) << "')";
      if (int64_t(rec->size()) != k)
        return op.emitError("llmc-prune-weights: input statistics of linear ")
               << index << " have " << rec->size() << " values, the layer has K=" << k;
      for (int64_t i = 0; i < k; ++i)
        scale[i] = float(std::sqrt((*rec)[i]));
    } else if (normGain) {
      if (auto norm = op.getInput().getDefiningOp<llm::RMSNormOp>())
        if (auto g = weights::readF32(norm.getWeight()); g && int64_t(g->size()) == k)
          for (int64_t i = 0; i < k; ++i)
            scale[i] = std::fabs((*g)[i]);
    }
    auto key = std::make_pair(op.getWeight().getAsOpaquePointer(), scale);
    Value pruned = cache[key];
    if (!pruned) {
      auto w = weights::readF32(op.getWeight());
      std::vector<float> lw(k * cols); // logical [K, cols]
      for (int64_t r = 0; r < k; ++r)
        for (int64_t c = 0; c < cols; ++c)
          lw[r * cols + c] = sparse::weightAt(w->data(), tr, r, c, k, cols);
      std::vector<float> orig = lw;
      auto score = [&](int64_t r, int64_t c) { return std::fabs(orig[r * cols + c]) * scale[r]; };
      if (twoFour)
        sparse::prune24(lw.data(), k, cols, score);
      else
        sparse::pruneUnstructured(lw.data(), k, cols, sparsity, score);
      OpBuilder b(&getContext());
      b.setInsertionPointAfterValue(op.getWeight());
      pruned = weights::createConstant(b, op.getWeight().getLoc(), wt, weights::nameOf(op.getWeight(), "pruned"),
                                       [&](void *p) {
                                         float *out = static_cast<float *>(p);
                                         for (int64_t r = 0; r < k; ++r)
                                           for (int64_t c = 0; c < cols; ++c)
                                             out[tr ? c * k + r : r * cols + c] = lw[r * cols + c];
                                       });
      cache[key] = pruned;
    }
    op.getWeightMutable().assign(pruned);
    op->setAttr("llmc.sparsity", StringAttr::get(&getContext(), twoFour ? "2:4" : "unstructured"));
    return success();
  }

  InputStats inputStats;
  // (weight, score factors) -> pruned constant: a weight read by several
  // linears with the same scores is pruned and stored once.
  std::map<std::pair<void *, std::vector<float>>, Value> cache;
};
} // namespace
