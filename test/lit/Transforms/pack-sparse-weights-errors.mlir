// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-pack-sparse-weights))' 2>&1 | FileCheck %s

// A weight marked 2:4 that is not 2:4 sparse is an error naming the block.
// CHECK: error: cannot compress as 2:4: weight is not 2:4 sparse: column 0, k 0..3 has more than 2 nonzeros
func.func @not_two_four(%x: tensor<?x4xf32>) -> tensor<?x1xf32> {
  %w = arith.constant dense<[[1.0], [2.0], [3.0], [0.0]]> : tensor<4x1xf32>
  %y = llm.linear %x, %w {llmc.sparsity = "2:4"} : (tensor<?x4xf32>, tensor<4x1xf32>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}
