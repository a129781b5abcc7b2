// RUN: llmc-opt %s --split-input-file --verify-diagnostics --llmc-batch-step=required=true | FileCheck %s
// RUN: llmc-opt %s --split-input-file --llmc-batch-step 2>&1 | FileCheck %s --check-prefix=OPTIONAL

// Without `required` the same graphs only warn and keep @main alone.
// OPTIONAL: warning: no batch step: the attention mask feeds 'onnx.Add'
// OPTIONAL: warning: no batch step: an attention reads keys/values that are not the KV cache
// OPTIONAL: warning: no batch step: unexpected input 'token_type_ids'

// A one-layer decoder: @main stays as it is; @step gets the paged form.
// CHECK-LABEL: func.func @main(
// CHECK: llm.kv_cache_append
// CHECK: llm.attention
// CHECK-LABEL: func.func @step(
// CHECK-SAME: %[[IDS:[^:]*]]: tensor<?x?xi64> {llmc.dims = ["1", "num_tokens"], llmc.name = "input_ids"}
// CHECK-SAME: %[[POS:[^:]*]]: tensor<?x?xi64> {llmc.dims = ["1", "num_tokens"], llmc.name = "position_ids"}
// CHECK-SAME: %[[KP:[^:]*]]: tensor<?x2x?x4xf32> {llmc.dims = ["num_blocks", "2", "block_size", "4"], llmc.kv_pool = 0 : i64, llmc.name = "kv_pool.0"}
// CHECK-SAME: %[[VP:[^:]*]]: tensor<?x2x?x4xf32> {llmc.dims = ["num_blocks", "2", "block_size", "4"], llmc.kv_pool = 1 : i64, llmc.name = "kv_pool.1"}
// CHECK-SAME: %[[BT:[^:]*]]: tensor<?x?xi32> {llmc.dims = ["num_seqs", "max_blocks"], llmc.name = "block_tables"}
// CHECK-SAME: %[[ST:[^:]*]]: tensor<?xi32> {llmc.dims = ["num_seqs + 1"], llmc.name = "seq_starts"}
// CHECK-SAME: %[[SP:[^:]*]]: tensor<?xi32> {llmc.dims = ["num_seqs"], llmc.name = "seq_positions"}
// CHECK-SAME: %[[LI:[^:]*]]: tensor<?xi64> {llmc.dims = ["num_logits"], llmc.name = "logits_indices"})
// CHECK-SAME: -> (tensor<1x?x8xf32> {llmc.dims = ["1", "num_logits", "8"], llmc.name = "logits"})
// The mask computation is gone with the mask input and the past-length reads.
// CHECK-NOT: onnx.Cast
// CHECK-NOT: kv_cache_append
// CHECK: %[[Q:.*]] = "onnx.Transpose"
// CHECK: %[[O:.*]] = llm.paged_attention %[[Q]], %[[Q]], %[[Q]] into %[[KP]], %[[VP]] tables %[[BT]] starts %[[ST]] positions %[[SP]] {key_slot = 0 : i64, scale = 5.000000e-01 : f32, value_slot = 1 : i64}
// The LM head runs on the gathered rows only.
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0, 1], [2]]
// CHECK: %[[ROWIDS:.*]] = tensor.expand_shape %[[LI]]
// CHECK: %[[ROWS:.*]] = llm.embedding %[[FLAT]][%[[ROWIDS]]]
// CHECK: %[[L:.*]] = llm.linear %[[ROWS]], %{{.*}} : (tensor<1x?x8xf32>, tensor<8x8xf32>) -> tensor<1x?x8xf32>
// CHECK: return %[[L]] : tensor<1x?x8xf32>
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
  %x = llm.embedding %table[%ids] : (tensor<8x8xf32>, tensor<?x?xi64>) -> tensor<?x?x8xf32>
  %r = "onnx.Reshape"(%x, %s4) : (tensor<?x?x8xf32>, tensor<4xi64>) -> tensor<?x?x2x4xf32>
  %q = "onnx.Transpose"(%r) <{perm = [0, 2, 1, 3]}> : (tensor<?x?x2x4xf32>) -> tensor<?x2x?x4xf32>
  %k = llm.kv_cache_append %pk, %q {axis = 2 : i64, slot = 0 : i64} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %v = llm.kv_cache_append %pv, %q {axis = 2 : i64, slot = 1 : i64} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %mf = "onnx.Cast"(%mask) <{to = 1 : i64}> : (tensor<?x?xi64>) -> tensor<?x?xf32>
  %o = llm.attention %q, %k, %v, %mf {causal = true, scale = 0.5 : f32} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x?xf32>) -> tensor<?x2x?x4xf32>
  %ot = "onnx.Transpose"(%o) <{perm = [0, 2, 1, 3]}> : (tensor<?x2x?x4xf32>) -> tensor<?x?x2x4xf32>
  %h = "onnx.Reshape"(%ot, %s3) : (tensor<?x?x2x4xf32>, tensor<3xi64>) -> tensor<?x?x8xf32>
  %logits = llm.linear %h, %w : (tensor<?x?x8xf32>, tensor<8x8xf32>) -> tensor<?x?x8xf32>
  return %logits, %k, %v : tensor<?x?x8xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>
}

// -----

// No KV cache: nothing to batch, no @step.
// CHECK-LABEL: func.func @main(
// CHECK-NOT: func.func @step
func.func @main(%ids: tensor<?x?xi64> {llmc.name = "input_ids"}) -> (tensor<?x?x8xf32> {llmc.name = "logits"}) {
  %table = arith.constant dense<1.0> : tensor<8x8xf32>
  %x = llm.embedding %table[%ids] : (tensor<8x8xf32>, tensor<?x?xi64>) -> tensor<?x?x8xf32>
  return %x : tensor<?x?x8xf32>
}

