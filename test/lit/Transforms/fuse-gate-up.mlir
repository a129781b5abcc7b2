// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-fuse-gate-up))' | FileCheck %s

// Gate [[1, 2]] and up [[3, 4]] ([K=1, N=2]) become one [1, 4] weight: gate
// columns, then up columns.
// CHECK-LABEL: func.func @gate_up
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]]> : tensor<1x4xf32>
// CHECK: %[[Y:.*]] = llm.linear %arg0, %[[W]] {gated} : (tensor<?x1xf32>, tensor<1x4xf32>) -> tensor<?x2xf32>
// CHECK-NOT: llm.swiglu
// CHECK: return %[[Y]]
func.func @gate_up(%x: tensor<?x1xf32>) -> tensor<?x2xf32> {
  %wg = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %wu = arith.constant dense<[[3.0, 4.0]]> : tensor<1x2xf32>
  %g = llm.linear %x, %wg : (tensor<?x1xf32>, tensor<1x2xf32>) -> tensor<?x2xf32>
  %u = llm.linear %x, %wu : (tensor<?x1xf32>, tensor<1x2xf32>) -> tensor<?x2xf32>
  %y = llm.swiglu %g, %u : tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// nn.Linear-layout ([N, K]) weights are transposed while merging, and the
// normalization carried by both projections stays.
// CHECK-LABEL: func.func @transposed_and_normalized
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 3.000000e+00], [2.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// CHECK: llm.linear %arg0, %[[W]] {gated, rms_epsilon = 1.000000e-01 : f32}
func.func @transposed_and_normalized(%x: tensor<3x2xf32>) -> tensor<3x1xf32> {
  %wg = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %wu = arith.constant dense<[[3.0, 4.0]]> : tensor<1x2xf32>
  %g = llm.linear %x, %wg {transpose_weight = true, rms_epsilon = 0.1 : f32} : (tensor<3x2xf32>, tensor<1x2xf32>) -> tensor<3x1xf32>
  %u = llm.linear %x, %wu {transpose_weight = true, rms_epsilon = 0.1 : f32} : (tensor<3x2xf32>, tensor<1x2xf32>) -> tensor<3x1xf32>
  %y = llm.swiglu %g, %u : tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}

// Negative: gate and up read different inputs.
// CHECK-LABEL: func.func @different_inputs
// CHECK: llm.swiglu
func.func @different_inputs(%x: tensor<?x1xf32>, %z: tensor<?x1xf32>) -> tensor<?x2xf32> {
  %wg = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %wu = arith.constant dense<[[3.0, 4.0]]> : tensor<1x2xf32>
  %g = llm.linear %x, %wg : (tensor<?x1xf32>, tensor<1x2xf32>) -> tensor<?x2xf32>
  %u = llm.linear %z, %wu : (tensor<?x1xf32>, tensor<1x2xf32>) -> tensor<?x2xf32>
  %y = llm.swiglu %g, %u : tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// Negative: the gate projection is also used elsewhere.
// CHECK-LABEL: func.func @gate_escapes
// CHECK: llm.swiglu
func.func @gate_escapes(%x: tensor<?x1xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>) {
  %wg = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %wu = arith.constant dense<[[3.0, 4.0]]> : tensor<1x2xf32>
  %g = llm.linear %x, %wg : (tensor<?x1xf32>, tensor<1x2xf32>) -> tensor<?x2xf32>
  %u = llm.linear %x, %wu : (tensor<?x1xf32>, tensor<1x2xf32>) -> tensor<?x2xf32>
  %y = llm.swiglu %g, %u : tensor<?x2xf32>
  return %y, %g : tensor<?x2xf32>, tensor<?x2xf32>
}

// Negative: projections with a bias keep their own ops.
// CHECK-LABEL: func.func @biased
// CHECK: llm.swiglu
func.func @biased(%x: tensor<?x1xf32>) -> tensor<?x2xf32> {
  %wg = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %wu = arith.constant dense<[[3.0, 4.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<[1.0, 1.0]> : tensor<2xf32>
  %g = llm.linear %x, %wg, %b : (tensor<?x1xf32>, tensor<1x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %u = llm.linear %x, %wu : (tensor<?x1xf32>, tensor<1x2xf32>) -> tensor<?x2xf32>
  %y = llm.swiglu %g, %u : tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
