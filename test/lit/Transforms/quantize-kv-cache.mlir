// RUN: llmc-opt %s --llmc-quantize-kv-cache=dtype=int8 | FileCheck %s
// RUN: llmc-opt %s --llmc-quantize-kv-cache | FileCheck %s --check-prefix=F32
// RUN: llmc-opt %s --llmc-quantize-kv-cache=dtype=f32 | FileCheck %s --check-prefix=F32
// RUN: llmc-opt %s --pass-pipeline='builtin.module(llmc-quantize-kv-cache{dtype=int8},llmc-batch-step{required=true})' | FileCheck %s --check-prefix=STEP
// RUN: llmc-opt %s --pass-pipeline='builtin.module(llmc-quantize-kv-cache{dtype=int8},llmc-batch-step{required=true},llmc-convert-llm-to-linalg,llmc-convert-onnx-to-linalg,llmc-lower-function-abi)' | FileCheck %s --check-prefix=LOWER
// RUN: llmc-opt %s --pass-pipeline='builtin.module(llmc-batch-step{required=true},llmc-convert-llm-to-linalg,llmc-convert-onnx-to-linalg,llmc-lower-function-abi)' | FileCheck %s --check-prefix=LOWERF32
// RUN: not llmc-opt %s --llmc-quantize-kv-cache=dtype=int3 2>&1 | FileCheck %s --check-prefix=BADTYPE
// RUN: llmc-opt %s --llmc-quantize-kv-cache=dtype=bf16 | FileCheck %s --check-prefix=BF16
// RUN: llmc-opt %s --pass-pipeline='builtin.module(llmc-quantize-kv-cache{dtype=bf16},llmc-batch-step{required=true})' | FileCheck %s --check-prefix=BF16STEP
// RUN: llmc-opt %s --pass-pipeline='builtin.module(llmc-quantize-kv-cache{dtype=bf16},llmc-batch-step{required=true},llmc-convert-llm-to-linalg,llmc-convert-onnx-to-linalg,llmc-lower-function-abi)' | FileCheck %s --check-prefix=BF16LOWER

// BADTYPE: error: unknown KV-cache type 'int3' (expected f32, int8 or bf16)

// A one-layer decoder after llmc-fuse-rope: the key append rotates, the
// exporter reads the past length with onnx.Shape. With dtype=int8 the slots,
// appends and present.* outputs become [B, KVH, T, D + 4] i8 (D codes + the
// f32 scale), llmc.dims follow, and the Shape read still sees D.
// CHECK-LABEL: func.func @main(
// CHECK-SAME: %[[PK:[^:]*]]: tensor<?x2x?x8xi8> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 0 : i64, llmc.dims = ["batch", "2", "past", "8"], llmc.name = "past.0.key"}
// CHECK-SAME: %[[PV:[^:]*]]: tensor<?x2x?x8xi8> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 1 : i64, llmc.dims = ["batch", "2", "past", "8"], llmc.name = "past.0.value"}
// CHECK-SAME: -> (tensor<?x?x8xf32> {llmc.dims = ["batch", "seq", "8"], llmc.name = "logits"}, tensor<?x2x?x8xi8> {llmc.cache_slot = 0 : i64, llmc.dims = ["batch", "2", "past + seq", "8"], llmc.name = "present.0.key"}, tensor<?x2x?x8xi8> {llmc.cache_slot = 1 : i64, llmc.dims = ["batch", "2", "past + seq", "8"], llmc.name = "present.0.value"})
// CHECK: %[[SHAPE:.*]] = "onnx.Shape"(%[[PK]]) : (tensor<?x2x?x8xi8>) -> tensor<4xi64>
// CHECK: %[[FIX:.*]] = arith.constant dense<[0, 0, 0, 4]> : tensor<4xi64>
// CHECK: %[[D:.*]] = "onnx.Sub"(%[[SHAPE]], %[[FIX]])
// CHECK: "onnx.Gather"(%[[D]],
// CHECK: %[[K:.*]] = llm.kv_cache_append %[[PK]], %{{.*}} rope(%{{.*}}, %{{.*}}) {axis = 2 : i64, slot = 0 : i64} : (tensor<?x2x?x8xi8>, tensor<?x2x?x4xf32>, tensor<?x1x?x4xf32>, tensor<?x1x?x4xf32>) -> tensor<?x2x?x8xi8>
// CHECK: %[[V:.*]] = llm.kv_cache_append %[[PV]], %{{.*}} {axis = 2 : i64, slot = 1 : i64} : (tensor<?x2x?x8xi8>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x8xi8>
// CHECK: llm.attention %{{.*}}, %[[K]], %[[V]] rope({{.*}}) {causal = true, scale = 5.000000e-01 : f32} : (tensor<?x2x?x4xf32>, tensor<?x2x?x8xi8>, tensor<?x2x?x8xi8>, tensor<?x1x?x4xf32>, tensor<?x1x?x4xf32>) -> tensor<?x2x?x4xf32>
// CHECK: return %{{.*}}, %[[K]], %[[V]] : tensor<?x?x8xf32>, tensor<?x2x?x8xi8>, tensor<?x2x?x8xi8>

