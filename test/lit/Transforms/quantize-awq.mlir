// AWQ in llmc-quantize-weights: per-input scales s (include/llmc/Awq.h) go
// into the weights' rows and 1 / s into the producer of their input
// (lib/Transforms/AwqScaling.h). The statistics make input 0 of every linear
// 100x larger than the others (an "outlier" channel), so the search picks
// alpha > 0: s_0 = c > 1 and s_k = 1 / c for the others (normalized by
// sqrt(max * min)). The producers then hold 1 / c for input 0 and c for the
// rest. Every function has two candidates: K x N = 8 x 16, then 8 x 8.
// RUN: %python %inputs/make_calibration_stats.py %t.stats 8,16,outlier 8,8,outlier
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 group=0 panel=16 method=awq calibration=%t.stats}))' | FileCheck %s
// Identity statistics: all inputs alike, so s = 1 (alpha 0): the gain stays 1.
// RUN: %python %inputs/make_calibration_stats.py %t.id 8,16,identity 8,8,identity
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 group=0 panel=16 method=awq calibration=%t.id}))' | FileCheck %s --check-prefix=ID
// The report of one function: scaled layers say awq with their alpha.
// RUN: llmc-opt %s --mlir-disable-threading --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 group=0 panel=16 method=awq calibration=%t.stats report=%t.json}))' -o /dev/null
// RUN: FileCheck %s --check-prefix=REPORT < %t.json
// Without statistics AWQ is refused.
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=4 method=awq}))' 2>&1 | FileCheck %s --check-prefix=NOCAL
// NOCAL: method=awq needs calibration statistics

// Two linears (the fused QKV, or q and k) and a shape read share the norm:
// one s for both, 1 / s into the gain.
// CHECK-LABEL: func.func @norm_group
// CHECK: %[[G:.*]] = arith.constant dense<[0.{{[0-9]+}}, [[C:[1-9]\.[0-9]+]], [[C]], [[C]], [[C]], [[C]], [[C]], [[C]]]> : tensor<8xf32>
// CHECK: llm.rms_norm %arg0, %[[G]]
// CHECK: llm.quantized_linear
// CHECK: llm.quantized_linear
// ID-LABEL: func.func @norm_group
// ID: %[[G:.*]] = arith.constant dense<1.000000e+00> : tensor<8xf32>
// ID: llm.rms_norm %arg0, %[[G]]
func.func @norm_group(%x: tensor<?x8xf32>) -> (tensor<?x16xf32>, tensor<?x8xf32>, tensor<2xi64>) {
  %g = arith.constant dense<1.0> : tensor<8xf32>
  %w1 = arith.constant dense<[[0.1, -0.37, 0.52, 0.9, -0.05, 0.33, 0.71, -0.6, 0.1, -0.37, 0.52, 0.9, -0.05, 0.33, 0.71, -0.6],
                              [0.2, 0.41, -0.13, 0.05, 0.8, -0.9, 0.27, 0.6, 0.2, 0.41, -0.13, 0.05, 0.8, -0.9, 0.27, 0.6],
                              [-0.3, 0.11, 0.45, -0.75, 0.06, 0.19, -0.44, 0.3, -0.3, 0.11, 0.45, -0.75, 0.06, 0.19, -0.44, 0.3],
                              [0.7, -0.2, 0.09, 0.31, -0.66, 0.52, 0.14, -0.1, 0.7, -0.2, 0.09, 0.31, -0.66, 0.52, 0.14, -0.1],
                              [0.15, 0.35, -0.55, 0.25, 0.45, -0.05, 0.85, 0.2, 0.15, 0.35, -0.55, 0.25, 0.45, -0.05, 0.85, 0.2],
                              [-0.8, 0.6, 0.4, -0.2, 0.1, 0.3, -0.5, 0.7, -0.8, 0.6, 0.4, -0.2, 0.1, 0.3, -0.5, 0.7],
                              [0.33, -0.66, 0.12, 0.48, -0.27, 0.91, 0.05, -0.38, 0.33, -0.66, 0.12, 0.48, -0.27, 0.91, 0.05, -0.38],
                              [0.21, 0.43, -0.87, 0.09, 0.65, -0.32, 0.18, 0.54, 0.21, 0.43, -0.87, 0.09, 0.65, -0.32, 0.18, 0.54]]> : tensor<8x16xf32>
  %w2 = arith.constant dense<[[0.1, -0.37, 0.52, 0.9, -0.05, 0.33, 0.71, -0.6],
                              [0.2, 0.41, -0.13, 0.05, 0.8, -0.9, 0.27, 0.6],
                              [-0.3, 0.11, 0.45, -0.75, 0.06, 0.19, -0.44, 0.3],
                              [0.7, -0.2, 0.09, 0.31, -0.66, 0.52, 0.14, -0.1],
                              [0.15, 0.35, -0.55, 0.25, 0.45, -0.05, 0.85, 0.2],
                              [-0.8, 0.6, 0.4, -0.2, 0.1, 0.3, -0.5, 0.7],
                              [0.33, -0.66, 0.12, 0.48, -0.27, 0.91, 0.05, -0.38],
                              [0.21, 0.43, -0.87, 0.09, 0.65, -0.32, 0.18, 0.54]]> : tensor<8x8xf32>
  %n = llm.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %a = llm.linear %n, %w1 : (tensor<?x8xf32>, tensor<8x16xf32>) -> tensor<?x16xf32>
  %b = llm.linear %n, %w2 : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %s = "onnx.Shape"(%n) : (tensor<?x8xf32>) -> tensor<2xi64>
  return %a, %b, %s : tensor<?x16xf32>, tensor<?x8xf32>, tensor<2xi64>
}

