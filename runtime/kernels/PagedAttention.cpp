//===- PagedAttention.cpp - attention of a ragged batch over a paged KV cache -===//
//
// One call per layer of `llmc_step`: T new tokens of S sequences,
// concatenated (sequence s owns tokens [seqStarts[s], seqStarts[s+1])), each
// sequence's KV cache in fixed-size blocks of a shared pool.
//
//   1. Store: the new K/V rows of token t of sequence s (position
//      p = seqPos[s] + t - seqStarts[s]) go to row p % BS of block
//      blockTables[s][p / BS] of kPool / vPool.
//   2. Attend, causal within the sequence: out[0,h,t,:] =
//      softmax_j(scale * q[0,h,t,:] . K_s[j]) . V_s[j] over j = 0..p, with
//      K_s[j] in block blockTables[s][j / BS], KV head h / (H / KVH).
//
// llmc_rt_paged_attention_rope_f32 (llmc-fuse-rope) rotates the new keys in
// step 1 as it stores them and the queries in step 2 as it loads them, with
// row t of cos/sin for token t (Rope.h). The _kv8 entries hold int8 pools
// (--kv-cache=int8, KVQuant.h): [NB, KVH, BS, D + 4] rows of codes and a
// scale; step 1 quantizes each new row as it stores it (after rotating it).
// The _kvbf16 entries hold bf16 pools (--kv-cache=bf16): [NB, KVH, BS, D]
// rows that step 1 rounds to bf16 the same way.
//
// The attention itself is the flash kernel of Attention.cpp
// (AttentionTiles.inc, through the ISA dispatch table), which looks up key
// rows in the block table when the job is paged. Work items are (sequence,
// KV head, head chunk, query block), heaviest first; when there are fewer
// than two per thread (few sequences decoding) the keys of each item are
// split too and the partial softmax states merged (AttentionMerge.h).
//
//===----------------------------------------------------------------------===//
#include "../api/MemRefDescriptor.h"
#include "AttentionMerge.h"
#include "KVQuant.h"
#include "KernelDispatch.h"
#include "MemRefView.h"
#include "Rope.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

using llmc::rt::MemRef;
using namespace llmc::rt::kern;

namespace {

[[noreturn]] __attribute__((format(printf, 1, 2))) void fail(const char *fmt, ...) {
  std::fprintf(stderr, "llmc runtime: llmc_rt_paged_attention_f32: ");
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "\n");
  std::abort();
}

/// Aborts unless operand `name` has exactly the sizes `want`.
void expectShape(const char *name, const int64_t (&got)[4], const int64_t (&want)[4]) {
  if (std::equal(got, got + 4, want))
    return;
  fail("%s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld, %lld, %lld]", name,
       (long long)got[0], (long long)got[1], (long long)got[2], (long long)got[3],
       (long long)want[0], (long long)want[1], (long long)want[2], (long long)want[3]);
}

/// Copies n elements between strided rows.
void copyRow(float *dst, int64_t ds, const float *src, int64_t ss, int64_t n) {
  if (ds == 1 && ss == 1) {
    std::memcpy(dst, src, size_t(n) * sizeof(float));
    return;
  }
  for (int64_t i = 0; i < n; ++i)
    dst[i * ds] = src[i * ss];
}

} // namespace

/// Stores a new value row: f32 copied, int8 quantized, bf16 rounded
/// (KVQuant.h; narrow pool rows have unit inner stride).
void storeRow(float *dst, int64_t ds, const float *src, int64_t ss, int64_t n) {
  copyRow(dst, ds, src, ss, n);
}
template <typename PT>
void storeRow(PT *dst, int64_t, const float *src, int64_t ss, int64_t n) {
  storeKVRow(dst, src, ss, n);
}