// The default (f32) changes nothing.
// F32-LABEL: func.func @main(
// F32-SAME: tensor<?x2x?x4xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 0 : i64, llmc.dims = ["batch", "2", "past", "4"]
// F32-NOT: xi8>
// F32-NOT: xbf16>
// F32-NOT: onnx.Sub
// F32: llm.kv_cache_append %{{.*}} -> tensor<?x2x?x4xf32>

// The batch step clones the retyped @main: its pools hold int8 rows too.
// STEP-LABEL: func.func @step(
// STEP-SAME: %[[KP:[^:]*]]: tensor<?x2x?x8xi8> {llmc.dims = ["num_blocks", "2", "block_size", "8"], llmc.kv_pool = 0 : i64, llmc.name = "kv_pool.0"}
// STEP-SAME: %[[VP:[^:]*]]: tensor<?x2x?x8xi8> {llmc.dims = ["num_blocks", "2", "block_size", "8"], llmc.kv_pool = 1 : i64, llmc.name = "kv_pool.1"}
// STEP: llm.paged_attention %{{.*}} into %[[KP]], %[[VP]] {{.*}} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x8xi8>, tensor<?x2x?x8xi8>,

// Lowered: new rows are quantized where they are stored (the rotated keys
// and the plain values by llmc_rt_kv_store_q8, rope flag 1 and 0), attention
// and paged attention call the int8 kernels.
// LOWER-DAG: func.func private @llmc_rt_kv_store_q8(memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xi8, strided<[?, ?, ?, ?], offset: ?>>, i32, i32)
// LOWER-DAG: func.func private @llmc_rt_attention_kv8_rope_f32(memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xi8, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xi8, strided<[?, ?, ?, ?], offset: ?>>,
// LOWER-DAG: func.func private @llmc_rt_paged_attention_kv8_rope_f32(memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xi8, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xi8, strided<[?, ?, ?, ?], offset: ?>>,
// LOWER-LABEL: func.func @llmc_main(
// LOWER-SAME: memref<?x2x?x8xi8, strided<[?, ?, ?, ?], offset: ?>>, %{{.*}}: memref<?x2x?x8xi8, strided<[?, ?, ?, ?], offset: ?>>
// LOWER: call @llmc_rt_kv_store_q8(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c1_i32{{[_0-9]*}}, %c0_i32{{[_0-9]*}})
// LOWER: call @llmc_rt_kv_store_q8(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c0_i32{{[_0-9]*}}, %c0_i32{{[_0-9]*}})
// LOWER: call @llmc_rt_attention_kv8_rope_f32(
// LOWER-NOT: llmc_rt_rope_store_f32
// LOWER-LABEL: func.func @llmc_step(
// LOWER: call @llmc_rt_paged_attention_kv8_rope_f32(
// Without the pass: the f32 kernels.
// LOWERF32-NOT: kv8
// LOWERF32-NOT: kvbf16
// LOWERF32-NOT: kv_store_q8
// LOWERF32-NOT: kv_store_bf16
// LOWERF32: call @llmc_rt_rope_store_f32(
// LOWERF32: call @llmc_rt_attention_rope_f32(
// LOWERF32: call @llmc_rt_paged_attention_rope_f32(
// dtype=bf16: the slots, appends and present.* outputs become bf16 rows of
// the same shape (llmc.dims unchanged), and the Shape read is left alone.
// BF16-LABEL: func.func @main(
// BF16-SAME: %[[PK:[^:]*]]: tensor<?x2x?x4xbf16> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 0 : i64, llmc.dims = ["batch", "2", "past", "4"], llmc.name = "past.0.key"}
// BF16-SAME: %[[PV:[^:]*]]: tensor<?x2x?x4xbf16> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 1 : i64, llmc.dims = ["batch", "2", "past", "4"], llmc.name = "past.0.value"}
// BF16-SAME: -> (tensor<?x?x8xf32> {llmc.dims = ["batch", "seq", "8"], llmc.name = "logits"}, tensor<?x2x?x4xbf16> {llmc.cache_slot = 0 : i64, llmc.dims = ["batch", "2", "past + seq", "4"], llmc.name = "present.0.key"}, tensor<?x2x?x4xbf16> {llmc.cache_slot = 1 : i64, llmc.dims = ["batch", "2", "past + seq", "4"], llmc.name = "present.0.value"})
// BF16-NOT: onnx.Sub
// BF16: %[[SHAPE:.*]] = "onnx.Shape"(%[[PK]]) : (tensor<?x2x?x4xbf16>) -> tensor<4xi64>
// BF16-NEXT: "onnx.Gather"(%[[SHAPE]],
// BF16: %[[K:.*]] = llm.kv_cache_append %[[PK]], %{{.*}} rope(%{{.*}}, %{{.*}}) {axis = 2 : i64, slot = 0 : i64} : (tensor<?x2x?x4xbf16>, tensor<?x2x?x4xf32>, tensor<?x1x?x4xf32>, tensor<?x1x?x4xf32>) -> tensor<?x2x?x4xbf16>
// BF16: %[[V:.*]] = llm.kv_cache_append %[[PV]], %{{.*}} {axis = 2 : i64, slot = 1 : i64} : (tensor<?x2x?x4xbf16>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xbf16>
// BF16: llm.attention %{{.*}}, %[[K]], %[[V]] rope({{.*}}) {causal = true, scale = 5.000000e-01 : f32} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xbf16>, tensor<?x2x?x4xbf16>, tensor<?x1x?x4xf32>, tensor<?x1x?x4xf32>) -> tensor<?x2x?x4xf32>
// BF16: return %{{.*}}, %[[K]], %[[V]] : tensor<?x?x8xf32>, tensor<?x2x?x4xbf16>, tensor<?x2x?x4xbf16>

