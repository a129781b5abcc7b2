//===- InstrumentLinears.cpp - observe the inputs of quantization candidates -===//
//
// The first of the two compiles of `llmc compile --calibration`: every
// candidate of llmc-quantize-weights gets an `llm.observe` of its input,
// numbered like the quantization pass numbers it (QuantCandidates.h), so
// the library built from this IR records per-linear input statistics that
// the second compile's quantizer can match up.
//
//===----------------------------------------------------------------------===//
#include "QuantCandidates.h"
#include "llmc/Transforms/Passes.h"

namespace llmc {
#define GEN_PASS_DEF_INSTRUMENTLINEARS
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {
struct InstrumentLinearsPass : public llmc::impl::InstrumentLinearsBase<InstrumentLinearsPass> {
  void runOnOperation() override {
    int64_t id = 0;
    for (llm::LinearOp op : quantcand::candidates(getOperation())) {
      OpBuilder b(op);
      llm::ObserveOp::create(b, op.getLoc(), op.getInput(), b.getI64IntegerAttr(id++),
                             b.getI64IntegerAttr(quantcand::weightShape(op).second));
    }
  }
};
} // namespace
