// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-prune-weights{method=wanda stats=%inputs/wanda-stats.txt}))' | FileCheck %s
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-prune-weights{method=wanda stats=%inputs/wanda-stats-bad-k.txt}))' 2>&1 | FileCheck %s --check-prefix=BADK
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-prune-weights{method=wanda stats=%inputs/make_onnx.py}))' 2>&1 | FileCheck %s --check-prefix=HEADER
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-prune-weights{method=wanda stats=%t.missing}))' 2>&1 | FileCheck %s --check-prefix=MISSING
// BADK: input statistics of linear 0 have 3 values, the layer has K=4
// HEADER: does not start with 'llmc-input-stats 1'
// MISSING: cannot read input statistics '{{.*}}missing'

// Wanda scores |w[k, n]| * ||x_k|| with ||x_k||^2 from the statistics file.
// Linear 0 (record "linear.0", norms 10, 10, 0.1, 0.1) keeps k 0, 1 although
// k 2, 3 hold the larger weights. Linear 1 has no index record; its weight
// constant "blob_w.gateup" (a fused weight) takes the record of the name
// before its last suffix, "blob_w" (norms 0.1, 0.1, 10, 10): k 2, 3 stay.
// CHECK-LABEL: func.func @wanda
// CHECK-DAG: %[[A:.*]] = arith.constant dense<{{\[}}[1.000000e+00], [2.000000e+00], [0.000000e+00], [0.000000e+00]]>
// CHECK-DAG: %[[B:.*]] = arith.constant dense<{{\[}}[0.000000e+00], [0.000000e+00], [3.000000e+00], [4.000000e+00]]>
// CHECK: llm.linear %arg0, %[[A]] {llmc.sparsity = "2:4"}
// CHECK: llm.linear %arg0, %[[B]] {llmc.sparsity = "2:4"}
func.func @wanda(%x: tensor<?x4xf32>) -> (tensor<?x1xf32>, tensor<?x1xf32>) {
  %w = arith.constant dense<[[1.0], [2.0], [3.0], [4.0]]> : tensor<4x1xf32>
  %w2 = arith.constant dense_resource<blob_w.gateup> : tensor<4x1xf32>
  %a = llm.linear %x, %w : (tensor<?x4xf32>, tensor<4x1xf32>) -> tensor<?x1xf32>
  %b = llm.linear %x, %w2 : (tensor<?x4xf32>, tensor<4x1xf32>) -> tensor<?x1xf32>
  return %a, %b : tensor<?x1xf32>, tensor<?x1xf32>
}

{-#
  dialect_resources: {
    builtin: {
      blob_w.gateup: "0x040000000000803F000000400000404000008040"
    }
  }
#-}
