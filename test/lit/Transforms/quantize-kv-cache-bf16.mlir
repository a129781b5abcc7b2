// RUN: llmc-opt %s --split-input-file --verify-diagnostics --llmc-quantize-kv-cache=dtype=bf16 | FileCheck %s

// --kv-cache=bf16: what the pass must refuse (with the op or slot named) and
// what it must leave alone, and the verifiers of hand-written bf16 cache IR.

// A slot whose appended cache feeds an op other than attention.
// expected-error @+1 {{--kv-cache=bf16: KV-cache slot 'past.0' feeds 'onnx.Neg', which cannot read bf16 KV-cache rows}}
func.func @main(%past: tensor<1x2x?x4xf32> {llmc.cache_slot = 0 : i64, llmc.cache_axis = 2 : i64, llmc.name = "past.0"},
                %new: tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32> {
  %all = llm.kv_cache_append %past, %new {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
  %n = "onnx.Neg"(%all) : (tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
  return %n : tensor<1x2x?x4xf32>
}

// -----

// A slot read directly by something other than an append or a shape read.
// expected-error @+1 {{--kv-cache=bf16: KV-cache slot 'past.0' is read by 'onnx.Neg', which cannot read bf16 KV-cache rows}}
func.func @main(%past: tensor<1x2x?x4xf32> {llmc.cache_slot = 0 : i64, llmc.cache_axis = 2 : i64, llmc.name = "past.0"},
                %new: tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32> {
  %n = "onnx.Neg"(%past) : (tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
  %all = llm.kv_cache_append %past, %new {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
  return %all : tensor<1x2x?x4xf32>
}

// -----

// A slot that grows along another axis.
// expected-error @+1 {{--kv-cache=bf16: KV-cache slot 'past.0' is not an f32 [batch, heads, seq, head_dim] tensor with a static head_dim growing along axis 2}}
func.func @main(%past: tensor<1x?x2x4xf32> {llmc.cache_slot = 0 : i64, llmc.cache_axis = 1 : i64, llmc.name = "past.0"},
                %new: tensor<1x?x2x4xf32>) -> tensor<1x?x2x4xf32> {
  %all = llm.kv_cache_append %past, %new {axis = 1 : i64, slot = 0 : i64} : (tensor<1x?x2x4xf32>, tensor<1x?x2x4xf32>) -> tensor<1x?x2x4xf32>
  return %all : tensor<1x?x2x4xf32>
}

// -----

// Only the keys are cached: the attention would read one bf16 and one f32 operand.
func.func @main(%q: tensor<1x2x?x4xf32>,
                %past: tensor<1x2x?x4xf32> {llmc.cache_slot = 0 : i64, llmc.cache_axis = 2 : i64, llmc.name = "past.0"},
                %new: tensor<1x2x?x4xf32>, %v: tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32> {
  %k = llm.kv_cache_append %past, %new {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
  // expected-error @+1 {{--kv-cache=bf16: attention reads one cached and one uncached operand among its keys and values}}
  %o = llm.attention %q, %k, %v {causal = true, scale = 0.5 : f32} : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
  return %o : tensor<1x2x?x4xf32>
}

// -----

// Left alone: attention over K/V that are not cache slots (no
// llmc.cache_slot), and functions other than @main.
// CHECK-LABEL: func.func @main(
// CHECK-SAME: %{{.*}}: tensor<1x2x?x4xf32>, %{{.*}}: tensor<1x2x?x4xf32>, %{{.*}}: tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
// CHECK-NOT: bf16
// CHECK: llm.attention {{.*}} : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
// CHECK-LABEL: func.func @other(
// CHECK-SAME: %{{.*}}: tensor<1x2x?x4xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 0 : i64}
// CHECK-NOT: bf16
func.func @main(%q: tensor<1x2x?x4xf32>, %k: tensor<1x2x?x4xf32>, %v: tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32> {
  %o = llm.attention %q, %k, %v {causal = true, scale = 0.5 : f32} : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
  return %o : tensor<1x2x?x4xf32>
}
func.func @other(%past: tensor<1x2x?x4xf32> {llmc.cache_slot = 0 : i64, llmc.cache_axis = 2 : i64},
                 %new: tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32> {
  %all = llm.kv_cache_append %past, %new {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
  return %all : tensor<1x2x?x4xf32>
}

// -----

// The verifiers of hand-written bf16 cache IR.
func.func @mixed(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x5x4xbf16>, %v: tensor<1x2x5x4xf32>) -> tensor<1x2x3x4xf32> {
  // expected-error @+1 {{key and value must both be f32, both int8 or both bf16 KV-cache rows}}
  %o = llm.attention %q, %k, %v {causal = true, scale = 0.5 : f32} : (tensor<1x2x3x4xf32>, tensor<1x2x5x4xbf16>, tensor<1x2x5x4xf32>) -> tensor<1x2x3x4xf32>
  return %o : tensor<1x2x3x4xf32>
}

// -----

func.func @mixed_narrow(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x5x4xbf16>, %v: tensor<1x2x5x8xi8>) -> tensor<1x2x3x4xf32> {
  // expected-error @+1 {{key and value must both be f32, both int8 or both bf16 KV-cache rows}}
  %o = llm.attention %q, %k, %v {causal = true, scale = 0.5 : f32} : (tensor<1x2x3x4xf32>, tensor<1x2x5x4xbf16>, tensor<1x2x5x8xi8>) -> tensor<1x2x3x4xf32>
  return %o : tensor<1x2x3x4xf32>
}

// -----

func.func @bf16_query(%q: tensor<1x2x3x4xbf16>, %k: tensor<1x2x5x4xbf16>, %v: tensor<1x2x5x4xbf16>) -> tensor<1x2x3x4xbf16> {
  // expected-error @+1 {{int8 / bf16 KV-cache rows need an f32 query}}
  %o = llm.attention %q, %k, %v {causal = true, scale = 0.5 : f32} : (tensor<1x2x3x4xbf16>, tensor<1x2x5x4xbf16>, tensor<1x2x5x4xbf16>) -> tensor<1x2x3x4xbf16>
  return %o : tensor<1x2x3x4xbf16>
}

// -----

func.func @row_size(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x5x8xbf16>, %v: tensor<1x2x5x8xbf16>) -> tensor<1x2x3x8xf32> {
  // expected-error @+1 {{query and key head sizes differ}}
  %o = llm.attention %q, %k, %v {causal = true, scale = 0.5 : f32} : (tensor<1x2x3x4xf32>, tensor<1x2x5x8xbf16>, tensor<1x2x5x8xbf16>) -> tensor<1x2x3x8xf32>
  return %o : tensor<1x2x3x8xf32>
}

// -----

func.func @append_axis(%past: tensor<1x?x2x4xbf16>, %new: tensor<1x?x2x4xf32>) -> tensor<1x?x2x4xbf16> {
  // expected-error @+1 {{a bf16 cache slot [B, KVH, T, D] takes f32 rows [B, KVH, S, D] along axis 2}}
  %all = llm.kv_cache_append %past, %new {axis = 1 : i64, slot = 0 : i64} : (tensor<1x?x2x4xbf16>, tensor<1x?x2x4xf32>) -> tensor<1x?x2x4xbf16>
  return %all : tensor<1x?x2x4xbf16>
}

// -----

func.func @append_head_size(%past: tensor<1x2x?x8xbf16>, %new: tensor<1x2x?x4xf32>) -> tensor<1x2x?x8xbf16> {
  // expected-error @+1 {{a bf16 cache slot [B, KVH, T, D] takes f32 rows [B, KVH, S, D] along axis 2}}
  %all = llm.kv_cache_append %past, %new {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xbf16>, tensor<1x2x?x4xf32>) -> tensor<1x2x?x8xbf16>
  return %all : tensor<1x2x?x8xbf16>
}

// -----

func.func @append_result(%past: tensor<1x2x?x4xbf16>, %new: tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32> {
  // expected-error @+1 {{result must have the element type of the cache slot}}
  %all = llm.kv_cache_append %past, %new {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x4xbf16>, tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
  return %all : tensor<1x2x?x4xf32>
}

// -----

func.func @paged_mixed(%q: tensor<1x4x3x4xf32>, %k: tensor<1x2x3x4xf32>, %v: tensor<1x2x3x4xf32>,
                       %kp: tensor<8x2x4x4xbf16>, %vp: tensor<8x2x4x4xf32>, %bt: tensor<1x2xi32>,
                       %st: tensor<2xi32>, %sp: tensor<1xi32>) -> tensor<1x4x3x4xf32> {
  // expected-error @+1 {{the pools must both be f32, both int8 (rows of D codes + a 4-byte scale) or both bf16}}
  %o = llm.paged_attention %q, %k, %v into %kp, %vp tables %bt starts %st positions %sp {key_slot = 0 : i64, scale = 0.5 : f32, value_slot = 1 : i64} : (tensor<1x4x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<8x2x4x4xbf16>, tensor<8x2x4x4xf32>, tensor<1x2xi32>, tensor<2xi32>, tensor<1xi32>) -> tensor<1x4x3x4xf32>
  return %o : tensor<1x4x3x4xf32>
}
