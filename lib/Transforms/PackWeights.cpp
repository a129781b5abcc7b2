//===- PackWeights.cpp - compile-time weight packing (layout specialization)
//
// GEMM/GEMV kernels stream weights panel by panel (include/llmc/
// PackedLayout.h). Packing at compile time means the library holds the
// weights exactly as the kernel reads them: no repacking at load time and
// no strided access at run time. The panel width matches the target's
// vector width (chosen by the driver).
//
//===----------------------------------------------------------------------===//
#include "ConstantWeights.h"
#include "llmc/PackedLayout.h"
#include "llmc/Transforms/Passes.h"

#include "llvm/ADT/DenseMap.h"

namespace llmc {
#define GEN_PASS_DEF_PACKWEIGHTS
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {

struct PackWeightsPass : public llmc::impl::PackWeightsBase<PackWeightsPass> {
  using PackWeightsBase::PackWeightsBase;

  void runOnOperation() override {
    if (precision != "f32" && precision != "bf16") {
      getOperation().emitError("llmc-pack-weights: precision must be f32 or bf16, got '")
          << precision << "'";
      return signalPassFailure();
    }
    if (panel < 1) {
      getOperation().emitError("llmc-pack-weights: panel must be >= 1");
      return signalPassFailure();
    }
    bool bf16 = precision == "bf16";
    // (weight, transposed, gated) -> packed constant, so a weight used by
    // several linears (e.g. both branches of a guard) is packed once.
    DenseMap<std::pair<Value, unsigned>, Value> packedOf;
    getOperation().walk([&](llm::LinearOp op) {
      if (op.isPacked() || !weights::isReadableF32Constant(op.getWeight()))
        return;
      auto wt = cast<RankedTensorType>(op.getWeight().getType());
      if (wt.getRank() != 2)
        return;
      bool tr = op.getTransposeWeight(), gated = op.getGated();
      int64_t k = tr ? wt.getDimSize(1) : wt.getDimSize(0);
      int64_t cols = tr ? wt.getDimSize(0) : wt.getDimSize(1);
      int64_t n = gated ? cols / 2 : cols;
      auto key = std::make_pair(op.getWeight(), unsigned(tr) * 2 + unsigned(gated));
      Value packed = packedOf.lookup(key);
      if (!packed) {
        auto w = weights::readF32(op.getWeight());
        int64_t elems = (gated ? 2 : 1) * (bf16 ? packed::packedSizeBF16(k, n, panel)
                                                : packed::packedSizeF32(k, n, panel));
        Type et = bf16 ? Type(BFloat16Type::get(&getContext())) : Type(Float32Type::get(&getContext()));
        // The constant sits right after the original weight constant so it
        // dominates every linear that reads that weight.
        OpBuilder b(&getContext());
        b.setInsertionPointAfterValue(op.getWeight());
        packed = weights::createConstant(
            b, op.getWeight().getLoc(), RankedTensorType::get({elems}, et),
            weights::nameOf(op.getWeight(), bf16 ? "packed_bf16" : "packed"), [&](void *p) {
              const float *src = w->data();
              if (!gated) {
                if (bf16)
                  packed::packBF16(src, tr, k, n, panel, static_cast<uint16_t *>(p));
                else
                  packed::packF32(src, tr, k, n, panel, static_cast<float *>(p));
                return;
              }
              // Gated weights are [K, 2N] (gate | up) after llmc-fuse-gate-up;
              // split them into the two halves the gated layout interleaves.
              std::vector<float> gate(k * n), up(k * n);
              for (int64_t r = 0; r < k; ++r)
                for (int64_t c = 0; c < n; ++c) {
                  gate[r * n + c] = packed::weightAt(src, tr, r, c, k, 2 * n);
                  up[r * n + c] = packed::weightAt(src, tr, r, n + c, k, 2 * n);
                }
              if (bf16)
                packed::packGatedBF16(gate.data(), up.data(), false, k, n, panel,
                                      static_cast<uint16_t *>(p));
              else
                packed::packGatedF32(gate.data(), up.data(), false, k, n, panel,
                                     static_cast<float *>(p));
            });
        packedOf[key] = packed;
      }
      op.getWeightMutable().assign(packed);
      op.setTransposeWeight(false);
      op.setPackedPanelAttr(IntegerAttr::get(IntegerType::get(&getContext(), 64), panel));
    });
  }
};
} // namespace
