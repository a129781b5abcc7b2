// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-raise-rotary))' | FileCheck %s

// CHECK-LABEL: func.func @rotate_half
// CHECK: %[[R:.*]] = llm.rotary %arg0, %arg1, %arg2 {interleaved = false}
// CHECK: return %[[R]]
func.func @rotate_half(%x: tensor<1x4x?x8xf32>, %cos: tensor<1x1x?x8xf32>, %sin: tensor<1x1x?x8xf32>) -> tensor<1x4x?x8xf32> {
  %c0 = arith.constant dense<0> : tensor<1xi64>
  %c4 = arith.constant dense<4> : tensor<1xi64>
  %big = arith.constant dense<9223372036854775807> : tensor<1xi64>
  %ax = arith.constant dense<3> : tensor<1xi64>
  %none = "onnx.NoValue"() : () -> none
  %x1 = "onnx.Slice"(%x, %c0, %c4, %ax, %none) : (tensor<1x4x?x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, none) -> tensor<1x4x?x4xf32>
  %x2 = "onnx.Slice"(%x, %c4, %big, %ax, %none) : (tensor<1x4x?x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, none) -> tensor<1x4x?x4xf32>
  %n = "onnx.Neg"(%x2) : (tensor<1x4x?x4xf32>) -> tensor<1x4x?x4xf32>
  %rot = "onnx.Concat"(%n, %x1) {axis = -1 : i64} : (tensor<1x4x?x4xf32>, tensor<1x4x?x4xf32>) -> tensor<1x4x?x8xf32>
  %a = "onnx.Mul"(%x, %cos) : (tensor<1x4x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x4x?x8xf32>
  %b = "onnx.Mul"(%rot, %sin) : (tensor<1x4x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x4x?x8xf32>
  %y = "onnx.Add"(%a, %b) : (tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32>) -> tensor<1x4x?x8xf32>
  return %y : tensor<1x4x?x8xf32>
}

// Negative: the halves are swapped without negation of the second half
// (Concat(Neg(x1), x2) rotates the other way) — must not match.
// CHECK-LABEL: func.func @wrong_halves
// CHECK-NOT: llm.rotary
func.func @wrong_halves(%x: tensor<2x8xf32>, %cos: tensor<2x8xf32>, %sin: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %c0 = arith.constant dense<0> : tensor<1xi64>
  %c4 = arith.constant dense<4> : tensor<1xi64>
  %c8 = arith.constant dense<8> : tensor<1xi64>
  %ax = arith.constant dense<-1> : tensor<1xi64>
  %none = "onnx.NoValue"() : () -> none
  %x1 = "onnx.Slice"(%x, %c0, %c4, %ax, %none) : (tensor<2x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, none) -> tensor<2x4xf32>
  %x2 = "onnx.Slice"(%x, %c4, %c8, %ax, %none) : (tensor<2x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, none) -> tensor<2x4xf32>
  %n = "onnx.Neg"(%x1) : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %rot = "onnx.Concat"(%n, %x2) {axis = 1 : i64} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x8xf32>
  %a = "onnx.Mul"(%x, %cos) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %b = "onnx.Mul"(%rot, %sin) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %y = "onnx.Add"(%a, %b) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// Negative: slices of axis 0, not the head dimension.
// CHECK-LABEL: func.func @wrong_axis
// CHECK-NOT: llm.rotary
func.func @wrong_axis(%x: tensor<8x8xf32>, %cos: tensor<8x8xf32>, %sin: tensor<8x8xf32>) -> tensor<8x8xf32> {
  %c0 = arith.constant dense<0> : tensor<1xi64>
  %c4 = arith.constant dense<4> : tensor<1xi64>
  %c8 = arith.constant dense<8> : tensor<1xi64>
  %ax = arith.constant dense<0> : tensor<1xi64>
  %none = "onnx.NoValue"() : () -> none
  %x1 = "onnx.Slice"(%x, %c0, %c4, %ax, %none) : (tensor<8x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, none) -> tensor<4x8xf32>
  %x2 = "onnx.Slice"(%x, %c4, %c8, %ax, %none) : (tensor<8x8xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, none) -> tensor<4x8xf32>
  %n = "onnx.Neg"(%x2) : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %rot = "onnx.Concat"(%n, %x1) {axis = 0 : i64} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<8x8xf32>
  %a = "onnx.Mul"(%x, %cos) : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
  %b = "onnx.Mul"(%rot, %sin) : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
  %y = "onnx.Add"(%a, %b) : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
  return %y : tensor<8x8xf32>
}
