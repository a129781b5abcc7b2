//===- AttentionMerge.h - merging key splits of an attention item -*- C++ -*-===//
//
// A decode item whose keys were split across threads leaves one partial
// softmax state per split: for each of its rows {max m, sum l, o[Dv]} over
// that split's keys (o unnormalized, relative to m). Rescaling every split
// to the common max gives the row's output. runAttentionItems schedules the
// items of a call (splitting keys when items are too few for the threads)
// and merges; shared by Attention.cpp and PagedAttention.cpp.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_RUNTIME_ATTENTIONMERGE_H
#define LLMC_RUNTIME_ATTENTIONMERGE_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "../support/ThreadPool.h"
#include "KernelDispatch.h"

namespace llmc::rt::kern {

/// Split p's state of row r is at parts + p * partFloats + r * (Dv + 2);
/// row r's output is written to outRow(r)[d * os]. Rows that saw no key
/// (all maxima -inf) are 0.
template <class OutRow>
void mergeKeySplits(const float *parts, int64_t split, int64_t partFloats, int64_t R, int64_t Dv,
                    OutRow outRow, int64_t os) {
  const float ninf = -std::numeric_limits<float>::infinity();
  float f[64];
  std::vector<float> fs;
  float *fac = split <= 64 ? f : (fs.resize(size_t(split)), fs.data());
  for (int64_t r = 0; r < R; ++r) {
    auto state = [&](int64_t p) { return parts + p * partFloats + r * (Dv + 2); };
    float mx = ninf;
    for (int64_t p = 0; p < split; ++p)
      mx = std::max(mx, state(p)[0]);
    float *op = outRow(r);
    if (mx == ninf) {
      for (int64_t d = 0; d < Dv; ++d)
        op[d * os] = 0.f;
      continue;
    }
    float l = 0.f;
    for (int64_t p = 0; p < split; ++p) {
      fac[p] = state(p)[0] == ninf ? 0.f : std::exp(state(p)[0] - mx);
      l += state(p)[1] * fac[p];
    }
    const float inv = l > 0.f ? 1.f / l : 0.f;
    for (int64_t d = 0; d < Dv; ++d) {
      float acc = 0.f;
      for (int64_t p = 0; p < split; ++p)
        acc += state(p)[2 + d] * fac[p];
      op[d * os] = acc * inv;
    }
  }
}

/// Runs the `base` items of attention job J: baseItem(i) is item i over all
/// of its keys [0, t1) with partial == nullptr, rows = its (g1-g0)*(s1-s0)
/// rows of rowFloats = maxRows * (Dv + 2) partial floats at most. On the
/// calling thread below 2^15 multiply-adds (`work`); else, with fewer than
/// two items per thread, each item's keys are split (>= 64 keys a part, up
/// to 4 parts per thread) and the parts merged into outRow(item, r).
template <class BaseItem, class OutRow>
void runAttentionItems(const KernelTable &kt, const AttentionJob &J, int64_t base, int64_t work,
                       int64_t maxKeys, int64_t rowFloats, BaseItem baseItem, OutRow outRow) {
  constexpr int64_t kMinKeysPerSplit = 64, kSerialWork = 1 << 15;
  const int threads = llmc::rt::numThreads();
  const bool serial = threads <= 1 || work < kSerialWork;
  int64_t split = 1;
  if (!serial && base < 2 * threads)
    split = std::clamp<int64_t>((4 * threads + base - 1) / base, 1,
                                std::max<int64_t>(1, maxKeys / kMinKeysPerSplit));
  std::vector<float> partial(split > 1 ? size_t(base * split * rowFloats) : 0);
  auto itemAt = [&](int64_t i) {
    AttentionItem it = baseItem(i / split);
    const int64_t part = i % split, keys = it.t1;
    it.t0 = keys * part / split;
    it.t1 = keys * (part + 1) / split;
    it.partial = split > 1 ? partial.data() + i * rowFloats : nullptr;
    return it;
  };
  auto run = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      kt.attention(J, itemAt(i));
  };
  if (serial)
    run(0, base * split);
  else
    llmc::rt::parallelFor(base * split, 1, run);
  if (split == 1)
    return;
  for (int64_t bi = 0; bi < base; ++bi) {
    const AttentionItem it = baseItem(bi);
    mergeKeySplits(partial.data() + bi * split * rowFloats, split, rowFloats,
                   (it.g1 - it.g0) * (it.s1 - it.s0), J.Dv,
                   [&](int64_t r) { return outRow(it, r); }, J.out.stride[3]);
  }
}

} // namespace llmc::rt::kern

#endif