// BF16STEP-LABEL: func.func @step(
// BF16STEP-SAME: %[[KP:[^:]*]]: tensor<?x2x?x4xbf16> {llmc.dims = ["num_blocks", "2", "block_size", "4"], llmc.kv_pool = 0 : i64, llmc.name = "kv_pool.0"}
// BF16STEP-SAME: %[[VP:[^:]*]]: tensor<?x2x?x4xbf16> {llmc.dims = ["num_blocks", "2", "block_size", "4"], llmc.kv_pool = 1 : i64, llmc.name = "kv_pool.1"}
// BF16STEP: llm.paged_attention %{{.*}} into %[[KP]], %[[VP]] {{.*}} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xbf16>, tensor<?x2x?x4xbf16>,

// Lowered: llmc_rt_kv_store_bf16 rounds the (rotated) new rows into the
// slots, attention and paged attention call the bf16 kernels.
// BF16LOWER-DAG: func.func private @llmc_rt_kv_store_bf16(memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xbf16, strided<[?, ?, ?, ?], offset: ?>>, i32, i32)
// BF16LOWER-DAG: func.func private @llmc_rt_attention_kvbf16_rope_f32(memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xbf16, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xbf16, strided<[?, ?, ?, ?], offset: ?>>,
// BF16LOWER-DAG: func.func private @llmc_rt_paged_attention_kvbf16_rope_f32(memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xbf16, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xbf16, strided<[?, ?, ?, ?], offset: ?>>,
// BF16LOWER-LABEL: func.func @llmc_main(
// BF16LOWER-SAME: memref<?x2x?x4xbf16, strided<[?, ?, ?, ?], offset: ?>>, %{{.*}}: memref<?x2x?x4xbf16, strided<[?, ?, ?, ?], offset: ?>>
// BF16LOWER: call @llmc_rt_kv_store_bf16(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c1_i32{{[_0-9]*}}, %c0_i32{{[_0-9]*}})
// BF16LOWER: call @llmc_rt_kv_store_bf16(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c0_i32{{[_0-9]*}}, %c0_i32{{[_0-9]*}})
// BF16LOWER: call @llmc_rt_attention_kvbf16_rope_f32(
// BF16LOWER-NOT: llmc_rt_rope_store_f32
// BF16LOWER-NOT: kv8
// BF16LOWER-LABEL: func.func @llmc_step(
// BF16LOWER: call @llmc_rt_paged_attention_kvbf16_rope_f32(
func.func @main(%ids: tensor<?x?xi64> {llmc.name = "input_ids", llmc.dims = ["batch", "seq"]},
                %pos: tensor<?x?xi64> {llmc.name = "position_ids", llmc.dims = ["batch", "seq"]},
                %pk: tensor<?x2x?x4xf32> {llmc.cache_slot = 0 : i64, llmc.cache_axis = 2 : i64, llmc.name = "past.0.key", llmc.dims = ["batch", "2", "past", "4"]},
                %pv: tensor<?x2x?x4xf32> {llmc.cache_slot = 1 : i64, llmc.cache_axis = 2 : i64, llmc.name = "past.0.value", llmc.dims = ["batch", "2", "past", "4"]})
    -> (tensor<?x?x8xf32> {llmc.name = "logits", llmc.dims = ["batch", "seq", "8"]},
        tensor<?x2x?x4xf32> {llmc.cache_slot = 0 : i64, llmc.name = "present.0.key", llmc.dims = ["batch", "2", "past + seq", "4"]},
        tensor<?x2x?x4xf32> {llmc.cache_slot = 1 : i64, llmc.name = "present.0.value", llmc.dims = ["batch", "2", "past + seq", "4"]}) {
  %table = arith.constant dense<1.0> : tensor<8x8xf32>
  %w = arith.constant dense<2.0> : tensor<8x8xf32>
  %s4 = arith.constant dense<[0, 0, 2, 4]> : tensor<4xi64>
  %s3 = arith.constant dense<[0, 0, 8]> : tensor<3xi64>
  %axes = arith.constant dense<[1, 3]> : tensor<2xi64>
  %freq = arith.constant dense<[1.0, 0.1, 1.0, 0.1]> : tensor<4xf32>
  %two = arith.constant dense<2> : tensor<i64>
  %shape = "onnx.Shape"(%pk) : (tensor<?x2x?x4xf32>) -> tensor<4xi64>
  %plen = "onnx.Gather"(%shape, %two) <{axis = 0 : i64}> : (tensor<4xi64>, tensor<i64>) -> tensor<i64>
  %pf = "onnx.Cast"(%pos) <{to = 1 : i64}> : (tensor<?x?xi64>) -> tensor<?x?xf32>
  %pu = "onnx.Unsqueeze"(%pf, %axes) : (tensor<?x?xf32>, tensor<2xi64>) -> tensor<?x1x?x1xf32>
  %ang = "onnx.Mul"(%pu, %freq) : (tensor<?x1x?x1xf32>, tensor<4xf32>) -> tensor<?x1x?x4xf32>
  %cos = "onnx.Cos"(%ang) : (tensor<?x1x?x4xf32>) -> tensor<?x1x?x4xf32>
  %sin = "onnx.Sin"(%ang) : (tensor<?x1x?x4xf32>) -> tensor<?x1x?x4xf32>
  %x = llm.embedding %table[%ids] : (tensor<8x8xf32>, tensor<?x?xi64>) -> tensor<?x?x8xf32>
  %r = "onnx.Reshape"(%x, %s4) : (tensor<?x?x8xf32>, tensor<4xi64>) -> tensor<?x?x2x4xf32>
  %q = "onnx.Transpose"(%r) <{perm = [0, 2, 1, 3]}> : (tensor<?x?x2x4xf32>) -> tensor<?x2x?x4xf32>
  %k = llm.kv_cache_append %pk, %q rope(%cos, %sin) {axis = 2 : i64, slot = 0 : i64} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x1x?x4xf32>, tensor<?x1x?x4xf32>) -> tensor<?x2x?x4xf32>
  %v = llm.kv_cache_append %pv, %q {axis = 2 : i64, slot = 1 : i64} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %o = llm.attention %q, %k, %v rope(%cos, %sin) {causal = true, scale = 0.5 : f32} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>, tensor<?x1x?x4xf32>, tensor<?x1x?x4xf32>) -> tensor<?x2x?x4xf32>
  %ot = "onnx.Transpose"(%o) <{perm = [0, 2, 1, 3]}> : (tensor<?x2x?x4xf32>) -> tensor<?x?x2x4xf32>
  %h = "onnx.Reshape"(%ot, %s3) : (tensor<?x?x2x4xf32>, tensor<3xi64>) -> tensor<?x?x8xf32>
  %logits = llm.linear %h, %w : (tensor<?x?x8xf32>, tensor<8x8xf32>) -> tensor<?x?x8xf32>
  return %logits, %k, %v : tensor<?x?x8xf32>, tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>
}
