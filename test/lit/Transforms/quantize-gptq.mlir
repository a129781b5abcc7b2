// GPTQ in llmc-quantize-weights, from calibration statistics files written by
// %inputs/make_calibration_stats.py (include/llmc/CalibrationStats.h).
// RUN: %python %inputs/make_calibration_stats.py %t.pair 8,1,pair
// RUN: %python %inputs/make_calibration_stats.py %t.id 8,1,identity
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=8 panel=1 method=gptq calibration=%t.pair report=%t.json}))' | FileCheck %s --check-prefix=GPTQ
// RUN: FileCheck %s --check-prefix=REPORT < %t.json
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=8 panel=1 method=gptq calibration=%t.id}))' | FileCheck %s --check-prefix=RTN
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=8 panel=1}))' | FileCheck %s --check-prefix=RTN
// RTN with statistics: round to nearest, but the report has the output error.
// RUN: llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=8 panel=1 calibration=%t.pair report=%t.rtn.json}))' | FileCheck %s --check-prefix=RTN
// RUN: FileCheck %s --check-prefix=RTNREPORT < %t.rtn.json

// Negative cases: no statistics, statistics of another model (count, shape),
// a linear that never ran, a file of another kind, an unknown method.
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=8 method=gptq}))' 2>&1 | FileCheck %s --check-prefix=NOCAL
// RUN: %python %inputs/make_calibration_stats.py %t.two 8,1,identity 8,1,identity
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=8 method=gptq calibration=%t.two}))' 2>&1 | FileCheck %s --check-prefix=COUNT
// RUN: %python %inputs/make_calibration_stats.py %t.k 16,1,identity
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=8 method=gptq calibration=%t.k}))' 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: %python %inputs/make_calibration_stats.py %t.unseen 8,1,unseen
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=8 method=gptq calibration=%t.unseen}))' 2>&1 | FileCheck %s --check-prefix=UNSEEN
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=8 method=gptq calibration=%s}))' 2>&1 | FileCheck %s --check-prefix=BADFILE
// RUN: not llmc-opt %s --pass-pipeline='builtin.module(func.func(llmc-quantize-weights{bits=8 method=hqq}))' 2>&1 | FileCheck %s --check-prefix=METHOD

// int8 per channel, scale 127/127 = 1, code = q + 128. Inputs 0 and 1 are
// correlated (H[0][1] = 0.5): GPTQ moves half of w0's rounding error (+0.4)
// onto w1 (20.4 -> 20.6 with the 1% damping: 20.598), which then rounds to
// 21 (code 149) where RTN rounds to 20 (code 148); other rows are as RTN.
// GPTQ: arith.constant dense<[138, 149, 255, 125, 128, 128, 130, 128]> : tensor<8xui8>
// GPTQ: llm.quantized_linear %arg0, {{.*}} {bits = 8 : i64, group = 0 : i64, panel = 1 : i64}
// RTN: arith.constant dense<[138, 148, 255, 125, 128, 128, 130, 128]> : tensor<8xui8>
// RTN: llm.quantized_linear %arg0

// The report: d^T H d / w^T H w with d = Wq - W on the undamped H:
// GPTQ 0.53 / 16878.9 = 3.14e-5, RTN 0.73 / 16878.9 = 4.32e-5.
// REPORT: "calibration_tokens": 100,
// REPORT: "method": "gptq",
// REPORT: "bytes": 10,
// REPORT: "f32_bytes": 32,
// REPORT: "kind": "linear",
// REPORT: "method": "gptq",
// REPORT: "rel_error": 3.14{{[0-9]*}}e-05,
// REPORT: "rtn_rel_error": 4.32{{[0-9]*}}e-05,
// REPORT: "scheme": "int8-channel-sym",
// RTNREPORT: "method": "rtn",
// RTNREPORT: "rel_error": 4.32{{[0-9]*}}e-05,
// RTNREPORT-NOT: rtn_rel_error

// NOCAL: method=gptq needs calibration statistics
// COUNT: the calibration statistics describe 2 linears, this compile has 1
// SHAPE: calibration statistics of linear 0 are for K x N = 16 x 1, this linear is 8 x 1
// UNSEEN: linear 0 never ran during calibration
// BADFILE: is not a calibration statistics file
// METHOD: unknown method 'hqq' (rtn, gptq or awq)
func.func @main(%x: tensor<?x8xf32>) -> tensor<?x1xf32> {
  %w = arith.constant dense<[[10.4], [20.4], [127.0], [-3.3], [0.0], [0.0], [1.6], [0.0]]> : tensor<8x1xf32>
  %y = llm.linear %x, %w : (tensor<?x8xf32>, tensor<8x1xf32>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}
