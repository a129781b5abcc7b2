// RUN: llmc-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(func.func(llmc-fuse-rope),llmc-batch-step{required=true})' | FileCheck %s
// RUN: llmc-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(func.func(llmc-fuse-rope),llmc-batch-step{required=true},llmc-convert-llm-to-linalg)' | FileCheck %s --check-prefix=LOWER

// llmc-fuse-rope runs with the other fusions, before llmc-batch-step clones
// @main: @step's paged attention inherits the rotation (cos/sin computed
// from position_ids, one row per token of the ragged batch) and applies it
// to the keys it stores and the queries it loads.
// CHECK-LABEL: func.func @main(
// CHECK-NOT: llm.rotary
// CHECK: %[[COS:.*]] = "onnx.Cos"
// CHECK: %[[SIN:.*]] = "onnx.Sin"
// CHECK: %[[KC:.*]] = llm.kv_cache_append %{{.*}}, %{{.*}} rope(%[[COS]], %[[SIN]]) {axis = 2 : i64, slot = 0 : i64}
// CHECK: llm.attention %{{.*}}, %[[KC]], %{{.*}} rope(%[[COS]], %[[SIN]])
// CHECK-LABEL: func.func @step(
// CHECK-SAME: %[[POS:[^:]*]]: tensor<?x?xi64> {llmc.dims = ["1", "num_tokens"], llmc.name = "position_ids"}
// CHECK-NOT: llm.rotary
// CHECK: %[[PF:.*]] = "onnx.Cast"(%[[POS]])
// CHECK: %[[SCOS:.*]] = "onnx.Cos"
// CHECK: %[[SSIN:.*]] = "onnx.Sin"
// CHECK: llm.paged_attention %{{.*}} positions %{{.*}} rope(%[[SCOS]], %[[SSIN]]) {key_slot = 0 : i64, scale = 5.000000e-01 : f32, value_slot = 1 : i64}
// LOWER-LABEL: func.func @step(
// LOWER: call @llmc_rt_paged_attention_rope_f32(
func.func @main(%ids: tensor<?x?xi64> {llmc.name = "input_ids"},
                %mask: tensor<?x?xi64> {llmc.name = "attention_mask"},
                %pos: tensor<?x?xi64> {llmc.name = "position_ids"},
                %pk: tensor<?x2x?x4xf32> {llmc.cache_slot = 0 : i64, llmc.name = "past.0.key"},
                %pv: tensor<?x2x?x4xf32> {llmc.cache_slot = 1 : i64, llmc.name = "past.0.value"})
    -> (tensor<?x?x8xf32> {llmc.name = "logits"},
        tensor<?x2x?x4xf32> {llmc.cache_slot = 0 : i64, llmc.name = "present.0.key"},
        tensor<?x2x?x4xf32> {llmc.cache_slot = 1 : i64, llmc.name = "present.0.value"}) {
  %table = arith.constant dense<1.0> : tensor<8x8xf32>
  %w = arith.constant dense<2.0> : tensor<8x8xf32>
  %s4 = arith.constant dense<[0, 0, 2, 4]> : tensor<4xi64>
  %s3 = arith.constant dense<[0, 0, 8]> : tensor<3xi64>
  %axes = arith.constant dense<[1, 3]> : tensor<2xi64>
  %freq = arith.constant dense<[1.0, 0.1, 1.0, 0.1]> : tensor<4xf32>
  %pf = "onnx.Cast"(%pos) <{to = 1 : i64}> : (tensor<?x?xi64>) -> tensor<?x?xf32>
  %pu = "onnx.Unsqueeze"(%pf, %axes) : (tensor<?x?xf32>, tensor<2xi64>) -> tensor<?x1x?x1xf32>
  %ang = "onnx.Mul"(%pu, %freq) : (tensor<?x1x?x1xf32>, tensor<4xf32>) -> tensor<?x1x?x4xf32>
  %cos = "onnx.Cos"(%ang) : (tensor<?x1x?x4xf32>) -> tensor<?x1x?x4xf32>
  %sin = "onnx.Sin"(%ang) : (tensor<?x1x?x4xf32>) -> tensor<?x1x?x4xf32>
  %x = llm.embedding %table[%ids] : (tensor<8x8xf32>, tensor<?x?xi64>) -> tensor<?x?x8xf32>
  %r = "onnx.Reshape"(%x, %s4) : (tensor<?x?x8xf32>, tensor<4xi64>) -> tensor<?x?x2x4xf32>
  %q0 = "onnx.Transpose"(%r) <{perm = [0, 2, 1, 3]}> : (tensor<?x?x2x4xf32>) -> tensor<?x2x?x4xf32>
  %q = llm.rotary %q0, %cos, %sin {interleaved = false} : (tensor<?x2x?x4xf32>, tensor<?x1x?x4xf32>, tensor<?x1x?x4xf32>) -> tensor<?x2x?x4xf32>
  %kr = llm.rotary %q0, %cos, %sin {interleaved = false} : (tensor<?x2x?x4xf32>, tensor<?x1x?x4xf32>, tensor<?x1x?x4xf32>) -> tensor<?x2x?x4xf32>
  %k = llm.kv_cache_append %pk, %kr {axis = 2 : i64, slot = 0 : i64} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %v = llm.kv_cache_append %pv, %q0 {axis = 2 : i64, slot = 1 : i64} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %mf = "onnx.Cast"(%mask) <{to = 1 : i64}> : (tensor<?x?xi64>) -> tensor<?x?xf32>
  %o = llm.attention %q, %k, %v, %mf {causal = true, scale = 0.5 : f32} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x?xf32>) -> tensor<?x2x?x4xf32>
  %ot = "onnx.Transpose"(%o) <{perm = [0, 2, 1, 3]}> : (tensor<?x2x?x4xf32>) -> tensor<?x?x2x4xf32>
  %h = "onnx.Reshape"(%ot, %s3) : (tensor<?x?x2x4xf32>, tensor<3xi64>) -> tensor<?x?x8xf32>
  %logits = llm.linear %h, %w : (tensor<?x?x8xf32>, tensor<8x8xf32>) -> tensor<?x?x8xf32>
  return %logits, %k, %v : tensor<?x?x8xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>
}

