// RUN: llmc-opt %s --split-input-file --verify-diagnostics

// The verifier checks the buffers against the layout of [E, vocab].
func.func @bad_codes(%ids: tensor<?xi64>) -> tensor<?x8xf32> {
  %c = arith.constant dense<0> : tensor<12xui8>
  %s = arith.constant dense<15360> : tensor<4xi16>
  // expected-error @+1 {{codes hold 12 bytes, expected 16}}
  %e = llm.quantized_embedding %c, %s [%ids] {bits = 4 : i64, group = 0 : i64, panel = 2 : i64, vocab = 4 : i64} : (tensor<?xi64>, tensor<12xui8>, tensor<4xi16>) -> tensor<?x8xf32>
  return %e : tensor<?x8xf32>
}

// -----

func.func @missing_zeros(%ids: tensor<?xi64>) -> tensor<?x8xf32> {
  %c = arith.constant dense<0> : tensor<16xui8>
  %s = arith.constant dense<15360> : tensor<4xi16>
  // expected-error @+1 {{an asymmetric scheme needs 4 zero points}}
  %e = llm.quantized_embedding %c, %s [%ids] {bits = 4 : i64, group = 0 : i64, panel = 2 : i64, vocab = 4 : i64, symmetric = false} : (tensor<?xi64>, tensor<16xui8>, tensor<4xi16>) -> tensor<?x8xf32>
  return %e : tensor<?x8xf32>
}
