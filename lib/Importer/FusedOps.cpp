//===- FusedOps.cpp - fused and contrib ONNX ops --------------------------===//
//
// Opset 23 brings fused RMSNormalization, RotaryEmbedding and Attention; ONNX
// Runtime's GenAI model builder emits the com.microsoft contrib ops
// SimplifiedLayerNormalization, SkipSimplifiedLayerNormalization,
// RotaryEmbedding and GroupQueryAttention. Norms and RoPE are expanded into
// the standard-op subgraphs the raising passes recognise (so one code path
// serves both forms); attention becomes llm.attention directly, with the
// KV cache as the usual Concat(past, new) -> present that
// llmc-raise-kv-cache turns into cache slots. Unsupported attribute values
// (partial rotary, packed QKV, softcap, sliding windows, ...) are errors.
//
//===----------------------------------------------------------------------===//
#include "Importer.h"

#include "llmc/Dialect/LLM/LLMDialect.h"

#include "mlir/IR/Verifier.h"

#include <cmath>

using namespace mlir;
using namespace llmc;
using namespace llmc::importer;

namespace llmc::importer {

class FusedOpExpander {
public:
  FusedOpExpander(Importer &imp, const ::onnx::NodeProto &node, int index)
      : imp(imp), node(node), index(index), attrs(node),
        loc(imp.nodeLoc(node, index)) {
    prefix = (node.name().empty() ? node.op_type() + std::to_string(index) : node.name()) + "/";
  }

  LogicalResult run();

private:
  Importer &imp;
  const ::onnx::NodeProto &node;
  int index;
  NodeAttributes attrs;
  Location loc;
  std::string prefix;
  int counter = 0;

  std::string fresh(StringRef what) { return prefix + what.str() + "_" + std::to_string(counter++); }
  std::string input(int i) const { return i < node.input_size() ? node.input(i) : ""; }
  std::string output(int i) const { return i < node.output_size() ? node.output(i) : ""; }

  const SymValue *info(const std::string &name) {
    auto it = imp.values_.find(name);
    return it == imp.values_.end() ? nullptr : &it->second.info;
  }

  LogicalResult fail(const Twine &msg) {
    return emitError(loc) << node.op_type() << " node '" << node.name() << "': " << msg;
  }

  /// Emits a standard ONNX node (imported like any other); returns its
  /// output name, or "" on failure (the error is already reported).
  std::string emit(const std::string &op, std::vector<std::string> inputs,
                   std::vector<::onnx::AttributeProto> attributes = {},
                   std::string out = "") {
    ::onnx::NodeProto n;
    n.set_op_type(op);
    n.set_name(prefix + op + "_" + std::to_string(counter));
    if (out.empty())
      out = fresh(op);
    for (auto &i : inputs)
      n.add_input(i);
    n.add_output(out);
    for (auto &a : attributes)
      *n.add_attribute() = a;
    if (failed(imp.importNode(n, index)))
      return "";
    return out;
  }

  std::string constI64(std::vector<int64_t> v, bool scalar = false) {
    ::onnx::TensorProto t;
    t.set_data_type(::onnx::TensorProto::INT64);
    if (!scalar)
      t.add_dims(v.size());
    for (int64_t x : v)
      t.add_int64_data(x);
    return constant(t);
  }
  std::string constF32(float v) {
    ::onnx::TensorProto t;
    t.set_data_type(::onnx::TensorProto::FLOAT);
    t.add_float_data(v);
    return constant(t);
  }
  std::string constant(const ::onnx::TensorProto &t) {
    std::string name = fresh("const");
    return failed(imp.defineConstant(t, name, loc)) ? "" : name;
  }
  static ::onnx::AttributeProto intAttr(const std::string &name, int64_t v) {
    ::onnx::AttributeProto a;
    a.set_name(name);
    a.set_type(::onnx::AttributeProto::INT);
    a.set_i(v);
    return a;
  }
  static ::onnx::AttributeProto intsAttr(const std::string &name, std::vector<int64_t> v) {
    ::onnx::AttributeProto a;
    a.set_name(name);
    a.set_type(::onnx::AttributeProto::INTS);
    for (int64_t x : v)
      a.add_ints(x);
    return a;
  }

  std::optional<int64_t> staticDim(const std::string &name, int64_t i) {
    const SymValue *v = info(name);
    if (!v || i >= v->rank())
      return std::nullopt;
    return imp.symbols_.resolve(v->dims[i < 0 ? i + v->rank() : i]).getConstant();
  }

