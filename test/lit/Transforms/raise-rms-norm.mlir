// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-raise-rms-norm))' | FileCheck %s

// The torch export form: Pow/ReduceMean/Add/Sqrt/Reciprocal/Mul/Mul(weight).
// CHECK-LABEL: func.func @pow_reciprocal
// CHECK: %[[W:.*]] = arith.constant dense<5.000000e-01> : tensor<8xf32>
// CHECK: %[[R:.*]] = llm.rms_norm %arg0, %[[W]] {epsilon = 9.99999974E-6 : f32}
// CHECK-NOT: onnx.
// CHECK: return %[[R]]
func.func @pow_reciprocal(%x: tensor<2x?x8xf32>) -> tensor<2x?x8xf32> {
  %two = arith.constant dense<2.0> : tensor<f32>
  %eps = arith.constant dense<1.0e-5> : tensor<f32>
  %w = arith.constant dense<0.5> : tensor<8xf32>
  %none = "onnx.NoValue"() : () -> none
  %p = "onnx.Pow"(%x, %two) : (tensor<2x?x8xf32>, tensor<f32>) -> tensor<2x?x8xf32>
  %m = "onnx.ReduceMean"(%p, %none) {axes = [-1], keepdims = 1 : i64} : (tensor<2x?x8xf32>, none) -> tensor<2x?x1xf32>
  %a = "onnx.Add"(%m, %eps) : (tensor<2x?x1xf32>, tensor<f32>) -> tensor<2x?x1xf32>
  %s = "onnx.Sqrt"(%a) : (tensor<2x?x1xf32>) -> tensor<2x?x1xf32>
  %r = "onnx.Reciprocal"(%s) : (tensor<2x?x1xf32>) -> tensor<2x?x1xf32>
  %n = "onnx.Mul"(%x, %r) : (tensor<2x?x8xf32>, tensor<2x?x1xf32>) -> tensor<2x?x8xf32>
  %y = "onnx.Mul"(%w, %n) : (tensor<8xf32>, tensor<2x?x8xf32>) -> tensor<2x?x8xf32>
  return %y : tensor<2x?x8xf32>
}