/// All entries; cos/sin null: no rotary embedding. PT is the pools' element
/// type: float, int8_t for rows of D codes + the 4 bytes of a scale, or
/// uint16_t for bf16 rows.
template <typename PT>
static void pagedAttention(MemRef<float, 4> *q, MemRef<float, 4> *kNew, MemRef<float, 4> *vNew,
                           MemRef<PT, 4> *kPool, MemRef<PT, 4> *vPool,
                           MemRef<int32_t, 2> *blockTables, MemRef<int32_t, 1> *seqStarts,
                           MemRef<int32_t, 1> *seqPos, MemRef<float, 4> *out, float scale,
                           MemRef<float, 4> *cos, MemRef<float, 4> *sin, int32_t interleaved) {
  // --- shapes ---
  const int64_t H = q->sizes[1], T = q->sizes[2], D = q->sizes[3];
  constexpr bool narrow = kvRowsOf<PT>() != KVRows::F32; // int8 or bf16 rows
  constexpr int64_t extra = kvRowExtra<PT>();              // scale bytes of a pool row
  const int64_t KVH = kNew->sizes[1], Dv = vNew->sizes[3];
  const int64_t NB = kPool->sizes[0], BS = kPool->sizes[2];
  const int64_t S = seqPos->sizes[0], MB = blockTables->sizes[1];
  if (KVH <= 0 || H % KVH != 0)
    fail("query heads (%lld) must be a multiple of KV heads (%lld)", (long long)H,
         (long long)KVH);
  if (BS <= 0)
    fail("block size (kPool dim 2) must be positive, got %lld", (long long)BS);
  expectShape("q", q->sizes, {1, H, T, D});
  expectShape("kNew", kNew->sizes, {1, KVH, T, D});
  expectShape("vNew", vNew->sizes, {1, KVH, T, Dv});
  expectShape("kPool", kPool->sizes, {NB, KVH, BS, D + extra});
  expectShape("vPool", vPool->sizes, {NB, KVH, BS, Dv + extra});
  if (narrow && (kPool->strides[3] != 1 || vPool->strides[3] != 1))
    fail("int8 / bf16 pool rows must be contiguous (inner strides %lld, %lld)",
         (long long)kPool->strides[3], (long long)vPool->strides[3]);
  expectShape("out", out->sizes, {1, H, T, Dv});
  if (blockTables->sizes[0] != S)
    fail("blockTables has %lld rows for %lld sequences", (long long)blockTables->sizes[0],
         (long long)S);
  if (seqStarts->sizes[0] != S + 1)
    fail("seqStarts has %lld entries for %lld sequences (expected S + 1)",
         (long long)seqStarts->sizes[0], (long long)S);

  // --- sequences and their blocks ---
  std::vector<int64_t> start(S + 1), pos(S);
  for (int64_t s = 0; s <= S; ++s)
    start[s] = seqStarts->data()[s * seqStarts->strides[0]];
  if (start[0] != 0)
    fail("seqStarts[0] is %lld, expected 0", (long long)start[0]);
  if (start[S] != T)
    fail("seqStarts[%lld] is %lld, expected the number of new tokens %lld", (long long)S,
         (long long)start[S], (long long)T);
  const int32_t *table = blockTables->data();
  const int64_t ts0 = blockTables->strides[0], ts1 = blockTables->strides[1];
  for (int64_t s = 0; s < S; ++s) {
    if (start[s + 1] < start[s])
      fail("seqStarts is not monotone: seqStarts[%lld] = %lld > seqStarts[%lld] = %lld",
           (long long)s, (long long)start[s], (long long)s + 1, (long long)start[s + 1]);
    pos[s] = seqPos->data()[s * seqPos->strides[0]];
    const int64_t end = pos[s] + start[s + 1] - start[s];
    if (pos[s] < 0 || end > MB * BS)
      fail("sequence %lld covers positions [%lld, %lld), outside its block table of %lld x %lld",
           (long long)s, (long long)pos[s], (long long)end, (long long)MB, (long long)BS);
    if (end == pos[s])
      continue; // no new tokens: nothing is read or written
    for (int64_t i = 0; i < ceilDiv(end, BS); ++i) {
      const int64_t id = table[s * ts0 + i * ts1];
      if (id < 0 || id >= NB)
        fail("block %lld of sequence %lld is %lld, outside the pool of %lld blocks",
             (long long)i, (long long)s, (long long)id, (long long)NB);
    }
  }
  if (T == 0 || H * Dv == 0)
    return;
  // Rotary tables (llmc-fuse-rope): row t is token t's, for q and new keys.
  View4 cosV{}, sinV{};
  if (cos) {
    cosV = view4(cos);
    sinV = view4(sin);
    for (const View4 *t : {&cosV, &sinV})
      if (const char *why = ropeTableMismatch(*t, 1, H, T, D))
        fail("rope: %s (queries)", why);
      else if ((why = ropeTableMismatch(*t, 1, KVH, T, D)))
        fail("rope: %s (keys)", why);
  }

  // --- 1. store the new K/V rows in their blocks ---
  std::vector<float> rotated(narrow ? D : 0); // a rotated key before quantization / rounding
  for (int64_t s = 0; s < S; ++s)
    for (int64_t t = start[s]; t < start[s + 1]; ++t) {
      const int64_t p = pos[s] + t - start[s], pb = table[s * ts0 + (p / BS) * ts1];
      for (int64_t h = 0; h < KVH; ++h) {
        PT *kDst = kPool->data() + pb * kPool->strides[0] + h * kPool->strides[1] +
                   (p % BS) * kPool->strides[2];
        const float *kSrc = kNew->data() + h * kNew->strides[1] + t * kNew->strides[2];
        if constexpr (narrow) {
          int64_t ks = kNew->strides[3];
          if (cos) { // rotate, then quantize (round) the rotated row
            ropeRotate(rotated.data(), 1, kSrc, ks, ropeRow(cosV, 0, h, t), cosV.stride[3],
                       ropeRow(sinV, 0, h, t), sinV.stride[3], D, interleaved != 0);
            kSrc = rotated.data();
            ks = 1;
          }
          storeKVRow(kDst, kSrc, ks, D);
        } else if (cos) { // the key rotated as it is stored
          ropeRotate(kDst, kPool->strides[3], kSrc, kNew->strides[3], ropeRow(cosV, 0, h, t),
                     cosV.stride[3], ropeRow(sinV, 0, h, t), sinV.stride[3], D, interleaved != 0);
        } else {
          copyRow(kDst, kPool->strides[3], kSrc, kNew->strides[3], D);
        }
        storeRow(vPool->data() + pb * vPool->strides[0] + h * vPool->strides[1] +
                     (p % BS) * vPool->strides[2],
                 vPool->strides[3],
                 vNew->data() + h * vNew->strides[1] + t * vNew->strides[2], vNew->strides[3], Dv);
      }
    }

  // --- 2. attend over the pools ---
  AttentionJob J;
  J.q = view4(q);
  J.k = view4(kPool);
  J.v = view4(vPool);
  J.mask = View4{};
  J.out = view4(out);
  J.hasMask = false;
  J.causal = true;
  J.scale = scale;
  J.B = S;
  J.H = H;
  J.S = T;
  J.D = D;
  J.KVH = KVH;
  J.T = MB * BS;
  J.Dv = Dv;
  J.G = H / KVH;
  J.blockTable = table;
  J.tableStride[0] = ts0;
  J.tableStride[1] = ts1;
  J.blockSize = BS;
  J.seqStart = start.data();
  J.seqPos = pos.data();
  J.rope = cos != nullptr;
  J.ropeInterleaved = interleaved != 0;
  J.cos = cosV;
  J.sin = sinV;
  J.kvRows = kvRowsOf<PT>();

  // Base items, each with the keys its last query sees as t1.
  const KernelTable &kt = activeKernels();
  const int64_t maxRows = kt.attentionMaxRows, G = J.G;
  const int64_t Gc = std::min(G, maxRows);
  const int64_t SbMax = Gc == G ? std::max<int64_t>(1, maxRows / G) : 1;
  struct Base {
    AttentionItem it;
    int64_t cost, order;
  };
  std::vector<Base> bases;
  int64_t work = 0, maxKeys = 0;
  for (int64_t s = 0; s < S; ++s) {
    const int64_t n = start[s + 1] - start[s];
    for (int64_t kvh = 0; kvh < KVH; ++kvh)
      for (int64_t g0 = 0; g0 < G; g0 += Gc)
        for (int64_t s0 = 0; s0 < n; s0 += SbMax) {
          Base b;
          b.it.b = s;
          b.it.kvh = kvh;
          b.it.g0 = g0;
          b.it.g1 = std::min(G, g0 + Gc);
          b.it.s0 = s0;
          b.it.s1 = std::min(n, s0 + SbMax);
          b.it.t0 = 0;
          b.it.t1 = pos[s] + b.it.s1;
          b.it.partial = nullptr;
          b.cost = (b.it.g1 - g0) * (b.it.s1 - s0) * b.it.t1;
          b.order = int64_t(bases.size());
          work += b.cost * (D + Dv);
          maxKeys = std::max(maxKeys, b.it.t1);
          bases.push_back(b);
        }
  }
  // Heaviest first: the pool hands out contiguous chunks in order, so long
  // prefill items start early and decode items fill in behind them.
  std::sort(bases.begin(), bases.end(), [](const Base &a, const Base &b) {
    return a.cost != b.cost ? a.cost > b.cost : a.order < b.order;
  });

  auto outRow = [&](const AttentionItem &it, int64_t r) {
    const int64_t Sn = it.s1 - it.s0, h0 = it.kvh * G + it.g0;
    return J.out.p + (h0 + r / Sn) * J.out.stride[1] +
           (start[it.b] + it.s0 + r % Sn) * J.out.stride[2];
  };
  runAttentionItems(kt, J, int64_t(bases.size()), work, maxKeys, Gc * SbMax * (Dv + 2),
                    [&](int64_t i) { return bases[i].it; }, outRow);
}

