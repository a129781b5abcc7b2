//===- QuantizeWeights.cpp - int8/int4 weights at compile time ------------===//
//
// Decode streams every weight byte once per token, so bytes per weight set
// its speed: int8 reads 4x and int4 8x fewer bytes than f32. Constant
// linear weights are quantized (include/llmc/QuantLayout.h) into the panel
// layout the runtime's quantized kernels read; the fused prologue/epilogues
// of the linear carry over.
//
// Methods: round to nearest, GPTQ (include/llmc/Gptq.h) or AWQ
// (include/llmc/Awq.h, AwqScaling.h: per-input scales folded into the
// producers, then round to nearest with the clip search), from the input
// statistics of an instrumented run (include/llmc/CalibrationStats.h),
// matched to the linears by their number among the candidates
// (QuantCandidates.h) and checked by shape.
//
// Mixed precision: the layer producing `logits` (the most sensitive one)
// can get its own scheme or stay f32 (`lm-head`, `keep-lm-head`), and the
// embedding table can be quantized too (`embedding`): it becomes an
// llm.quantized_embedding over W = table^T, which is the LM head's layout,
// so a tied table (head weight == table^T, same scheme) is stored once.
// Every choice goes to the `report` (JSON).
//
// Int8 activations (`act-bits=8`): quantized linears also get act_bits = 8,
// so their inputs are quantized at run time and multiplied in int8
// (runtime/kernels/W8A8Linear.cpp): int8 weights per token (W8A8), int4
// weights per token and block of 32 k (W4A8, whose groups must be whole
// blocks: a main scheme that is not is an error, an int4 LM head of a W8A8
// compile with such a group stays weight-only). The weights are quantized as
// usual.
//
//===----------------------------------------------------------------------===//
#include "AwqScaling.h"
#include "ConstantWeights.h"
#include "QuantCandidates.h"
#include "llmc/CalibrationStats.h"
#include "llmc/Gptq.h"
#include "llmc/QuantLayout.h"
#include "llmc/Transforms/Passes.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>
#include <memory>
#include <optional>

namespace llmc {
#define GEN_PASS_DEF_QUANTIZEWEIGHTS
#include "llmc/Transforms/Passes.h.inc"
} // namespace llmc

using namespace mlir;
using namespace llmc;

namespace {

/// "f32" (bits 0), "int8" or "int4"; nullopt if unknown.
std::optional<int> parseChoice(StringRef s) {
  if (s == "f32")
    return 0;
  if (s == "int8")
    return 8;
  if (s == "int4")
    return 4;
  return std::nullopt;
}

std::string schemeName(const quant::Scheme &s) {
  return "int" + std::to_string(s.bits) + (s.group ? "-g" + std::to_string(s.group) : "-channel") +
         (s.symmetric ? "-sym" : "-asym");
}

/// The resource name of a weight constant, without suffix.
std::string baseName(Value v) {
  std::string n = weights::nameOf(v, "");
  return n.substr(0, n.size() - 1);
}

/// A quantized weight's constants.
struct QuantizedTensor {
  quant::Layout layout;
  Value codes, scales, zeros;
};

struct ReportEntry {
  std::string name, kind, scheme, method, note, sharedWith;
  int64_t K = 0, N = 0, bytes = 0;
  std::optional<double> error, rtnError, awqAlpha;
};

struct QuantizeWeightsPass : public llmc::impl::QuantizeWeightsBase<QuantizeWeightsPass> {
  using QuantizeWeightsBase::QuantizeWeightsBase;

