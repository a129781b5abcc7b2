//===- Rope.h - rotary position embedding of one row -------------*- C++ -*-===//
//
// llmc-fuse-rope moves llm.rotary into the attention kernels (queries, as
// they are loaded into a tile) and into the KV-cache stores (new keys, as
// they are written: RopeStore.cpp, PagedAttention.cpp). The tables cos/sin
// are strided 4-D views that broadcast (dims of size 1) to the rotated
// tensor [B, heads, rows, D]. Two forms, as llm.rotary defines them:
//   rotate-half (NeoX): pairs (i, i + D/2);  interleaved (GPT-J): (2i, 2i+1);
// y[a] = x[a] c[a] - x[b] s[a],  y[b] = x[b] c[b] + x[a] s[b]  per pair (a, b).
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_RUNTIME_ROPE_H
#define LLMC_RUNTIME_ROPE_H

#include "KernelDispatch.h"

#include <cstdint>

namespace llmc::rt::kern {

/// Row (b, h, r) of a cos/sin table; dims of size 1 broadcast.
inline const float *ropeRow(const View4 &t, int64_t b, int64_t h, int64_t r) {
  auto at = [&](int i, int64_t x) { return t.size[i] == 1 ? 0 : x * t.stride[i]; };
  return t.p + at(0, b) + at(1, h) + at(2, r);
}

/// dst[i * ds] = rotary(x)[i] for i < D (D even; dst must not alias x).
inline void ropeRotate(float *dst, int64_t ds, const float *x, int64_t xs, const float *c,
                       int64_t cs, const float *s, int64_t ss, int64_t D, bool interleaved) {
  const int64_t half = D / 2, step = interleaved ? 2 : 1, other = interleaved ? 1 : half;
  if (!interleaved && ds == 1 && xs == 1 && cs == 1 && ss == 1) {
    // The usual case (unit strides, rotate-half): two loops the compiler
    // vectorizes for the caller's ISA once this is inlined.
    for (int64_t i = 0; i < half; ++i)
      dst[i] = x[i] * c[i] - x[i + half] * s[i];
    for (int64_t i = half; i < D; ++i)
      dst[i] = x[i] * c[i] + x[i - half] * s[i];
    return;
  }
  for (int64_t p = 0; p < half; ++p) {
    const int64_t a = p * step, b = a + other;
    const float xa = x[a * xs], xb = x[b * xs];
    dst[a * ds] = xa * c[a * cs] - xb * s[a * ss];
    dst[b * ds] = xb * c[b * cs] + xa * s[b * ss];
  }
}

/// Null if the table broadcasts to [B, H, R, D], else what is wrong.
inline const char *ropeTableMismatch(const View4 &t, int64_t B, int64_t H, int64_t R, int64_t D) {
  const int64_t want[4] = {B, H, R, D};
  if (D % 2)
    return "the head size must be even";
  if (t.size[3] != D)
    return "cos/sin rows must have the head size";
  for (int i = 0; i < 3; ++i)
    if (t.size[i] != 1 && t.size[i] != want[i])
      return "cos/sin do not broadcast to the rotated tensor";
  return nullptr;
}

} // namespace llmc::rt::kern

#endif
