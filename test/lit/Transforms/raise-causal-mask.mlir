// RUN: llmc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(llmc-raise-causal-mask))' | FileCheck %s

// The mask as transformers (and python/llmc_tools/llama_onnx.py) export it:
// Where(Or(key > past + row, attention_mask == 0), f32 min, 0). The attention
// becomes causal and keeps only the padding half of the mask.
// Positive: the exported mask.
// CHECK-LABEL: func.func @export_mask
// CHECK: %[[PAD:.*]] = "onnx.Unsqueeze"(%{{.*}}, %{{.*}}) : (tensor<1x?xi1>, tensor<2xi64>) -> tensor<1x1x1x?xi1>
// CHECK: %[[M:.*]] = "onnx.Where"(%[[PAD]], %{{.*}}, %{{.*}}) : (tensor<1x1x1x?xi1>, tensor<f32>, tensor<f32>) -> tensor<1x1x1x?xf32>
// CHECK: llm.attention %arg4, %{{.*}}, %{{.*}}, %[[M]] {causal = true, scale = 2.500000e-01 : f32} : (tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x1x1x?xf32>)
func.func @export_mask(%ids: tensor<1x?xi64>, %am: tensor<1x?xi64>, %pastk: tensor<1x2x?x8xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 0 : i64}, %pastv: tensor<1x2x?x8xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 1 : i64}, %q: tensor<1x4x?x8xf32>, %newk: tensor<1x2x?x8xf32>, %newv: tensor<1x2x?x8xf32>, %table: tensor<10x8xf32>) -> (tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) {
  %zero = arith.constant dense<0> : tensor<i64>
  %one = arith.constant dense<1> : tensor<i64>
  %two = arith.constant dense<2> : tensor<i64>
  %sidx = arith.constant dense<1> : tensor<i64>
  %kstart = arith.constant dense<0> : tensor<i64>
  %ax1 = arith.constant dense<[1]> : tensor<1xi64>
  %ax01 = arith.constant dense<[0, 1]> : tensor<2xi64>
  %ax12 = arith.constant dense<[1, 2]> : tensor<2xi64>
  %neg = arith.constant dense<-3.40282347E+38> : tensor<f32>
  %fzero = arith.constant dense<0.000000e+00> : tensor<f32>
  %emb = llm.embedding %table[%ids] : (tensor<10x8xf32>, tensor<1x?xi64>) -> tensor<1x?x8xf32>
  %ids_shape = "onnx.Shape"(%ids) : (tensor<1x?xi64>) -> tensor<2xi64>
  %seq = "onnx.Gather"(%ids_shape, %sidx) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %past_shape = "onnx.Shape"(%pastk) : (tensor<1x2x?x8xf32>) -> tensor<4xi64>
  %past = "onnx.Gather"(%past_shape, %two) {axis = 0 : i64} : (tensor<4xi64>, tensor<i64>) -> tensor<i64>
  %am_shape = "onnx.Shape"(%am) : (tensor<1x?xi64>) -> tensor<2xi64>
  %total = "onnx.Gather"(%am_shape, %one) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %end = "onnx.Add"(%past, %seq) : (tensor<i64>, tensor<i64>) -> tensor<i64>
  %rowpos = "onnx.Range"(%past, %end, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %keypos = "onnx.Range"(%kstart, %total, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %rowcol = "onnx.Unsqueeze"(%rowpos, %ax1) : (tensor<?xi64>, tensor<1xi64>) -> tensor<?x1xi64>
  %fut = "onnx.Greater"(%keypos, %rowcol) : (tensor<?xi64>, tensor<?x1xi64>) -> tensor<?x?xi1>
  %futu = "onnx.Unsqueeze"(%fut, %ax01) : (tensor<?x?xi1>, tensor<2xi64>) -> tensor<1x1x?x?xi1>
  %pad = "onnx.Equal"(%am, %zero) : (tensor<1x?xi64>, tensor<i64>) -> tensor<1x?xi1>
  %padu = "onnx.Unsqueeze"(%pad, %ax12) : (tensor<1x?xi1>, tensor<2xi64>) -> tensor<1x1x1x?xi1>
  %cond = "onnx.Or"(%futu, %padu) : (tensor<1x1x?x?xi1>, tensor<1x1x1x?xi1>) -> tensor<1x1x?x?xi1>
  %mask = "onnx.Where"(%cond, %neg, %fzero) : (tensor<1x1x?x?xi1>, tensor<f32>, tensor<f32>) -> tensor<1x1x?x?xf32>
  %k = llm.kv_cache_append %pastk, %newk {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %v = llm.kv_cache_append %pastv, %newv {axis = 2 : i64, slot = 1 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %k, %v, %mask {causal = false, scale = 2.500000e-01 : f32} : (tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x1x?x?xf32>) -> tensor<1x4x?x8xf32>
  return %o, %emb, %k, %v : tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
}

// -----

// Positive: no padding part (Where(future, -inf, 0)) leaves no mask; Less with swapped operands and Add(S, past) are the same comparison.
// CHECK-LABEL: func.func @no_padding
// CHECK: llm.attention %arg4, %{{.*}}, %{{.*}} {causal = true, scale = 2.500000e-01 : f32} : (tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x4x?x8xf32>
func.func @no_padding(%ids: tensor<1x?xi64>, %am: tensor<1x?xi64>, %pastk: tensor<1x2x?x8xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 0 : i64}, %pastv: tensor<1x2x?x8xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 1 : i64}, %q: tensor<1x4x?x8xf32>, %newk: tensor<1x2x?x8xf32>, %newv: tensor<1x2x?x8xf32>, %table: tensor<10x8xf32>) -> (tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) {
  %zero = arith.constant dense<0> : tensor<i64>
  %one = arith.constant dense<1> : tensor<i64>
  %two = arith.constant dense<2> : tensor<i64>
  %sidx = arith.constant dense<1> : tensor<i64>
  %kstart = arith.constant dense<0> : tensor<i64>
  %ax1 = arith.constant dense<[1]> : tensor<1xi64>
  %ax01 = arith.constant dense<[0, 1]> : tensor<2xi64>
  %ax12 = arith.constant dense<[1, 2]> : tensor<2xi64>
  %neg = arith.constant dense<0xFF800000> : tensor<f32>
  %fzero = arith.constant dense<0.000000e+00> : tensor<f32>
  %emb = llm.embedding %table[%ids] : (tensor<10x8xf32>, tensor<1x?xi64>) -> tensor<1x?x8xf32>
  %ids_shape = "onnx.Shape"(%ids) : (tensor<1x?xi64>) -> tensor<2xi64>
  %seq = "onnx.Gather"(%ids_shape, %sidx) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %past_shape = "onnx.Shape"(%pastk) : (tensor<1x2x?x8xf32>) -> tensor<4xi64>
  %past = "onnx.Gather"(%past_shape, %two) {axis = 0 : i64} : (tensor<4xi64>, tensor<i64>) -> tensor<i64>
  %am_shape = "onnx.Shape"(%am) : (tensor<1x?xi64>) -> tensor<2xi64>
  %total = "onnx.Gather"(%am_shape, %one) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %end = "onnx.Add"(%seq, %past) : (tensor<i64>, tensor<i64>) -> tensor<i64>
  %rowpos = "onnx.Range"(%past, %end, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %keypos = "onnx.Range"(%kstart, %total, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %rowcol = "onnx.Unsqueeze"(%rowpos, %ax1) : (tensor<?xi64>, tensor<1xi64>) -> tensor<?x1xi64>
  %fut = "onnx.Less"(%rowcol, %keypos) : (tensor<?x1xi64>, tensor<?xi64>) -> tensor<?x?xi1>
  %futu = "onnx.Unsqueeze"(%fut, %ax01) : (tensor<?x?xi1>, tensor<2xi64>) -> tensor<1x1x?x?xi1>
  
  %mask = "onnx.Where"(%futu, %neg, %fzero) : (tensor<1x1x?x?xi1>, tensor<f32>, tensor<f32>) -> tensor<1x1x?x?xf32>
  %k = llm.kv_cache_append %pastk, %newk {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %v = llm.kv_cache_append %pastv, %newv {axis = 2 : i64, slot = 1 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %k, %v, %mask {causal = false, scale = 2.500000e-01 : f32} : (tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x1x?x?xf32>) -> tensor<1x4x?x8xf32>
  return %o, %emb, %k, %v : tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
}

// -----

// Negative: rows > keys masks the past (anti-causal), not the future.
// CHECK-LABEL: func.func @greater_equal_direction
// CHECK-NOT: causal = true
// CHECK: llm.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {causal = false
func.func @greater_equal_direction(%ids: tensor<1x?xi64>, %am: tensor<1x?xi64>, %pastk: tensor<1x2x?x8xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 0 : i64}, %pastv: tensor<1x2x?x8xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 1 : i64}, %q: tensor<1x4x?x8xf32>, %newk: tensor<1x2x?x8xf32>, %newv: tensor<1x2x?x8xf32>, %table: tensor<10x8xf32>) -> (tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) {
  %zero = arith.constant dense<0> : tensor<i64>
  %one = arith.constant dense<1> : tensor<i64>
  %two = arith.constant dense<2> : tensor<i64>
  %sidx = arith.constant dense<1> : tensor<i64>
  %kstart = arith.constant dense<0> : tensor<i64>
  %ax1 = arith.constant dense<[1]> : tensor<1xi64>
  %ax01 = arith.constant dense<[0, 1]> : tensor<2xi64>
  %ax12 = arith.constant dense<[1, 2]> : tensor<2xi64>
  %neg = arith.constant dense<-3.40282347E+38> : tensor<f32>
  %fzero = arith.constant dense<0.000000e+00> : tensor<f32>
  %emb = llm.embedding %table[%ids] : (tensor<10x8xf32>, tensor<1x?xi64>) -> tensor<1x?x8xf32>
  %ids_shape = "onnx.Shape"(%ids) : (tensor<1x?xi64>) -> tensor<2xi64>
  %seq = "onnx.Gather"(%ids_shape, %sidx) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %past_shape = "onnx.Shape"(%pastk) : (tensor<1x2x?x8xf32>) -> tensor<4xi64>
  %past = "onnx.Gather"(%past_shape, %two) {axis = 0 : i64} : (tensor<4xi64>, tensor<i64>) -> tensor<i64>
  %am_shape = "onnx.Shape"(%am) : (tensor<1x?xi64>) -> tensor<2xi64>
  %total = "onnx.Gather"(%am_shape, %one) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %end = "onnx.Add"(%past, %seq) : (tensor<i64>, tensor<i64>) -> tensor<i64>
  %rowpos = "onnx.Range"(%past, %end, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %keypos = "onnx.Range"(%kstart, %total, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %rowcol = "onnx.Unsqueeze"(%rowpos, %ax1) : (tensor<?xi64>, tensor<1xi64>) -> tensor<?x1xi64>
  %fut = "onnx.Greater"(%rowcol, %keypos) : (tensor<?x1xi64>, tensor<?xi64>) -> tensor<?x?xi1>
  %futu = "onnx.Unsqueeze"(%fut, %ax01) : (tensor<?x?xi1>, tensor<2xi64>) -> tensor<1x1x?x?xi1>
  %pad = "onnx.Equal"(%am, %zero) : (tensor<1x?xi64>, tensor<i64>) -> tensor<1x?xi1>
  %padu = "onnx.Unsqueeze"(%pad, %ax12) : (tensor<1x?xi1>, tensor<2xi64>) -> tensor<1x1x1x?xi1>
  %cond = "onnx.Or"(%futu, %padu) : (tensor<1x1x?x?xi1>, tensor<1x1x1x?xi1>) -> tensor<1x1x?x?xi1>
  %mask = "onnx.Where"(%cond, %neg, %fzero) : (tensor<1x1x?x?xi1>, tensor<f32>, tensor<f32>) -> tensor<1x1x?x?xf32>
  %k = llm.kv_cache_append %pastk, %newk {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %v = llm.kv_cache_append %pastv, %newv {axis = 2 : i64, slot = 1 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %k, %v, %mask {causal = false, scale = 2.500000e-01 : f32} : (tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x1x?x?xf32>) -> tensor<1x4x?x8xf32>
  return %o, %emb, %k, %v : tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
}

// -----

// Negative: -1e4 does not remove a key, so causal skipping would change the result.
// CHECK-LABEL: func.func @small_negative
// CHECK-NOT: causal = true
// CHECK: llm.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {causal = false
func.func @small_negative(%ids: tensor<1x?xi64>, %am: tensor<1x?xi64>, %pastk: tensor<1x2x?x8xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 0 : i64}, %pastv: tensor<1x2x?x8xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 1 : i64}, %q: tensor<1x4x?x8xf32>, %newk: tensor<1x2x?x8xf32>, %newv: tensor<1x2x?x8xf32>, %table: tensor<10x8xf32>) -> (tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) {
  %zero = arith.constant dense<0> : tensor<i64>
  %one = arith.constant dense<1> : tensor<i64>
  %two = arith.constant dense<2> : tensor<i64>
  %sidx = arith.constant dense<1> : tensor<i64>
  %kstart = arith.constant dense<0> : tensor<i64>
  %ax1 = arith.constant dense<[1]> : tensor<1xi64>
  %ax01 = arith.constant dense<[0, 1]> : tensor<2xi64>
  %ax12 = arith.constant dense<[1, 2]> : tensor<2xi64>
  %neg = arith.constant dense<-1.000000e+04> : tensor<f32>
  %fzero = arith.constant dense<0.000000e+00> : tensor<f32>
  %emb = llm.embedding %table[%ids] : (tensor<10x8xf32>, tensor<1x?xi64>) -> tensor<1x?x8xf32>
  %ids_shape = "onnx.Shape"(%ids) : (tensor<1x?xi64>) -> tensor<2xi64>
  %seq = "onnx.Gather"(%ids_shape, %sidx) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %past_shape = "onnx.Shape"(%pastk) : (tensor<1x2x?x8xf32>) -> tensor<4xi64>
  %past = "onnx.Gather"(%past_shape, %two) {axis = 0 : i64} : (tensor<4xi64>, tensor<i64>) -> tensor<i64>
  %am_shape = "onnx.Shape"(%am) : (tensor<1x?xi64>) -> tensor<2xi64>
  %total = "onnx.Gather"(%am_shape, %one) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %end = "onnx.Add"(%past, %seq) : (tensor<i64>, tensor<i64>) -> tensor<i64>
  %rowpos = "onnx.Range"(%past, %end, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %keypos = "onnx.Range"(%kstart, %total, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %rowcol = "onnx.Unsqueeze"(%rowpos, %ax1) : (tensor<?xi64>, tensor<1xi64>) -> tensor<?x1xi64>
  %fut = "onnx.Greater"(%keypos, %rowcol) : (tensor<?xi64>, tensor<?x1xi64>) -> tensor<?x?xi1>
  %futu = "onnx.Unsqueeze"(%fut, %ax01) : (tensor<?x?xi1>, tensor<2xi64>) -> tensor<1x1x?x?xi1>
  %pad = "onnx.Equal"(%am, %zero) : (tensor<1x?xi64>, tensor<i64>) -> tensor<1x?xi1>
  %padu = "onnx.Unsqueeze"(%pad, %ax12) : (tensor<1x?xi1>, tensor<2xi64>) -> tensor<1x1x1x?xi1>
  %cond = "onnx.Or"(%futu, %padu) : (tensor<1x1x?x?xi1>, tensor<1x1x1x?xi1>) -> tensor<1x1x?x?xi1>
  %mask = "onnx.Where"(%cond, %neg, %fzero) : (tensor<1x1x?x?xi1>, tensor<f32>, tensor<f32>) -> tensor<1x1x?x?xf32>
  %k = llm.kv_cache_append %pastk, %newk {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %v = llm.kv_cache_append %pastv, %newv {axis = 2 : i64, slot = 1 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %k, %v, %mask {causal = false, scale = 2.500000e-01 : f32} : (tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x1x?x?xf32>) -> tensor<1x4x?x8xf32>
  return %o, %emb, %k, %v : tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
}

// -----

// Negative: the allowed keys get +1, not 0.
// CHECK-LABEL: func.func @nonzero_else
// CHECK-NOT: causal = true
// CHECK: llm.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {causal = false
func.func @nonzero_else(%ids: tensor<1x?xi64>, %am: tensor<1x?xi64>, %pastk: tensor<1x2x?x8xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 0 : i64}, %pastv: tensor<1x2x?x8xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 1 : i64}, %q: tensor<1x4x?x8xf32>, %newk: tensor<1x2x?x8xf32>, %newv: tensor<1x2x?x8xf32>, %table: tensor<10x8xf32>) -> (tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) {
  %zero = arith.constant dense<0> : tensor<i64>
  %one = arith.constant dense<1> : tensor<i64>
  %two = arith.constant dense<2> : tensor<i64>
  %sidx = arith.constant dense<1> : tensor<i64>
  %kstart = arith.constant dense<0> : tensor<i64>
  %ax1 = arith.constant dense<[1]> : tensor<1xi64>
  %ax01 = arith.constant dense<[0, 1]> : tensor<2xi64>
  %ax12 = arith.constant dense<[1, 2]> : tensor<2xi64>
  %neg = arith.constant dense<-3.40282347E+38> : tensor<f32>
  %fzero = arith.constant dense<1.000000e+00> : tensor<f32>
  %emb = llm.embedding %table[%ids] : (tensor<10x8xf32>, tensor<1x?xi64>) -> tensor<1x?x8xf32>
  %ids_shape = "onnx.Shape"(%ids) : (tensor<1x?xi64>) -> tensor<2xi64>
  %seq = "onnx.Gather"(%ids_shape, %sidx) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %past_shape = "onnx.Shape"(%pastk) : (tensor<1x2x?x8xf32>) -> tensor<4xi64>
  %past = "onnx.Gather"(%past_shape, %two) {axis = 0 : i64} : (tensor<4xi64>, tensor<i64>) -> tensor<i64>
  %am_shape = "onnx.Shape"(%am) : (tensor<1x?xi64>) -> tensor<2xi64>
  %total = "onnx.Gather"(%am_shape, %one) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %end = "onnx.Add"(%past, %seq) : (tensor<i64>, tensor<i64>) -> tensor<i64>
  %rowpos = "onnx.Range"(%past, %end, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %keypos = "onnx.Range"(%kstart, %total, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %rowcol = "onnx.Unsqueeze"(%rowpos, %ax1) : (tensor<?xi64>, tensor<1xi64>) -> tensor<?x1xi64>
  %fut = "onnx.Greater"(%keypos, %rowcol) : (tensor<?xi64>, tensor<?x1xi64>) -> tensor<?x?xi1>
  %futu = "onnx.Unsqueeze"(%fut, %ax01) : (tensor<?x?xi1>, tensor<2xi64>) -> tensor<1x1x?x?xi1>
  %pad = "onnx.Equal"(%am, %zero) : (tensor<1x?xi64>, tensor<i64>) -> tensor<1x?xi1>
  %padu = "onnx.Unsqueeze"(%pad, %ax12) : (tensor<1x?xi1>, tensor<2xi64>) -> tensor<1x1x1x?xi1>
  %cond = "onnx.Or"(%futu, %padu) : (tensor<1x1x?x?xi1>, tensor<1x1x1x?xi1>) -> tensor<1x1x?x?xi1>
  %mask = "onnx.Where"(%cond, %neg, %fzero) : (tensor<1x1x?x?xi1>, tensor<f32>, tensor<f32>) -> tensor<1x1x?x?xf32>
  %k = llm.kv_cache_append %pastk, %newk {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %v = llm.kv_cache_append %pastv, %newv {axis = 2 : i64, slot = 1 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %k, %v, %mask {causal = false, scale = 2.500000e-01 : f32} : (tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x1x?x?xf32>) -> tensor<1x4x?x8xf32>
  return %o, %emb, %k, %v : tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
}

// -----

// Negative: the rows start at the attention mask's length, not the cached length.
// CHECK-LABEL: func.func @rows_not_from_cache
// CHECK-NOT: causal = true
// CHECK: llm.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {causal = false
func.func @rows_not_from_cache(%ids: tensor<1x?xi64>, %am: tensor<1x?xi64>, %pastk: tensor<1x2x?x8xf32>, %pastv: tensor<1x2x?x8xf32>, %q: tensor<1x4x?x8xf32>, %newk: tensor<1x2x?x8xf32>, %newv: tensor<1x2x?x8xf32>, %table: tensor<10x8xf32>) -> (tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) {
  %zero = arith.constant dense<0> : tensor<i64>
  %one = arith.constant dense<1> : tensor<i64>
  %two = arith.constant dense<2> : tensor<i64>
  %sidx = arith.constant dense<1> : tensor<i64>
  %kstart = arith.constant dense<0> : tensor<i64>
  %ax1 = arith.constant dense<[1]> : tensor<1xi64>
  %ax01 = arith.constant dense<[0, 1]> : tensor<2xi64>
  %ax12 = arith.constant dense<[1, 2]> : tensor<2xi64>
  %neg = arith.constant dense<-3.40282347E+38> : tensor<f32>
  %fzero = arith.constant dense<0.000000e+00> : tensor<f32>
  %emb = llm.embedding %table[%ids] : (tensor<10x8xf32>, tensor<1x?xi64>) -> tensor<1x?x8xf32>
  %ids_shape = "onnx.Shape"(%ids) : (tensor<1x?xi64>) -> tensor<2xi64>
  %seq = "onnx.Gather"(%ids_shape, %sidx) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %past_shape = "onnx.Shape"(%pastk) : (tensor<1x2x?x8xf32>) -> tensor<4xi64>
  %past = "onnx.Gather"(%past_shape, %two) {axis = 0 : i64} : (tensor<4xi64>, tensor<i64>) -> tensor<i64>
  %am_shape = "onnx.Shape"(%am) : (tensor<1x?xi64>) -> tensor<2xi64>
  %total = "onnx.Gather"(%am_shape, %one) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %end = "onnx.Add"(%past, %seq) : (tensor<i64>, tensor<i64>) -> tensor<i64>
  %rowpos = "onnx.Range"(%past, %end, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %keypos = "onnx.Range"(%kstart, %total, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %rowcol = "onnx.Unsqueeze"(%rowpos, %ax1) : (tensor<?xi64>, tensor<1xi64>) -> tensor<?x1xi64>
  %fut = "onnx.Greater"(%keypos, %rowcol) : (tensor<?xi64>, tensor<?x1xi64>) -> tensor<?x?xi1>
  %futu = "onnx.Unsqueeze"(%fut, %ax01) : (tensor<?x?xi1>, tensor<2xi64>) -> tensor<1x1x?x?xi1>
  %pad = "onnx.Equal"(%am, %zero) : (tensor<1x?xi64>, tensor<i64>) -> tensor<1x?xi1>
  %padu = "onnx.Unsqueeze"(%pad, %ax12) : (tensor<1x?xi1>, tensor<2xi64>) -> tensor<1x1x1x?xi1>
  %cond = "onnx.Or"(%futu, %padu) : (tensor<1x1x?x?xi1>, tensor<1x1x1x?xi1>) -> tensor<1x1x?x?xi1>
  %mask = "onnx.Where"(%cond, %neg, %fzero) : (tensor<1x1x?x?xi1>, tensor<f32>, tensor<f32>) -> tensor<1x1x?x?xf32>
  %k = llm.kv_cache_append %pastk, %newk {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %v = llm.kv_cache_append %pastv, %newv {axis = 2 : i64, slot = 1 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %k, %v, %mask {causal = false, scale = 2.500000e-01 : f32} : (tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x1x?x?xf32>) -> tensor<1x4x?x8xf32>
  return %o, %emb, %k, %v : tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
}

// -----

// Negative: the rows start at the cache's head count (axis 1), not its length.
// CHECK-LABEL: func.func @wrong_cache_axis
// CHECK-NOT: causal = true
// CHECK: llm.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {causal = false
func.func @wrong_cache_axis(%ids: tensor<1x?xi64>, %am: tensor<1x?xi64>, %pastk: tensor<1x2x?x8xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 0 : i64}, %pastv: tensor<1x2x?x8xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 1 : i64}, %q: tensor<1x4x?x8xf32>, %newk: tensor<1x2x?x8xf32>, %newv: tensor<1x2x?x8xf32>, %table: tensor<10x8xf32>) -> (tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) {
  %zero = arith.constant dense<0> : tensor<i64>
  %one = arith.constant dense<1> : tensor<i64>
  %two = arith.constant dense<1> : tensor<i64>
  %sidx = arith.constant dense<1> : tensor<i64>
  %kstart = arith.constant dense<0> : tensor<i64>
  %ax1 = arith.constant dense<[1]> : tensor<1xi64>
  %ax01 = arith.constant dense<[0, 1]> : tensor<2xi64>
  %ax12 = arith.constant dense<[1, 2]> : tensor<2xi64>
  %neg = arith.constant dense<-3.40282347E+38> : tensor<f32>
  %fzero = arith.constant dense<0.000000e+00> : tensor<f32>
  %emb = llm.embedding %table[%ids] : (tensor<10x8xf32>, tensor<1x?xi64>) -> tensor<1x?x8xf32>
  %ids_shape = "onnx.Shape"(%ids) : (tensor<1x?xi64>) -> tensor<2xi64>
  %seq = "onnx.Gather"(%ids_shape, %sidx) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %past_shape = "onnx.Shape"(%pastk) : (tensor<1x2x?x8xf32>) -> tensor<4xi64>
  %past = "onnx.Gather"(%past_shape, %two) {axis = 0 : i64} : (tensor<4xi64>, tensor<i64>) -> tensor<i64>
  %am_shape = "onnx.Shape"(%am) : (tensor<1x?xi64>) -> tensor<2xi64>
  %total = "onnx.Gather"(%am_shape, %one) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %end = "onnx.Add"(%past, %seq) : (tensor<i64>, tensor<i64>) -> tensor<i64>
  %rowpos = "onnx.Range"(%past, %end, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %keypos = "onnx.Range"(%kstart, %total, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %rowcol = "onnx.Unsqueeze"(%rowpos, %ax1) : (tensor<?xi64>, tensor<1xi64>) -> tensor<?x1xi64>
  %fut = "onnx.Greater"(%keypos, %rowcol) : (tensor<?xi64>, tensor<?x1xi64>) -> tensor<?x?xi1>
  %futu = "onnx.Unsqueeze"(%fut, %ax01) : (tensor<?x?xi1>, tensor<2xi64>) -> tensor<1x1x?x?xi1>
  %pad = "onnx.Equal"(%am, %zero) : (tensor<1x?xi64>, tensor<i64>) -> tensor<1x?xi1>
  %padu = "onnx.Unsqueeze"(%pad, %ax12) : (tensor<1x?xi1>, tensor<2xi64>) -> tensor<1x1x1x?xi1>
  %cond = "onnx.Or"(%futu, %padu) : (tensor<1x1x?x?xi1>, tensor<1x1x1x?xi1>) -> tensor<1x1x?x?xi1>
  %mask = "onnx.Where"(%cond, %neg, %fzero) : (tensor<1x1x?x?xi1>, tensor<f32>, tensor<f32>) -> tensor<1x1x?x?xf32>
  %k = llm.kv_cache_append %pastk, %newk {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %v = llm.kv_cache_append %pastv, %newv {axis = 2 : i64, slot = 1 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %k, %v, %mask {causal = false, scale = 2.500000e-01 : f32} : (tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x1x?x?xf32>) -> tensor<1x4x?x8xf32>
  return %o, %emb, %k, %v : tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
}

// -----

// Negative: the rows span the batch size (ids axis 0), not the new tokens.
// CHECK-LABEL: func.func @rows_not_query_length
// CHECK-NOT: causal = true
// CHECK: llm.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {causal = false
func.func @rows_not_query_length(%ids: tensor<1x?xi64>, %am: tensor<1x?xi64>, %pastk: tensor<1x2x?x8xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 0 : i64}, %pastv: tensor<1x2x?x8xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 1 : i64}, %q: tensor<1x4x?x8xf32>, %newk: tensor<1x2x?x8xf32>, %newv: tensor<1x2x?x8xf32>, %table: tensor<10x8xf32>) -> (tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) {
  %zero = arith.constant dense<0> : tensor<i64>
  %one = arith.constant dense<1> : tensor<i64>
  %two = arith.constant dense<2> : tensor<i64>
  %sidx = arith.constant dense<0> : tensor<i64>
  %kstart = arith.constant dense<0> : tensor<i64>
  %ax1 = arith.constant dense<[1]> : tensor<1xi64>
  %ax01 = arith.constant dense<[0, 1]> : tensor<2xi64>
  %ax12 = arith.constant dense<[1, 2]> : tensor<2xi64>
  %neg = arith.constant dense<-3.40282347E+38> : tensor<f32>
  %fzero = arith.constant dense<0.000000e+00> : tensor<f32>
  %emb = llm.embedding %table[%ids] : (tensor<10x8xf32>, tensor<1x?xi64>) -> tensor<1x?x8xf32>
  %ids_shape = "onnx.Shape"(%ids) : (tensor<1x?xi64>) -> tensor<2xi64>
  %seq = "onnx.Gather"(%ids_shape, %sidx) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %past_shape = "onnx.Shape"(%pastk) : (tensor<1x2x?x8xf32>) -> tensor<4xi64>
  %past = "onnx.Gather"(%past_shape, %two) {axis = 0 : i64} : (tensor<4xi64>, tensor<i64>) -> tensor<i64>
  %am_shape = "onnx.Shape"(%am) : (tensor<1x?xi64>) -> tensor<2xi64>
  %total = "onnx.Gather"(%am_shape, %one) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %end = "onnx.Add"(%past, %seq) : (tensor<i64>, tensor<i64>) -> tensor<i64>
  %rowpos = "onnx.Range"(%past, %end, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %keypos = "onnx.Range"(%kstart, %total, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %rowcol = "onnx.Unsqueeze"(%rowpos, %ax1) : (tensor<?xi64>, tensor<1xi64>) -> tensor<?x1xi64>
  %fut = "onnx.Greater"(%keypos, %rowcol) : (tensor<?xi64>, tensor<?x1xi64>) -> tensor<?x?xi1>
  %futu = "onnx.Unsqueeze"(%fut, %ax01) : (tensor<?x?xi1>, tensor<2xi64>) -> tensor<1x1x?x?xi1>
  %pad = "onnx.Equal"(%am, %zero) : (tensor<1x?xi64>, tensor<i64>) -> tensor<1x?xi1>
  %padu = "onnx.Unsqueeze"(%pad, %ax12) : (tensor<1x?xi1>, tensor<2xi64>) -> tensor<1x1x1x?xi1>
  %cond = "onnx.Or"(%futu, %padu) : (tensor<1x1x?x?xi1>, tensor<1x1x1x?xi1>) -> tensor<1x1x?x?xi1>
  %mask = "onnx.Where"(%cond, %neg, %fzero) : (tensor<1x1x?x?xi1>, tensor<f32>, tensor<f32>) -> tensor<1x1x?x?xf32>
  %k = llm.kv_cache_append %pastk, %newk {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %v = llm.kv_cache_append %pastv, %newv {axis = 2 : i64, slot = 1 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %k, %v, %mask {causal = false, scale = 2.500000e-01 : f32} : (tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x1x?x?xf32>) -> tensor<1x4x?x8xf32>
  return %o, %emb, %k, %v : tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
}

// -----

// Negative: key positions that start at 1 shift the diagonal.
// CHECK-LABEL: func.func @keys_offset
// CHECK-NOT: causal = true
// CHECK: llm.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {causal = false
func.func @keys_offset(%ids: tensor<1x?xi64>, %am: tensor<1x?xi64>, %pastk: tensor<1x2x?x8xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 0 : i64}, %pastv: tensor<1x2x?x8xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 1 : i64}, %q: tensor<1x4x?x8xf32>, %newk: tensor<1x2x?x8xf32>, %newv: tensor<1x2x?x8xf32>, %table: tensor<10x8xf32>) -> (tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) {
  %zero = arith.constant dense<0> : tensor<i64>
  %one = arith.constant dense<1> : tensor<i64>
  %two = arith.constant dense<2> : tensor<i64>
  %sidx = arith.constant dense<1> : tensor<i64>
  %kstart = arith.constant dense<1> : tensor<i64>
  %ax1 = arith.constant dense<[1]> : tensor<1xi64>
  %ax01 = arith.constant dense<[0, 1]> : tensor<2xi64>
  %ax12 = arith.constant dense<[1, 2]> : tensor<2xi64>
  %neg = arith.constant dense<-3.40282347E+38> : tensor<f32>
  %fzero = arith.constant dense<0.000000e+00> : tensor<f32>
  %emb = llm.embedding %table[%ids] : (tensor<10x8xf32>, tensor<1x?xi64>) -> tensor<1x?x8xf32>
  %ids_shape = "onnx.Shape"(%ids) : (tensor<1x?xi64>) -> tensor<2xi64>
  %seq = "onnx.Gather"(%ids_shape, %sidx) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %past_shape = "onnx.Shape"(%pastk) : (tensor<1x2x?x8xf32>) -> tensor<4xi64>
  %past = "onnx.Gather"(%past_shape, %two) {axis = 0 : i64} : (tensor<4xi64>, tensor<i64>) -> tensor<i64>
  %am_shape = "onnx.Shape"(%am) : (tensor<1x?xi64>) -> tensor<2xi64>
  %total = "onnx.Gather"(%am_shape, %one) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %end = "onnx.Add"(%past, %seq) : (tensor<i64>, tensor<i64>) -> tensor<i64>
  %rowpos = "onnx.Range"(%past, %end, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %keypos = "onnx.Range"(%kstart, %total, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %rowcol = "onnx.Unsqueeze"(%rowpos, %ax1) : (tensor<?xi64>, tensor<1xi64>) -> tensor<?x1xi64>
  %fut = "onnx.Greater"(%keypos, %rowcol) : (tensor<?xi64>, tensor<?x1xi64>) -> tensor<?x?xi1>
  %futu = "onnx.Unsqueeze"(%fut, %ax01) : (tensor<?x?xi1>, tensor<2xi64>) -> tensor<1x1x?x?xi1>
  %pad = "onnx.Equal"(%am, %zero) : (tensor<1x?xi64>, tensor<i64>) -> tensor<1x?xi1>
  %padu = "onnx.Unsqueeze"(%pad, %ax12) : (tensor<1x?xi1>, tensor<2xi64>) -> tensor<1x1x1x?xi1>
  %cond = "onnx.Or"(%futu, %padu) : (tensor<1x1x?x?xi1>, tensor<1x1x1x?xi1>) -> tensor<1x1x?x?xi1>
  %mask = "onnx.Where"(%cond, %neg, %fzero) : (tensor<1x1x?x?xi1>, tensor<f32>, tensor<f32>) -> tensor<1x1x?x?xf32>
  %k = llm.kv_cache_append %pastk, %newk {axis = 2 : i64, slot = 0 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %v = llm.kv_cache_append %pastv, %newv {axis = 2 : i64, slot = 1 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %k, %v, %mask {causal = false, scale = 2.500000e-01 : f32} : (tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x1x?x?xf32>) -> tensor<1x4x?x8xf32>
  return %o, %emb, %k, %v : tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
}

// -----

// Negative: K/V are a plain Concat, not the runtime's cache.
// CHECK-LABEL: func.func @keys_not_cache
// CHECK-NOT: causal = true
// CHECK: llm.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {causal = false
func.func @keys_not_cache(%ids: tensor<1x?xi64>, %am: tensor<1x?xi64>, %pastk: tensor<1x2x?x8xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 0 : i64}, %pastv: tensor<1x2x?x8xf32> {llmc.cache_axis = 2 : i64, llmc.cache_slot = 1 : i64}, %q: tensor<1x4x?x8xf32>, %newk: tensor<1x2x?x8xf32>, %newv: tensor<1x2x?x8xf32>, %table: tensor<10x8xf32>) -> (tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) {
  %zero = arith.constant dense<0> : tensor<i64>
  %one = arith.constant dense<1> : tensor<i64>
  %two = arith.constant dense<2> : tensor<i64>
  %sidx = arith.constant dense<1> : tensor<i64>
  %kstart = arith.constant dense<0> : tensor<i64>
  %ax1 = arith.constant dense<[1]> : tensor<1xi64>
  %ax01 = arith.constant dense<[0, 1]> : tensor<2xi64>
  %ax12 = arith.constant dense<[1, 2]> : tensor<2xi64>
  %neg = arith.constant dense<-3.40282347E+38> : tensor<f32>
  %fzero = arith.constant dense<0.000000e+00> : tensor<f32>
  %emb = llm.embedding %table[%ids] : (tensor<10x8xf32>, tensor<1x?xi64>) -> tensor<1x?x8xf32>
  %ids_shape = "onnx.Shape"(%ids) : (tensor<1x?xi64>) -> tensor<2xi64>
  %seq = "onnx.Gather"(%ids_shape, %sidx) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %past_shape = "onnx.Shape"(%pastk) : (tensor<1x2x?x8xf32>) -> tensor<4xi64>
  %past = "onnx.Gather"(%past_shape, %two) {axis = 0 : i64} : (tensor<4xi64>, tensor<i64>) -> tensor<i64>
  %am_shape = "onnx.Shape"(%am) : (tensor<1x?xi64>) -> tensor<2xi64>
  %total = "onnx.Gather"(%am_shape, %one) {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  %end = "onnx.Add"(%past, %seq) : (tensor<i64>, tensor<i64>) -> tensor<i64>
  %rowpos = "onnx.Range"(%past, %end, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %keypos = "onnx.Range"(%kstart, %total, %one) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %rowcol = "onnx.Unsqueeze"(%rowpos, %ax1) : (tensor<?xi64>, tensor<1xi64>) -> tensor<?x1xi64>
  %fut = "onnx.Greater"(%keypos, %rowcol) : (tensor<?xi64>, tensor<?x1xi64>) -> tensor<?x?xi1>
  %futu = "onnx.Unsqueeze"(%fut, %ax01) : (tensor<?x?xi1>, tensor<2xi64>) -> tensor<1x1x?x?xi1>
  %pad = "onnx.Equal"(%am, %zero) : (tensor<1x?xi64>, tensor<i64>) -> tensor<1x?xi1>
  %padu = "onnx.Unsqueeze"(%pad, %ax12) : (tensor<1x?xi1>, tensor<2xi64>) -> tensor<1x1x1x?xi1>
  %cond = "onnx.Or"(%futu, %padu) : (tensor<1x1x?x?xi1>, tensor<1x1x1x?xi1>) -> tensor<1x1x?x?xi1>
  %mask = "onnx.Where"(%cond, %neg, %fzero) : (tensor<1x1x?x?xi1>, tensor<f32>, tensor<f32>) -> tensor<1x1x?x?xf32>
  %k = "onnx.Concat"(%pastk, %newk) {axis = 2 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %v = "onnx.Concat"(%pastv, %newv) {axis = 2 : i64} : (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x2x?x8xf32>
  %o = llm.attention %q, %k, %v, %mask {causal = false, scale = 2.500000e-01 : f32} : (tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x1x?x?xf32>) -> tensor<1x4x?x8xf32>
  return %o, %emb, %k, %v : tensor<1x4x?x8xf32>, tensor<1x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
}