  bool onlyOutputsUsed(std::initializer_list<int> allowed) {
    for (int i = 0; i < node.output_size(); ++i)
      if (!node.output(i).empty() && std::find(allowed.begin(), allowed.end(), i) == allowed.end())
        return false;
    return true;
  }

  std::string unsqueeze(const std::string &x, std::vector<int64_t> axes) {
    if (imp.opset_ >= 13)
      return emit("Unsqueeze", {x, constI64(axes)});
    return emit("Unsqueeze", {x}, {intsAttr("axes", axes)});
  }

  std::string rmsNorm(const std::string &x, const std::string &scale, float eps,
                      const std::string &out);
  LogicalResult normalization(bool withSkip);
  LogicalResult rotary(bool contrib);
  LogicalResult attention(bool gqa);
  std::string toHeads(const std::string &x, int64_t heads);
  std::string fromHeads(const std::string &x, const std::string &out);
};

std::string FusedOpExpander::rmsNorm(const std::string &x, const std::string &scale,
                                     float eps, const std::string &out) {
  std::string sq = emit("Pow", {x, constF32(2.0f)});
  std::string mean = imp.opset_ >= 18
                         ? emit("ReduceMean", {sq, constI64({-1})}, {intAttr("keepdims", 1)})
                         : emit("ReduceMean", {sq}, {intsAttr("axes", {-1}), intAttr("keepdims", 1)});
  std::string var = emit("Add", {mean, constF32(eps)});
  std::string inv = emit("Reciprocal", {emit("Sqrt", {var})});
  return emit("Mul", {scale, emit("Mul", {x, inv})}, {}, out);
}

LogicalResult FusedOpExpander::normalization(bool withSkip) {
  float eps = attrs.getFloat("epsilon", 1e-5f);
  int64_t axis = attrs.getInt("axis", -1);
  std::string x = input(0);
  const SymValue *xi = info(x);
  if (!xi)
    return fail("missing input");
  if (axis != -1 && axis != xi->rank() - 1)
    return fail("only normalization over the last axis is supported");
  if (withSkip) {
    if (!onlyOutputsUsed({0, 3}))
      return fail("the mean and inv_std_var outputs are not supported");
    x = emit("Add", {x, input(1)});
    if (!input(3).empty())
      x = emit("Add", {x, input(3)});
    if (x.empty())
      return failure();
    if (!output(3).empty() && emit("Identity", {x}, {}, output(3)).empty())
      return failure();
    return rmsNorm(x, input(2), eps, output(0)).empty() ? failure() : success();
  }
  if (!onlyOutputsUsed({0}))
    return fail("only the normalized output is supported");
  return rmsNorm(x, input(1), eps, output(0)).empty() ? failure() : success();
}

// contrib: (input, position_ids, cos_cache, sin_cache), input [B, S, hidden]
// opset 23: (X, cos_cache, sin_cache, position_ids?), X [B, S, hidden] or [B, N, S, H]
LogicalResult FusedOpExpander::rotary(bool contrib) {
  std::string x = input(0);
  std::string pos = contrib ? input(1) : input(3);
  std::string cosCache = contrib ? input(2) : input(1), sinCache = contrib ? input(3) : input(2);
  const SymValue *xi = info(x), *ci = info(cosCache);
  if (!xi || !ci)
    return fail("missing input");
  if (contrib && attrs.getFloat("scale", 1.0f) != 1.0f)
    return fail("scale != 1 is not supported");
  if (attrs.getInt("is_packed_batching", 0))
    return fail("packed batching is not supported");
  bool interleaved = attrs.getInt("interleaved", 0);
  auto half = staticDim(cosCache, -1);
  if (!half)
    return fail("the cos cache needs a static last dim");
  int64_t h = 2 * *half;
  int64_t rotaryDim = attrs.getInt("rotary_embedding_dim", 0);
  if (rotaryDim != 0 && rotaryDim != h)
    return fail("partial rotary embeddings (rotary_embedding_dim < head size) are not supported");
  bool rank4 = xi->rank() == 4;
  if (xi->rank() != 3 && !(rank4 && !contrib))
    return fail("input must be [batch, seq, hidden]" + std::string(contrib ? "" : " or [batch, heads, seq, head]"));
  if (rank4 && staticDim(x, 3) != h)
    return fail("head size differs from the cos cache");
  // cos/sin for each token: [B, S, H/2].
  std::string c = cosCache, s = sinCache;
  if (!pos.empty()) {
    c = emit("Gather", {cosCache, pos}, {intAttr("axis", 0)});
    s = emit("Gather", {sinCache, pos}, {intAttr("axis", 0)});
  }
  auto full = [&](const std::string &t) {
    if (!interleaved)
      return emit("Concat", {t, t}, {intAttr("axis", -1)});
    std::string u = unsqueeze(t, {-1});
    std::string pair = emit("Concat", {u, u}, {intAttr("axis", -1)});
    return emit("Reshape", {pair, constI64({0, 0, h})});
  };
  std::string cf = full(c), sf = full(s);
  std::string c4 = unsqueeze(cf, {rank4 ? 1 : 2}), s4 = unsqueeze(sf, {rank4 ? 1 : 2});
  std::string x4 = rank4 ? x : emit("Reshape", {x, constI64({0, 0, -1, h})});
  std::string rot;
  if (!interleaved) {
    std::string axis = constI64({3});
    std::string x1 = emit("Slice", {x4, constI64({0}), constI64({h / 2}), axis});
    std::string x2 = emit("Slice", {x4, constI64({h / 2}), constI64({h}), axis});
    rot = emit("Concat", {emit("Neg", {x2}), x1}, {intAttr("axis", -1)});
  } else {
    std::string pairs = emit("Reshape", {x4, constI64({0, 0, 0, h / 2, 2})});
    std::string axis = constI64({4});
    std::string even = emit("Slice", {pairs, constI64({0}), constI64({1}), axis});
    std::string odd = emit("Slice", {pairs, constI64({1}), constI64({2}), axis});
    std::string r5 = emit("Concat", {emit("Neg", {odd}), even}, {intAttr("axis", -1)});
    rot = emit("Reshape", {r5, constI64({0, 0, 0, h})});
  }
  std::string y4 = emit("Add", {emit("Mul", {x4, c4}), emit("Mul", {rot, s4})}, {},
                        rank4 ? output(0) : "");
  if (y4.empty())
    return failure();
  if (!rank4 && emit("Reshape", {y4, constI64({0, 0, -1})}, {}, output(0)).empty())
    return failure();
  return success();
}

/// [B, S, heads*D] -> [B, heads, S, D]
std::string FusedOpExpander::toHeads(const std::string &x, int64_t heads) {
  std::string r = emit("Reshape", {x, constI64({0, 0, heads, -1})});
  return emit("Transpose", {r}, {intsAttr("perm", {0, 2, 1, 3})});
}

/// [B, heads, S, D] -> [B, S, heads*D]
std::string FusedOpExpander::fromHeads(const std::string &x, const std::string &out) {
  std::string t = emit("Transpose", {x}, {intsAttr("perm", {0, 2, 1, 3})});
  return emit("Reshape", {t, constI64({0, 0, -1})}, {}, out);
}

// GroupQueryAttention (com.microsoft): (query, key, value, past_key,
// past_value, seqlens_k, total_sequence_length, cos_cache?, sin_cache?)
// Attention (opset 23): (Q, K, V, attn_mask?, past_key?, past_value?)
LogicalResult FusedOpExpander::attention(bool gqa) {
  int64_t heads = attrs.getInt(gqa ? "num_heads" : "q_num_heads", 0);
  int64_t kvHeads = attrs.getInt("kv_num_heads", 0);
  if (attrs.getFloat("softcap", 0.f) != 0.f)
    return fail("softcap is not supported");
  if (gqa) {
    if (input(1).empty())
      return fail("packed QKV (no key input) is not supported");
    if (attrs.getInt("do_rotary", 0))
      return fail("do_rotary is not supported (apply RotaryEmbedding before the op)");
    if (attrs.getInt("local_window_size", -1) != -1)
      return fail("sliding-window attention (local_window_size) is not supported");
    if (input(3).empty() || input(4).empty())
      return fail("past_key and past_value are required");
    if (node.input_size() > 9)
      return fail("position_ids / attention_bias inputs are not supported");
  } else {
    if (attrs.getInt("qk_matmul_output_mode", 0) != 0 || !output(3).empty())
      return fail("the qk_matmul_output output is not supported");
  }
  std::string q = input(0), k = input(1), v = input(2);
  const SymValue *qi = info(q);
  if (!qi)
    return fail("missing query");
  bool rank3 = qi->rank() == 3;
  if (rank3 && (heads <= 0 || kvHeads <= 0))
    return fail("3-D inputs need the head counts");
  std::string q4 = rank3 ? toHeads(q, heads) : q;
  std::string k4 = rank3 ? toHeads(k, kvHeads) : k;
  std::string v4 = rank3 ? toHeads(v, kvHeads) : v;
  if (q4.empty() || k4.empty() || v4.empty())
    return failure();
  std::string pastK = gqa ? input(3) : input(4), pastV = gqa ? input(4) : input(5);
  bool hasPast = !pastK.empty();
  if (hasPast) {
    k4 = emit("Concat", {pastK, k4}, {intAttr("axis", 2)}, output(1));
    v4 = emit("Concat", {pastV, v4}, {intAttr("axis", 2)}, output(2));
    if (k4.empty() || v4.empty())
      return failure();
  } else if (!output(1).empty() || !output(2).empty()) {
    // present = the new K/V when there is no past.
    if (!output(1).empty() && emit("Identity", {k4}, {}, output(1)).empty())
      return failure();
    if (!output(2).empty() && emit("Identity", {v4}, {}, output(2)).empty())
      return failure();
  }
  auto d = staticDim(q4, 3);
  if (!d)
    return fail("the head size must be static");
  float scale = attrs.get("scale") ? attrs.getFloat("scale", 1.f) : 1.f / std::sqrt((float)*d);

  // Causal: GQA always; opset-23 Attention when is_causal (only without a
  // past, where upper-left and lower-right alignment coincide).
  bool causal = gqa || attrs.getInt("is_causal", 0);
  if (!gqa && causal && hasPast)
    return fail("is_causal together with past_key is not supported (ambiguous alignment)");
  std::string mask;
  if (!gqa && !input(3).empty()) {
    mask = input(3);
    const SymValue *mi = info(mask);
    if (!mi)
      return fail("missing mask");
    if (mi->elementType.isInteger(1)) // True = attend
      mask = emit("Where", {mask, constF32(0.f), constF32(-3.40282347e38f)});
    else if (!mi->elementType.isF32())
      return fail("the mask must be bool or float32");
  }
  const SymValue *qs = info(q4), *ks = info(k4), *vs = info(v4);
  if (!qs || !ks || !vs || qs->rank() != 4 || ks->rank() != 4 || vs->rank() != 4)
    return fail("query/key/value must be 4-D after head splitting");
  SymValue outInfo{qs->elementType, {qs->dims[0], qs->dims[1], qs->dims[2], vs->dims[3]}, std::nullopt};
  auto outType = tensorType(outInfo.dims, outInfo.elementType, imp.symbols_);
  Value maskValue = mask.empty() ? Value() : imp.values_[mask].value;
  auto op = llm::AttentionOp::create(imp.b_, loc, outType, imp.values_[q4].value,
                                     imp.values_[k4].value, imp.values_[v4].value, maskValue,
                                     imp.b_.getF32FloatAttr(scale), imp.b_.getBoolAttr(causal));
  if (failed(verify(op)))
    return fail("invalid attention shapes");
  std::string att = fresh("attention");
  imp.values_[att] = Importer::Entry{op.getResult(), outInfo};
  std::string out = rank3 ? fromHeads(att, output(0)) : emit("Identity", {att}, {}, output(0));
  return out.empty() ? failure() : success();
}

LogicalResult FusedOpExpander::run() {
  const std::string &op = node.op_type();
  bool ms = node.domain() == "com.microsoft";
  if (op == "RMSNormalization" || op == "SimplifiedLayerNormalization")
    return normalization(false);
  if (op == "SkipSimplifiedLayerNormalization")
    return normalization(true);
  if (op == "RotaryEmbedding")
    return rotary(ms);
  if (op == "GroupQueryAttention")
    return attention(true);
  return attention(false);
}

} // namespace llmc::importer

std::optional<LogicalResult> Importer::importFusedNode(const ::onnx::NodeProto &node, int index) {
  const std::string &op = node.op_type(), &dom = node.domain();
  bool isStd = dom.empty() || dom == "ai.onnx", ms = dom == "com.microsoft";
  bool known = (isStd && opset_ >= 23 && (op == "RMSNormalization" || op == "RotaryEmbedding" || op == "Attention")) ||
               ((isStd || ms) && op == "SimplifiedLayerNormalization") ||
               (ms && (op == "SkipSimplifiedLayerNormalization" || op == "RotaryEmbedding" ||
                       op == "GroupQueryAttention"));
  if (!known)
    return std::nullopt;
  for (const std::string &in : node.input())
    if (!in.empty() && !values_.count(in))
      return LogicalResult(emitError(nodeLoc(node, index))
                           << "node '" << node.name() << "' uses '" << in
                           << "', which is not defined before it");
  FusedOpExpander expander(*this, node, index);
  return expander.run();
}
