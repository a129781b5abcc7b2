// Mixed precision in llmc-quantize-weights: the LM head's scheme (lm-head),
// the embedding table (embedding), tied tables stored once, the report.
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 panel=2 lm-head=int8 embedding=int8 report=%t.json}))' | FileCheck %s --check-prefix=TIED8
// RUN: FileCheck %s --check-prefix=REPORT < %t.json
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 panel=2 embedding=int4}))' | FileCheck %s --check-prefix=TIED4
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 panel=2 lm-head=f32 embedding=int4}))' | FileCheck %s --check-prefix=HEADF32
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 panel=2 keep-lm-head=true embedding=int4}))' | FileCheck %s --check-prefix=HEADF32
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 panel=2 lm-head=int8 embedding=int4}))' | FileCheck %s --check-prefix=DIFFERENT
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 panel=2 report=%t.default.json}))' | FileCheck %s --check-prefix=DEFAULT
// RUN: FileCheck %s --check-prefix=DEFAULTREPORT < %t.default.json
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 embedding=int3}))' 2>&1 | FileCheck %s --check-prefix=BADCHOICE
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 keep-lm-head=true lm-head=int4}))' 2>&1 | FileCheck %s --check-prefix=CONTRADICT

// The head's weight [E, V] is the table [V, E] transposed (tied embeddings
// exported as two initializers): with the same scheme for both, the
// embedding reads the head's codes and scales (W = table^T is the head's
// layout), so the table is stored once.
// TIED8-LABEL: func.func @main
// TIED8: %[[E:.*]] = llm.quantized_embedding %[[C:[a-z_0-9]+]], %[[S:[a-z_0-9]+]] [%arg0] {bits = 8 : i64, group = 0 : i64, panel = 2 : i64, vocab = 4 : i64} : (tensor<1x?xi64>, tensor<32xui8>, tensor<4xi16>) -> tensor<1x?x8xf32>
// TIED8: %[[E2:.*]] = llm.quantized_embedding %[[UC:[a-z_0-9]+]], %[[US:[a-z_0-9]+]] [%arg0] {bits = 8 : i64
// TIED8: %[[H:.*]] = llm.quantized_linear %[[E]], %{{.*}}, %{{.*}} residual(%[[E2]]) {bits = 4 : i64
// TIED8: llm.quantized_linear %[[H]], %[[C]], %[[S]] {bits = 8 : i64, group = 0 : i64, panel = 2 : i64}
// The second table is not the head's transpose: it has its own tensors.
// TIED8-NOT: %[[UC]]

// TIED4: llm.quantized_embedding %[[C:[a-z_0-9]+]], %{{.*}} [%arg0] {bits = 4 : i64{{.*}}tensor<16xui8>
// TIED4: llm.quantized_linear %{{.*}}, %[[C]], %{{.*}} {bits = 4 : i64

// A head kept in f32: the embedding gets its own int4 tensors.
// HEADF32-LABEL: func.func @main
// HEADF32: llm.quantized_embedding %{{.*}} {bits = 4 : i64
// HEADF32: llm.quantized_linear
// HEADF32: llm.linear %{{.*}}, %{{.*}} : (tensor<1x?x8xf32>, tensor<8x4xf32>) -> tensor<1x?x4xf32>

// Different schemes for head and table: two tensors.
// DIFFERENT: llm.quantized_embedding %[[C:[a-z_0-9]+]], %{{.*}} [%arg0] {bits = 4 : i64
// DIFFERENT: llm.quantized_linear
// DIFFERENT-NOT: %[[C]]
// DIFFERENT: llm.quantized_linear %{{.*}} {bits = 8 : i64

// By default the table stays f32 and the head follows the other layers.
// DEFAULT-LABEL: func.func @main
// DEFAULT: llm.embedding
// DEFAULT: llm.quantized_linear
// DEFAULT: llm.quantized_linear %{{.*}} {bits = 4 : i64
// DEFAULTREPORT: "bytes": 128,
// DEFAULTREPORT-NEXT: "f32_bytes": 128,
// DEFAULTREPORT-NEXT: "kind": "embedding",
// DEFAULTREPORT-NEXT: "method": "none",
// DEFAULTREPORT: "scheme": "f32",

// REPORT: "kind": "linear",
// REPORT: "scheme": "int4-channel-sym",
// REPORT: "bytes": 40,
// REPORT: "kind": "lm_head",
// REPORT: "scheme": "int8-channel-sym",
// REPORT: "bytes": 0,
// REPORT: "kind": "embedding",
// REPORT: "method": "shared",
// REPORT: "shape": [
// REPORT-NEXT: 4,
// REPORT-NEXT: 8
// REPORT: "shared_with"
// REPORT: "bytes": 40,
// REPORT: "kind": "embedding",
// REPORT: "method": "rtn",
// REPORT: "total_bytes": 128,

// BADCHOICE: lm-head and embedding must be f32, int8 or int4
// CONTRADICT: keep-lm-head contradicts lm-head=int4
func.func @main(%ids: tensor<1x?xi64>) -> (tensor<1x?x4xf32> {llmc.name = "logits"}) {
  %table = arith.constant dense<[[1.0, -2.0, 3.0, -4.0, 5.0, -6.0, 7.0, -8.0], [0.5, 0.25, -0.5, 1.0, 2.0, 0.0, -1.0, 1.5], [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0], [-1.0, -1.0, 1.0, 1.0, 0.0, 0.0, 2.0, -2.0]]> : tensor<4x8xf32>
  %head = arith.constant dense<[[1.0, 0.5, 8.0, -1.0], [-2.0, 0.25, 7.0, -1.0], [3.0, -0.5, 6.0, 1.0], [-4.0, 1.0, 5.0, 1.0], [5.0, 2.0, 4.0, 0.0], [-6.0, 0.0, 3.0, 0.0], [7.0, -1.0, 2.0, 2.0], [-8.0, 1.5, 1.0, -2.0]]> : tensor<8x4xf32>
  %wm = arith.constant dense<0.5> : tensor<8x8xf32>
  // A second table that differs from the head's weight in one element.
  %table2 = arith.constant dense<[[1.0, -2.0, 3.0, -4.0, 5.0, -6.0, 7.0, -8.0], [0.5, 0.25, -0.5, 1.0, 2.0, 0.0, -1.0, 1.5], [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0], [-1.0, -1.0, 1.0, 1.0, 0.0, 0.0, 2.0, -2.5]]> : tensor<4x8xf32>
  %e = llm.embedding %table[%ids] : (tensor<4x8xf32>, tensor<1x?xi64>) -> tensor<1x?x8xf32>
  %e2 = llm.embedding %table2[%ids] : (tensor<4x8xf32>, tensor<1x?xi64>) -> tensor<1x?x8xf32>
  %h = llm.linear %e, %wm residual(%e2) : (tensor<1x?x8xf32>, tensor<8x8xf32>, tensor<1x?x8xf32>) -> tensor<1x?x8xf32>
  %l = llm.linear %h, %head : (tensor<1x?x8xf32>, tensor<8x4xf32>) -> tensor<1x?x4xf32>
  return %l : tensor<1x?x4xf32>
}
