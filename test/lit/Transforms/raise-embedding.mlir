// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-raise-embedding))' | FileCheck %s

// CHECK-LABEL: func.func @lookup
// CHECK: %[[E:.*]] = llm.embedding %{{.*}}[%arg0] : (tensor<16x4xf32>, tensor<1x?xi64>) -> tensor<1x?x4xf32>
// CHECK: return %[[E]]
func.func @lookup(%ids: tensor<1x?xi64>) -> tensor<1x?x4xf32> {
  %table = arith.constant dense<1.0> : tensor<16x4xf32>
  %e = "onnx.Gather"(%table, %ids) {axis = 0 : i64} : (tensor<16x4xf32>, tensor<1x?xi64>) -> tensor<1x?x4xf32>
  return %e : tensor<1x?x4xf32>
}

// Negatives: axis 1, a run-time table, a shape-vector gather.
// CHECK-LABEL: func.func @not_embedding
// CHECK-NOT: llm.embedding
func.func @not_embedding(%ids: tensor<3xi64>, %t: tensor<16x4xf32>, %shape: tensor<4xi64>) -> (tensor<16x3xf32>, tensor<3x4xf32>, tensor<3xi64>) {
  %table = arith.constant dense<1.0> : tensor<16x4xf32>
  %a = "onnx.Gather"(%table, %ids) {axis = 1 : i64} : (tensor<16x4xf32>, tensor<3xi64>) -> tensor<16x3xf32>
  %b = "onnx.Gather"(%t, %ids) {axis = 0 : i64} : (tensor<16x4xf32>, tensor<3xi64>) -> tensor<3x4xf32>
  %c = "onnx.Gather"(%shape, %ids) {axis = 0 : i64} : (tensor<4xi64>, tensor<3xi64>) -> tensor<3xi64>
  return %a, %b, %c : tensor<16x3xf32>, tensor<3x4xf32>, tensor<3xi64>
}
