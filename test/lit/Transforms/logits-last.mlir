// RUN: llmc-opt %s --split-input-file --llmc-logits-last 2>/dev/null | FileCheck %s
// RUN: llmc-opt %s --split-input-file --llmc-logits-last 2>&1 >/dev/null | FileCheck %s --check-prefix=WARN

// WARN: warning: --logits=last: the LM head has a non-constant operand besides its input (e.g. a residual); logits stay computed for every position
// WARN: warning: --logits=last: no output named `logits`; nothing changed

// The final norm and the LM head run on the last position only.
// CHECK-LABEL: func.func @main(
// CHECK-SAME: -> (tensor<?x1x8xf32> {llmc.dims = ["batch", "1", "8"], llmc.name = "logits"})
// CHECK: %[[X:.*]] = llm.embedding
// CHECK: %[[S:.*]] = tensor.dim %[[X]], %c1
// CHECK: %[[L:.*]] = arith.subi %[[S]], %c1
// CHECK: %[[ROW:.*]] = tensor.extract_slice %[[X]][0, %[[L]], 0] [%{{.*}}, 1, 8] [1, 1, 1] : tensor<?x?x8xf32> to tensor<?x1x8xf32>
// CHECK: %[[N:.*]] = llm.rms_norm %[[ROW]], %{{.*}} : (tensor<?x1x8xf32>, tensor<8xf32>) -> tensor<?x1x8xf32>
// CHECK: %[[Y:.*]] = llm.linear %[[N]], %{{.*}} : (tensor<?x1x8xf32>, tensor<8x8xf32>) -> tensor<?x1x8xf32>
// CHECK: return %[[Y]]
func.func @main(%ids: tensor<?x?xi64> {llmc.name = "input_ids"})
    -> (tensor<?x?x8xf32> {llmc.name = "logits", llmc.dims = ["batch", "seq", "8"]}) {
  %table = arith.constant dense<1.0> : tensor<8x8xf32>
  %g = arith.constant dense<1.0> : tensor<8xf32>
  %w = arith.constant dense<2.0> : tensor<8x8xf32>
  %x = llm.embedding %table[%ids] : (tensor<8x8xf32>, tensor<?x?xi64>) -> tensor<?x?x8xf32>
  %n = llm.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : (tensor<?x?x8xf32>, tensor<8xf32>) -> tensor<?x?x8xf32>
  %y = llm.linear %n, %w : (tensor<?x?x8xf32>, tensor<8x8xf32>) -> tensor<?x?x8xf32>
  return %y : tensor<?x?x8xf32>
}

// -----

// A packed head with the norm folded in (as after fusion and packing) also works.
// CHECK-LABEL: func.func @main(
// CHECK: tensor.extract_slice
// CHECK: llm.linear %{{.*}}, %{{.*}} {packed_panel = 8 : i64, rms_epsilon = {{.*}}} : (tensor<?x1x8xf32>, tensor<64xf32>) -> tensor<?x1x8xf32>
func.func @main(%ids: tensor<?x?xi64> {llmc.name = "input_ids"}) -> (tensor<?x?x8xf32> {llmc.name = "logits"}) {
  %table = arith.constant dense<1.0> : tensor<8x8xf32>
  %w = arith.constant dense<2.0> : tensor<64xf32>
  %x = llm.embedding %table[%ids] : (tensor<8x8xf32>, tensor<?x?xi64>) -> tensor<?x?x8xf32>
  %y = llm.linear %x, %w {packed_panel = 8 : i64, rms_epsilon = 1.0e-5 : f32} : (tensor<?x?x8xf32>, tensor<64xf32>) -> tensor<?x?x8xf32>
  return %y : tensor<?x?x8xf32>
}

// -----

// A head with a residual is not row-wise in its weights only: left alone.
// CHECK-LABEL: func.func @main(
// CHECK-NOT: tensor.extract_slice
func.func @main(%ids: tensor<?x?xi64> {llmc.name = "input_ids"}) -> (tensor<?x?x8xf32> {llmc.name = "logits"}) {
  %table = arith.constant dense<1.0> : tensor<8x8xf32>
  %w = arith.constant dense<2.0> : tensor<8x8xf32>
  %x = llm.embedding %table[%ids] : (tensor<8x8xf32>, tensor<?x?xi64>) -> tensor<?x?x8xf32>
  %y = llm.linear %x, %w residual(%x) : (tensor<?x?x8xf32>, tensor<8x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return %y : tensor<?x?x8xf32>
}

// -----

// No output named `logits`: nothing to do.
// CHECK-LABEL: func.func @main(
// CHECK-SAME: -> (tensor<?x?x8xf32> {llmc.name = "hidden"})
func.func @main(%ids: tensor<?x?xi64> {llmc.name = "input_ids"}) -> (tensor<?x?x8xf32> {llmc.name = "hidden"}) {
  %table = arith.constant dense<1.0> : tensor<8x8xf32>
  %x = llm.embedding %table[%ids] : (tensor<8x8xf32>, tensor<?x?xi64>) -> tensor<?x?x8xf32>
  return %x : tensor<?x?x8xf32>
}
