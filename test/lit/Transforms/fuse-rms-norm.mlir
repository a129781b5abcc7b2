// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-fuse-rms-norm))' | FileCheck %s

// The gain g = [2, 3] moves into the rows of W (W'[k, :] = g[k] W[k, :]) and
// each consumer normalizes its input rows itself.
// CHECK-LABEL: func.func @fold_into_two_linears
// CHECK-NOT: llm.rms_norm
// CHECK: %[[W1:.*]] = arith.constant dense<{{\[}}[2.000000e+00, 4.000000e+00], [9.000000e+00, 1.200000e+01]]> : tensor<2x2xf32>
// CHECK: llm.linear %arg0, %[[W1]] {rms_epsilon = 9.99999974E-6 : f32}
// CHECK: %[[W2:.*]] = arith.constant dense<{{\[}}[2.000000e+00], [3.000000e+00]]> : tensor<2x1xf32>
// CHECK: llm.linear %arg0, %[[W2]] {rms_epsilon = 9.99999974E-6 : f32}
func.func @fold_into_two_linears(%x: tensor<?x2xf32>) -> (tensor<?x2xf32>, tensor<?x1xf32>) {
  %g = arith.constant dense<[2.0, 3.0]> : tensor<2xf32>
  %w1 = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %w2 = arith.constant dense<[[1.0], [1.0]]> : tensor<2x1xf32>
  %n = llm.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : (tensor<?x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %a = llm.linear %n, %w1 : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  %b = llm.linear %n, %w2 : (tensor<?x2xf32>, tensor<2x1xf32>) -> tensor<?x1xf32>
  return %a, %b : tensor<?x2xf32>, tensor<?x1xf32>
}

// A transposed weight [N, K] scales its columns instead.
// CHECK-LABEL: func.func @transposed_weight
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[2.000000e+00, 6.000000e+00]]> : tensor<1x2xf32>
// CHECK: llm.linear %arg0, %[[W]] {rms_epsilon = {{.*}}, transpose_weight = true}
func.func @transposed_weight(%x: tensor<4x2xf32>) -> tensor<4x1xf32> {
  %g = arith.constant dense<[2.0, 3.0]> : tensor<2xf32>
  %w = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %n = llm.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : (tensor<4x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %y = llm.linear %n, %w {transpose_weight = true} : (tensor<4x2xf32>, tensor<1x2xf32>) -> tensor<4x1xf32>
  return %y : tensor<4x1xf32>
}

// Negative: the normalized value is also returned, so it must be computed.
// CHECK-LABEL: func.func @other_use
// CHECK: llm.rms_norm
// CHECK: llm.linear %{{.*}}, %{{.*}} :
func.func @other_use(%x: tensor<4x2xf32>) -> (tensor<4x2xf32>, tensor<4x2xf32>) {
  %g = arith.constant dense<[2.0, 3.0]> : tensor<2xf32>
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %n = llm.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : (tensor<4x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %y = llm.linear %n, %w : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  return %y, %n : tensor<4x2xf32>, tensor<4x2xf32>
}

// Negative: a weight that is not a constant cannot absorb the gain.
// CHECK-LABEL: func.func @runtime_weight
// CHECK: llm.rms_norm
func.func @runtime_weight(%x: tensor<4x2xf32>, %w: tensor<2x2xf32>) -> tensor<4x2xf32> {
  %g = arith.constant dense<[2.0, 3.0]> : tensor<2xf32>
  %n = llm.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : (tensor<4x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %y = llm.linear %n, %w : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// Negative: a run-time gain.
// CHECK-LABEL: func.func @runtime_gain
// CHECK: llm.rms_norm
func.func @runtime_gain(%x: tensor<4x2xf32>, %g: tensor<2xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %n = llm.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : (tensor<4x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %y = llm.linear %n, %w : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
