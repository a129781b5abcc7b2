// W8A8 in llmc-quantize-weights (act-bits=8): every int8 linear gets
// act_bits = 8 (int8 activations quantized per token at run time); an int4
// LM head whose group is not whole W4A8 blocks (8 here) stays weight-only,
// with a note in the report; the report names the scheme "...-a8".
// (int4 weights with act-bits=8, W4A8: quantize-w4a8.mlir.)
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=8 act-bits=8 panel=2 report=%t.json}))' | FileCheck %s
// RUN: FileCheck %s --check-prefix=REPORT < %t.json
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=8 act-bits=8 group=8 symmetric=false panel=2 lm-head=int4 report=%t.head4.json}))' | FileCheck %s --check-prefix=HEAD4
// RUN: FileCheck %s --check-prefix=HEAD4-REPORT < %t.head4.json
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=8 panel=2}))' | FileCheck %s --check-prefix=WONLY
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=8 act-bits=4}))' 2>&1 | FileCheck %s --check-prefix=BITS

// CHECK-LABEL: func.func @main
// CHECK: %[[H:.*]] = llm.quantized_linear %arg0, %{{.*}}, %{{.*}} residual(%arg1) {act_bits = 8 : i64, bits = 8 : i64, group = 0 : i64, panel = 2 : i64}
// CHECK: llm.quantized_linear %[[H]], %{{.*}}, %{{.*}} {act_bits = 8 : i64, bits = 8 : i64, group = 0 : i64, panel = 2 : i64}
// REPORT: "scheme": "int8-channel-sym-a8"

// HEAD4-LABEL: func.func @main
// HEAD4: %[[H:.*]] = llm.quantized_linear %arg0, {{.*}} {act_bits = 8 : i64, bits = 8 : i64, group = 8 : i64, panel = 2 : i64, symmetric = false}
// HEAD4: llm.quantized_linear %[[H]], {{.*}} {bits = 4 : i64, group = 8 : i64, panel = 2 : i64, symmetric = false}

// Without act-bits the attribute is absent (0, weight-only).
// WONLY-NOT: act_bits

// HEAD4-REPORT: "note": "weight-only: W4A8 needs an int4 group that is a multiple of 32 (or per channel), got group 8"
// HEAD4-REPORT: "scheme": "int4-g8-asym"
// BITS: act-bits must be 0 (f32 activations) or 8, got 4
func.func @main(%x: tensor<?x4xf32>, %r: tensor<?x2xf32>) -> (tensor<?x8xf32> {llmc.name = "logits"}) {
  %w = arith.constant dense<[[127.0, -127.0], [0.0, 1.0], [-127.0, 2.0], [64.0, 3.0]]> : tensor<4x2xf32>
  %w2 = arith.constant dense<[[1.0, -2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, -4.0]]> : tensor<2x8xf32>
  %h = llm.linear %x, %w residual(%r) : (tensor<?x4xf32>, tensor<4x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  %logits = llm.linear %h, %w2 : (tensor<?x2xf32>, tensor<2x8xf32>) -> tensor<?x8xf32>
  return %logits : tensor<?x8xf32>
}
