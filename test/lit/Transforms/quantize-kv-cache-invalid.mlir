// RUN: llmc-opt %s --split-input-file --verify-diagnostics --llmc-quantize-kv-cache=dtype=int8

// A slot whose appended cache feeds an op other than attention cannot hold
// int8 rows: the pass says which op, instead of miscompiling it.
// expected-error @+1 {{--kv-cache=int8: KV-cache slot 'past.0' feeds 'onnx.Neg', which cannot read int8 KV-cache rows}}
func.func @main(%past: tensor<1x2x?x4xf32> {llmc.cache_slot = 0 : i64, llmc.cache_axis = 2 : i64, llmc.name = "past.0"},
                %new: tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32> {
  %all = llm.kv_cache_append %past, %new {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
  %n = "onnx.Neg"(%all) : (tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
  return %n : tensor<1x2x?x4xf32>
}

// -----

// The head size must be static (the row holds D codes + 4 scale bytes).
// expected-error @+1 {{--kv-cache=int8: KV-cache slot 'past.0' is not an f32 [batch, heads, seq, head_dim] tensor with a static head_dim growing along axis 2}}
func.func @main(%past: tensor<1x2x?x?xf32> {llmc.cache_slot = 0 : i64, llmc.cache_axis = 2 : i64, llmc.name = "past.0"},
                %new: tensor<1x2x?x?xf32>) -> tensor<1x2x?x?xf32> {
  %all = llm.kv_cache_append %past, %new {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x?xf32>, tensor<1x2x?x?xf32>) -> tensor<1x2x?x?xf32>
  return %all : tensor<1x2x?x?xf32>
}

// -----

// Only the keys are cached: the attention would read one int8 and one f32 operand.
func.func @main(%q: tensor<1x2x?x4xf32>,
                %past: tensor<1x2x?x4xf32> {llmc.cache_slot = 0 : i64, llmc.cache_axis = 2 : i64, llmc.name = "past.0"},
                %new: tensor<1x2x?x4xf32>, %v: tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32> {
  %k = llm.kv_cache_append %past, %new {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
  // expected-error @+1 {{--kv-cache=int8: attention reads one cached and one uncached operand among its keys and values}}
  %o = llm.attention %q, %k, %v {causal = true, scale = 0.5 : f32} : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
  return %o : tensor<1x2x?x4xf32>
}

// -----

// The verifiers of hand-written int8 cache IR.
func.func @mixed(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x5x8xi8>, %v: tensor<1x2x5x4xf32>) -> tensor<1x2x3x4xf32> {
  // expected-error @+1 {{key and value must both be f32, both int8 or both bf16 KV-cache rows}}
  %o = llm.attention %q, %k, %v {causal = true, scale = 0.5 : f32} : (tensor<1x2x3x4xf32>, tensor<1x2x5x8xi8>, tensor<1x2x5x4xf32>) -> tensor<1x2x3x4xf32>
  return %o : tensor<1x2x3x4xf32>
}

// -----

func.func @row_size(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x5x4xi8>, %v: tensor<1x2x5x4xi8>) -> tensor<1x2x3x0xf32> {
  // expected-error @+1 {{query and key head sizes differ}}
  %o = llm.attention %q, %k, %v {causal = true, scale = 0.5 : f32} : (tensor<1x2x3x4xf32>, tensor<1x2x5x4xi8>, tensor<1x2x5x4xi8>) -> tensor<1x2x3x0xf32>
  return %o : tensor<1x2x3x0xf32>
}

// -----

func.func @append(%past: tensor<1x2x?x8xi8>, %new: tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xi8> {
  // expected-error @+1 {{an int8 cache slot [B, KVH, T, D + 4] takes f32 rows [B, KVH, S, D] along axis 2}}
  %all = llm.kv_cache_append %past, %new {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xi8>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xi8>
  return %all : tensor<1x2x?x8xi8>
}
