// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-pack-sparse-weights{panel=1 bits=4}))' | FileCheck %s
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-pack-sparse-weights{panel=1 bits=4}),llmc-convert-llm-to-linalg)' | FileCheck %s --check-prefix=CALL
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-pack-sparse-weights{bits=8}))' 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: bits must be 32 or 4, got 8

// 2:4 with int4 values (SparseLayout.h Sparse24Q4), K = 8 padded to one
// group of 32 k (8 blocks). Kept 3, -1 | 5, 0; scale = 5 / -8 = -0.625
// (fp16 0xB900 = -18176 as i16); codes round(w / scale) + 8 = 3, 10 | 0, 8,
// two per byte (0xA3 = 163, 0x80 = 128), padding blocks 0x88 = 136; the
// metadata word is 2:4's (0x4444444d = 1145324621).
// CHECK-LABEL: func.func @q4
// CHECK-DAG: %[[C:.*]] = arith.constant dense<[163, 128, 136, 136, 136, 136, 136, 136]> : tensor<8xui8>
// CHECK-DAG: %[[M:.*]] = arith.constant dense<1145324621> : tensor<1xi32>
// CHECK-DAG: %[[S:.*]] = arith.constant dense<-18176> : tensor<1xi16>
// CHECK: llm.sparse_linear %arg0, %[[C]], %[[M]] scales(%[[S]]) {bits = 4 : i64, format = "2:4", panel = 1 : i64}
// Unstructured layers keep f32 values.
// CHECK: llm.sparse_linear %arg0, %{{.*}}, %{{.*}} starts(%{{.*}}) {format = "unstructured", panel = 8 : i64}
// CALL: call @llmc_rt_linear_sparse24_q4({{.*}}) : (memref<?x?xf32, {{.*}}>, memref<?xui8, {{.*}}>, memref<?xi32, {{.*}}>, memref<?xi16, {{.*}}>, memref<?xf32, {{.*}}>, memref<?x?xf32, {{.*}}>, memref<?x?xf32, {{.*}}>, i64, i64, i32, i32, f32) -> ()
// CALL: call @llmc_rt_linear_sparse_ell_f32
func.func @q4(%x: tensor<?x8xf32>) -> (tensor<?x1xf32>, tensor<?x1xf32>) {
  %w = arith.constant dense<[[0.0], [3.0], [0.0], [-1.0], [5.0], [0.0], [0.0], [0.0]]> : tensor<8x1xf32>
  %y = llm.linear %x, %w {llmc.sparsity = "2:4"} : (tensor<?x8xf32>, tensor<8x1xf32>) -> tensor<?x1xf32>
  %z = llm.linear %x, %w {llmc.sparsity = "unstructured"} : (tensor<?x8xf32>, tensor<8x1xf32>) -> tensor<?x1xf32>
  return %y, %z : tensor<?x1xf32>, tensor<?x1xf32>
}