// -----

// The mask input also shifts the token ids (as some exporters derive position ids
// from it): a batch step has no per-sequence mask to give it.
// expected-error @+1 {{cannot build the batch step: the attention mask feeds 'onnx.Add', not only attention masking}}
func.func @main(%ids: tensor<?x?xi64> {llmc.name = "input_ids"},
                %mask: tensor<?x?xi64> {llmc.name = "attention_mask"},
                %pos: tensor<?x?xi64> {llmc.name = "position_ids"},
                %pk: tensor<?x2x?x4xf32> {llmc.cache_slot = 0 : i64, llmc.name = "past.0.key"},
                %pv: tensor<?x2x?x4xf32> {llmc.cache_slot = 1 : i64, llmc.name = "past.0.value"})
    -> (tensor<?x?x8xf32> {llmc.name = "logits"}) {
  %table = arith.constant dense<1.0> : tensor<8x8xf32>
  %w = arith.constant dense<2.0> : tensor<8x8xf32>
  %s4 = arith.constant dense<[0, 0, 2, 4]> : tensor<4xi64>
  %s3 = arith.constant dense<[0, 0, 8]> : tensor<3xi64>
  %shifted = "onnx.Add"(%ids, %mask) : (tensor<?x?xi64>, tensor<?x?xi64>) -> tensor<?x?xi64>
  %x = llm.embedding %table[%shifted] : (tensor<8x8xf32>, tensor<?x?xi64>) -> tensor<?x?x8xf32>
  %r = "onnx.Reshape"(%x, %s4) : (tensor<?x?x8xf32>, tensor<4xi64>) -> tensor<?x?x2x4xf32>
  %q = "onnx.Transpose"(%r) <{perm = [0, 2, 1, 3]}> : (tensor<?x?x2x4xf32>) -> tensor<?x2x?x4xf32>
  %k = llm.kv_cache_append %pk, %q {axis = 2 : i64, slot = 0 : i64} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %v = llm.kv_cache_append %pv, %q {axis = 2 : i64, slot = 1 : i64} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %mf = "onnx.Cast"(%mask) <{to = 1 : i64}> : (tensor<?x?xi64>) -> tensor<?x?xf32>
  %o = llm.attention %q, %k, %v, %mf {causal = true, scale = 0.5 : f32} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x?xf32>) -> tensor<?x2x?x4xf32>
  %ot = "onnx.Transpose"(%o) <{perm = [0, 2, 1, 3]}> : (tensor<?x2x?x4xf32>) -> tensor<?x?x2x4xf32>
  %h = "onnx.Reshape"(%ot, %s3) : (tensor<?x?x2x4xf32>, tensor<3xi64>) -> tensor<?x?x8xf32>
  %logits = llm.linear %h, %w : (tensor<?x?x8xf32>, tensor<8x8xf32>) -> tensor<?x?x8xf32>
  return %logits : tensor<?x?x8xf32>
}

// -----

// Attention over keys that are not the cache (here: only the new keys).
// expected-error @+1 {{cannot build the batch step: an attention reads keys/values that are not the KV cache}}
func.func @main(%ids: tensor<?x?xi64> {llmc.name = "input_ids"},
                %pos: tensor<?x?xi64> {llmc.name = "position_ids"},
                %pk: tensor<?x2x?x4xf32> {llmc.cache_slot = 0 : i64, llmc.name = "past.0.key"})
    -> (tensor<?x?x8xf32> {llmc.name = "logits"},
        tensor<?x2x?x4xf32> {llmc.cache_slot = 0 : i64, llmc.name = "present.0.key"}) {
  %table = arith.constant dense<1.0> : tensor<8x8xf32>
  %s4 = arith.constant dense<[0, 0, 2, 4]> : tensor<4xi64>
  %s3 = arith.constant dense<[0, 0, 8]> : tensor<3xi64>
  %x = llm.embedding %table[%ids] : (tensor<8x8xf32>, tensor<?x?xi64>) -> tensor<?x?x8xf32>
  %r = "onnx.Reshape"(%x, %s4) : (tensor<?x?x8xf32>, tensor<4xi64>) -> tensor<?x?x2x4xf32>
  %q = "onnx.Transpose"(%r) <{perm = [0, 2, 1, 3]}> : (tensor<?x?x2x4xf32>) -> tensor<?x2x?x4xf32>
  %k = llm.kv_cache_append %pk, %q {axis = 2 : i64, slot = 0 : i64} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %o = llm.attention %q, %q, %q {causal = true, scale = 0.5 : f32} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %ot = "onnx.Transpose"(%o) <{perm = [0, 2, 1, 3]}> : (tensor<?x2x?x4xf32>) -> tensor<?x?x2x4xf32>
  %h = "onnx.Reshape"(%ot, %s3) : (tensor<?x?x2x4xf32>, tensor<3xi64>) -> tensor<?x?x8xf32>
  return %h, %k : tensor<?x?x8xf32>, tensor<?x2x?x4xf32>
}

// -----

// An input the step does not know how to fill.
// expected-error @+1 {{cannot build the batch step: unexpected input 'token_type_ids'}}
func.func @main(%ids: tensor<?x?xi64> {llmc.name = "input_ids"},
                %tt: tensor<?x?xi64> {llmc.name = "token_type_ids"},
                %pk: tensor<?x2x?x4xf32> {llmc.cache_slot = 0 : i64, llmc.name = "past.0.key"})
    -> (tensor<?x2x?x4xf32> {llmc.cache_slot = 0 : i64, llmc.name = "present.0.key"}) {
  return %pk : tensor<?x2x?x4xf32>
}
