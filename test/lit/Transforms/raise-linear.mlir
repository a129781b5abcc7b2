// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-raise-linear))' | FileCheck %s

// CHECK-LABEL: func.func @matmul_const
// CHECK: llm.linear %arg0, %{{.*}} : (tensor<1x?x4xf32>, tensor<4x3xf32>) -> tensor<1x?x3xf32>
func.func @matmul_const(%x: tensor<1x?x4xf32>) -> tensor<1x?x3xf32> {
  %w = arith.constant dense<1.0> : tensor<4x3xf32>
  %y = "onnx.MatMul"(%x, %w) : (tensor<1x?x4xf32>, tensor<4x3xf32>) -> tensor<1x?x3xf32>
  return %y : tensor<1x?x3xf32>
}

// Gemm with transB and a per-column bias.
// CHECK-LABEL: func.func @gemm_transb_bias
// CHECK: llm.linear %arg0, %{{.*}}, %{{.*}} {transpose_weight = true} : (tensor<?x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<?x3xf32>
func.func @gemm_transb_bias(%x: tensor<?x4xf32>) -> tensor<?x3xf32> {
  %w = arith.constant dense<1.0> : tensor<3x4xf32>
  %b = arith.constant dense<0.5> : tensor<3xf32>
  %y = "onnx.Gemm"(%x, %w, %b) {transB = 1 : i64} : (tensor<?x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  return %y : tensor<?x3xf32>
}

// Negatives: a run-time right operand, a scaled Gemm, a [M, N] bias.
// CHECK-LABEL: func.func @not_linear
// CHECK-NOT: llm.linear
// CHECK: onnx.MatMul
// CHECK: onnx.Gemm
// CHECK: onnx.Gemm
func.func @not_linear(%x: tensor<2x4xf32>, %w: tensor<4x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
  %y = "onnx.MatMul"(%x, %w) : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %wc = arith.constant dense<1.0> : tensor<4x3xf32>
  %none = "onnx.NoValue"() : () -> none
  %z = "onnx.Gemm"(%x, %wc, %none) {alpha = 2.0 : f32} : (tensor<2x4xf32>, tensor<4x3xf32>, none) -> tensor<2x3xf32>
  %c = arith.constant dense<1.0> : tensor<2x3xf32>
  %u = "onnx.Gemm"(%x, %wc, %c) : (tensor<2x4xf32>, tensor<4x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y, %z, %u : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}
