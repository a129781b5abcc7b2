// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-raise-attention))' | FileCheck %s

// Grouped-query attention as exported: repeat_kv expansion of K and V,
// Q K^T / sqrt(D) + mask, Softmax, @ V. The un-expanded K/V feed the op.
// CHECK-LABEL: func.func @gqa
// CHECK: %[[A:.*]] = llm.attention %arg0, %arg1, %arg2, %arg3 {causal = false, scale = 2.500000e-01 : f32} : (tensor<1x8x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x1x?x?xf32>) -> tensor<1x8x?x16xf32>
// CHECK-NOT: onnx.Softmax
// CHECK: return %[[A]]
func.func @gqa(%q: tensor<1x8x?x16xf32>, %k: tensor<1x2x?x16xf32>, %v: tensor<1x2x?x16xf32>, %mask: tensor<1x1x?x?xf32>) -> tensor<1x8x?x16xf32> {
  %ax2 = arith.constant dense<2> : tensor<1xi64>
  %eshape = arith.constant dense<[1, 2, 4, -1, 16]> : tensor<5xi64>
  %rshape = arith.constant dense<[1, 8, -1, 16]> : tensor<4xi64>
  %four = arith.constant dense<4.0> : tensor<f32>
  %ku = "onnx.Unsqueeze"(%k, %ax2) : (tensor<1x2x?x16xf32>, tensor<1xi64>) -> tensor<1x2x1x?x16xf32>
  %ke = "onnx.Expand"(%ku, %eshape) : (tensor<1x2x1x?x16xf32>, tensor<5xi64>) -> tensor<1x2x4x?x16xf32>
  %kr = "onnx.Reshape"(%ke, %rshape) : (tensor<1x2x4x?x16xf32>, tensor<4xi64>) -> tensor<1x8x?x16xf32>
  %vu = "onnx.Unsqueeze"(%v, %ax2) : (tensor<1x2x?x16xf32>, tensor<1xi64>) -> tensor<1x2x1x?x16xf32>
  %ve = "onnx.Expand"(%vu, %eshape) : (tensor<1x2x1x?x16xf32>, tensor<5xi64>) -> tensor<1x2x4x?x16xf32>
  %vr = "onnx.Reshape"(%ve, %rshape) : (tensor<1x2x4x?x16xf32>, tensor<4xi64>) -> tensor<1x8x?x16xf32>
  %kt = "onnx.Transpose"(%kr) {perm = [0, 1, 3, 2]} : (tensor<1x8x?x16xf32>) -> tensor<1x8x16x?xf32>
  %s = "onnx.MatMul"(%q, %kt) : (tensor<1x8x?x16xf32>, tensor<1x8x16x?xf32>) -> tensor<1x8x?x?xf32>
  %sc = "onnx.Div"(%s, %four) : (tensor<1x8x?x?xf32>, tensor<f32>) -> tensor<1x8x?x?xf32>
  %sm = "onnx.Add"(%sc, %mask) : (tensor<1x8x?x?xf32>, tensor<1x1x?x?xf32>) -> tensor<1x8x?x?xf32>
  %p = "onnx.Softmax"(%sm) {axis = -1 : i64} : (tensor<1x8x?x?xf32>) -> tensor<1x8x?x?xf32>
  %o = "onnx.MatMul"(%p, %vr) : (tensor<1x8x?x?xf32>, tensor<1x8x?x16xf32>) -> tensor<1x8x?x16xf32>
  return %o : tensor<1x8x?x16xf32>
}

// Multi-head attention (no repeat_kv), scale as Mul, no mask.
// CHECK-LABEL: func.func @mha_mul_scale
// CHECK: llm.attention %arg0, %arg1, %arg2 {causal = false, scale = 1.250000e-01 : f32}
func.func @mha_mul_scale(%q: tensor<2x4x5x8xf32>, %k: tensor<2x4x7x8xf32>, %v: tensor<2x4x7x8xf32>) -> tensor<2x4x5x8xf32> {
  %c = arith.constant dense<0.125> : tensor<1xf32>
  %kt = "onnx.Transpose"(%k) {perm = [0, 1, 3, 2]} : (tensor<2x4x7x8xf32>) -> tensor<2x4x8x7xf32>
  %s = "onnx.MatMul"(%q, %kt) : (tensor<2x4x5x8xf32>, tensor<2x4x8x7xf32>) -> tensor<2x4x5x7xf32>
  %sc = "onnx.Mul"(%c, %s) : (tensor<1xf32>, tensor<2x4x5x7xf32>) -> tensor<2x4x5x7xf32>
  %p = "onnx.Softmax"(%sc) {axis = 3 : i64} : (tensor<2x4x5x7xf32>) -> tensor<2x4x5x7xf32>
  %o = "onnx.MatMul"(%p, %v) : (tensor<2x4x5x7xf32>, tensor<2x4x7x8xf32>) -> tensor<2x4x5x8xf32>
  return %o : tensor<2x4x5x8xf32>
}

// Negative: Softmax over the query axis is not attention.
// CHECK-LABEL: func.func @softmax_wrong_axis
// CHECK-NOT: llm.attention
func.func @softmax_wrong_axis(%q: tensor<2x4x5x8xf32>, %k: tensor<2x4x7x8xf32>, %v: tensor<2x4x7x8xf32>) -> tensor<2x4x5x8xf32> {
  %kt = "onnx.Transpose"(%k) {perm = [0, 1, 3, 2]} : (tensor<2x4x7x8xf32>) -> tensor<2x4x8x7xf32>
  %s = "onnx.MatMul"(%q, %kt) : (tensor<2x4x5x8xf32>, tensor<2x4x8x7xf32>) -> tensor<2x4x5x7xf32>
  %p = "onnx.Softmax"(%s) {axis = 2 : i64} : (tensor<2x4x5x7xf32>) -> tensor<2x4x5x7xf32>
  %o = "onnx.MatMul"(%p, %v) : (tensor<2x4x5x7xf32>, tensor<2x4x7x8xf32>) -> tensor<2x4x5x8xf32>
  return %o : tensor<2x4x5x8xf32>
}

// Negative: K transposed with a different permutation.
// CHECK-LABEL: func.func @wrong_transpose
// CHECK-NOT: llm.attention
func.func @wrong_transpose(%q: tensor<2x4x8x8xf32>, %k: tensor<4x2x8x8xf32>, %v: tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32> {
  %kt = "onnx.Transpose"(%k) {perm = [1, 0, 3, 2]} : (tensor<4x2x8x8xf32>) -> tensor<2x4x8x8xf32>
  %s = "onnx.MatMul"(%q, %kt) : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %p = "onnx.Softmax"(%s) {axis = -1 : i64} : (tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %o = "onnx.MatMul"(%p, %v) : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  return %o : tensor<2x4x8x8xf32>
}
