// RUN: llmc-opt %s --split-input-file --llmc-convert-llm-to-linalg | FileCheck %s

// llm.sparse_linear is one call of the sparse kernel with the packed
// kernels' flags (bias 1 | residual 2 | RMSNorm 8 = 11), K, N and the panel.
// CHECK-LABEL: func.func @two_four
// CHECK-DAG: %[[K:.*]] = arith.constant 8 : i64
// CHECK-DAG: %[[N:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[NR:.*]] = arith.constant 2 : i32
// CHECK-DAG: %[[F:.*]] = arith.constant 11 : i32
// CHECK: call @llmc_rt_linear_sparse24_f32({{.*}}, %[[K]], %[[N]], %[[NR]], %[[F]], %{{.*}}) : (memref<?x?xf32, {{.*}}>, memref<?xf32, {{.*}}>, memref<?xi32, {{.*}}>, memref<?xf32, {{.*}}>, memref<?x?xf32, {{.*}}>, memref<?x?xf32, {{.*}}>, i64, i64, i32, i32, f32) -> ()
func.func @two_four(%x: tensor<?x8xf32>, %r: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %v = arith.constant dense<1.0> : tensor<8xf32>
  %m = arith.constant dense<228> : tensor<2xi32>
  %b = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %y = llm.sparse_linear %x, %v, %m bias(%b) residual(%r) {format = "2:4", panel = 2 : i64, rms_epsilon = 0.1 : f32} : (tensor<?x8xf32>, tensor<8xf32>, tensor<2xi32>, tensor<2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// Unstructured: values, offsets and starts; gated sets flag 4.
// CHECK-LABEL: func.func @unstructured
// CHECK: %[[F:.*]] = arith.constant 4 : i32
// CHECK: call @llmc_rt_linear_sparse_ell_f32({{.*}}, %[[F]], %{{.*}}) : (memref<?x?xf32, {{.*}}>, memref<?xf32, {{.*}}>, memref<?xui8, {{.*}}>, memref<?xi32, {{.*}}>, memref<?xf32, {{.*}}>, memref<?x?xf32, {{.*}}>, memref<?x?xf32, {{.*}}>, i64, i64, i32, i32, f32) -> ()
func.func @unstructured(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %v = arith.constant dense<1.0> : tensor<6xf32>
  %o = arith.constant dense<0> : tensor<6xui8>
  %s = arith.constant dense<[0, 1, 3]> : tensor<3xi32>
  %y = llm.sparse_linear %x, %v, %o starts(%s) {format = "unstructured", panel = 2 : i64, gated} : (tensor<?x4xf32>, tensor<6xf32>, tensor<6xui8>, tensor<3xi32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

