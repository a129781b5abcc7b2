//===- Attention.cpp - grouped-query attention over a strided KV cache ----===//
//
// out[b,h,s,:] = softmax(scale * q[b,h,s,:] . k[b,h/G,t,:] + mask[b,h,s,t])
//                . v[b,h/G,t,:]   with G = H / KVH.
// k and v are strided views straight into the runtime's cache buffers (no
// copy, no repeat_kv). With `causal`, query s (absolute position T-S+s)
// sees keys t <= T-S+s. Mask dims of size 1 broadcast. A row that sees no
// key (or only -inf scores) is 0. llmc_rt_attention_rope_f32 is the same
// with the queries rotated on load (llmc-fuse-rope, Rope.h), and
// llmc_rt_attention_kv8_f32 / _kv8_rope_f32 read an int8 cache
// (--kv-cache=int8: rows of D codes + a f32 scale, KVQuant.h) and
// llmc_rt_attention_kvbf16_f32 / _kvbf16_rope_f32 a bf16 one (--kv-cache=bf16).
//
// Flash-style: keys are visited in blocks with an online softmax, and one
// work item holds all G query heads of a KV head (times a block of queries),
// so each K/V row is loaded once per group (AttentionTiles.inc). Items are
// (batch, KV head, head chunk, query block); when there are fewer than two
// per thread (decode), the keys are split too and the partial softmax states
// (max, sum, unnormalized output) are merged at the end.
//
//===----------------------------------------------------------------------===//
#include "../api/MemRefDescriptor.h"
#include "AttentionMerge.h"
#include "KVQuant.h"
#include "KernelDispatch.h"
#include "MemRefView.h"
#include "Rope.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <vector>

using llmc::rt::MemRef;
using namespace llmc::rt::kern;

namespace {

[[noreturn]] void fail(const char *msg, long long a, long long b) {
  std::fprintf(stderr, "llmc runtime: llmc_rt_attention_f32: %s (%lld vs %lld)\n", msg, a, b);
  std::abort();
}

/// True if every element of the mask is +0 or -0. A padding-only mask
/// (llmc-raise-causal-mask) is all zeros whenever nothing is padded, which
/// is every call of a session: skipping it saves the per-score additions.
/// The scan stops at the first non-zero (a full causal mask: at row 0).
bool maskIsZero(const View4 &m) {
  for (int64_t a = 0; a < m.size[0]; ++a)
    for (int64_t b = 0; b < m.size[1]; ++b)
      for (int64_t c = 0; c < m.size[2]; ++c) {
        const float *row = m.p + a * m.stride[0] + b * m.stride[1] + c * m.stride[2];
        for (int64_t d = 0; d < m.size[3]; ++d)
          if (row[d * m.stride[3]] != 0.f)
            return false;
      }
  return true;
}

} // namespace

/// All entries; cos/sin null: no rotary embedding of the queries. KT is
/// the element type of the cache rows: float, int8_t for int8 rows whose
/// last dim holds D codes and the 4 bytes of the scale, or uint16_t for bf16.
template <typename KT>
static void attention(MemRef<float, 4> *q, MemRef<KT, 4> *k, MemRef<KT, 4> *v,
                      MemRef<float, 4> *mask, MemRef<float, 4> *out, int32_t hasMask,
                      int32_t causal, float scale, MemRef<float, 4> *cos,
                      MemRef<float, 4> *sin, int32_t interleaved) {
  constexpr int64_t extra = kvRowExtra<KT>(); // scale bytes of an int8 row
  AttentionJob J;
  J.kvRows = kvRowsOf<KT>();
  J.q = view4(q);
  J.k = view4(k);
  J.v = view4(v);
  J.mask = view4(mask);
  J.out = view4(out);
  J.hasMask = hasMask != 0 && !maskIsZero(J.mask);
  J.causal = causal != 0;
  J.scale = scale;
  J.B = q->sizes[0];
  J.H = q->sizes[1];
  J.S = q->sizes[2];
  J.D = q->sizes[3];
  J.KVH = k->sizes[1];
  J.T = k->sizes[2];
  J.Dv = v->sizes[3] - extra;
  if (J.B * J.H * J.S * J.Dv == 0)
    return;
  if (J.kvRows != KVRows::F32 && (k->strides[3] != 1 || v->strides[3] != 1))
    fail("int8 / bf16 K/V rows must be contiguous (inner stride)", k->strides[3],
         v->strides[3]);
  if (J.KVH <= 0 || J.H % J.KVH != 0)
    fail("query heads must be a multiple of KV heads", J.H, J.KVH);
  if (k->sizes[3] - extra != J.D)
    fail("q and k head sizes differ", J.D, k->sizes[3] - extra);
  if (v->sizes[1] != J.KVH || v->sizes[2] != J.T)
    fail("k and v differ in heads or length", k->sizes[2], v->sizes[2]);
  if (out->sizes[1] != J.H || out->sizes[2] != J.S || out->sizes[3] != J.Dv)
    fail("out shape does not match q/v", out->sizes[3], J.Dv);
  J.G = J.H / J.KVH;
  if (cos) {
    J.rope = true;
    J.ropeInterleaved = interleaved != 0;
    J.cos = view4(cos);
    J.sin = view4(sin);
    for (const View4 *t : {&J.cos, &J.sin})
      if (const char *why = ropeTableMismatch(*t, J.B, J.H, J.S, J.D)) {
        std::fprintf(stderr, "llmc runtime: llmc_rt_attention_rope_f32: %s\n", why);
        std::abort();
      }
  }

  const KernelTable &kt = activeKernels();
  const int64_t maxRows = kt.attentionMaxRows;
  const int64_t Gc = std::min(J.G, maxRows);
  const int64_t Sb = std::min(J.S, Gc == J.G ? std::max<int64_t>(1, maxRows / J.G) : 1);
  const int64_t nG = ceilDiv(J.G, Gc), nS = ceilDiv(J.S, Sb);
  const int64_t base = J.B * J.KVH * nG * nS;
  const int64_t work = J.B * J.H * J.S * J.T * (J.D + J.Dv);
  auto baseItem = [&](int64_t i) {
    AttentionItem it;
    int64_t sb = i % nS, rest = i / nS;
    int64_t gc = rest % nG;
    rest /= nG;
    it.kvh = rest % J.KVH;
    it.b = rest / J.KVH;
    it.g0 = gc * Gc;
    it.g1 = std::min(J.G, it.g0 + Gc);
    it.s0 = sb * Sb;
    it.s1 = std::min(J.S, it.s0 + Sb);
    it.t0 = 0;
    it.t1 = J.T;
    it.partial = nullptr;
    return it;
  };
  auto outRow = [&](const AttentionItem &it, int64_t r) {
    const int64_t Sn = it.s1 - it.s0, h0 = it.kvh * J.G + it.g0;
    return J.out.p + it.b * J.out.stride[0] + (h0 + r / Sn) * J.out.stride[1] +
           (it.s0 + r % Sn) * J.out.stride[2];
  };
  runAttentionItems(kt, J, base, work, J.T, Gc * Sb * (J.Dv + 2), baseItem, outRow);
}