  std::shared_ptr<calib::Reader> stats; // per run (shared_ptr: passes are copyable)
  std::vector<ReportEntry> choices;
  // The quantized LM head, for a tied embedding table to share.
  std::optional<QuantizedTensor> head;
  std::vector<float> headWeight; // logical [K, N], row-major
  std::string headName;
  std::vector<awqfold::Choice> awqChoices; // method=awq: per candidate

  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    choices.clear();
    stats.reset();
    head.reset();
    auto fail = [&](const Twine &msg) {
      fn.emitError("llmc-quantize-weights: ") << msg;
      signalPassFailure();
    };
    quant::Scheme scheme{int(bits), group, symmetric};
    if (std::string e = quant::validate(scheme); !e.empty())
      return fail(e);
    std::optional<int> headBits = lmHead.empty() ? std::optional<int>(int(bits)) : parseChoice(lmHead);
    std::optional<int> embBits = parseChoice(embedding);
    if (!headBits || !embBits)
      return fail("lm-head and embedding must be f32, int8 or int4 (got '" + lmHead + "', '" + embedding + "')");
    if (keepLmHead) {
      if (!lmHead.empty() && *headBits != 0)
        return fail("keep-lm-head contradicts lm-head=" + lmHead);
      headBits = 0;
    }
    if (actBits != 0 && actBits != 8)
      return fail("act-bits must be 0 (f32 activations) or 8, got " + Twine(int64_t(actBits)));
    if (actBits == 8 && bits == 4)
      if (std::string e = quant::w4a8Unsupported(scheme); !e.empty())
        return fail("act-bits=8 with int4 weights (W4A8): " + e);
    if (method != "rtn" && method != "gptq" && method != "awq")
      return fail("unknown method '" + method + "' (rtn, gptq or awq)");
    if ((method == "gptq" || method == "awq") && calibration.empty())
      return fail("method=" + method + " needs calibration statistics (llmc compile --calibration=FILE)");

    SmallVector<llm::LinearOp> cands = quantcand::candidates(fn);
    if (!calibration.empty() && !cands.empty()) {
      stats = std::make_shared<calib::Reader>();
      if (std::string e = stats->open(calibration); !e.empty())
        return fail(e);
      const auto &entries = stats->entries();
      if (entries.size() != cands.size())
        return fail(Twine("the calibration statistics describe ") + Twine(entries.size()) +
                    " linears, this compile has " + Twine(cands.size()) +
                    " (were they collected from the same model with the same --disable options?)");
      for (size_t i = 0; i < cands.size(); ++i) {
        auto [K, N] = quantcand::weightShape(cands[i]);
        if (entries[i].K != 0 && (entries[i].K != K || entries[i].N != N)) { // K 0: never ran
          cands[i].emitError("llmc-quantize-weights: calibration statistics of linear ")
              << i << " are for K x N = " << entries[i].K << " x " << entries[i].N << ", this linear is " << K
              << " x " << N;
          return signalPassFailure();
        }
      }
    }
    auto schemeOf = [&](size_t i) {
      quant::Scheme s = scheme;
      s.bits = quantcand::feedsLogits(cands[i]) ? *headBits : int(bits);
      return s;
    };
    awqChoices.clear();
    if (method == "awq" && !cands.empty()) {
      // All scales first: a down projection's 1 / s goes into the gated
      // linear before it, which must be quantized after that.
      auto awqScheme = [&](size_t i) -> std::optional<quant::Scheme> {
        quant::Scheme s = schemeOf(i);
        if (quantcand::feedsLogits(cands[i]) || staysF32(cands[i]))
          return std::nullopt;
        return s;
      };
      if (failed(awqfold::applyScales(cands, *stats, awqScheme, awq::Options(), awqChoices)))
        return signalPassFailure();
    }
    for (size_t i = 0; i < cands.size(); ++i) {
      llm::LinearOp op = cands[i];
      if (failed(quantize(op, i, schemeOf(i), quantcand::feedsLogits(op))))
        return signalPassFailure();
    }
    quant::Scheme embScheme = scheme;
    embScheme.bits = *embBits;
    SmallVector<llm::EmbeddingOp> embs;
    fn.walk([&](llm::EmbeddingOp op) { embs.push_back(op); });
    for (llm::EmbeddingOp op : embs)
      if (failed(quantizeEmbedding(op, embScheme)))
        return signalPassFailure();
    if (!choices.empty() && !report.getValue().empty())
      if (failed(writeReport()))
        return signalPassFailure();
    stats.reset();
    head.reset();
    headWeight = {};
  }

  /// The gated quantized kernel pairs whole panels: other gated layers stay f32.
  bool staysF32(llm::LinearOp op) {
    auto [k, cols] = quantcand::weightShape(op);
    return op.getGated() && (cols / 2) % panel != 0;
  }

  OpBuilder entryBuilder() {
    OpBuilder b(&getContext());
    b.setInsertionPointToStart(&getOperation().front());
    return b;
  }

