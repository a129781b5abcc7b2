//===- Passes.td - llmc graph passes (raising) -------------*- tablegen -*-===//
//
// Raising passes recognise the decomposed subgraphs that exporters emit and
// replace them with llm ops. Each checks every constant it relies on and
// leaves the graph alone when a check fails: a pattern that does not fire
// only costs speed, the generic path still computes the right answer.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_TRANSFORMS_PASSES
#define LLMC_TRANSFORMS_PASSES

include "mlir/Pass/PassBase.td"

def RaiseKVCache : Pass<"llmc-raise-kv-cache", "mlir::ModuleOp"> {
  let summary = "Recognise KV-cache slots: Concat(past input, new) returned as output";
  let description = [{
    A graph input X whose only use is `onnx.Concat(X, new)` along one axis,
    where the Concat result is also returned by @main, is a KV-cache slot
    (the `past_key_values.N.*` / `present.N.*` convention of exported
    decoders) if its length along that axis is symbolic (static concats of
    inputs are ordinary Concats). The Concat becomes `llm.kv_cache_append`, and the argument
    and result are marked `llmc.cache_slot = N` so the ABI lowering can
    update the runtime's cache in place. Inputs with other uses, concats
    along different axes or not returned are left alone.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def RaiseLinear : Pass<"llmc-raise-linear", "mlir::func::FuncOp"> {
  let summary = "MatMul/Gemm with a constant 2-D weight to llm.linear";
  let description = [{
    `onnx.MatMul(x, W)` with W a constant [K, N] and x of rank >= 2, and
    `onnx.Gemm(x, W, b?)` with alpha = beta = 1, transA = 0 and a constant W
    (either transB), become `llm.linear`. Non-constant right operands,
    rank-1 inputs and scaled Gemms are left alone.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def RaiseEmbedding : Pass<"llmc-raise-embedding", "mlir::func::FuncOp"> {
  let summary = "Gather of rows of a constant table to llm.embedding";
  let description = [{
    `onnx.Gather(table, ids)` with axis 0, a constant rank-2 float table
    [vocab, dim] and integer ids becomes `llm.embedding`. Gathers along other
    axes, of run-time tensors or of rank != 2 tables are left alone.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def RaiseRMSNorm : Pass<"llmc-raise-rms-norm", "mlir::func::FuncOp"> {
  let summary = "Decomposed RMSNorm to llm.rms_norm";
  let description = [{
    Matches `w * (x * 1/sqrt(mean(x^2, -1) + eps))` in the forms exporters
    emit: Pow(x, 2) or Mul(x, x); ReduceMean over the last axis with
    keepdims; Add(eps); Sqrt then Reciprocal or Div(1, .), or Div(x, .);
    the weight multiply on either side. The exponent must be exactly 2, the
    reduction exactly the last axis, eps a scalar constant, the weight a
    constant vector of the normalized size — otherwise nothing changes.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def RaiseSwiGLU : Pass<"llmc-raise-swiglu", "mlir::func::FuncOp"> {
  let summary = "Mul(Mul(g, Sigmoid(g)), up) to llm.swiglu";
  let description = [{
    SiLU written as `g * Sigmoid(g)` (operands in either order) multiplied
    by `up` with the same shape becomes `llm.swiglu(g, up)`. A Sigmoid of a
    different value than the one it multiplies is left alone.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def RaiseRotary : Pass<"llmc-raise-rotary", "mlir::func::FuncOp"> {
  let summary = "Rotate-half RoPE to llm.rotary";
  let description = [{
    Matches `x * cos + Concat(Neg(x[..., D/2:]), x[..., :D/2]) * sin` (the
    rotate-half form) where both Slices cut the last axis of the same x in
    exact halves. Slices of other axes or at other offsets do not match.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def RaiseAttention : Pass<"llmc-raise-attention", "mlir::func::FuncOp"> {
  let summary = "MatMul/scale/mask/Softmax/MatMul to llm.attention (with GQA)";
  let description = [{
    Matches `Softmax(scale(MatMul(Q, Transpose(K))) [+ mask], -1) @ V` where
    Q is [B, H, S, D], K^T is a last-two-axes transpose of K, scale is a
    scalar Mul or Div, and K/V may be the repeat_kv expansion
    `Reshape(Expand(Unsqueeze(kv, 2)))` of [B, KVH, T, D] tensors (then the
    un-expanded tensors feed llm.attention directly: grouped-query attention
    without copies). The additive mask is kept as an operand.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def RaiseCausalMask : Pass<"llmc-raise-causal-mask", "mlir::func::FuncOp"> {
  let summary = "Exported causal masks to llm.attention's causal flag";
  let description = [{
    Decoder exports build the causal mask from ONNX ops, as transformers
    does with cache_position:
    `Where(Or(Greater(Range(0, T), Unsqueeze(Range(past, past + S), 1)),
    padded), -big, 0)` with `past` the cached length (the shape of a
    `llmc.cache_slot` argument along its cache axis) and `S` the length of
    the token ids that `llm.embedding` reads. An `llm.attention` over the KV
    cache with that mask gets `causal = true`, which skips the keys after
    each query instead of adding -big to them (half the work of a prefill),
    and keeps only `Where(padded, -big, 0)` as its mask, or none when the
    condition has no padding part. `-big` must be float32 min or below (or
    -inf), the other branch 0, and the comparison must be exactly
    key > past + row (a Less with swapped operands too); anything else, or
    an attention not over the cache, is left alone. Relies on every cache
    slot holding the same number of positions, as the runtime's sessions do.
    One difference: a query whose every visible key is padded averages over
    those keys rather than over all T (both are meaningless rows).
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

//===----------------------------------------------------------------------===//
// Fusion and layout specialization (run after raising, on llm ops). Each can
// be switched off with `llmc compile --disable=NAME` for ablation.
//===----------------------------------------------------------------------===//

def FuseRMSNorm : Pass<"llmc-fuse-rms-norm", "mlir::func::FuncOp"> {
  let summary = "Fold RMSNorm into the linear layers that consume it";
  let description = [{
    `llm.rms_norm(x, g)` whose every use is the input of an `llm.linear`
    with a constant f32 weight is removed: each consumer reads x, its weight
    rows are scaled by g at compile time (W'[k, :] = g[k] W[k, :]) and it
    gets `rms_epsilon`, so the kernel scales each output row by
    1/sqrt(mean(x^2) + eps). Norms with any other use, a non-constant gain,
    or consumers that already normalize are left alone.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def FuseGateUp : Pass<"llmc-fuse-gate-up", "mlir::func::FuncOp"> {
  let summary = "swiglu(linear(x, Wg), linear(x, Wu)) to one gated llm.linear";
  let description = [{
    The gate and up projections of a SwiGLU MLP read the same input; they
    become one `llm.linear {gated}` whose weight is [K, 2N] (gate columns,
    then up columns) and whose kernel applies silu(gate) * up in registers.
    Projections with different inputs, normalization, a bias, other uses, or
    non-constant weights are left alone.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def FuseHorizontal : Pass<"llmc-fuse-qkv", "mlir::func::FuncOp"> {
  let summary = "Merge sibling linear layers that read the same input (Q/K/V)";
  let description = [{
    Two or more `llm.linear` ops with the same input, the same normalization
    and constant f32 weights become one linear over the concatenated weight
    [K, N1 + N2 + ...]; each original result is a `tensor.extract_slice` of
    the merged result. Gated linears, linears with a residual, mixed
    bias/no-bias groups and non-constant weights are left alone.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect", "mlir::tensor::TensorDialect"];
}

def FuseEpilogue : Pass<"llmc-fuse-epilogue", "mlir::func::FuncOp"> {
  let summary = "Fold a following residual or bias Add into llm.linear";
  let description = [{
    `onnx.Add(linear(x), r)` becomes `llm.linear(x) residual(r)` when r has
    provably the same shape as the linear's result (identical static types,
    or the importer's `llmc.same_shape` mark from symbolic shape inference)
    and the linear has no other use; `onnx.Add(linear(x), c)` with a
    constant c of shape [N] becomes the linear's bias. Broadcasting adds and
    linears with other uses are left alone.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def FuseRope : Pass<"llmc-fuse-rope", "mlir::func::FuncOp"> {
  let summary = "Apply rotary embeddings inside attention and the KV-cache store";
  let description = [{
    `attention(rotary(q), kv_cache_append(past, rotary(k)), ...)` becomes
    `attention(q, kv_cache_append(past, k) rope(cos, sin), ...) rope(cos, sin)`:
    the attention kernel rotates query rows as it loads them and the keys are
    rotated as they are written into the cache; `paged_attention(rotary(q),
    rotary(k), ...)` gets `rope(cos, sin)` for both. Only when both rotaries
    use the same cos/sin values and form, have no other use, and head sizes
    match; rotaries of values or feeding anything else are left alone.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def PackWeights : Pass<"llmc-pack-weights", "mlir::func::FuncOp"> {
  let summary = "Pack constant linear weights into the kernels' blocked layout";
  let description = [{
    Every `llm.linear` with a constant f32 weight is rewritten to read a
    weight packed at compile time into panels of `panel` columns
    (include/llmc/PackedLayout.h), as f32 or, with precision=bf16, as bf16;
    the packed constant goes into the library, so nothing is repacked at
    load time. `panel` is chosen per ISA by the driver (32 for AVX-512, 16
    for AVX2). Identical (weight, layout) pairs share one packed constant.
    Non-constant weights are left alone.
  }];
  let options = [
    Option<"panel", "panel", "int64_t", /*default=*/"32", "Columns per panel">,
    Option<"precision", "precision", "std::string", /*default=*/"\"f32\"",
           "Packed element type: f32 or bf16">
  ];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def PlanMemory : Pass<"llmc-plan-memory", "mlir::ModuleOp"> {
  let summary = "Place a function's buffers in one arena by liveness";
  let description = [{
    Runs on bufferized code. Every `memref.alloc` of the entry block with
    an identity layout, whose dynamic sizes are pure functions of the
    arguments and which does not escape, becomes a `memref.view` into one
    arena allocated at function entry. Buffers are placed in program order,
    each just above every earlier buffer still live at its allocation, so
    buffers live at the same time never overlap for any run-time sizes. The
    function reports (arena bytes, sum of planned buffer bytes) to the
    runtime through `llmc_rt_note_activation_memory`. Allocations inside
    loops or branches, returned buffers and sizes read from memory are left
    alone.
  }];
  let dependentDialects = ["mlir::memref::MemRefDialect", "mlir::arith::ArithDialect"];
}

def QuantizeKVCache : Pass<"llmc-quantize-kv-cache", "mlir::ModuleOp"> {
  let summary = "Store the KV cache as int8 rows with a per-token, per-head scale, or as bf16";
  let description = [{
    With `dtype=int8`, every KV-cache slot of @main (`llmc.cache_slot`,
    [B, KVH, T, D] f32) becomes [B, KVH, T, D + 4] i8: each row (one token,
    one KV head) holds D symmetric int8 codes (scale = max|x| / 127) and the
    4 bytes of its f32 scale. With `dtype=bf16` it becomes [B, KVH, T, D]
    bf16 (each value rounded to nearest even). `llm.kv_cache_append` results
    and the `present.*` outputs take that type, and the attention ops read it
    (the kernels quantize or round new rows where they store them and widen
    them in registers). `onnx.Shape` reads of a slot keep reporting D. Runs before
    llmc-batch-step, whose pools inherit the row type. `dtype=f32` (the
    default) leaves the module alone; a slot read by anything else is an
    error.
  }];
  let options = [
    Option<"dtype", "dtype", "std::string", /*default=*/"\"f32\"",
           "Element type of the cached K/V rows: f32, int8 or bf16">,
  ];
  let dependentDialects = ["llmc::llm::LLMDialect", "mlir::arith::ArithDialect"];
}

def BatchStep : Pass<"llmc-batch-step", "mlir::ModuleOp"> {
  let summary = "Add @step: one model step over a ragged batch with a paged KV cache";
  let description = [{
    Clones the (optimized) @main of a decoder with KV-cache slots into @step,
    which runs the new tokens of many sequences concatenated ([1, T]) against
    a paged KV cache: each `kv_cache_append` + `attention` pair becomes an
    `llm.paged_attention` over per-slot pools (`llmc.kv_pool` arguments
    [num_blocks, KVH, block_size, D]) addressed through `block_tables`,
    `seq_starts` and `seq_positions`; the attention mask and `attention_mask`
    input disappear; the LM head computes only the rows in `logits_indices`.
    Fails with a diagnostic when the graph cannot run batched (the mask or a
    cache slot feeding anything but attention, a non-causal attention, an
    unknown input) when `required`, else with a warning and no @step.
    Models without KV-cache slots are left alone.
  }];
  let options = [
    Option<"required", "required", "bool", /*default=*/"false",
           "Fail when the graph cannot run batched (default: warn, keep @main only)">,
  ];
  let dependentDialects = ["llmc::llm::LLMDialect", "mlir::tensor::TensorDialect"];
}

def LogitsLast : Pass<"llmc-logits-last", "mlir::ModuleOp"> {
  let summary = "Compute the `logits` output for the last position only";
  let description = [{
    When @main's output named `logits` is an `llm.linear` (the LM head) of
    a [batch, seq, hidden] state, the hidden state is sliced to the last
    position first and the output becomes [batch, 1, vocab] (its
    `llmc.dims` too). Used by `llmc compile --logits=last` for generation
    (prefill then skips the vocab-sized GEMM for all but one row). Any other
    form of the output is left alone with a warning.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect", "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect"];
}

def QuantizeWeights : Pass<"llmc-quantize-weights", "mlir::func::FuncOp"> {
  let summary = "Quantize constant linear weights to int8 / int4 (RTN, GPTQ or AWQ)";
  let description = [{
    Every `llm.linear` with a constant f32 weight becomes an
    `llm.quantized_linear` whose weight is stored in the panel layout of
    include/llmc/QuantLayout.h: `bits` 8 or 4, `group` K elements per fp16
    scale (0 = per output column), symmetric or asymmetric (uint8 zero
    points), `panel` columns per panel. Fused prologue/epilogues (RMSNorm
    scaling, gating, bias, residual) carry over. `method=gptq` quantizes
    with GPTQ (include/llmc/Gptq.h) from the `calibration` statistics of
    an instrumented run (llmc-instrument-linears; linear i of the walk is
    entry i, and its K and N must match). `method=awq` (same statistics)
    first gives each linear whose input comes from an RMSNorm with a
    constant gain, or from a gated linear used only by it, AWQ's per-input
    scales s (include/llmc/Awq.h): its weight rows are multiplied by s and
    the gain, or the gated linear's up columns, divided by s; then it rounds
    to nearest with the clip search. `lm-head` picks the scheme of the
    linear producing `logits` (f32 = `keep-lm-head`), `embedding` turns
    `llm.embedding` of a constant table into `llm.quantized_embedding`
    (reusing the head's tensors when the head's weight is the table
    transposed and has the same scheme). `report` gets a JSON list of the
    choices (name, shape, scheme, bytes, relative output error on the
    calibration data). `act-bits=8` marks every quantized linear
    `act_bits = 8` (int8 activations quantized at run time): int8 weights
    per token (W8A8), int4 weights per token and block of 32 k (W4A8; the
    group must be 0 or a multiple of 32, else an error, except that an
    int4 LM head of a bits=8 compile then stays weight-only). Gated linears
    whose width is not a multiple of the
    panel, packed and non-constant weights are left alone. Runs before
    llmc-pack-weights (which packs what is left).
  }];
  let options = [
    Option<"bits", "bits", "int64_t", /*default=*/"8", "Bits per weight: 8 or 4">,
    Option<"group", "group", "int64_t", /*default=*/"0", "K elements per scale (0 = per column)">,
    Option<"symmetric", "symmetric", "bool", /*default=*/"true", "Symmetric (no zero points)">,
    Option<"panel", "panel", "int64_t", /*default=*/"16", "Columns per panel">,
    Option<"keepLmHead", "keep-lm-head", "bool", /*default=*/"false",
           "Leave the layer producing `logits` in full precision">,
    Option<"method", "method", "std::string", /*default=*/"\"rtn\"",
           "rtn (round to nearest), gptq or awq (both need `calibration`)">,
    Option<"calibration", "calibration", "std::string", /*default=*/"\"\"",
           "Calibration statistics file (include/llmc/CalibrationStats.h)">,
    Option<"lmHead", "lm-head", "std::string", /*default=*/"\"\"",
           "The LM head: f32, int8 or int4 (default: like the other layers)">,
    Option<"embedding", "embedding", "std::string", /*default=*/"\"f32\"",
           "The embedding table: f32, int8 or int4">,
    Option<"report", "report", "std::string", /*default=*/"\"\"",
           "Write the per-tensor choices as JSON to this file">,
    Option<"actOrder", "act-order", "bool", /*default=*/"true",
           "GPTQ: quantize inputs in order of decreasing energy (static groups)">,
    Option<"clipSearch", "clip-search", "bool", /*default=*/"true",
           "GPTQ: search each group's scale (range shrunk by up to 25%)">,
    Option<"damp", "damp", "double", /*default=*/"0.01",
           "GPTQ: damping added to diag(H), relative to its mean">,
    Option<"actBits", "act-bits", "int64_t", /*default=*/"0",
           "8: int8 activations (W8A8 / W4A8, act_bits on every quantized linear); 0: f32">
  ];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def InstrumentLinears : Pass<"llmc-instrument-linears", "mlir::func::FuncOp"> {
  let summary = "Observe the inputs of quantization candidates (for calibration)";
  let description = [{
    Inserts `llm.observe {id, columns}` before every linear that
    llmc-quantize-weights would consider (constant rank-2 f32 weight, not
    packed), numbered in walk order like that pass numbers them, so the
    statistics an instrumented library collects on calibration text
    (`llmc compile --calibration`) line up with the real compile's linears.
    Runs where quantization runs (after the gate/up, QKV and epilogue
    fusions, before RMSNorm folding). Other linears are left alone.
  }];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def PruneWeights : Pass<"llmc-prune-weights", "mlir::func::FuncOp"> {
  let summary = "Prune constant linear weights to 2:4 or unstructured sparsity";
  let description = [{
    Zeroes weights of every `llm.linear` with a constant f32 2-D weight and
    marks it `llmc.sparsity = "2:4"` or `"unstructured"` for
    llmc-pack-sparse-weights (include/llmc/SparseLayout.h has the rules):
    `pattern=2:4` keeps the 2 best of every 4 consecutive k of each output
    column; `pattern=unstructured` drops the floor(sparsity * K) worst of
    each output column. Scores: `method=magnitude` |w| (with `norm-gain`, of
    the effective weight g[k] w[k, n] when the input is an `llm.rms_norm`
    with a constant gain g, i.e. as llmc-fuse-rms-norm will fold it; off by
    default, measured worse on SmolLM2);
    `method=wanda` |w[k, n]| * ||x_k||_2 with the input norms read from the
    `stats` file: the calibration statistics of `llmc compile --calibration`
    (include/llmc/CalibrationStats.h, the diagonal of each H) or text
    records "<key> <K> <sum_t x_tk^2 for k < K>", key `linear.<i>` for the
    i-th constant linear of the function in walk order (the numbering of
    llmc-instrument-linears) or the name of the weight constant (see
    docs/Sparsity.md). The linear producing
    `logits` (the LM head) is left dense unless `prune-lm-head`. 2:4 with K
    not a multiple of 4 is left dense with a warning; packed and
    non-constant weights are left alone.
  }];
  let options = [
    Option<"pattern", "pattern", "std::string", /*default=*/"\"2:4\"", "2:4 or unstructured">,
    Option<"sparsity", "sparsity", "double", /*default=*/"0.5",
           "Fraction of each column dropped (unstructured)">,
    Option<"method", "method", "std::string", /*default=*/"\"magnitude\"", "magnitude or wanda">,
    Option<"stats", "stats", "std::string", /*default=*/"\"\"",
           "Input statistics file (wanda)">,
    Option<"normGain", "norm-gain", "bool", /*default=*/"false",
           "Magnitude of the RMSNorm-gain-folded weights (default: the stored ones)">,
    Option<"pruneLmHead", "prune-lm-head", "bool", /*default=*/"false",
           "Also prune the layer producing `logits`">
  ];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

def PackSparseWeights : Pass<"llmc-pack-sparse-weights", "mlir::func::FuncOp"> {
  let summary = "Compress pruned linear weights into llm.sparse_linear";
  let description = [{
    Every `llm.linear` marked `llmc.sparsity` (by llmc-prune-weights) with a
    constant f32 weight becomes an `llm.sparse_linear` whose weight is
    compressed at compile time into a format of include/llmc/SparseLayout.h:
    2:4 in panels of `panel` columns, unstructured (ELLPACK per 256-k chunk)
    in panels of `unstructured-panel` columns (narrower panels pad less).
    Fused prologue/epilogues carry over; identical (weight, layout) pairs
    share one compressed constant. A weight marked 2:4 that is not 2:4
    sparse is an error.
    With `bits=4` the kept weights of 2:4 layers are quantized to int4
    (symmetric, one fp16 scale per 32 k and column; round to nearest).
  }];
  let options = [
    Option<"panel", "panel", "int64_t", /*default=*/"16", "Columns per 2:4 panel">,
    Option<"unstructuredPanel", "unstructured-panel", "int64_t", /*default=*/"8",
           "Columns per unstructured panel">,
    Option<"bits", "bits", "int64_t", /*default=*/"32",
           "Bits per kept weight: 32 (f32) or 4 (int4, 2:4 only; unstructured stays f32)">
  ];
  let dependentDialects = ["llmc::llm::LLMDialect"];
}

#endif