// Other spellings: x*x, axes as an input (opset 18), eps first, x / sqrt(.),
// weight on the right.
// CHECK-LABEL: func.func @mul_div
// CHECK: llm.rms_norm %arg0, %{{.*}} {epsilon = 9.99999997E-7 : f32}
func.func @mul_div(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %eps = arith.constant dense<1.0e-6> : tensor<1xf32>
  %w = arith.constant dense<1.5> : tensor<8xf32>
  %axes = arith.constant dense<1> : tensor<1xi64>
  %p = "onnx.Mul"(%x, %x) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %m = "onnx.ReduceMean"(%p, %axes) {keepdims = 1 : i64} : (tensor<4x8xf32>, tensor<1xi64>) -> tensor<4x1xf32>
  %a = "onnx.Add"(%eps, %m) : (tensor<1xf32>, tensor<4x1xf32>) -> tensor<4x1xf32>
  %s = "onnx.Sqrt"(%a) : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %n = "onnx.Div"(%x, %s) : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  %y = "onnx.Mul"(%n, %w) : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// Negative: the exponent is 3, not 2.
// CHECK-LABEL: func.func @wrong_exponent
// CHECK-NOT: llm.rms_norm
func.func @wrong_exponent(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %three = arith.constant dense<3.0> : tensor<f32>
  %eps = arith.constant dense<1.0e-5> : tensor<f32>
  %w = arith.constant dense<0.5> : tensor<8xf32>
  %none = "onnx.NoValue"() : () -> none
  %p = "onnx.Pow"(%x, %three) : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %m = "onnx.ReduceMean"(%p, %none) {axes = [-1], keepdims = 1 : i64} : (tensor<4x8xf32>, none) -> tensor<4x1xf32>
  %a = "onnx.Add"(%m, %eps) : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
  %s = "onnx.Sqrt"(%a) : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %r = "onnx.Reciprocal"(%s) : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %n = "onnx.Mul"(%x, %r) : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  %y = "onnx.Mul"(%w, %n) : (tensor<8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// Negative: the mean is over axis 0 (not the normalized axis).
// CHECK-LABEL: func.func @wrong_axis
// CHECK-NOT: llm.rms_norm
func.func @wrong_axis(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %two = arith.constant dense<2.0> : tensor<f32>
  %eps = arith.constant dense<1.0e-5> : tensor<f32>
  %w = arith.constant dense<0.5> : tensor<8xf32>
  %none = "onnx.NoValue"() : () -> none
  %p = "onnx.Pow"(%x, %two) : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %m = "onnx.ReduceMean"(%p, %none) {axes = [0], keepdims = 1 : i64} : (tensor<4x8xf32>, none) -> tensor<1x8xf32>
  %a = "onnx.Add"(%m, %eps) : (tensor<1x8xf32>, tensor<f32>) -> tensor<1x8xf32>
  %s = "onnx.Sqrt"(%a) : (tensor<1x8xf32>) -> tensor<1x8xf32>
  %r = "onnx.Reciprocal"(%s) : (tensor<1x8xf32>) -> tensor<1x8xf32>
  %n = "onnx.Mul"(%x, %r) : (tensor<4x8xf32>, tensor<1x8xf32>) -> tensor<4x8xf32>
  %y = "onnx.Mul"(%w, %n) : (tensor<8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// Negative: the statistics are of %z but %x is normalized.
// CHECK-LABEL: func.func @different_inputs
// CHECK-NOT: llm.rms_norm
func.func @different_inputs(%x: tensor<4x8xf32>, %z: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %two = arith.constant dense<2.0> : tensor<f32>
  %eps = arith.constant dense<1.0e-5> : tensor<f32>
  %w = arith.constant dense<0.5> : tensor<8xf32>
  %none = "onnx.NoValue"() : () -> none
  %p = "onnx.Pow"(%z, %two) : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %m = "onnx.ReduceMean"(%p, %none) {axes = [-1], keepdims = 1 : i64} : (tensor<4x8xf32>, none) -> tensor<4x1xf32>
  %a = "onnx.Add"(%m, %eps) : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
  %s = "onnx.Sqrt"(%a) : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %r = "onnx.Reciprocal"(%s) : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %n = "onnx.Mul"(%x, %r) : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  %y = "onnx.Mul"(%w, %n) : (tensor<8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// Negative: the weight is not a constant (a learned scale computed at run time).
// CHECK-LABEL: func.func @dynamic_weight
// CHECK-NOT: llm.rms_norm
func.func @dynamic_weight(%x: tensor<4x8xf32>, %w: tensor<8xf32>) -> tensor<4x8xf32> {
  %two = arith.constant dense<2.0> : tensor<f32>
  %eps = arith.constant dense<1.0e-5> : tensor<f32>
  %none = "onnx.NoValue"() : () -> none
  %p = "onnx.Pow"(%x, %two) : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %m = "onnx.ReduceMean"(%p, %none) {axes = [-1], keepdims = 1 : i64} : (tensor<4x8xf32>, none) -> tensor<4x1xf32>
  %a = "onnx.Add"(%m, %eps) : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
  %s = "onnx.Sqrt"(%a) : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %r = "onnx.Reciprocal"(%s) : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %n = "onnx.Mul"(%x, %r) : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  %y = "onnx.Mul"(%w, %n) : (tensor<8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// Negative (and no crash): scalars.
// CHECK-LABEL: func.func @scalar
// CHECK-NOT: llm.rms_norm
func.func @scalar(%x: tensor<f32>, %y: tensor<f32>) -> tensor<f32> {
  %z = "onnx.Mul"(%x, %y) : (tensor<f32>, tensor<f32>) -> tensor<f32>
  return %z : tensor<f32>
}
