// W4A8 in llmc-quantize-weights (bits=4 act-bits=8): int4 linears get
// act_bits = 8 (activations quantized per token and block of 32 k at run
// time) when the group is 0 (per channel) or a multiple of 32; an int8 LM
// head of the same compile is W8A8; the report names the schemes "...-a8".
// Any other int4 group is refused; without act-bits nothing is marked.
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 act-bits=8 panel=2 report=%t.json}))' | FileCheck %s
// RUN: FileCheck %s --check-prefix=REPORT < %t.json
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 act-bits=8 group=64 symmetric=false panel=2 lm-head=int8}))' | FileCheck %s --check-prefix=G64
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 group=32 panel=2}))' | FileCheck %s --check-prefix=WONLY
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 act-bits=8 group=16}))' 2>&1 | FileCheck %s --check-prefix=G16
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 act-bits=8 group=48}))' 2>&1 | FileCheck %s --check-prefix=G48

// CHECK-LABEL: func.func @main
// CHECK: %[[H:.*]] = llm.quantized_linear %arg0, %{{.*}}, %{{.*}} residual(%arg1) {act_bits = 8 : i64, bits = 4 : i64, group = 0 : i64, panel = 2 : i64}
// CHECK: llm.quantized_linear %[[H]], %{{.*}}, %{{.*}} {act_bits = 8 : i64, bits = 4 : i64, group = 0 : i64, panel = 2 : i64}
// REPORT: "scheme": "int4-channel-sym-a8"
// REPORT: "scheme": "int4-channel-sym-a8"

// G64-LABEL: func.func @main
// G64: %[[H:.*]] = llm.quantized_linear %arg0, {{.*}} {act_bits = 8 : i64, bits = 4 : i64, group = 64 : i64, panel = 2 : i64, symmetric = false}
// G64: llm.quantized_linear %[[H]], {{.*}} {act_bits = 8 : i64, bits = 8 : i64, group = 64 : i64, panel = 2 : i64, symmetric = false}

// WONLY: llm.quantized_linear
// WONLY-NOT: act_bits

// G16: act-bits=8 with int4 weights (W4A8): W4A8 needs an int4 group that is a multiple of 32 (or per channel), got group 16
// G48: got group 48
func.func @main(%x: tensor<?x64xf32>, %r: tensor<?x2xf32>) -> (tensor<?x8xf32> {llmc.name = "logits"}) {
  %w = arith.constant dense<0.25> : tensor<64x2xf32>
  %w2 = arith.constant dense<[[1.0, -2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, -4.0]]> : tensor<2x8xf32>
  %h = llm.linear %x, %w residual(%r) : (tensor<?x64xf32>, tensor<64x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  %logits = llm.linear %h, %w2 : (tensor<?x2xf32>, tensor<2x8xf32>) -> tensor<?x8xf32>
  return %logits : tensor<?x8xf32>
}
