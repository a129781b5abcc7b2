// RUN: llmc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(llmc-fuse-rope))' | FileCheck %s

// Contiguous cache: the query rotation moves into the attention, the key
// rotation into the cache append; V and the present outputs are untouched.
// CHECK-LABEL: func.func @contiguous
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<1x4x?x8xf32>, %[[K:[^:]*]]: tensor<1x2x?x8xf32>, %[[V:[^:]*]]: tensor<1x2x?x8xf32>, %[[PK:[^:]*]]: tensor<1x2x?x8xf32>, %[[PV:[^:]*]]: tensor<1x2x?x8xf32>, %[[COS:[^:]*]]: tensor<1x1x?x8xf32>, %[[SIN:[^:]*]]: tensor<1x1x?x8xf32>, %[[M:[^:]*]]: tensor<1x1x?x?xf32>)
// CHECK-NOT: llm.rotary
// CHECK: %[[KC:.*]] = llm.kv_cache_append %[[PK]], %[[K]] rope(%[[COS]], %[[SIN]]) {axis = 2 : i64, slot = 0 : i64}
// CHECK: %[[VC:.*]] = llm.kv_cache_append %[[PV]], %[[V]] {axis = 2 : i64, slot = 1 : i64}
// CHECK: %[[O:.*]] = llm.attention %[[Q]], %[[KC]], %[[VC]], %[[M]] rope(%[[COS]], %[[SIN]]) {causal = false, scale = 5.000000e-01 : f32}
// CHECK: return %[[O]], %[[KC]], %[[VC]]
func.func @contiguous(%q0: tensor<1x4x?x8xf32>, %k0: tensor<1x2x?x8xf32>, %v: tensor<1x2x?x8xf32>,
                      %pk: tensor<1x2x?x8xf32>, %pv: tensor<1x2x?x8xf32>,
                      %cos: tensor<1x1x?x8xf32>, %sin: tensor<1x1x?x8xf32>, %mask: tensor<1x1x?x?xf32>)
    -> (tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) {
  %q = llm.rotary %q0, %cos, %sin {interleaved = false} : (tensor<1x4x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x4x?x8xf32>
  %k = llm.rotary %k0, %cos, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %kc = llm.kv_cache_append %pk, %k {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %vc = llm.kv_cache_append %pv, %v {axis = 2 : i64, slot = 1 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %kc, %vc, %mask {causal = false, scale = 0.5 : f32} : (tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x1x?x?xf32>) -> tensor<1x4x?x8xf32>
  return %o, %kc, %vc : tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
}

// -----

// The interleaved (GPT-J) form is carried as rope_interleaved; 3-D tables
// broadcast over batch.
// CHECK-LABEL: func.func @interleaved
// CHECK-NOT: llm.rotary
// CHECK: llm.kv_cache_append %{{.*}}, %{{.*}} rope(%{{.*}}, %{{.*}}) {axis = 2 : i64, rope_interleaved = true, slot = 0 : i64}
// CHECK: llm.attention %{{.*}} rope(%{{.*}}, %{{.*}}) {causal = true, rope_interleaved = true, scale = 5.000000e-01 : f32}
func.func @interleaved(%q0: tensor<2x4x?x8xf32>, %k0: tensor<2x4x?x8xf32>, %v: tensor<2x4x?x8xf32>,
                       %pk: tensor<2x4x?x8xf32>, %cos: tensor<1x?x8xf32>, %sin: tensor<1x?x8xf32>) -> tensor<2x4x?x8xf32> {
  %q = llm.rotary %q0, %cos, %sin {interleaved = true} : (tensor<2x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x?x8xf32>) -> tensor<2x4x?x8xf32>
  %k = llm.rotary %k0, %cos, %sin {interleaved = true} : (tensor<2x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x?x8xf32>) -> tensor<2x4x?x8xf32>
  %kc = llm.kv_cache_append %pk, %k {axis = 2 : i64, slot = 0 : i64} : (tensor<2x4x?x8xf32>, tensor<2x4x?x8xf32>) -> tensor<2x4x?x8xf32>
  %o = llm.attention %q, %kc, %v {causal = true, scale = 0.5 : f32} : (tensor<2x4x?x8xf32>, tensor<2x4x?x8xf32>, tensor<2x4x?x8xf32>) -> tensor<2x4x?x8xf32>
  return %o : tensor<2x4x?x8xf32>
}

// -----

// Paged form (@step after llmc-batch-step): both rotations go into the op,
// which rotates the keys it stores and the queries it loads.
// CHECK-LABEL: func.func @paged
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<1x4x?x8xf32>, %[[K:[^:]*]]: tensor<1x2x?x8xf32>, %[[V:[^:]*]]: tensor<1x2x?x8xf32>, %[[KP:[^:]*]]: tensor<?x2x?x8xf32>, %[[VP:[^:]*]]: tensor<?x2x?x8xf32>, %[[BT:[^:]*]]: tensor<?x?xi32>, %[[ST:[^:]*]]: tensor<?xi32>, %[[SP:[^:]*]]: tensor<?xi32>, %[[COS:[^:]*]]: tensor<1x1x?x8xf32>, %[[SIN:[^:]*]]: tensor<1x1x?x8xf32>)
// CHECK-NOT: llm.rotary
// CHECK: llm.paged_attention %[[Q]], %[[K]], %[[V]] into %[[KP]], %[[VP]] tables %[[BT]] starts %[[ST]] positions %[[SP]] rope(%[[COS]], %[[SIN]]) {key_slot = 0 : i64, scale = 5.000000e-01 : f32, value_slot = 1 : i64}
func.func @paged(%q0: tensor<1x4x?x8xf32>, %k0: tensor<1x2x?x8xf32>, %v: tensor<1x2x?x8xf32>,
                 %kp: tensor<?x2x?x8xf32>, %vp: tensor<?x2x?x8xf32>, %bt: tensor<?x?xi32>,
                 %st: tensor<?xi32>, %sp: tensor<?xi32>,
                 %cos: tensor<1x1x?x8xf32>, %sin: tensor<1x1x?x8xf32>) -> tensor<1x4x?x8xf32> {
  %q = llm.rotary %q0, %cos, %sin {interleaved = false} : (tensor<1x4x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x4x?x8xf32>
  %k = llm.rotary %k0, %cos, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.paged_attention %q, %k, %v into %kp, %vp tables %bt starts %st positions %sp {key_slot = 0 : i64, scale = 0.5 : f32, value_slot = 1 : i64} : (tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x?xi32>, tensor<?xi32>, tensor<?xi32>) -> tensor<1x4x?x8xf32>
  return %o : tensor<1x4x?x8xf32>
}

// -----

// Two attentions over one cache: the second query fuses into the already
// rotating append.
// CHECK-LABEL: func.func @shared_cache
// CHECK-NOT: llm.rotary
// CHECK: %[[KC:.*]] = llm.kv_cache_append %{{.*}}, %{{.*}} rope(
// CHECK: llm.attention %{{.*}}, %[[KC]], %{{.*}} rope(
// CHECK: llm.attention %{{.*}}, %[[KC]], %{{.*}} rope(
func.func @shared_cache(%q0: tensor<1x2x?x8xf32>, %q1: tensor<1x2x?x8xf32>, %k0: tensor<1x2x?x8xf32>, %v: tensor<1x2x?x8xf32>,
                        %pk: tensor<1x2x?x8xf32>, %cos: tensor<1x1x?x8xf32>, %sin: tensor<1x1x?x8xf32>) -> (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) {
  %q = llm.rotary %q0, %cos, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %qb = llm.rotary %q1, %cos, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %k = llm.rotary %k0, %cos, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %kc = llm.kv_cache_append %pk, %k {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %kc, %v {causal = true, scale = 0.5 : f32} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o2 = llm.attention %qb, %kc, %v {causal = true, scale = 0.5 : f32} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  return %o, %o2 : tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
}

// -----

// Must not fuse: the rotated query also feeds something else (fusing would
// rotate it twice), and the rotated keys are returned directly.
// CHECK-LABEL: func.func @rotary_with_other_uses
// CHECK: %[[Q:.*]] = llm.rotary
// CHECK: %[[K:.*]] = llm.rotary
// CHECK: llm.kv_cache_append %{{.*}}, %[[K]] {axis
// CHECK: llm.attention %[[Q]], %{{.*}} {causal
// CHECK-NOT: rope(
func.func @rotary_with_other_uses(%q0: tensor<1x2x?x8xf32>, %k0: tensor<1x2x?x8xf32>, %v: tensor<1x2x?x8xf32>,
                                  %pk: tensor<1x2x?x8xf32>, %cos: tensor<1x1x?x8xf32>, %sin: tensor<1x1x?x8xf32>)
    -> (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) {
  %q = llm.rotary %q0, %cos, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %k = llm.rotary %k0, %cos, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %kc = llm.kv_cache_append %pk, %k {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %kc, %v {causal = true, scale = 0.5 : f32} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %s = "onnx.Add"(%o, %q) : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  return %s, %k : tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
}

// -----

// Must not fuse: queries and keys rotated with different tables (or forms).
// CHECK-LABEL: func.func @different_tables
// CHECK-COUNT-2: llm.rotary
// CHECK-NOT: rope(
// CHECK-LABEL: func.func @different_forms
// CHECK-COUNT-2: llm.rotary
// CHECK-NOT: rope(
func.func @different_tables(%q0: tensor<1x2x?x8xf32>, %k0: tensor<1x2x?x8xf32>, %v: tensor<1x2x?x8xf32>,
                            %pk: tensor<1x2x?x8xf32>, %cos: tensor<1x1x?x8xf32>, %sin: tensor<1x1x?x8xf32>,
                            %cos2: tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32> {
  %q = llm.rotary %q0, %cos, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %k = llm.rotary %k0, %cos2, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %kc = llm.kv_cache_append %pk, %k {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %kc, %v {causal = true, scale = 0.5 : f32} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  return %o : tensor<1x2x?x8xf32>
}
func.func @different_forms(%q0: tensor<1x2x?x8xf32>, %k0: tensor<1x2x?x8xf32>, %v: tensor<1x2x?x8xf32>,
                           %pk: tensor<1x2x?x8xf32>, %cos: tensor<1x1x?x8xf32>, %sin: tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32> {
  %q = llm.rotary %q0, %cos, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %k = llm.rotary %k0, %cos, %sin {interleaved = true} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %kc = llm.kv_cache_append %pk, %k {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %kc, %v {causal = true, scale = 0.5 : f32} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  return %o : tensor<1x2x?x8xf32>
}

// -----

// Must not fuse: the query is not rotated (only the keys are), and the
// keys are rotated but the query is not a rotary (a plain transpose).
// CHECK-LABEL: func.func @query_not_rotated
// CHECK: %[[K:.*]] = llm.rotary
// CHECK: llm.kv_cache_append %{{.*}}, %[[K]] {axis
// CHECK-NOT: rope(
func.func @query_not_rotated(%q: tensor<1x2x?x8xf32>, %k0: tensor<1x2x?x8xf32>, %v: tensor<1x2x?x8xf32>,
                             %pk: tensor<1x2x?x8xf32>, %cos: tensor<1x1x?x8xf32>, %sin: tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32> {
  %k = llm.rotary %k0, %cos, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %kc = llm.kv_cache_append %pk, %k {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %kc, %v {causal = true, scale = 0.5 : f32} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  return %o : tensor<1x2x?x8xf32>
}

// -----

// Must not fuse: the rotary is on V (and K is not rotated): nothing moves,
// a value rotation is never folded into the cache store.
// CHECK-LABEL: func.func @rotary_on_values
// CHECK: %[[Q:.*]] = llm.rotary
// CHECK: %[[VR:.*]] = llm.rotary
// CHECK: llm.kv_cache_append %{{.*}}, %[[VR]] {axis = 2 : i64, slot = 1 : i64}
// CHECK: llm.attention %[[Q]], %{{.*}} {causal
// CHECK-NOT: rope(
func.func @rotary_on_values(%q0: tensor<1x2x?x8xf32>, %k: tensor<1x2x?x8xf32>, %v0: tensor<1x2x?x8xf32>,
                            %pk: tensor<1x2x?x8xf32>, %pv: tensor<1x2x?x8xf32>,
                            %cos: tensor<1x1x?x8xf32>, %sin: tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32> {
  %q = llm.rotary %q0, %cos, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %v = llm.rotary %v0, %cos, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %kc = llm.kv_cache_append %pk, %k {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %vc = llm.kv_cache_append %pv, %v {axis = 2 : i64, slot = 1 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %kc, %vc {causal = true, scale = 0.5 : f32} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  return %o : tensor<1x2x?x8xf32>
}

// -----

// Rotaries on Q, K and V: Q and K fuse, the V rotary stays an llm.rotary
// stored by the plain append.
// CHECK-LABEL: func.func @rotary_on_all_three
// CHECK: %[[VR:.*]] = llm.rotary %{{.*}} {interleaved = false}
// CHECK-NOT: llm.rotary
// CHECK: llm.kv_cache_append %{{.*}}, %{{.*}} rope(
// CHECK: llm.kv_cache_append %{{.*}}, %[[VR]] {axis = 2 : i64, slot = 1 : i64}
// CHECK: llm.attention %{{.*}} rope(
func.func @rotary_on_all_three(%q0: tensor<1x2x?x8xf32>, %k0: tensor<1x2x?x8xf32>, %v0: tensor<1x2x?x8xf32>,
                               %pk: tensor<1x2x?x8xf32>, %pv: tensor<1x2x?x8xf32>,
                               %cos: tensor<1x1x?x8xf32>, %sin: tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32> {
  %q = llm.rotary %q0, %cos, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %k = llm.rotary %k0, %cos, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %v = llm.rotary %v0, %cos, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %kc = llm.kv_cache_append %pk, %k {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %vc = llm.kv_cache_append %pv, %v {axis = 2 : i64, slot = 1 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %kc, %vc {causal = true, scale = 0.5 : f32} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  return %o : tensor<1x2x?x8xf32>
}

// -----

// Must not fuse: the keys are not a cache append of a rotary (attention over
// rotated keys without a cache: nothing writes the keys to rotate them in).
// CHECK-LABEL: func.func @no_cache
// CHECK-COUNT-2: llm.rotary
// CHECK-NOT: rope(
func.func @no_cache(%q0: tensor<1x2x?x8xf32>, %k0: tensor<1x2x?x8xf32>, %v: tensor<1x2x?x8xf32>,
                    %cos: tensor<1x1x?x8xf32>, %sin: tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32> {
  %q = llm.rotary %q0, %cos, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %k = llm.rotary %k0, %cos, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %k, %v {causal = true, scale = 0.5 : f32} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  return %o : tensor<1x2x?x8xf32>
}

// -----

// Must not fuse: the head size is not known at compile time (the kernels
// need a static, even head size to pair the rotated elements).
// CHECK-LABEL: func.func @dynamic_head_size
// CHECK-COUNT-2: llm.rotary
// CHECK-NOT: rope(
func.func @dynamic_head_size(%q0: tensor<1x2x?x?xf32>, %k0: tensor<1x2x?x?xf32>, %v: tensor<1x2x?x?xf32>,
                             %pk: tensor<1x2x?x?xf32>, %cos: tensor<1x1x?x?xf32>, %sin: tensor<1x1x?x?xf32>) -> tensor<1x2x?x?xf32> {
  %q = llm.rotary %q0, %cos, %sin {interleaved = false} : (tensor<1x2x?x?xf32>, tensor<1x1x?x?xf32>, tensor<1x1x?x?xf32>) -> tensor<1x2x?x?xf32>
  %k = llm.rotary %k0, %cos, %sin {interleaved = false} : (tensor<1x2x?x?xf32>, tensor<1x1x?x?xf32>, tensor<1x1x?x?xf32>) -> tensor<1x2x?x?xf32>
  %kc = llm.kv_cache_append %pk, %k {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x?xf32>, tensor<1x2x?x?xf32>) -> tensor<1x2x?x?xf32>
  %o = llm.attention %q, %kc, %v {causal = true, scale = 0.5 : f32} : (tensor<1x2x?x?xf32>, tensor<1x2x?x?xf32>, tensor<1x2x?x?xf32>) -> tensor<1x2x?x?xf32>
  return %o : tensor<1x2x?x?xf32>
}

// -----

// Must not fuse (paged): the rotated query also feeds another op.
// CHECK-LABEL: func.func @paged_rotary_with_other_uses
// CHECK-COUNT-2: llm.rotary
// CHECK-NOT: rope(
func.func @paged_rotary_with_other_uses(%q0: tensor<1x4x?x8xf32>, %k0: tensor<1x2x?x8xf32>, %v: tensor<1x2x?x8xf32>,
                 %kp: tensor<?x2x?x8xf32>, %vp: tensor<?x2x?x8xf32>, %bt: tensor<?x?xi32>,
                 %st: tensor<?xi32>, %sp: tensor<?xi32>,
                 %cos: tensor<1x1x?x8xf32>, %sin: tensor<1x1x?x8xf32>) -> (tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32>) {
  %q = llm.rotary %q0, %cos, %sin {interleaved = false} : (tensor<1x4x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x4x?x8xf32>
  %k = llm.rotary %k0, %cos, %sin {interleaved = false} : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.paged_attention %q, %k, %v into %kp, %vp tables %bt starts %st positions %sp {key_slot = 0 : i64, scale = 0.5 : f32, value_slot = 1 : i64} : (tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x?xi32>, tensor<?xi32>, tensor<?xi32>) -> tensor<1x4x?x8xf32>
  return %o, %q : tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32>
}
