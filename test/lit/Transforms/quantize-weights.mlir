// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=8 panel=2}))' | FileCheck %s
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 panel=1}))' | FileCheck %s --check-prefix=INT4
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=8 panel=2 keep-lm-head=true}))' | FileCheck %s --check-prefix=KEEP
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=3}))' 2>&1 | FileCheck %s --check-prefix=BAD

// int8, symmetric, one scale per column (QuantLayout.h): both columns have
// amax 127, so the fp16 scale is 1.0 (0x3C00 = 15360) and code = w + 128,
// laid out [panel][k/4][column][k%4].
// CHECK-LABEL: func.func @int8
// CHECK-DAG: %[[C:.*]] = arith.constant dense<[255, 128, 1, 192, 1, 129, 130, 131]> : tensor<8xui8>
// CHECK-DAG: %[[S:.*]] = arith.constant dense<15360> : tensor<2xi16>
// CHECK: llm.quantized_linear %arg0, %[[C]], %[[S]] residual(%arg1) {bits = 8 : i64, group = 0 : i64, panel = 2 : i64, rms_epsilon = 1.000000e-01 : f32}
// BAD: quantization bits must be 8 or 4, got 3
func.func @int8(%x: tensor<?x4xf32>, %r: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w = arith.constant dense<[[127.0, -127.0], [0.0, 1.0], [-127.0, 2.0], [64.0, 3.0]]> : tensor<4x2xf32>
  %y = llm.linear %x, %w residual(%r) {rms_epsilon = 0.1 : f32} : (tensor<?x4xf32>, tensor<4x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// int4, symmetric: the column's first largest-magnitude weight (-8) maps to
// code 0 with scale 1.0; byte k%4 holds code(k) low and code(k+4) high.
// INT4-LABEL: func.func @int4
// INT4-DAG: arith.constant dense<[160, 191, 200, 217]> : tensor<4xui8>
// INT4-DAG: arith.constant dense<15360> : tensor<1xi16>
// INT4: llm.quantized_linear {{.*}} {bits = 4 : i64, group = 0 : i64, panel = 1 : i64}
func.func @int4(%x: tensor<?x8xf32>) -> tensor<?x1xf32> {
  %w = arith.constant dense<[[-8.0], [7.0], [0.0], [1.0], [2.0], [3.0], [4.0], [5.0]]> : tensor<8x1xf32>
  %y = llm.linear %x, %w : (tensor<?x8xf32>, tensor<8x1xf32>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}

// The layer producing `logits` is kept in f32 with keep-lm-head; a run-time
// weight is never quantized.
// KEEP-LABEL: func.func @main
// KEEP: llm.quantized_linear %arg0
// KEEP: llm.linear %{{.*}}, %{{.*}} :
// KEEP: llm.linear %arg0, %arg1 :
func.func @main(%x: tensor<?x4xf32>, %wr: tensor<4x2xf32>) -> (tensor<?x2xf32> {llmc.name = "logits"}, tensor<?x2xf32>) {
  %w = arith.constant dense<[[127.0, -127.0], [0.0, 1.0], [-127.0, 2.0], [64.0, 3.0]]> : tensor<4x2xf32>
  %w2 = arith.constant dense<[[127.0, -127.0, 1.0, 1.0], [0.0, 1.0, 1.0, 1.0]]> : tensor<2x4xf32>
  %h = llm.linear %x, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  %hx = llm.linear %h, %w2 : (tensor<?x2xf32>, tensor<2x4xf32>) -> tensor<?x4xf32>
  %logits = llm.linear %hx, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  %other = llm.linear %x, %wr : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  return %logits, %other : tensor<?x2xf32>, tensor<?x2xf32>
}
