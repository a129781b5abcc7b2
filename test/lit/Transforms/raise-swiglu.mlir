// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-raise-swiglu))' | FileCheck %s

// CHECK-LABEL: func.func @swiglu
// CHECK: %[[R:.*]] = llm.swiglu %arg0, %arg1 : tensor<?x16xf32>
// CHECK: return %[[R]]
func.func @swiglu(%g: tensor<?x16xf32>, %up: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %s = "onnx.Sigmoid"(%g) : (tensor<?x16xf32>) -> tensor<?x16xf32>
  %silu = "onnx.Mul"(%g, %s) : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  %y = "onnx.Mul"(%silu, %up) : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// Operand orders swapped on both multiplies.
// CHECK-LABEL: func.func @swapped
// CHECK: llm.swiglu %arg0, %arg1
func.func @swapped(%g: tensor<4x16xf32>, %up: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %s = "onnx.Sigmoid"(%g) : (tensor<4x16xf32>) -> tensor<4x16xf32>
  %silu = "onnx.Mul"(%s, %g) : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
  %y = "onnx.Mul"(%up, %silu) : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}

// Negative: Sigmoid of a different value (a gated linear unit, not SiLU).
// CHECK-LABEL: func.func @glu_not_silu
// CHECK-NOT: llm.swiglu
func.func @glu_not_silu(%a: tensor<4x16xf32>, %b: tensor<4x16xf32>, %up: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %s = "onnx.Sigmoid"(%b) : (tensor<4x16xf32>) -> tensor<4x16xf32>
  %silu = "onnx.Mul"(%a, %s) : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
  %y = "onnx.Mul"(%silu, %up) : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}

// Negative: `up` broadcasts (different shape), so this is not an elementwise gate.
// CHECK-LABEL: func.func @broadcast_up
// CHECK-NOT: llm.swiglu
func.func @broadcast_up(%g: tensor<4x16xf32>, %up: tensor<16xf32>) -> tensor<4x16xf32> {
  %s = "onnx.Sigmoid"(%g) : (tensor<4x16xf32>) -> tensor<4x16xf32>
  %silu = "onnx.Mul"(%g, %s) : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
  %y = "onnx.Mul"(%silu, %up) : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}
