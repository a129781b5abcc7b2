// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-fuse-epilogue))' | FileCheck %s

// A residual add of the same static shape folds into the linear.
// CHECK-LABEL: func.func @residual_static
// CHECK: %[[Y:.*]] = llm.linear %arg0, %{{.*}} residual(%arg1) : (tensor<4x2xf32>, tensor<2x2xf32>, tensor<4x2xf32>) -> tensor<4x2xf32>
// CHECK-NOT: onnx.Add
// CHECK: return %[[Y]]
func.func @residual_static(%x: tensor<4x2xf32>, %r: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %y = llm.linear %x, %w : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  %s = "onnx.Add"(%r, %y) : (tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<4x2xf32>
  return %s : tensor<4x2xf32>
}

// Dynamic dims: fused only with the importer's proof of equal shapes.
// CHECK-LABEL: func.func @residual_dynamic_proven
// CHECK: llm.linear %arg0, %{{.*}} residual(%arg1)
func.func @residual_dynamic_proven(%x: tensor<?x2xf32>, %r: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %y = llm.linear %x, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  %s = "onnx.Add"(%y, %r) {llmc.same_shape} : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %s : tensor<?x2xf32>
}

// Negative: without the proof a `?` row count of r may be 1 and broadcast.
// CHECK-LABEL: func.func @residual_dynamic_unproven
// CHECK: llm.linear %arg0, %{{.*}} :
// CHECK: onnx.Add
func.func @residual_dynamic_unproven(%x: tensor<?x2xf32>, %r: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %y = llm.linear %x, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  %s = "onnx.Add"(%y, %r) : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %s : tensor<?x2xf32>
}

// A constant per-column vector becomes the bias.
// CHECK-LABEL: func.func @bias
// CHECK: %[[B:.*]] = arith.constant dense<[5.000000e+00, 6.000000e+00]> : tensor<2xf32>
// CHECK: llm.linear %arg0, %{{.*}}, %[[B]] : (tensor<?x2xf32>, tensor<2x2xf32>, tensor<2xf32>)
func.func @bias(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = arith.constant dense<[[5.0, 6.0]]> : tensor<1x2xf32>
  %y = llm.linear %x, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  %s = "onnx.Add"(%y, %b) : (tensor<?x2xf32>, tensor<1x2xf32>) -> tensor<?x2xf32>
  return %s : tensor<?x2xf32>
}

// Negative: the linear result has another use; a broadcasting add.
// CHECK-LABEL: func.func @not_fusable
// CHECK-COUNT-2: onnx.Add
func.func @not_fusable(%x: tensor<4x2xf32>, %r: tensor<4x2xf32>, %row: tensor<1x2xf32>) -> (tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>) {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %y = llm.linear %x, %w : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  %s = "onnx.Add"(%y, %r) : (tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<4x2xf32>
  %y2 = llm.linear %r, %w : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  %t = "onnx.Add"(%y2, %row) : (tensor<4x2xf32>, tensor<1x2xf32>) -> tensor<4x2xf32>
  return %s, %y, %t : tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>
}
