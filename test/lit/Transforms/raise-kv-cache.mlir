// RUN: llmc-opt %s --llmc-raise-kv-cache --split-input-file | FileCheck %s

// %past feeds one Concat (and a Shape read) whose result is returned: a cache
// slot. %other is concatenated but the result is not returned: not a slot.
// CHECK-LABEL: func.func @main
// CHECK-SAME: %arg0: tensor<1x2x?x4xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 0 : i64}
// CHECK-SAME: %arg2: tensor<1x2x?x4xf32>)
// CHECK-SAME: -> (tensor<1x2x?x4xf32> {llmc.cache_slot = 0 : i64}, tensor<1x2x?x4xf32>)
// CHECK: %[[A:.*]] = llm.kv_cache_append %arg0, %arg1 {axis = 2 : i64, slot = 0 : i64}
// CHECK: "onnx.Concat"(%arg2, %arg1)
// CHECK: return %[[A]]
func.func @main(%past: tensor<1x2x?x4xf32>, %new: tensor<1x2x?x4xf32>, %other: tensor<1x2x?x4xf32>) -> (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>) {
  %shape = "onnx.Shape"(%past) : (tensor<1x2x?x4xf32>) -> tensor<4xi64>
  %all = "onnx.Concat"(%past, %new) {axis = 2 : i64} : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
  %tmp = "onnx.Concat"(%other, %new) {axis = 2 : i64} : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
  %sum = "onnx.Add"(%tmp, %tmp) : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
  return %all, %sum : tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>
}

// -----

// Negative: a static concat of inputs that is returned is an ordinary Concat.
// CHECK-LABEL: func.func @main(%arg0: tensor<2x3xf32>, %arg1: tensor<2x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: "onnx.Concat"
func.func @main(%a: tensor<2x3xf32>, %b: tensor<2x3xf32>) -> tensor<4x3xf32> {
  %c = "onnx.Concat"(%a, %b) {axis = 0 : i64} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<4x3xf32>
  return %c : tensor<4x3xf32>
}

// -----

// Negative: the past is also read by a non-shape op, so it is not a slot
// (the in-place append would change what the Neg reads).
// CHECK-LABEL: func.func @main(%arg0: tensor<1x2x?x4xf32>, %arg1: tensor<1x2x?x4xf32>) -> (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>)
// CHECK-NEXT: "onnx.Concat"
func.func @main(%past: tensor<1x2x?x4xf32>, %new: tensor<1x2x?x4xf32>) -> (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>) {
  %all = "onnx.Concat"(%past, %new) {axis = 2 : i64} : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
  %n = "onnx.Neg"(%past) : (tensor<1x2x?x4xf32>) -> tensor<1x2x?x4xf32>
  return %all, %n : tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>
}
