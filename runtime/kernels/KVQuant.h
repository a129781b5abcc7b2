//===- KVQuant.h - int8 / bf16 rows of the KV cache (--kv-cache) -*- C++ -*-===//
//
// With `llmc compile --kv-cache=int8` every cached K/V row (one token, one KV
// head, D values) is stored as D + 4 bytes: D symmetric int8 codes followed
// by the row's f32 scale (unaligned, read with memcpy):
//
//   scale = max|x| / 127,  code[d] = round(x[d] / scale)  (0 if the row is 0),
//   x[d] ~ code[d] * scale.
//
// One scale per token and head (not per channel) keeps the append a local
// operation on the new row. The attention kernels read the codes, widen them
// in registers and fold the scales into the scores (keys) and the softmax
// weights (values), so rows are never dequantized to memory.
//
// With `--kv-cache=bf16` a row is D bf16 values (uint16_t bit patterns, the
// f32 rounded to nearest even: llmc/PackedLayout.h), 2 bytes each and no
// scale; the kernels widen them in registers (a bf16 is the high half of an
// f32).
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_RUNTIME_KVQUANT_H
#define LLMC_RUNTIME_KVQUANT_H

#include "KernelDispatch.h"
#include "llmc/PackedLayout.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace llmc::rt::kern {

/// Bytes of the scale behind the codes of a row.
constexpr int64_t kKVScaleBytes = 4;

/// The scale of a stored row of D codes.
inline float kvRowScale(const int8_t *row, int64_t D) {
  float s;
  std::memcpy(&s, row + D, sizeof(float));
  return s;
}

// storeKVRow: one new row (element stride xs) into a narrow cache's format,
// overloaded on the cache's element type.

/// int8: dst[0, D) = the codes of x, dst[D, D + 4) = the scale.
inline void storeKVRow(int8_t *dst, const float *x, int64_t xs, int64_t D) {
  float amax = 0.f;
  for (int64_t d = 0; d < D; ++d)
    amax = std::fmax(amax, std::fabs(x[d * xs]));
  const float scale = amax / 127.f;
  for (int64_t d = 0; d < D; ++d) {
    const float c = scale > 0.f ? std::round(x[d * xs] / scale) : 0.f;
    dst[d] = int8_t(std::fmin(127.f, std::fmax(-127.f, c)));
  }
  std::memcpy(dst + D, &scale, sizeof(float));
}

/// bf16: dst[0, D) = x rounded to nearest even.
inline void storeKVRow(uint16_t *dst, const float *x, int64_t xs, int64_t D) {
  for (int64_t d = 0; d < D; ++d)
    dst[d] = llmc::packed::toBF16(x[d * xs]);
}

/// The row format of cache element type KT: float, int8_t (codes + scale)
/// or uint16_t (bf16), and the elements a row holds beyond its D values.
template <typename KT> constexpr KVRows kvRowsOf() {
  static_assert(std::is_same_v<KT, float> || std::is_same_v<KT, int8_t> ||
                std::is_same_v<KT, uint16_t>);
  return std::is_same_v<KT, int8_t> ? KVRows::Int8
                                    : (std::is_same_v<KT, uint16_t> ? KVRows::BF16 : KVRows::F32);
}
template <typename KT> constexpr int64_t kvRowExtra() {
  return kvRowsOf<KT>() == KVRows::Int8 ? kKVScaleBytes : 0;
}

} // namespace llmc::rt::kern

#endif
