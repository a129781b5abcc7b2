// RUN: llmc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(llmc-pack-sparse-weights{panel=2 unstructured-panel=2}))' 2>&1 | FileCheck %s
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-pack-sparse-weights{panel=0}))' 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: panel widths must be >= 1

// 2:4 (SparseLayout.h): values [block][t][column], metadata one word per
// column, 4 bits per block (position of kept 0, then of kept 1 two bits up):
// column 0 keeps k 2, 3 of both blocks (0xee = 238), column 1 k 0, 1 then
// 6, 7 (0xe4 = 228). Fused bias, residual and RMSNorm carry over.
// CHECK-LABEL: func.func @two_four
// CHECK-DAG: %[[V:.*]] = arith.constant dense<[-3.000000e+00, -5.000000e+00, 4.000000e+00, 6.000000e+00, 3.000000e-01, 3.000000e+00, 4.000000e-01, 4.000000e+00]> : tensor<8xf32>
// CHECK-DAG: %[[M:.*]] = arith.constant dense<[238, 228]> : tensor<2xi32>
// CHECK: llm.sparse_linear %arg0, %[[V]], %[[M]] bias(%{{.*}}) residual(%arg1) {format = "2:4", panel = 2 : i64, rms_epsilon = 1.000000e-01 : f32}
// CHECK-NOT: llm.linear
func.func @two_four(%x: tensor<?x8xf32>, %r: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w = arith.constant dense<[[0.0, -5.0], [0.0, 6.0], [-3.0, 0.0], [4.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.3, 3.0], [0.4, 4.0]]> : tensor<8x2xf32>
  %b = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %y = llm.linear %x, %w, %b residual(%r) {llmc.sparsity = "2:4", rms_epsilon = 0.1 : f32} : (tensor<?x8xf32>, tensor<8x2xf32>, tensor<2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// Unstructured (ELL), from a transposed [N, K] weight: per 256-k chunk,
// rows of (value, k offset) for the panel's columns in increasing k; column
// 0 has k 0, 1, 2, column 1 k 0, 2 and is padded with (0, offset 0) to 3
// rows; starts = [0, 3].
// CHECK-LABEL: func.func @unstructured
// CHECK-DAG: %[[V:.*]] = arith.constant dense<[1.000000e+00, 6.000000e+00, -5.000000e+00, 4.000000e+00, 2.000000e+00, 0.000000e+00]> : tensor<6xf32>
// CHECK-DAG: %[[O:.*]] = arith.constant dense<[0, 0, 1, 2, 2, 0]> : tensor<6xui8>
// CHECK-DAG: %[[S:.*]] = arith.constant dense<[0, 3]> : tensor<2xi32>
// CHECK: llm.sparse_linear %arg0, %[[V]], %[[O]] starts(%[[S]]) {format = "unstructured", panel = 2 : i64}
func.func @unstructured(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = arith.constant dense<[[1.0, -5.0, 2.0, 0.0], [6.0, 0.0, 4.0, 0.0]]> : tensor<2x4xf32>
  %y = llm.linear %x, %w {llmc.sparsity = "unstructured", transpose_weight = true} : (tensor<?x4xf32>, tensor<2x4xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// Gated [K, 2N] (gate | up), N = 1: the gate and up panels are interleaved
// (panel 0 = the gate column and a zero pad column, panel 1 = the up
// column and a pad); gate keeps k 0, 1 (word 0x4, also the pads'), up k 2,
// 3 (0xe). Two linears reading one weight share the compressed constants.
// CHECK-LABEL: func.func @gated
// CHECK-DAG: %[[V:.*]] = arith.constant dense<[1.000000e+00, 0.000000e+00, 2.000000e+00, 0.000000e+00, 3.000000e+00, 0.000000e+00, 4.000000e+00, 0.000000e+00]> : tensor<8xf32>
// CHECK-DAG: %[[M:.*]] = arith.constant dense<[4, 4, 14, 4]> : tensor<4xi32>
// CHECK: llm.sparse_linear %arg0, %[[V]], %[[M]] {format = "2:4", gated, panel = 2 : i64}
// CHECK: llm.sparse_linear %arg1, %[[V]], %[[M]] {format = "2:4", gated, panel = 2 : i64}
func.func @gated(%x: tensor<?x4xf32>, %x2: tensor<?x4xf32>) -> (tensor<?x1xf32>, tensor<?x1xf32>) {
  %w = arith.constant dense<[[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [0.0, 4.0]]> : tensor<4x2xf32>
  %y = llm.linear %x, %w {gated, llmc.sparsity = "2:4"} : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x1xf32>
  %z = llm.linear %x2, %w {gated, llmc.sparsity = "2:4"} : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x1xf32>
  return %y, %z : tensor<?x1xf32>, tensor<?x1xf32>
}

// -----

// Unmarked linears stay dense.
// CHECK-LABEL: func.func @unmarked
// CHECK: llm.linear
func.func @unmarked(%x: tensor<?x4xf32>) -> tensor<?x1xf32> {
  %w = arith.constant dense<[[1.0], [2.0], [3.0], [4.0]]> : tensor<4x1xf32>
  %y = llm.linear %x, %w : (tensor<?x4xf32>, tensor<4x1xf32>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}