// -----

// Hand-written IR (not what llmc-fuse-rope makes): the attention and its key
// append rotate with different tables; the paged op has one pair for both.
// expected-error @+1 {{cannot build the batch step: an attention and its KV cache appends apply different rotary embeddings}}
func.func @main(%ids: tensor<?x?xi64> {llmc.name = "input_ids"},
                %pos: tensor<?x?xi64> {llmc.name = "position_ids"},
                %pk: tensor<?x2x?x4xf32> {llmc.cache_slot = 0 : i64, llmc.name = "past.0.key"},
                %pv: tensor<?x2x?x4xf32> {llmc.cache_slot = 1 : i64, llmc.name = "past.0.value"})
    -> (tensor<?x?x8xf32> {llmc.name = "logits"}) {
  %table = arith.constant dense<1.0> : tensor<8x8xf32>
  %s4 = arith.constant dense<[0, 0, 2, 4]> : tensor<4xi64>
  %s3 = arith.constant dense<[0, 0, 8]> : tensor<3xi64>
  %cos = arith.constant dense<0.5> : tensor<4xf32>
  %sin = arith.constant dense<0.25> : tensor<4xf32>
  %x = llm.embedding %table[%ids] : (tensor<8x8xf32>, tensor<?x?xi64>) -> tensor<?x?x8xf32>
  %r = "onnx.Reshape"(%x, %s4) : (tensor<?x?x8xf32>, tensor<4xi64>) -> tensor<?x?x2x4xf32>
  %q = "onnx.Transpose"(%r) <{perm = [0, 2, 1, 3]}> : (tensor<?x?x2x4xf32>) -> tensor<?x2x?x4xf32>
  %k = llm.kv_cache_append %pk, %q rope(%sin, %cos) {axis = 2 : i64, slot = 0 : i64} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x2x?x4xf32>
  %v = llm.kv_cache_append %pv, %q {axis = 2 : i64, slot = 1 : i64} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %o = llm.attention %q, %k, %v rope(%cos, %sin) {causal = true, scale = 0.5 : f32} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x2x?x4xf32>
  %ot = "onnx.Transpose"(%o) <{perm = [0, 2, 1, 3]}> : (tensor<?x2x?x4xf32>) -> tensor<?x?x2x4xf32>
  %h = "onnx.Reshape"(%ot, %s3) : (tensor<?x?x2x4xf32>, tensor<3xi64>) -> tensor<?x?x8xf32>
  return %h : tensor<?x?x8xf32>
}