extern "C" void _mlir_ciface_llmc_rt_paged_attention_f32(
    MemRef<float, 4> *q, MemRef<float, 4> *kNew, MemRef<float, 4> *vNew,
    MemRef<float, 4> *kPool, MemRef<float, 4> *vPool, MemRef<int32_t, 2> *blockTables,
    MemRef<int32_t, 1> *seqStarts, MemRef<int32_t, 1> *seqPos, MemRef<float, 4> *out,
    float scale) {
  pagedAttention<float>(q, kNew, vNew, kPool, vPool, blockTables, seqStarts, seqPos, out, scale,
                        nullptr, nullptr, 0);
}

/// The same with rotary embeddings (llmc-fuse-rope): the new keys are rotated
/// as they are stored, the queries as they are loaded; cos/sin broadcast to
/// [1, heads, T, D] (row t: token t of the batch), `interleaved` selects the
/// form (Rope.h).
extern "C" void _mlir_ciface_llmc_rt_paged_attention_rope_f32(
    MemRef<float, 4> *q, MemRef<float, 4> *kNew, MemRef<float, 4> *vNew,
    MemRef<float, 4> *kPool, MemRef<float, 4> *vPool, MemRef<int32_t, 2> *blockTables,
    MemRef<int32_t, 1> *seqStarts, MemRef<int32_t, 1> *seqPos, MemRef<float, 4> *cos,
    MemRef<float, 4> *sin, MemRef<float, 4> *out, float scale, int32_t interleaved) {
  pagedAttention<float>(q, kNew, vNew, kPool, vPool, blockTables, seqStarts, seqPos, out, scale,
                        cos, sin, interleaved);
}