  QuantizedTensor createConstants(Location loc, const quant::Layout &l, Value namedAfter,
                                  const std::vector<uint8_t> &codes, const std::vector<uint16_t> &scales,
                                  const std::vector<uint8_t> &zeros) {
    OpBuilder b = entryBuilder();
    auto bytesConst = [&](ArrayRef<uint8_t> data, StringRef suffix) {
      auto t = RankedTensorType::get({(int64_t)data.size()}, b.getIntegerType(8, false));
      return weights::createConstant(b, loc, t, weights::nameOf(namedAfter, suffix),
                                     [&](void *p) { std::memcpy(p, data.data(), data.size()); });
    };
    QuantizedTensor q{l, bytesConst(codes, "codes"), Value(), Value()};
    auto st = RankedTensorType::get({(int64_t)scales.size()}, b.getIntegerType(16));
    q.scales = weights::createConstant(b, loc, st, weights::nameOf(namedAfter, "scales"), [&](void *p) {
      std::memcpy(p, scales.data(), scales.size() * 2);
    });
    if (!l.scheme.symmetric)
      q.zeros = bytesConst(zeros, "zeros");
    return q;
  }

  LogicalResult quantize(llm::LinearOp op, size_t id, const quant::Scheme &scheme, bool isHead) {
    auto [k, cols] = quantcand::weightShape(op);
    bool tr = op.getTransposeWeight();
    ReportEntry r;
    r.name = baseName(op.getWeight());
    r.kind = isHead ? "lm_head" : "linear";
    r.K = k;
    r.N = cols;
    int64_t nr = panel;
    if (scheme.bits == 0 || staysF32(op)) {
      // The gated quantized kernel pairs whole panels; such layers stay f32.
      r.scheme = "f32";
      r.method = "none";
      r.bytes = k * cols * 4;
      if (scheme.bits != 0)
        r.note = "gated width is not a multiple of the panel";
      choices.push_back(r);
      return success();
    }
    std::string error;
    quant::Layout l = quant::makeLayout(scheme, k, cols, nr, &error);
    if (!error.empty())
      return op.emitError("cannot quantize: ") << error;
    auto w = weights::readF32(op.getWeight());
    std::vector<uint8_t> codes(l.codeBytes()), zeros(l.numParams());
    std::vector<uint16_t> scales(l.numParams());
    uint8_t *zp = scheme.symmetric ? nullptr : zeros.data();
    std::vector<double> H;
    bool haveH = stats && stats->entries()[id].tokens > 0;
    if (method != "rtn" && !haveH)
      return op.emitError("llmc-quantize-weights: linear ") << id << " never ran during calibration";
    if (haveH && !stats->readGram(id, H))
      return op.emitError("llmc-quantize-weights: cannot read the calibration statistics of linear ") << id;
    // RTN's quantization too, for comparison in the report (GPTQ only).
    std::vector<uint8_t> rc, rz;
    std::vector<uint16_t> rs;
    const bool awqScaled = method == "awq" && !awqChoices[id].scales.empty();
    if (method == "awq") {
      error = quantizeAwq(awqChoices[id], w->data(), tr, l, H, codes.data(), scales.data(), zp, r);
    } else if (method == "gptq") {
      gptq::Options go;
      go.actOrder = actOrder;
      go.clipSearch = clipSearch;
      go.dampFraction = damp;
      error = gptq::quantize(w->data(), tr, H.data(), l, go, codes.data(), scales.data(), zp);
      if (error.empty()) {
        rc.resize(l.codeBytes());
        rz.resize(l.numParams());
        rs.resize(l.numParams());
        error = quant::quantizeRTN(w->data(), tr, l, rc.data(), rs.data(), scheme.symmetric ? nullptr : rz.data());
      }
    } else {
      error = quant::quantizeRTN(w->data(), tr, l, codes.data(), scales.data(), zp);
    }
    if (!error.empty())
      return op.emitError("cannot quantize: ") << error;
    if (haveH) {
      std::vector<gptq::QuantizedView> views{{codes.data(), scales.data(), zeros.data()}};
      if (!rc.empty())
        views.push_back({rc.data(), rs.data(), rz.data()});
      std::vector<double> e = gptq::relativeOutputErrors(w->data(), tr, H.data(), l, views);
      r.error = e[0];
      if (e.size() > 1)
        r.rtnError = e[1];
    }
    // Int8 activations where asked and a kernel takes the scheme.
    const bool a8 = actBits == 8 && (scheme.bits == 8 || quant::w4a8Unsupported(scheme).empty());
    if (actBits == 8 && !a8)
      r.note = "weight-only: " + quant::w4a8Unsupported(scheme);
    r.scheme = schemeName(scheme) + (a8 ? "-a8" : "");
    r.method = method == "awq" && !awqScaled ? "rtn" : method.getValue();
    r.bytes = l.totalBytes();
    QuantizedTensor q = createConstants(op.getLoc(), l, op.getWeight(), codes, scales, zeros);
    if (isHead && !op.getGated()) {
      head = q;
      headName = r.name;
      headWeight.resize(size_t(k * cols));
      for (int64_t kk = 0; kk < k; ++kk)
        for (int64_t nn = 0; nn < cols; ++nn)
          headWeight[kk * cols + nn] = quant::weightAt(w->data(), tr, kk, nn, k, cols);
    }
    choices.push_back(r);
    OpBuilder b(op);
    auto qop = llm::QuantizedLinearOp::create(
        b, op.getLoc(), op.getType(), op.getInput(), q.codes, q.scales, q.zeros, op.getBias(),
        op.getResidual(), b.getI64IntegerAttr(scheme.bits), b.getI64IntegerAttr(scheme.group),
        b.getI64IntegerAttr(nr), b.getBoolAttr(scheme.symmetric), op.getRmsEpsilonAttr(), op.getGatedAttr(),
        b.getI64IntegerAttr(a8 ? 8 : 0));
    op.getResult().replaceAllUsesWith(qop.getResult());
    op.erase();
    return success();
  }

