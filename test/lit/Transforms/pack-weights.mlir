// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-pack-weights{panel=2}))' | FileCheck %s
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-pack-weights{panel=2 precision=bf16}))' | FileCheck %s --check-prefix=BF16
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-pack-weights{precision=f8}))' 2>&1 | FileCheck %s --check-prefix=BAD

// W [K=3, N=3] in panels of 2 columns (PackedLayout.h): panel 0 holds
// columns 0-1 row by row, panel 1 column 2 and a zero pad column.
// CHECK-LABEL: func.func @plain
// CHECK: %[[P:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00, 4.000000e+00, 5.000000e+00, 7.000000e+00, 8.000000e+00, 3.000000e+00, 0.000000e+00, 6.000000e+00, 0.000000e+00, 9.000000e+00, 0.000000e+00]> : tensor<12xf32>
// CHECK: llm.linear %arg0, %[[P]] {packed_panel = 2 : i64} : (tensor<?x3xf32>, tensor<12xf32>) -> tensor<?x3xf32>
// bf16 pairs consecutive k of a column ([p][k/2][j][k%2]); K pads to 4.
// BF16-LABEL: func.func @plain
// BF16: arith.constant dense<[1.000000e+00, 4.000000e+00, 2.000000e+00, 5.000000e+00, 7.000000e+00, 0.000000e+00, 8.000000e+00, 0.000000e+00, 3.000000e+00, 6.000000e+00, 0.000000e+00, 0.000000e+00, 9.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00]> : tensor<16xbf16>
// BF16: llm.linear %arg0, %{{.*}} {packed_panel = 2 : i64} : (tensor<?x3xf32>, tensor<16xbf16>) -> tensor<?x3xf32>
// BAD: precision must be f32 or bf16, got 'f8'
func.func @plain(%x: tensor<?x3xf32>) -> tensor<?x3xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]> : tensor<3x3xf32>
  %y = llm.linear %x, %w : (tensor<?x3xf32>, tensor<3x3xf32>) -> tensor<?x3xf32>
  return %y : tensor<?x3xf32>
}

// A transposed ([N, K]) weight packs to the same layout.
// CHECK-LABEL: func.func @transposed
// CHECK: dense<[1.000000e+00, 2.000000e+00, 4.000000e+00, 5.000000e+00, 7.000000e+00, 8.000000e+00, 3.000000e+00, 0.000000e+00, 6.000000e+00, 0.000000e+00, 9.000000e+00, 0.000000e+00]>
// CHECK-NOT: transpose_weight = true
func.func @transposed(%x: tensor<?x3xf32>) -> tensor<?x3xf32> {
  %w = arith.constant dense<[[1.0, 4.0, 7.0], [2.0, 5.0, 8.0], [3.0, 6.0, 9.0]]> : tensor<3x3xf32>
  %y = llm.linear %x, %w {transpose_weight = true} : (tensor<?x3xf32>, tensor<3x3xf32>) -> tensor<?x3xf32>
  return %y : tensor<?x3xf32>
}

// Gated weights [K, 2N] (gate | up) interleave gate and up panels.
// CHECK-LABEL: func.func @gated
// CHECK: %[[G:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00, 4.000000e+00, 5.000000e+00, 3.000000e+00, 0.000000e+00, 6.000000e+00, 0.000000e+00]> : tensor<8xf32>
// CHECK: llm.linear %arg0, %[[G]] {gated, packed_panel = 2 : i64}
func.func @gated(%x: tensor<?x1xf32>) -> tensor<?x3xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]> : tensor<1x6xf32>
  %y = llm.linear %x, %w {gated} : (tensor<?x1xf32>, tensor<1x6xf32>) -> tensor<?x3xf32>
  return %y : tensor<?x3xf32>
}

// One packed copy for a weight shared by two linears.
// CHECK-LABEL: func.func @shared
// CHECK-COUNT-1: arith.constant dense<[1.000000e+00, 2.000000e+00, 4.000000e+00
// CHECK-NOT: arith.constant dense<[1.000000e+00, 2.000000e+00, 4.000000e+00
func.func @shared(%x: tensor<?x3xf32>, %z: tensor<?x3xf32>) -> (tensor<?x3xf32>, tensor<?x3xf32>) {
  %w = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]> : tensor<3x3xf32>
  %y = llm.linear %x, %w : (tensor<?x3xf32>, tensor<3x3xf32>) -> tensor<?x3xf32>
  %v = llm.linear %z, %w : (tensor<?x3xf32>, tensor<3x3xf32>) -> tensor<?x3xf32>
  return %y, %v : tensor<?x3xf32>, tensor<?x3xf32>
}

// Negative: a run-time weight stays as it is.
// CHECK-LABEL: func.func @runtime_weight
// CHECK: llm.linear %arg0, %arg1 :
func.func @runtime_weight(%x: tensor<?x3xf32>, %w: tensor<3x3xf32>) -> tensor<?x3xf32> {
  %y = llm.linear %x, %w : (tensor<?x3xf32>, tensor<3x3xf32>) -> tensor<?x3xf32>
  return %y : tensor<?x3xf32>
}
