// RUN: llmc-opt %s --llmc-convert-onnx-to-linalg --split-input-file --verify-diagnostics | FileCheck %s

// Broadcasting: the size-1 dim of %b is read at index 0 (constant map expr).
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[BC:.*]] = affine_map<(d0, d1) -> (0, d1)>
// CHECK-LABEL: func.func @add_broadcast
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[BC]], #[[ID]]], iterator_types = ["parallel", "parallel"]}
// CHECK: arith.addf
func.func @add_broadcast(%a: tensor<?x8xf32>, %b: tensor<1x8xf32>) -> tensor<?x8xf32> {
  %y = "onnx.Add"(%a, %b) : (tensor<?x8xf32>, tensor<1x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Two dynamic dims that must agree are checked at run time, not assumed.
// CHECK-LABEL: func.func @dynamic_dims_checked
// CHECK: cf.assert %{{.*}}, "llmc: dynamic dims of a broadcasting op differ"
func.func @dynamic_dims_checked(%a: tensor<?xf32>, %b: tensor<?xf32>) -> tensor<?xf32> {
  %y = "onnx.Mul"(%a, %b) : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
  return %y : tensor<?xf32>
}

// -----

// Batched MatMul with a broadcast batch dim: one generic with a reduction.
// CHECK-LABEL: func.func @matmul_batch_broadcast
// CHECK: linalg.fill
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel", "reduction"]
func.func @matmul_batch_broadcast(%a: tensor<3x?x4xf32>, %b: tensor<1x4x5xf32>) -> tensor<3x?x5xf32> {
  %y = "onnx.MatMul"(%a, %b) : (tensor<3x?x4xf32>, tensor<1x4x5xf32>) -> tensor<3x?x5xf32>
  return %y : tensor<3x?x5xf32>
}

// -----

// Softmax: max, sum of exp(x - max), then exp(x - max) / sum.
// CHECK-LABEL: func.func @softmax
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: math.exp
// CHECK: arith.divf
func.func @softmax(%x: tensor<2x?xf32>) -> tensor<2x?xf32> {
  %y = "onnx.Softmax"(%x) {axis = -1 : i64} : (tensor<2x?xf32>) -> tensor<2x?xf32>
  return %y : tensor<2x?xf32>
}

// -----

// Reshape reads its target at run time; 0 copies and -1 infers.
// CHECK-LABEL: func.func @reshape
// CHECK: tensor.extract
// CHECK: tensor.reshape
func.func @reshape(%x: tensor<?x64xf32>, %s: tensor<3xi64>) -> tensor<?x8x8xf32> {
  %y = "onnx.Reshape"(%x, %s) : (tensor<?x64xf32>, tensor<3xi64>) -> tensor<?x8x8xf32>
  return %y : tensor<?x8x8xf32>
}

// -----

// Unsigned integers are not supported: a clear error at the op.
func.func @unsigned(%a: tensor<4xui8>, %b: tensor<4xui8>) -> tensor<4xui8> {
  // expected-error @+1 {{cannot lower 'onnx.Add' with operand types (tensor<4xui8>, tensor<4xui8>)}}
  %y = "onnx.Add"(%a, %b) : (tensor<4xui8>, tensor<4xui8>) -> tensor<4xui8>
  return %y : tensor<4xui8>
}
