// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-instrument-linears))' | FileCheck %s

// Every quantization candidate (constant rank-2 f32 weight, not packed) gets
// an llm.observe of its input right before it, numbered in walk order, with
// its output columns (both halves of a gated one; transposed weights
// [N, K]). A run-time weight and a packed weight are not candidates and get
// no observer, and do not take a number.
// CHECK-LABEL: func.func @main
// CHECK: llm.observe %arg0 {columns = 3 : i64, id = 0 : i64} : tensor<?x4xf32>
// CHECK-NEXT: %[[A:.*]] = llm.linear %arg0
// CHECK-NOT: llm.observe
// CHECK: llm.linear %[[A]], %arg1 :
// CHECK-NOT: llm.observe
// CHECK: llm.linear %[[A]], %{{.*}} {packed_panel = 2 : i64}
// CHECK: llm.observe %[[A]] {columns = 4 : i64, id = 1 : i64} : tensor<?x3xf32>
// CHECK-NEXT: llm.linear %[[A]], %{{.*}} {gated}
// CHECK: llm.observe %[[A]] {columns = 2 : i64, id = 2 : i64} : tensor<?x3xf32>
// CHECK-NEXT: llm.linear %[[A]], %{{.*}} {transpose_weight = true}
func.func @main(%x: tensor<?x4xf32>, %wr: tensor<3x2xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>) {
  %w = arith.constant dense<1.0> : tensor<4x3xf32>
  %a = llm.linear %x, %w : (tensor<?x4xf32>, tensor<4x3xf32>) -> tensor<?x3xf32>
  %b = llm.linear %a, %wr : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32>
  %wp = arith.constant dense<1.0> : tensor<6xf32>
  %c = llm.linear %a, %wp {packed_panel = 2 : i64} : (tensor<?x3xf32>, tensor<6xf32>) -> tensor<?x2xf32>
  %wg = arith.constant dense<1.0> : tensor<3x4xf32>
  %d = llm.linear %a, %wg {gated} : (tensor<?x3xf32>, tensor<3x4xf32>) -> tensor<?x2xf32>
  %wt = arith.constant dense<1.0> : tensor<2x3xf32>
  %e = llm.linear %a, %wt {transpose_weight = true} : (tensor<?x3xf32>, tensor<2x3xf32>) -> tensor<?x2xf32>
  return %b, %c, %d, %e : tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>
}

// Nothing to observe: the function is unchanged.
// CHECK-LABEL: func.func @none
// CHECK-NOT: llm.observe
func.func @none(%x: tensor<?x3xf32>, %w: tensor<3x2xf32>) -> tensor<?x2xf32> {
  %y = llm.linear %x, %w : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
