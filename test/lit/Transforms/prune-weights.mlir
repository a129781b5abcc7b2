// RUN: llmc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(llmc-prune-weights))' 2>/dev/null | FileCheck %s
// RUN: llmc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(llmc-prune-weights))' -o /dev/null 2>&1 | FileCheck %s --check-prefix=WARN
// RUN: llmc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(llmc-prune-weights{norm-gain=true}))' 2>/dev/null | FileCheck %s --check-prefix=FOLD
// RUN: llmc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(llmc-prune-weights{pattern=unstructured sparsity=0.5}))' 2>/dev/null | FileCheck %s --check-prefix=UNS
// RUN: llmc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(llmc-prune-weights{prune-lm-head=true}))' 2>/dev/null | FileCheck %s --check-prefix=HEAD
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-prune-weights{pattern=3:4}))' 2>&1 | FileCheck %s --check-prefix=BADPAT
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-prune-weights{pattern=unstructured sparsity=1.0}))' 2>&1 | FileCheck %s --check-prefix=BADS
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-prune-weights{method=wanda}))' 2>&1 | FileCheck %s --check-prefix=NOSTATS
// BADPAT: pattern must be 2:4 or unstructured, got '3:4'
// BADS: sparsity must be in [0, 1), got 1
// NOSTATS: method=wanda needs input statistics (stats=FILE)

// 2:4, magnitude: every block of 4 k of a column keeps its 2 largest |w|
// (column 0: -3, 4 then 0.3, 0.4; column 1: -5, 6 then 3, 4); the layer is
// marked for llmc-pack-sparse-weights. Unstructured 50%: each column keeps
// its 4 largest (ties: the lower k).
// CHECK-LABEL: func.func @two_four
// CHECK: %[[P:.*]] = arith.constant dense<{{\[}}[0.000000e+00, -5.000000e+00], [0.000000e+00, 6.000000e+00], [-3.000000e+00, 0.000000e+00], [4.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00], [3.000000e-01, 3.000000e+00], [4.000000e-01, 4.000000e+00]]> : tensor<8x2xf32>
// CHECK: llm.linear %arg0, %[[P]] {llmc.sparsity = "2:4"}
// UNS-LABEL: func.func @two_four
// UNS: %[[P:.*]] = arith.constant dense<{{\[}}[1.000000e+00, -5.000000e+00], [2.000000e+00, 6.000000e+00], [-3.000000e+00, 0.000000e+00], [4.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00], [0.000000e+00, 3.000000e+00], [0.000000e+00, 4.000000e+00]]> : tensor<8x2xf32>
// UNS: llm.linear %arg0, %[[P]] {llmc.sparsity = "unstructured"}
func.func @two_four(%x: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w = arith.constant dense<[[1.0, -5.0], [2.0, 6.0], [-3.0, 0.5], [4.0, 1.0], [0.1, 1.0], [0.2, 2.0], [0.3, 3.0], [0.4, 4.0]]> : tensor<8x2xf32>
  %y = llm.linear %x, %w : (tensor<?x8xf32>, tensor<8x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// A transposed ([N, K]) weight is pruned along K all the same.
// CHECK-LABEL: func.func @transposed
// CHECK: arith.constant dense<{{\[}}[0.000000e+00, 0.000000e+00, -3.000000e+00, 4.000000e+00], [-5.000000e+00, 6.000000e+00, 0.000000e+00, 0.000000e+00]]> : tensor<2x4xf32>
// CHECK: llm.linear {{.*}} {llmc.sparsity = "2:4", transpose_weight = true}
func.func @transposed(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0, -3.0, 4.0], [-5.0, 6.0, 0.5, 1.0]]> : tensor<2x4xf32>
  %y = llm.linear %x, %w {transpose_weight = true} : (tensor<?x4xf32>, tensor<2x4xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// Magnitude scores the stored weights (k 2, 3 stay); with norm-gain=true the
// weights as llmc-fuse-rms-norm will fold them, g[k] w[k]: with g = [1, 1,
// 0.1, 0.1] the effective column is [1, 2, 0.3, 0.4], so k 0, 1 stay.
// CHECK-LABEL: func.func @norm_gain
// CHECK: arith.constant dense<{{\[}}[0.000000e+00], [0.000000e+00], [3.000000e+00], [4.000000e+00]]>
// FOLD-LABEL: func.func @norm_gain
// FOLD: arith.constant dense<{{\[}}[1.000000e+00], [2.000000e+00], [0.000000e+00], [0.000000e+00]]>
func.func @norm_gain(%x: tensor<?x4xf32>) -> tensor<?x1xf32> {
  %g = arith.constant dense<[1.0, 1.0, 0.1, 0.1]> : tensor<4xf32>
  %w = arith.constant dense<[[1.0], [2.0], [3.0], [4.0]]> : tensor<4x1xf32>
  %n = llm.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %y = llm.linear %n, %w : (tensor<?x4xf32>, tensor<4x1xf32>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}

// -----

// Left alone: the LM head (unless prune-lm-head), a run-time weight, a
// packed weight; 2:4 with K = 6 stays dense with a warning.
// WARN: warning: left dense: 2:4 sparsity needs K (6) to be a multiple of 4
// CHECK-LABEL: func.func @negatives
// CHECK-NOT: llmc.sparsity
// CHECK: return
// HEAD-LABEL: func.func @negatives
// HEAD: llm.linear %arg0, %{{.*}} {llmc.sparsity = "2:4"}
func.func @negatives(%x: tensor<?x4xf32>, %wr: tensor<4x2xf32>, %x6: tensor<?x6xf32>)
    -> (tensor<?x2xf32> {llmc.name = "logits"}, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>) {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
  %w6 = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0], [9.0, 1.0], [2.0, 3.0]]> : tensor<6x2xf32>
  %packed = arith.constant dense<1.0> : tensor<8xf32>
  %logits = llm.linear %x, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  %a = llm.linear %x, %wr : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  %b = llm.linear %x6, %w6 : (tensor<?x6xf32>, tensor<6x2xf32>) -> tensor<?x2xf32>
  %c = llm.linear %x, %packed {packed_panel = 2 : i64} : (tensor<?x4xf32>, tensor<8xf32>) -> tensor<?x2xf32>
  return %logits, %a, %b, %c : tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>
}

// -----

// Already quantized linears are not llm.linear and are left alone.
// CHECK-LABEL: func.func @quantized
// CHECK: llm.quantized_linear
// CHECK-NOT: llmc.sparsity
func.func @quantized(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %c = arith.constant dense<[255, 128, 1, 192, 1, 129, 130, 131]> : tensor<8xui8>
  %s = arith.constant dense<15360> : tensor<2xi16>
  %y = llm.quantized_linear %x, %c, %s {bits = 8 : i64, group = 0 : i64, panel = 2 : i64} : (tensor<?x4xf32>, tensor<8xui8>, tensor<2xi16>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
