// RUN: llmc-opt %s --split-input-file --verify-diagnostics

// act_bits = 8 with int4 weights (W4A8) needs groups of whole 32-k
// activation blocks (or per channel).
func.func @int4_group8(%x: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %c = arith.constant dense<136> : tensor<8xui8>
  %s = arith.constant dense<15360> : tensor<2xi16>
  // expected-error @+1 {{act_bits = 8: W4A8 needs an int4 group that is a multiple of 32 (or per channel), got group 8}}
  %y = llm.quantized_linear %x, %c, %s {act_bits = 8 : i64, bits = 4 : i64, group = 8 : i64, panel = 2 : i64} : (tensor<?x8xf32>, tensor<8xui8>, tensor<2xi16>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

func.func @act_bits_4(%x: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %c = arith.constant dense<128> : tensor<16xui8>
  %s = arith.constant dense<15360> : tensor<2xi16>
  // expected-error @+1 {{act_bits must be 0 (f32 activations) or 8 (int8), got 4}}
  %y = llm.quantized_linear %x, %c, %s {act_bits = 4 : i64, bits = 8 : i64, group = 0 : i64, panel = 2 : i64} : (tensor<?x8xf32>, tensor<16xui8>, tensor<2xi16>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