// Negative: the normalized value is also returned, so the gain must stay.
// CHECK-LABEL: func.func @norm_also_returned
// CHECK: %[[G:.*]] = arith.constant dense<1.000000e+00> : tensor<8xf32>
// CHECK: llm.rms_norm %arg0, %[[G]]
func.func @norm_also_returned(%x: tensor<?x8xf32>) -> (tensor<?x16xf32>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %g = arith.constant dense<1.0> : tensor<8xf32>
  %w1 = arith.constant dense<0.5> : tensor<8x16xf32>
  %w2 = arith.constant dense<[[0.1, -0.37, 0.52, 0.9, -0.05, 0.33, 0.71, -0.6],
                             [0.2, 0.41, -0.13, 0.05, 0.8, -0.9, 0.27, 0.6],
                             [-0.3, 0.11, 0.45, -0.75, 0.06, 0.19, -0.44, 0.3],
                             [0.7, -0.2, 0.09, 0.31, -0.66, 0.52, 0.14, -0.1],
                             [0.15, 0.35, -0.55, 0.25, 0.45, -0.05, 0.85, 0.2],
                             [-0.8, 0.6, 0.4, -0.2, 0.1, 0.3, -0.5, 0.7],
                             [0.33, -0.66, 0.12, 0.48, -0.27, 0.91, 0.05, -0.38],
                             [0.21, 0.43, -0.87, 0.09, 0.65, -0.32, 0.18, 0.54]]> : tensor<8x8xf32>
  %n = llm.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %a = llm.linear %n, %w1 : (tensor<?x8xf32>, tensor<8x16xf32>) -> tensor<?x16xf32>
  %b = llm.linear %n, %w2 : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  return %a, %b, %n : tensor<?x16xf32>, tensor<?x8xf32>, tensor<?x8xf32>
}

