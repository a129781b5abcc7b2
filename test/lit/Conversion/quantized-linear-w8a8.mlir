// RUN: llmc-opt %s --split-input-file --llmc-convert-llm-to-linalg | FileCheck %s

// llm.quantized_linear with act_bits = 8 calls the W8A8 kernel with the
// arguments of the weight-only one (K, N, panel, bits, group, symmetric,
// flags, eps); without it, llmc_rt_linear_quant.
// CHECK: func.func private @llmc_rt_linear_w8a8(memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?xui8, strided<[?], offset: ?>>, memref<?xi16, strided<[?], offset: ?>>, memref<?xui8, strided<[?], offset: ?>>, memref<?xf32, strided<[?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, i64, i64, i32, i32, i32, i32, i32, f32) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @w8a8
// CHECK-DAG: %[[K:.*]] = arith.constant 8 : i64
// CHECK-DAG: %[[N:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[BITS:.*]] = arith.constant 8 : i32
// CHECK-DAG: %[[FLAGS:.*]] = arith.constant 2 : i32
// CHECK: call @llmc_rt_linear_w8a8({{.*}}, %[[K]], %[[N]], {{.*}}, %[[BITS]], {{.*}}, %[[FLAGS]], {{.*}})
// CHECK-NOT: llmc_rt_linear_quant
// CHECK: // -----
func.func @w8a8(%x: tensor<?x8xf32>, %r: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %c = arith.constant dense<128> : tensor<16xui8>
  %s = arith.constant dense<15360> : tensor<2xi16>
  %y = llm.quantized_linear %x, %c, %s residual(%r) {act_bits = 8 : i64, bits = 8 : i64, group = 0 : i64, panel = 2 : i64} : (tensor<?x8xf32>, tensor<16xui8>, tensor<2xi16>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// int4 weights (W4A8, per channel here) call the same kernel with bits = 4.
// CHECK-LABEL: func.func @w4a8
// CHECK-DAG: %[[BITS4:.*]] = arith.constant 4 : i32
// CHECK: call @llmc_rt_linear_w8a8({{.*}}, %[[BITS4]], {{.*}})
// CHECK-NOT: llmc_rt_linear_quant
// CHECK: // -----
func.func @w4a8(%x: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %c = arith.constant dense<136> : tensor<8xui8>
  %s = arith.constant dense<15360> : tensor<2xi16>
  %y = llm.quantized_linear %x, %c, %s {act_bits = 8 : i64, bits = 4 : i64, group = 0 : i64, panel = 2 : i64} : (tensor<?x8xf32>, tensor<8xui8>, tensor<2xi16>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// CHECK-LABEL: func.func @weight_only
// CHECK: call @llmc_rt_linear_quant(
func.func @weight_only(%x: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %c = arith.constant dense<128> : tensor<16xui8>
  %s = arith.constant dense<15360> : tensor<2xi16>
  %y = llm.quantized_linear %x, %c, %s {bits = 8 : i64, group = 0 : i64, panel = 2 : i64} : (tensor<?x8xf32>, tensor<16xui8>, tensor<2xi16>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
