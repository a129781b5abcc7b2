// RUN: llmc-opt %s --llmc-convert-llm-to-linalg | FileCheck %s --check-prefix=KERNEL
// RUN: llmc-opt %s --llmc-convert-llm-to-linalg=use-kernels=false | FileCheck %s --check-prefix=REF

// KERNEL: func.func private @llmc_rt_linear_f32(memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, i32) attributes {llvm.emit_c_interface}
// KERNEL-LABEL: func.func @linear
// KERNEL: bufferization.to_buffer %{{.*}} read_only
// KERNEL: memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x3xf32>
// KERNEL: call @llmc_rt_linear_f32
// KERNEL: bufferization.to_tensor %{{.*}} restrict writable
// REF-LABEL: func.func @linear
// REF-NOT: call
// REF: linalg.generic
// REF-SAME: iterator_types = ["parallel", "parallel", "reduction"]
func.func @linear(%x: tensor<1x?x4xf32>) -> tensor<1x?x3xf32> {
  %w = arith.constant dense<1.0> : tensor<4x3xf32>
  %y = llm.linear %x, %w : (tensor<1x?x4xf32>, tensor<4x3xf32>) -> tensor<1x?x3xf32>
  return %y : tensor<1x?x3xf32>
}

// RMSNorm always has the linalg lowering: a reduction and a normalization.
// KERNEL-LABEL: func.func @rms
// KERNEL: linalg.generic
// KERNEL-SAME: "reduction"
// KERNEL: math.rsqrt
func.func @rms(%x: tensor<?x8xf32>, %w: tensor<8xf32>) -> tensor<?x8xf32> {
  %y = llm.rms_norm %x, %w {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// KERNEL-LABEL: func.func @attention
// KERNEL: call @llmc_rt_attention_f32
func.func @attention(%q: tensor<1x4x?x8xf32>, %k: tensor<1x2x?x8xf32>, %v: tensor<1x2x?x8xf32>) -> tensor<1x4x?x8xf32> {
  %y = llm.attention %q, %k, %v {scale = 0.35 : f32, causal = true} : (tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x4x?x8xf32>
  return %y : tensor<1x4x?x8xf32>
}
// REF-LABEL: func.func @attention
// REF-NOT: call
// REF: linalg.generic
// REF: arith.cmpi sgt
// REF: "onnx.Softmax"
// REF: linalg.generic