// Negative: the LM head (the linear producing `logits`) keeps its tie to the
// embedding table, so its norm keeps its gain; the other norm's linear is
// scaled.
// CHECK-LABEL: func.func @lm_head
// CHECK-DAG: %[[G1:.*]] = arith.constant dense<[0.{{[0-9]+}}, [[C:[1-9]\.[0-9]+]], [[C]], [[C]], [[C]], [[C]], [[C]], [[C]]]> : tensor<8xf32>
// CHECK-DAG: %[[G2:.*]] = arith.constant dense<2.000000e+00> : tensor<8xf32>
// CHECK-DAG: llm.rms_norm %arg0, %[[G1]]
// CHECK-DAG: llm.rms_norm %arg0, %[[G2]]
func.func @lm_head(%x: tensor<?x8xf32>) -> (tensor<?x16xf32>, tensor<?x8xf32> {llmc.name = "logits"}) {
  %g1 = arith.constant dense<1.0> : tensor<8xf32>
  %g2 = arith.constant dense<2.0> : tensor<8xf32>
  %w1 = arith.constant dense<[[0.1, -0.37, 0.52, 0.9, -0.05, 0.33, 0.71, -0.6, 0.1, -0.37, 0.52, 0.9, -0.05, 0.33, 0.71, -0.6],
                             [0.2, 0.41, -0.13, 0.05, 0.8, -0.9, 0.27, 0.6, 0.2, 0.41, -0.13, 0.05, 0.8, -0.9, 0.27, 0.6],
                             [-0.3, 0.11, 0.45, -0.75, 0.06, 0.19, -0.44, 0.3, -0.3, 0.11, 0.45, -0.75, 0.06, 0.19, -0.44, 0.3],
                             [0.7, -0.2, 0.09, 0.31, -0.66, 0.52, 0.14, -0.1, 0.7, -0.2, 0.09, 0.31, -0.66, 0.52, 0.14, -0.1],
                             [0.15, 0.35, -0.55, 0.25, 0.45, -0.05, 0.85, 0.2, 0.15, 0.35, -0.55, 0.25, 0.45, -0.05, 0.85, 0.2],
                             [-0.8, 0.6, 0.4, -0.2, 0.1, 0.3, -0.5, 0.7, -0.8, 0.6, 0.4, -0.2, 0.1, 0.3, -0.5, 0.7],
                             [0.33, -0.66, 0.12, 0.48, -0.27, 0.91, 0.05, -0.38, 0.33, -0.66, 0.12, 0.48, -0.27, 0.91, 0.05, -0.38],
                             [0.21, 0.43, -0.87, 0.09, 0.65, -0.32, 0.18, 0.54, 0.21, 0.43, -0.87, 0.09, 0.65, -0.32, 0.18, 0.54]]> : tensor<8x16xf32>
  %w2 = arith.constant dense<[[0.1, -0.37, 0.52, 0.9, -0.05, 0.33, 0.71, -0.6],
                             [0.2, 0.41, -0.13, 0.05, 0.8, -0.9, 0.27, 0.6],
                             [-0.3, 0.11, 0.45, -0.75, 0.06, 0.19, -0.44, 0.3],
                             [0.7, -0.2, 0.09, 0.31, -0.66, 0.52, 0.14, -0.1],
                             [0.15, 0.35, -0.55, 0.25, 0.45, -0.05, 0.85, 0.2],
                             [-0.8, 0.6, 0.4, -0.2, 0.1, 0.3, -0.5, 0.7],
                             [0.33, -0.66, 0.12, 0.48, -0.27, 0.91, 0.05, -0.38],
                             [0.21, 0.43, -0.87, 0.09, 0.65, -0.32, 0.18, 0.54]]> : tensor<8x8xf32>
  %n1 = llm.rms_norm %x, %g1 {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %n2 = llm.rms_norm %x, %g2 {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %a = llm.linear %n1, %w1 : (tensor<?x8xf32>, tensor<8x16xf32>) -> tensor<?x16xf32>
  %b = llm.linear %n2, %w2 : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  return %a, %b : tensor<?x16xf32>, tensor<?x8xf32>
}

// REPORT: "function": "lm_head",
// REPORT: "method": "awq",
// REPORT: "awq_alpha": {{0\.[1-9]|0\.0[1-9]}}
// REPORT: "method": "awq",
// REPORT: "kind": "lm_head",
// REPORT-NEXT: "method": "rtn",
// REPORT-NEXT: "name":
// REPORT-NEXT: "note": "awq: not scaled (the LM head