extern "C" void _mlir_ciface_llmc_rt_attention_f32(
    MemRef<float, 4> *q, MemRef<float, 4> *k, MemRef<float, 4> *v,
    MemRef<float, 4> *mask, MemRef<float, 4> *out, int32_t hasMask,
    int32_t causal, float scale) {
  attention<float>(q, k, v, mask, out, hasMask, causal, scale, nullptr, nullptr, 0);
}

/// The same with the queries rotated (llmc-fuse-rope): cos/sin broadcast to
/// [B, H, S, D], `interleaved` selects the rotary form (Rope.h).
extern "C" void _mlir_ciface_llmc_rt_attention_rope_f32(
    MemRef<float, 4> *q, MemRef<float, 4> *k, MemRef<float, 4> *v, MemRef<float, 4> *mask,
    MemRef<float, 4> *cos, MemRef<float, 4> *sin, MemRef<float, 4> *out, int32_t hasMask,
    int32_t causal, float scale, int32_t interleaved) {
  attention<float>(q, k, v, mask, out, hasMask, causal, scale, cos, sin, interleaved);
}

/// int8 KV cache (--kv-cache=int8): k and v are [B, KVH, T, D + 4] int8 rows.
extern "C" void _mlir_ciface_llmc_rt_attention_kv8_f32(
    MemRef<float, 4> *q, MemRef<int8_t, 4> *k, MemRef<int8_t, 4> *v,
    MemRef<float, 4> *mask, MemRef<float, 4> *out, int32_t hasMask,
    int32_t causal, float scale) {
  attention<int8_t>(q, k, v, mask, out, hasMask, causal, scale, nullptr, nullptr, 0);
}

extern "C" void _mlir_ciface_llmc_rt_attention_kv8_rope_f32(
    MemRef<float, 4> *q, MemRef<int8_t, 4> *k, MemRef<int8_t, 4> *v, MemRef<float, 4> *mask,
    MemRef<float, 4> *cos, MemRef<float, 4> *sin, MemRef<float, 4> *out, int32_t hasMask,
    int32_t causal, float scale, int32_t interleaved) {
  attention<int8_t>(q, k, v, mask, out, hasMask, causal, scale, cos, sin, interleaved);
}

/// bf16 KV cache (--kv-cache=bf16): k and v are [B, KVH, T, D] bf16 (uint16_t) rows.
extern "C" void _mlir_ciface_llmc_rt_attention_kvbf16_f32(
    MemRef<float, 4> *q, MemRef<uint16_t, 4> *k, MemRef<uint16_t, 4> *v,
    MemRef<float, 4> *mask, MemRef<float, 4> *out, int32_t hasMask,
    int32_t causal, float scale) {
  attention<uint16_t>(q, k, v, mask, out, hasMask, causal, scale, nullptr, nullptr, 0);
}

extern "C" void _mlir_ciface_llmc_rt_attention_kvbf16_rope_f32(
    MemRef<float, 4> *q, MemRef<uint16_t, 4> *k, MemRef<uint16_t, 4> *v, MemRef<float, 4> *mask,
    MemRef<float, 4> *cos, MemRef<float, 4> *sin, MemRef<float, 4> *out, int32_t hasMask,
    int32_t causal, float scale, int32_t interleaved) {
  attention<uint16_t>(q, k, v, mask, out, hasMask, causal, scale, cos, sin, interleaved);
}
