//===- PackSparseWeights.cpp - pruned weights to compressed llm.sparse_linear -===//
//
// A pruned weight only saves time if the kernel never touches its zeros:
// linears marked by llmc-prune-weights are compressed at compile time into
// the formats of include/llmc/SparseLayout.h (2:4 values + 2-bit positions,
// or ELLPACK rows of values + 8-bit offsets) and become llm.sparse_linear,
// which lowers to the runtime's sparse kernels. The library holds only the
// compressed form.
//
//===----------------------------------------------------------------------===//
#include "ConstantWeights.h"
#include "llmc/SparseLayout.h"
#include "llmc/Transforms/Passes.h"

#include <map>

namespace llmc {
#define GEN_PASS_DEF_PACKSPARSEWEIGHTS
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {

struct Compressed {
  Value values, indices, starts, scales;
};

struct PackSparseWeightsPass : public llmc::impl::PackSparseWeightsBase<PackSparseWeightsPass> {
  using PackSparseWeightsBase::PackSparseWeightsBase;

  void runOnOperation() override {
    if (panel < 1 || unstructuredPanel < 1) {
      getOperation().emitError("llmc-pack-sparse-weights: panel widths must be >= 1");
      return signalPassFailure();
    }
    if (bits != 32 && bits != 4) {
      getOperation().emitError("llmc-pack-sparse-weights: bits must be 32 or 4, got ") << int64_t(bits);
      return signalPassFailure();
    }
    cache.clear();
    SmallVector<llm::LinearOp> todo;
    getOperation().walk([&](llm::LinearOp op) {
      if (op->hasAttr("llmc.sparsity") && !op.isPacked() && weights::isReadableF32Constant(op.getWeight()) &&
          cast<RankedTensorType>(op.getWeight().getType()).getRank() == 2)
        todo.push_back(op);
    });
    for (llm::LinearOp op : todo)
      if (failed(pack(op)))
        return signalPassFailure();
  }

  LogicalResult pack(llm::LinearOp op) {
    auto format = op->getAttrOfType<StringAttr>("llmc.sparsity");
    if (!format || (format.getValue() != "2:4" && format.getValue() != "unstructured"))
      return op.emitError("llmc.sparsity must be \"2:4\" or \"unstructured\"");
    const bool twoFour = format.getValue() == "2:4";
    auto wt = cast<RankedTensorType>(op.getWeight().getType());
    const bool tr = op.getTransposeWeight(), gated = op.getGated();
    const int64_t k = tr ? wt.getDimSize(1) : wt.getDimSize(0);
    const int64_t cols = tr ? wt.getDimSize(0) : wt.getDimSize(1);
    const int64_t n = gated ? cols / 2 : cols;
    const int64_t nr = twoFour ? panel : unstructuredPanel;
    auto key = std::make_tuple(op.getWeight().getAsOpaquePointer(), tr, gated, twoFour);
    auto it = cache.find(key);
    if (it == cache.end()) {
      auto w = weights::readF32(op.getWeight());
      // Logical [K, cols] row-major; gated weights split into gate and up.
      std::vector<float> mats[2];
      for (int m = 0; m < (gated ? 2 : 1); ++m) {
        mats[m].resize(k * n);
        for (int64_t r = 0; r < k; ++r)
          for (int64_t c = 0; c < n; ++c)
            mats[m][r * n + c] = sparse::weightAt(w->data(), tr, r, m * n + c, k, cols);
      }
      sparse::Source src = gated ? sparse::gated(mats[0].data(), mats[1].data(), false, k, n)
                                 : sparse::single(mats[0].data(), false, k, n);
      OpBuilder b(&getContext());
      b.setInsertionPointAfterValue(op.getWeight());
      Location loc = op.getWeight().getLoc();
      auto make = [&](Type et, int64_t count, StringRef suffix, const void *data, size_t bytes) {
        return weights::createConstant(b, loc, RankedTensorType::get({count}, et),
                                       weights::nameOf(op.getWeight(), suffix),
                                       [&](void *p) { std::memcpy(p, data, bytes); });
      };
      Compressed c;
      if (twoFour && bits == 4) {
        sparse::Sparse24Q4Layout l = sparse::makeSparse24Q4Layout(k, n, nr, gated ? 2 : 1);
        std::vector<uint8_t> codes(l.numCodes());
        std::vector<uint32_t> meta(l.numMeta());
        std::vector<uint16_t> scales(l.numScales());
        std::string err = sparse::compress24q4(src, l, codes.data(), meta.data(), scales.data());
        if (!err.empty())
          return op.emitError("cannot compress as 2:4 int4: ") << err;
        c.values = make(b.getIntegerType(8, false), l.numCodes(), "sp24q4_codes", codes.data(), codes.size());
        c.indices = make(b.getI32Type(), l.numMeta(), "sp24q4_meta", meta.data(), meta.size() * 4);
        c.scales = make(b.getIntegerType(16), l.numScales(), "sp24q4_scales", scales.data(), scales.size() * 2);
      } else if (twoFour) {
        sparse::Sparse24Layout l = sparse::makeSparse24Layout(k, n, nr, gated ? 2 : 1);
        std::vector<float> values(l.numValues());
        std::vector<uint32_t> meta(l.numMeta());
        std::string err = sparse::compress24(src, l, values.data(), meta.data());
        if (!err.empty())
          return op.emitError("cannot compress as 2:4: ") << err;
        c.values = make(b.getF32Type(), l.numValues(), "sp24_values", values.data(), values.size() * 4);
        c.indices = make(b.getI32Type(), l.numMeta(), "sp24_meta", meta.data(), meta.size() * 4);
      } else {
        std::string err;
        sparse::SparseEllLayout l = sparse::makeSparseEllLayout(src, nr, &err);
        if (!err.empty())
          return op.emitError("cannot compress: ") << err;
        std::vector<float> values(l.numValues());
        std::vector<uint8_t> offsets(l.numValues());
        sparse::compressEll(src, l, values.data(), offsets.data());
        c.values = make(b.getF32Type(), l.numValues(), "ell_values", values.data(), values.size() * 4);
        c.indices = make(b.getIntegerType(8, false), l.numValues(), "ell_offsets", offsets.data(),
                         offsets.size());
        c.starts = make(b.getI32Type(), int64_t(l.starts.size()), "ell_starts", l.starts.data(),
                        l.starts.size() * 4);
      }
      it = cache.emplace(key, c).first;
    }
    const Compressed &c = it->second;
    OpBuilder b(op);
    auto s = llm::SparseLinearOp::create(b, op.getLoc(), op.getType(), op.getInput(), c.values, c.indices,
                                         c.starts, c.scales, op.getBias(), op.getResidual(), format,
                                         b.getI64IntegerAttr(nr), b.getI64IntegerAttr(c.scales ? 4 : 32),
                                         op.getRmsEpsilonAttr(), op.getGatedAttr());
    op.getResult().replaceAllUsesWith(s.getResult());
    op.erase();
    return success();
  }

  // (weight, transposed, gated, 2:4) -> compressed constants
  std::map<std::tuple<void *, bool, bool, bool>, Compressed> cache;
};
} // namespace
