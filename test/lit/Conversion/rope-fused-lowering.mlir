// RUN: llmc-opt %s --llmc-convert-llm-to-linalg | FileCheck %s --check-prefix=KERNEL
// RUN: llmc-opt %s --llmc-convert-llm-to-linalg=use-kernels=false | FileCheck %s --check-prefix=REF
// RUN: llmc-opt %s --llmc-convert-llm-to-linalg --llmc-lower-function-abi | FileCheck %s --check-prefix=ABI

// Lowering of the rope(cos, sin) operands llmc-fuse-rope puts on attention,
// kv_cache_append and paged_attention.

// With kernels: one attention call that rotates the queries (3-D tables
// reshaped to 4-D views); the append keeps its rope for the function ABI,
// which stores rotary(new keys) straight into the cache slot's free rows.
// KERNEL: func.func private @llmc_rt_attention_rope_f32(memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, i32, i32, f32, i32)
// KERNEL-LABEL: func.func @main
// KERNEL: llm.kv_cache_append %{{.*}}, %{{.*}} rope(%{{.*}}, %{{.*}}) {axis = 2 : i64, rope_interleaved = true, slot = 0 : i64}
// KERNEL: %[[COS:.*]] = tensor.reshape %arg2(%{{.*}}) : (tensor<1x?x4xf32>, tensor<4xindex>) -> tensor<1x1x?x4xf32>
// KERNEL: bufferization.to_buffer %[[COS]] read_only
// KERNEL: call @llmc_rt_attention_rope_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c0_i32, %c1_i32, %{{.*}}, %c1_i32)
// KERNEL-NOT: llm.rotary
// Without kernels the rotations are taken apart again: a rotary generic for
// the keys before the (plain) append and one for the queries, then the
// reference attention.
// REF-LABEL: func.func @main
// REF-NOT: call
// REF-NOT: rope(
// REF: linalg.generic
// REF: arith.xori
// REF: llm.kv_cache_append %{{.*}}, %{{.*}} {axis = 2 : i64, slot = 0 : i64}
// REF: linalg.generic
// REF: arith.xori
// REF: "onnx.Softmax"
// ABI: func.func private @llmc_rt_rope_store_f32(memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, i32) attributes {llvm.emit_c_interface}
// ABI-LABEL: func.func @llmc_main
// ABI: %[[FULL:.*]] = memref.reinterpret_cast
// ABI: %[[REGION:.*]] = memref.subview %[[FULL]]
// ABI-NOT: materialize_in_destination %{{.*}} in restrict writable %[[REGION]]
// ABI: %[[DST:.*]] = memref.cast %[[REGION]] : memref<1x2x?x4xf32, strided<[?, ?, ?, ?], offset: ?>> to memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>
// ABI: call @llmc_rt_rope_store_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[DST]], %{{.*}})
// ABI: bufferization.to_tensor %[[FULL]] restrict
// ABI: call @llmc_rt_attention_rope_f32
module {
  func.func @main(%q: tensor<1x4x?x4xf32> {llmc.name = "q", llmc.dims = ["1", "4", "s", "4"]},
                  %new: tensor<1x2x?x4xf32> {llmc.name = "new", llmc.dims = ["1", "2", "s", "4"]},
                  %cos: tensor<1x?x4xf32> {llmc.name = "cos", llmc.dims = ["1", "s", "4"]},
                  %sin: tensor<1x?x4xf32> {llmc.name = "sin", llmc.dims = ["1", "s", "4"]},
                  %past: tensor<1x2x?x4xf32> {llmc.name = "past.0", llmc.dims = ["1", "2", "p", "4"], llmc.cache_slot = 0 : i64, llmc.cache_axis = 2 : i64})
      -> (tensor<1x2x?x4xf32> {llmc.name = "present.0", llmc.cache_slot = 0 : i64},
          tensor<1x4x?x4xf32> {llmc.name = "y", llmc.dims = ["1", "4", "s", "4"]}) {
    %all = llm.kv_cache_append %past, %new rope(%cos, %sin) {axis = 2 : i64, slot = 0 : i64, rope_interleaved = true} : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>, tensor<1x?x4xf32>, tensor<1x?x4xf32>) -> tensor<1x2x?x4xf32>
    %y = llm.attention %q, %all, %all rope(%cos, %sin) {causal = true, scale = 0.5 : f32, rope_interleaved = true} : (tensor<1x4x?x4xf32>, tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>, tensor<1x?x4xf32>, tensor<1x?x4xf32>) -> tensor<1x4x?x4xf32>
    return %all, %y : tensor<1x2x?x4xf32>, tensor<1x4x?x4xf32>
  }
}
