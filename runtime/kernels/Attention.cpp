//===- Attention.cpp - grouped-query attention over a strided KV cache ----===//
//
// out[b,h,s,:] = softmax(scale * q[b,h,s,:] . k[b,h/G,t,:] + mask[b,h,s,t])
//                . v[b,h/G,t,:]   with G = H / KVH.
// k and v are strided views straight into the runtime's cache buffers (no
// copy, no repeat_kv). With `causal`, query s (absolute position T-S+s)
// sees keys t <= T-S+s. Mask dims of size 1 broadcast. A row that sees no
// key (or only -inf scores) is 0.
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
#include "../support/ThreadPool.h"
#include "KernelDispatch.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <vector>

using llmc::rt::MemRef;
using namespace llmc::rt::kern;

namespace {

// Fewest keys per split of a decode item.
constexpr int64_t kMinKeysPerSplit = 64;
// Below this many multiply-adds the call stays on the calling thread.
constexpr int64_t kSerialWork = 1 << 15;

View4 view(MemRef<float, 4> *m) {
  View4 v;
  v.p = m->data();
  for (int i = 0; i < 4; ++i) {
    v.size[i] = m->sizes[i];
    v.stride[i] = m->strides[i];
  }
  return v;
}

[[noreturn]] void fail(const char *msg, long long a, long long b) {
  std::fprintf(stderr, "llmc runtime: llmc_rt_attention_f32: %s (%lld vs %lld)\n", msg, a, b);
  std::abort();
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

} // namespace

extern "C" void _mlir_ciface_llmc_rt_attention_f32(
    MemRef<float, 4> *q, MemRef<float, 4> *k, MemRef<float, 4> *v,
    MemRef<float, 4> *mask, MemRef<float, 4> *out, int32_t hasMask,
    int32_t causal, float scale) {
  AttentionJob J;
  J.q = view(q);
  J.k = view(k);
  J.v = view(v);
  J.mask = view(mask);
  J.out = view(out);
  J.hasMask = hasMask != 0;
  J.causal = causal != 0;
  J.scale = scale;
  J.B = q->sizes[0];
  J.H = q->sizes[1];
  J.S = q->sizes[2];
  J.D = q->sizes[3];
  J.KVH = k->sizes[1];
  J.T = k->sizes[2];
  J.Dv = v->sizes[3];
  if (J.B * J.H * J.S * J.Dv == 0)
    return;
  if (J.KVH <= 0 || J.H % J.KVH != 0)
    fail("query heads must be a multiple of KV heads", J.H, J.KVH);
  if (k->sizes[3] != J.D)
    fail("q and k head sizes differ", J.D, k->sizes[3]);
  if (v->sizes[1] != J.KVH || v->sizes[2] != J.T)
    fail("k and v differ in heads or length", k->sizes[2], v->sizes[2]);
  if (out->sizes[1] != J.H || out->sizes[2] != J.S || out->sizes[3] != J.Dv)
    fail("out shape does not match q/v", out->sizes[3], J.Dv);
  J.G = J.H / J.KVH;

  const KernelTable &kt = activeKernels();
  const int64_t maxRows = kt.attentionMaxRows;
  const int64_t Gc = std::min(J.G, maxRows);
  const int64_t Sb = std::min(J.S, Gc == J.G ? std::max<int64_t>(1, maxRows / J.G) : 1);
  const int64_t nG = ceilDiv(J.G, Gc), nS = ceilDiv(J.S, Sb);
  const int64_t base = J.B * J.KVH * nG * nS;
  const int threads = llmc::rt::numThreads();
  const int64_t work = J.B * J.H * J.S * J.T * (J.D + J.Dv);
  const bool serial = threads <= 1 || work < kSerialWork;
  int64_t split = 1;
  if (!serial && base < 2 * threads)
    split = std::clamp<int64_t>(ceilDiv(4 * threads, base), 1,
                                std::max<int64_t>(1, J.T / kMinKeysPerSplit));
  const int64_t items = base * split, rowFloats = Gc * Sb * (J.Dv + 2);
  std::vector<float> partial(split > 1 ? size_t(items * rowFloats) : 0);

  auto itemAt = [&](int64_t i) {
    AttentionItem it;
    int64_t part = i % split, rest = i / split;
    int64_t sb = rest % nS;
    rest /= nS;
    int64_t gc = rest % nG;
    rest /= nG;
    it.kvh = rest % J.KVH;
    it.b = rest / J.KVH;
    it.g0 = gc * Gc;
    it.g1 = std::min(J.G, it.g0 + Gc);
    it.s0 = sb * Sb;
    it.s1 = std::min(J.S, it.s0 + Sb);
    it.t0 = J.T * part / split;
    it.t1 = J.T * (part + 1) / split;
    it.partial = split > 1 ? partial.data() + i * rowFloats : nullptr;
    return it;
  };
  auto run = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      kt.attention(J, itemAt(i));
  };
  if (serial)
    run(0, items);
  else
    llmc::rt::parallelFor(items, 1, run);
  if (split == 1)
    return;

  // Merge the key splits of each base item: rescale to the common max.
  for (int64_t bi = 0; bi < base; ++bi) {
    AttentionItem it = itemAt(bi * split);
    const int64_t Sn = it.s1 - it.s0, R = (it.g1 - it.g0) * Sn;
    const int64_t h0 = it.kvh * J.G + it.g0;
    for (int64_t r = 0; r < R; ++r) {
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t p = 0; p < split; ++p)
        mx = std::max(mx, partial[(bi * split + p) * rowFloats + r * (J.Dv + 2)]);
      float *op = J.out.p + it.b * J.out.stride[0] + (h0 + r / Sn) * J.out.stride[1] +
                  (it.s0 + r % Sn) * J.out.stride[2];
      if (mx == -std::numeric_limits<float>::infinity()) {
        for (int64_t d = 0; d < J.Dv; ++d)
          op[d * J.out.stride[3]] = 0.f;
        continue;
      }
      float l = 0.f;
      float f[64];
      std::vector<float> fs;
      float *fac = split <= 64 ? f : (fs.resize(split), fs.data());
      for (int64_t p = 0; p < split; ++p) {
        const float *part = partial.data() + (bi * split + p) * rowFloats + r * (J.Dv + 2);
        fac[p] = part[0] == -std::numeric_limits<float>::infinity() ? 0.f
                                                                     : std::exp(part[0] - mx);
        l += part[1] * fac[p];
      }
      float inv = l > 0.f ? 1.f / l : 0.f;
      for (int64_t d = 0; d < J.Dv; ++d) {
        float acc = 0.f;
        for (int64_t p = 0; p < split; ++p)
          acc += partial[(bi * split + p) * rowFloats + r * (J.Dv + 2) + 2 + d] * fac[p];
        op[d * J.out.stride[3]] = acc * inv;
      }
    }
  }
}
