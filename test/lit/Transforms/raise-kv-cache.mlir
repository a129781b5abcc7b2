// RUN: llmc-opt %s --llmc-raise-kv-cache | FileCheck %s

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