/// int8 pools (--kv-cache=int8): kPool / vPool are [NB, KVH, BS, D + 4] int8.
extern "C" void _mlir_ciface_llmc_rt_paged_attention_kv8_f32(
    MemRef<float, 4> *q, MemRef<float, 4> *kNew, MemRef<float, 4> *vNew,
    MemRef<int8_t, 4> *kPool, MemRef<int8_t, 4> *vPool, MemRef<int32_t, 2> *blockTables,
    MemRef<int32_t, 1> *seqStarts, MemRef<int32_t, 1> *seqPos, MemRef<float, 4> *out,
    float scale) {
  pagedAttention<int8_t>(q, kNew, vNew, kPool, vPool, blockTables, seqStarts, seqPos, out, scale,
                         nullptr, nullptr, 0);
}

extern "C" void _mlir_ciface_llmc_rt_paged_attention_kv8_rope_f32(
    MemRef<float, 4> *q, MemRef<float, 4> *kNew, MemRef<float, 4> *vNew,
    MemRef<int8_t, 4> *kPool, MemRef<int8_t, 4> *vPool, MemRef<int32_t, 2> *blockTables,
    MemRef<int32_t, 1> *seqStarts, MemRef<int32_t, 1> *seqPos, MemRef<float, 4> *cos,
    MemRef<float, 4> *sin, MemRef<float, 4> *out, float scale, int32_t interleaved) {
  pagedAttention<int8_t>(q, kNew, vNew, kPool, vPool, blockTables, seqStarts, seqPos, out, scale,
                         cos, sin, interleaved);
}

/// bf16 pools (--kv-cache=bf16): kPool / vPool are [NB, KVH, BS, D] bf16 (uint16_t).
extern "C" void _mlir_ciface_llmc_rt_paged_attention_kvbf16_f32(
    MemRef<float, 4> *q, MemRef<float, 4> *kNew, MemRef<float, 4> *vNew,
    MemRef<uint16_t, 4> *kPool, MemRef<uint16_t, 4> *vPool, MemRef<int32_t, 2> *blockTables,
    MemRef<int32_t, 1> *seqStarts, MemRef<int32_t, 1> *seqPos, MemRef<float, 4> *out,
    float scale) {
  pagedAttention<uint16_t>(q, kNew, vNew, kPool, vPool, blockTables, seqStarts, seqPos, out,
                           scale, nullptr, nullptr, 0);
}

extern "C" void _mlir_ciface_llmc_rt_paged_attention_kvbf16_rope_f32(
    MemRef<float, 4> *q, MemRef<float, 4> *kNew, MemRef<float, 4> *vNew,
    MemRef<uint16_t, 4> *kPool, MemRef<uint16_t, 4> *vPool, MemRef<int32_t, 2> *blockTables,
    MemRef<int32_t, 1> *seqStarts, MemRef<int32_t, 1> *seqPos, MemRef<float, 4> *cos,
    MemRef<float, 4> *sin, MemRef<float, 4> *out, float scale, int32_t interleaved) {
  pagedAttention<uint16_t>(q, kNew, vNew, kPool, vPool, blockTables, seqStarts, seqPos, out,
                           scale, cos, sin, interleaved);
}
