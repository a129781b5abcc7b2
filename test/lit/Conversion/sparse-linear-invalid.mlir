// RUN: llmc-opt %s --split-input-file --verify-diagnostics

// The verifier checks the format and the compressed sizes against K, N and the panel.
func.func @bad_format(%x: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %v = arith.constant dense<1.0> : tensor<8xf32>
  %m = arith.constant dense<228> : tensor<2xi32>
  // expected-error @+1 {{format must be "2:4" or "unstructured", got '1:4'}}
  %y = llm.sparse_linear %x, %v, %m {format = "1:4", panel = 2 : i64} : (tensor<?x8xf32>, tensor<8xf32>, tensor<2xi32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

func.func @bad_size(%x: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %v = arith.constant dense<1.0> : tensor<6xf32>
  %m = arith.constant dense<228> : tensor<2xi32>
  // expected-error @+1 {{2:4 weight has 6 values and 2 metadata words, expected 8 and 2}}
  %y = llm.sparse_linear %x, %v, %m {format = "2:4", panel = 2 : i64} : (tensor<?x8xf32>, tensor<6xf32>, tensor<2xi32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

func.func @bad_starts(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %v = arith.constant dense<1.0> : tensor<6xf32>
  %o = arith.constant dense<0> : tensor<6xui8>
  %s = arith.constant dense<[0, 3, 3]> : tensor<3xi32>
  // expected-error @+1 {{starts has 3 entries, expected 2}}
  %y = llm.sparse_linear %x, %v, %o starts(%s) {format = "unstructured", panel = 2 : i64} : (tensor<?x4xf32>, tensor<6xf32>, tensor<6xui8>, tensor<3xi32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

func.func @int4_unstructured(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %v = arith.constant dense<1> : tensor<6xui8>
  %o = arith.constant dense<0> : tensor<6xui8>
  %s = arith.constant dense<[0, 3]> : tensor<2xi32>
  %sc = arith.constant dense<0> : tensor<2xi16>
  // expected-error @+1 {{int4 values need the 2:4 format}}
  %y = llm.sparse_linear %x, %v, %o starts(%s) scales(%sc) {format = "unstructured", panel = 2 : i64, bits = 4 : i64} : (tensor<?x4xf32>, tensor<6xui8>, tensor<6xui8>, tensor<2xi32>, tensor<2xi16>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

func.func @int4_sizes(%x: tensor<?x8xf32>) -> tensor<?x1xf32> {
  %c = arith.constant dense<136> : tensor<4xui8>
  %m = arith.constant dense<0> : tensor<1xi32>
  %sc = arith.constant dense<0> : tensor<1xi16>
  // expected-error @+1 {{int4 2:4 weight has 4 codes, 1 metadata words and 1 scales, expected 8, 1 and 1}}
  %y = llm.sparse_linear %x, %c, %m scales(%sc) {format = "2:4", panel = 1 : i64, bits = 4 : i64} : (tensor<?x8xf32>, tensor<4xui8>, tensor<1xi32>, tensor<1xi16>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}