  /// AWQ's quantization of a weight `w` that applyScales may have scaled to
  /// diag(s) W: RTN with the clip search (`clip-search`) under the energies
  /// of its inputs. A scaled weight reads x / s, so H becomes
  /// H_ij / (s_i s_j) (in place, for the report's error); the report also
  /// gets alpha and the error of plain RTN of the unscaled W on the old H.
  std::string quantizeAwq(const awqfold::Choice &c, const float *w, bool tr, const quant::Layout &l,
                          std::vector<double> &H, uint8_t *codes, uint16_t *scales, uint8_t *zeros, ReportEntry &r) {
    const int64_t k = l.K, cols = l.N;
    const std::vector<float> &s = c.scales;
    std::vector<double> Horig;
    if (!s.empty()) {
      Horig = H;
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < k; ++j)
          H[i * k + j] /= double(s[i]) * double(s[j]);
    }
    if (!c.note.empty())
      r.note = c.note;
    std::vector<double> energy(k);
    for (int64_t i = 0; i < k; ++i)
      energy[i] = std::max(0.0, H[i * k + i]);
    std::string error = clipSearch ? gptq::quantizeClipped(w, tr, energy.data(), l, codes, scales, zeros)
                                   : quant::quantizeRTN(w, tr, l, codes, scales, zeros);
    if (!error.empty() || s.empty())
      return error;
    r.awqAlpha = c.alpha;
    std::vector<float> orig(size_t(k * cols));
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t nn = 0; nn < cols; ++nn) {
        int64_t at = tr ? nn * k + kk : kk * cols + nn;
        orig[at] = w[at] / s[kk];
      }
    std::vector<uint8_t> oc(l.codeBytes()), oz(l.numParams());
    std::vector<uint16_t> os(l.numParams());
    error = quant::quantizeRTN(orig.data(), tr, l, oc.data(), os.data(), l.scheme.symmetric ? nullptr : oz.data());
    if (error.empty())
      r.rtnError = gptq::relativeOutputErrors(orig.data(), tr, Horig.data(), l, {{oc.data(), os.data(), oz.data()}})[0];
    return error;
  }

  /// The table [V, E] as W = table^T ([E, V]); shares the head's tensors
  /// when the head's weight is exactly W and was quantized the same way.
  LogicalResult quantizeEmbedding(llm::EmbeddingOp op, const quant::Scheme &scheme) {
    auto tt = cast<RankedTensorType>(op.getTable().getType());
    if (!weights::isReadableF32Constant(op.getTable()) || tt.getRank() != 2)
      return success(); // a run-time table stays as it is
    const int64_t V = tt.getDimSize(0), E = tt.getDimSize(1);
    ReportEntry r;
    r.name = baseName(op.getTable());
    r.kind = "embedding";
    r.K = V; // the table's shape; it is stored as W = table^T
    r.N = E;
    if (scheme.bits == 0) { // embedding=f32: only reported
      r.scheme = "f32";
      r.method = "none";
      r.bytes = V * E * 4;
      choices.push_back(r);
      return success();
    }
    r.scheme = schemeName(scheme);
    std::string error;
    quant::Layout l = quant::makeLayout(scheme, E, V, panel, &error);
    if (!error.empty())
      return op.emitError("cannot quantize the embedding table: ") << error;
    auto table = weights::readF32(op.getTable());
    std::optional<QuantizedTensor> q;
    if (head && head->layout.K == E && head->layout.N == V && head->layout.nr == l.nr &&
        head->layout.scheme.bits == scheme.bits && head->layout.scheme.group == scheme.group &&
        head->layout.scheme.symmetric == scheme.symmetric) {
      bool tied = true;
      for (int64_t v = 0; v < V && tied; ++v)
        for (int64_t e = 0; e < E; ++e)
          if (std::memcmp(&(*table)[v * E + e], &headWeight[e * V + v], 4) != 0) {
            tied = false;
            break;
          }
      if (tied) {
        q = head;
        r.method = "shared";
        r.sharedWith = headName;
        r.bytes = 0; // counted with the head
        r.note = "tied to the LM head: one tensor serves both";
      }
    }
    if (!q) {
      std::vector<uint8_t> codes(l.codeBytes()), zeros(l.numParams());
      std::vector<uint16_t> scales(l.numParams());
      error = quant::quantizeRTN(table->data(), /*transposed=*/true, l, codes.data(), scales.data(),
                                 scheme.symmetric ? nullptr : zeros.data());
      if (!error.empty())
        return op.emitError("cannot quantize the embedding table: ") << error;
      q = createConstants(op.getLoc(), l, op.getTable(), codes, scales, zeros);
      r.method = "rtn";
      r.bytes = l.totalBytes();
    }
    choices.push_back(r);
    OpBuilder b(op);
    auto qop = llm::QuantizedEmbeddingOp::create(
        b, op.getLoc(), op.getType(), op.getIds(), q->codes, q->scales, q->zeros, b.getI64IntegerAttr(V),
        b.getI64IntegerAttr(scheme.bits), b.getI64IntegerAttr(scheme.group), b.getI64IntegerAttr(panel),
        b.getBoolAttr(scheme.symmetric));
    op.getResult().replaceAllUsesWith(qop.getResult());
    op.erase();
    return success();
  }

  LogicalResult writeReport() {
    llvm::json::Array tensors;
    int64_t total = 0, totalF32 = 0;
    for (const ReportEntry &r : choices) {
      llvm::json::Object o{{"name", r.name},     {"kind", r.kind},     {"shape", llvm::json::Array{r.K, r.N}},
                           {"scheme", r.scheme}, {"method", r.method}, {"bytes", r.bytes},
                           {"f32_bytes", r.K * r.N * 4}};
      if (r.error)
        o["rel_error"] = *r.error;
      if (r.rtnError)
        o["rtn_rel_error"] = *r.rtnError;
      if (r.awqAlpha)
        o["awq_alpha"] = *r.awqAlpha;
      if (!r.sharedWith.empty())
        o["shared_with"] = r.sharedWith;
      if (!r.note.empty())
        o["note"] = r.note;
      tensors.push_back(std::move(o));
      total += r.bytes;
      totalF32 += r.K * r.N * 4;
    }
    llvm::json::Object root{{"function", getOperation().getSymName()},
                            {"method", method.getValue()},
                            {"calibration", calibration.getValue()},
                            {"tensors", std::move(tensors)},
                            {"total_bytes", total},
                            {"total_f32_bytes", totalF32}};
    if (stats && !stats->entries().empty())
      root["calibration_tokens"] = stats->entries().front().tokens;
    std::error_code ec;
    llvm::raw_fd_ostream out(report.getValue(), ec, llvm::sys::fs::OF_Text);
    if (ec)
      return getOperation().emitError("cannot write the quantization report '")
             << report.getValue() << "': " << ec.message();
    out << llvm::formatv("{0:2}", llvm::json::Value(std::move(root))) << "\n";
    return success();
  }
};
} // namespace
