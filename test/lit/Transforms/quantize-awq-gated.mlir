// AWQ's scales for a down projection go into the gated (SwiGLU) linear that
// produces its input (lib/Transforms/AwqScaling.h); see quantize-awq.mlir.
// Input 0 is 100x larger than the others, so s_0 = c > 1 and s_k = 1 / c.
// Every function has two candidates: K x N = 4 x 8 (gated), then 4 x 4.
// RUN: %python %inputs/make_calibration_stats.py %t.stats 4,8,outlier 4,4,outlier
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 group=0 panel=16 method=awq calibration=%t.stats}))' | FileCheck %s

// The down projection's 1 / s goes into the up half (columns 4..7) of the
// gated linear before it, which stays f32 here (4 columns per half do not
// fill a 16-wide panel), so its weight shows it: gate columns unchanged
// (1.0), up column 0 times 1 / c, the other up columns times c. The gated
// linear's own input is an argument: nothing to fold it into.
// CHECK-LABEL: func.func @gated_producer
// CHECK: %[[WG:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 1.000000e+00, 1.000000e+00, 1.000000e+00, 0.{{[0-9]+}}, [[C:[1-9]\.[0-9]+]], [[C]], [[C]]],
// CHECK: llm.linear %arg0, %[[WG]] {gated}
// CHECK: llm.quantized_linear
func.func @gated_producer(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %wg = arith.constant dense<1.0> : tensor<4x8xf32>
  %wd = arith.constant dense<[[0.1, -0.37, 0.52, 0.9],
                             [0.2, 0.41, -0.13, 0.05],
                             [-0.3, 0.11, 0.45, -0.75],
                             [0.7, -0.2, 0.09, 0.31]]> : tensor<4x4xf32>
  %h = llm.linear %x, %wg {gated} : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x4xf32>
  %y = llm.linear %h, %wd : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// Negative: a gated producer with a fused residual (y = silu(g) * u + r:
// dividing u would not divide r) keeps its weight.
// CHECK-LABEL: func.func @gated_with_residual
// CHECK: %[[WG:.*]] = arith.constant dense<1.000000e+00> : tensor<4x8xf32>
// CHECK: llm.linear %arg0, %[[WG]] residual(%arg1) {gated}
func.func @gated_with_residual(%x: tensor<?x4xf32>, %r: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %wg = arith.constant dense<1.0> : tensor<4x8xf32>
  %wd = arith.constant dense<[[0.1, -0.37, 0.52, 0.9],
                             [0.2, 0.41, -0.13, 0.05],
                             [-0.3, 0.11, 0.45, -0.75],
                             [0.7, -0.2, 0.09, 0.31]]> : tensor<4x4xf32>
  %h = llm.linear %x, %wg residual(%r) {gated} : (tensor<?x4xf32>, tensor<4x8xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %y = llm.linear %h, %wd : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

