// RUN: llmc-opt %s --split-input-file --llmc-convert-llm-to-linalg | FileCheck %s
// Without kernels there is no lowering of quantized_embedding (quantization
// needs the kernels); llm.observe still lowers.
// RUN: not llmc-opt %s --split-input-file --llmc-convert-llm-to-linalg=use-kernels=false 2>&1 | FileCheck %s --check-prefix=REF
// REF: cannot lower 'llm.quantized_embedding'

// llm.quantized_embedding: ids flattened to [M] -> llmc_rt_embedding_quant_i64
// (vocab, panel, bits, group, symmetric) writing [M, E], reshaped back.
// CHECK: func.func private @llmc_rt_embedding_quant_i64(memref<?xi64, strided<[?], offset: ?>>, memref<?xui8, strided<[?], offset: ?>>, memref<?xi16, strided<[?], offset: ?>>, memref<?xui8, strided<[?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, i64, i32, i32, i32, i32) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @emb
// CHECK-DAG: %[[SYM:.*]] = arith.constant 0 : i32
// CHECK-DAG: %[[BITS:.*]] = arith.constant 4 : i32
// CHECK-DAG: %[[PANEL:.*]] = arith.constant 2 : i32
// CHECK-DAG: %[[V:.*]] = arith.constant 4 : i64
// CHECK: %[[IDS:.*]] = tensor.reshape %arg0{{.*}} -> tensor<?xi64>
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x8xf32>
// CHECK: call @llmc_rt_embedding_quant_i64({{.*}}, %[[V]], %[[PANEL]], %[[BITS]], %[[SYM]], %[[SYM]])
// CHECK: %[[R:.*]] = bufferization.to_tensor %[[OUT]] restrict writable
// CHECK: tensor.reshape %[[R]]{{.*}} -> tensor<1x?x8xf32>
func.func @emb(%ids: tensor<1x?xi64>) -> tensor<1x?x8xf32> {
  %c = arith.constant dense<0> : tensor<16xui8>
  %s = arith.constant dense<15360> : tensor<4xi16>
  %z = arith.constant dense<8> : tensor<4xui8>
  %e = llm.quantized_embedding %c, %s zeros(%z) [%ids] {bits = 4 : i64, group = 0 : i64, panel = 2 : i64, vocab = 4 : i64, symmetric = false} : (tensor<1x?xi64>, tensor<16xui8>, tensor<4xi16>, tensor<4xui8>) -> tensor<1x?x8xf32>
  return %e : tensor<1x?x8xf32>
}

// -----

// i32 ids have their own entry point; symmetric (no zero points).
// CHECK-LABEL: func.func @emb32
// CHECK: call @llmc_rt_embedding_quant_i32
func.func @emb32(%ids: tensor<?xi32>) -> tensor<?x8xf32> {
  %c = arith.constant dense<0> : tensor<16xui8>
  %s = arith.constant dense<15360> : tensor<4xi16>
  %e = llm.quantized_embedding %c, %s [%ids] {bits = 4 : i64, group = 0 : i64, panel = 2 : i64, vocab = 4 : i64} : (tensor<?xi32>, tensor<16xui8>, tensor<4xi16>) -> tensor<?x8xf32>
  return %e : tensor<?x8xf32>
}

// -----

// llm.observe: the input as [M, K] to the calibration runtime, with its id and
// output columns; also without kernels (the instrumented library's call).
// CHECK: func.func private @llmc_rt_calibration_observe(memref<?x?xf32, strided<[?, ?], offset: ?>>, i64, i64)
// CHECK-LABEL: func.func @observe
// CHECK-DAG: %[[N:.*]] = arith.constant 3 : i64
// CHECK-DAG: %[[ID:.*]] = arith.constant 7 : i64
// CHECK: %[[X:.*]] = tensor.reshape %arg0{{.*}} -> tensor<?x4xf32>
// CHECK: %[[B:.*]] = bufferization.to_buffer %[[X]] read_only
// CHECK: %[[C:.*]] = memref.cast %[[B]]
// CHECK: call @llmc_rt_calibration_observe(%[[C]], %[[ID]], %[[N]])
// CHECK-NOT: llm.observe
// REF-LABEL: func.func @observe
// REF: call @llmc_rt_calibration_observe
func.func @observe(%x: tensor<1x?x4xf32>) -> tensor<1x?x4xf32> {
  llm.observe %x {columns = 3 : i64, id = 7 : i64} : tensor<1x?x4xf32>
  return %x : tensor<1x?x4xf32>
}
