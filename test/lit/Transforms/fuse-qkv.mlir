// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-fuse-qkv))' | FileCheck %s

// Q, K and V read the same input: one linear over [K, 2 + 1 + 1] columns,
// each original result a column slice of it.
// CHECK-LABEL: func.func @qkv
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]]> : tensor<1x4xf32>
// CHECK: %[[Y:.*]] = llm.linear %arg0, %[[W]] {rms_epsilon = 1.000000e-01 : f32} : (tensor<?x1xf32>, tensor<1x4xf32>) -> tensor<?x4xf32>
// CHECK: %[[D:.*]] = tensor.dim %[[Y]], %c0
// CHECK: %[[Q:.*]] = tensor.extract_slice %[[Y]][0, 0] [%[[D]], 2] [1, 1]
// CHECK: %[[K:.*]] = tensor.extract_slice %[[Y]][0, 2] [%[[D]], 1] [1, 1]
// CHECK: %[[V:.*]] = tensor.extract_slice %[[Y]][0, 3] [%[[D]], 1] [1, 1]
// CHECK: return %[[Q]], %[[K]], %[[V]]
func.func @qkv(%x: tensor<?x1xf32>) -> (tensor<?x2xf32>, tensor<?x1xf32>, tensor<?x1xf32>) {
  %wq = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %wk = arith.constant dense<[[3.0]]> : tensor<1x1xf32>
  %wv = arith.constant dense<[[4.0]]> : tensor<1x1xf32>
  %q = llm.linear %x, %wq {rms_epsilon = 0.1 : f32} : (tensor<?x1xf32>, tensor<1x2xf32>) -> tensor<?x2xf32>
  %k = llm.linear %x, %wk {rms_epsilon = 0.1 : f32} : (tensor<?x1xf32>, tensor<1x1xf32>) -> tensor<?x1xf32>
  %v = llm.linear %x, %wv {rms_epsilon = 0.1 : f32} : (tensor<?x1xf32>, tensor<1x1xf32>) -> tensor<?x1xf32>
  return %q, %k, %v : tensor<?x2xf32>, tensor<?x1xf32>, tensor<?x1xf32>
}

// Biases are concatenated like the weights.
// CHECK-LABEL: func.func @biased
// CHECK-DAG: %[[B:.*]] = arith.constant dense<[5.000000e+00, 6.000000e+00]> : tensor<2xf32>
// CHECK: llm.linear %arg0, %{{.*}}, %[[B]] : (tensor<3x1xf32>, tensor<1x2xf32>, tensor<2xf32>) -> tensor<3x2xf32>
func.func @biased(%x: tensor<3x1xf32>) -> (tensor<3x1xf32>, tensor<3x1xf32>) {
  %wa = arith.constant dense<[[1.0]]> : tensor<1x1xf32>
  %wb = arith.constant dense<[[2.0]]> : tensor<1x1xf32>
  %ba = arith.constant dense<[5.0]> : tensor<1xf32>
  %bb = arith.constant dense<[6.0]> : tensor<1xf32>
  %a = llm.linear %x, %wa, %ba : (tensor<3x1xf32>, tensor<1x1xf32>, tensor<1xf32>) -> tensor<3x1xf32>
  %b = llm.linear %x, %wb, %bb : (tensor<3x1xf32>, tensor<1x1xf32>, tensor<1xf32>) -> tensor<3x1xf32>
  return %a, %b : tensor<3x1xf32>, tensor<3x1xf32>
}

// Negative: different normalization, one with a bias and one without, and a
// linear with a residual epilogue are not siblings.
// CHECK-LABEL: func.func @incompatible
// CHECK-COUNT-4: llm.linear %arg0
// CHECK-NOT: tensor.extract_slice
func.func @incompatible(%x: tensor<3x1xf32>, %r: tensor<3x1xf32>) -> (tensor<3x1xf32>, tensor<3x1xf32>, tensor<3x1xf32>, tensor<3x1xf32>) {
  %w = arith.constant dense<[[1.0]]> : tensor<1x1xf32>
  %b = arith.constant dense<[5.0]> : tensor<1xf32>
  %a = llm.linear %x, %w : (tensor<3x1xf32>, tensor<1x1xf32>) -> tensor<3x1xf32>
  %c = llm.linear %x, %w {rms_epsilon = 0.1 : f32} : (tensor<3x1xf32>, tensor<1x1xf32>) -> tensor<3x1xf32>
  %d = llm.linear %x, %w, %b {rms_epsilon = 0.2 : f32} : (tensor<3x1xf32>, tensor<1x1xf32>, tensor<1xf32>) -> tensor<3x1xf32>
  %e = llm.linear %x, %w residual(%r) : (tensor<3x1xf32>, tensor<1x1xf32>, tensor<3x1xf32>) -> tensor<3x1xf32>
  return %a, %c, %d, %e : tensor<3x1xf32>, tensor<3x1xf32>, tensor<3x1xf32>, tensor<3x1xf32>
}

// Negative: a run-time weight.
// CHECK-LABEL: func.func @runtime_weight
// CHECK-COUNT-2: llm.linear %arg0
func.func @runtime_weight(%x: tensor<3x1xf32>, %w: tensor<1x1xf32>) -> (tensor<3x1xf32>, tensor<3x1xf32>) {
  %c = arith.constant dense<[[1.0]]> : tensor<1x1xf32>
  %a = llm.linear %x, %w : (tensor<3x1xf32>, tensor<1x1xf32>) -> tensor<3x1xf32>
  %b = llm.linear %x, %c : (tensor<3x1xf32>, tensor<1x1xf32>) -> tensor<3x1xf32>
  return %a, %b : tensor<3x1xf32>, tensor<3x1xf32>
}
