//===- AttentionMerge.h - merging key splits of an attention item -*- C++ -*-===//
//
// A decode item whose keys were split across threads leaves one partial
// softmax state per split: for each of its rows {max m, sum l, o[Dv]} over
// that split's keys (o unnormalized, relative to m). Rescaling every split
// to the common max gives the row's output. Shared by Attention.cpp and
// PagedAttention.cpp.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_RUNTIME_ATTENTIONMERGE_H
#define LLMC_RUNTIME_ATTENTIONMERGE_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

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

} // namespace llmc::rt::kern

#endif
