//===- KVCacheStore.cpp - new rows stored into an int8 / bf16 KV cache -----===//
//
// With --kv-cache=int8 a `llm.kv_cache_append` lowers to one call that
// writes the new rows of a contiguous cache slot (the function-ABI lowering
// passes the view behind the past entries, [B, KVH, S, D + 4] int8) as codes
// plus a row scale (KVQuant.h), optionally rotating keys first
// (llmc-fuse-rope, Rope.h), so f32 keys/values never reach the cache. With
// --kv-cache=bf16 the same call shape rounds the rows into a bf16 slot
// ([B, KVH, S, D]).
//
//===----------------------------------------------------------------------===//
#include "../api/MemRefDescriptor.h"
#include "KVQuant.h"
#include "KernelDispatch.h"
#include "MemRefView.h"
#include "Rope.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

using llmc::rt::MemRef;
using namespace llmc::rt::kern;

namespace {

[[noreturn]] void fail(const char *entry, const char *msg) {
  std::fprintf(stderr, "llmc runtime: %s: %s\n", entry, msg);
  std::abort();
}

/// dst[b, h, r] = row x[b, h, r, :] in DT's format (KVQuant.h), rotated
/// with cos/sin rows, broadcasting, if `rope` (else cos/sin are ignored).
/// dst has x's sizes (plus the scale bytes of an int8 row in the last dim)
/// and unit inner stride.
template <typename DT>
void storeRows(const char *entry, MemRef<float, 4> *x, MemRef<float, 4> *cos,
               MemRef<float, 4> *sin, MemRef<DT, 4> *dst, int32_t rope, int32_t interleaved) {
  const View4 X = view4(x);
  const int64_t B = X.size[0], H = X.size[1], R = X.size[2], D = X.size[3];
  for (int i = 0; i < 3; ++i)
    if (dst->sizes[i] != X.size[i])
      fail(entry, "the destination and the new rows differ in shape");
  if (dst->sizes[3] != D + kvRowExtra<DT>())
    fail(entry, kvRowExtra<DT>() ? "destination rows must hold D codes and a 4-byte scale"
                                 : "destination rows must hold D values");
  if (dst->strides[3] != 1)
    fail(entry, "destination rows must be contiguous");
  if (B * H * R * D == 0)
    return;
  View4 C{}, S{};
  if (rope) {
    C = view4(cos);
    S = view4(sin);
    for (const View4 *t : {&C, &S})
      if (const char *why = ropeTableMismatch(*t, B, H, R, D))
        fail(entry, why);
  }
  std::vector<float> rotated(rope ? D : 0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t r = 0; r < R; ++r) {
        const float *src = X.p + b * X.stride[0] + h * X.stride[1] + r * X.stride[2];
        int64_t ss = X.stride[3];
        if (rope) {
          ropeRotate(rotated.data(), 1, src, ss, ropeRow(C, b, h, r), C.stride[3],
                     ropeRow(S, b, h, r), S.stride[3], D, interleaved != 0);
          src = rotated.data();
          ss = 1;
        }
        storeKVRow(dst->data() + b * dst->strides[0] + h * dst->strides[1] +
                       r * dst->strides[2],
                   src, ss, D);
      }
}

} // namespace

/// int8 rows: D codes + the row's f32 scale.
extern "C" void _mlir_ciface_llmc_rt_kv_store_q8(MemRef<float, 4> *x, MemRef<float, 4> *cos,
                                                 MemRef<float, 4> *sin, MemRef<int8_t, 4> *dst,
                                                 int32_t rope, int32_t interleaved) {
  storeRows("llmc_rt_kv_store_q8", x, cos, sin, dst, rope, interleaved);
}

/// bf16 rows: D values rounded to nearest even.
extern "C" void _mlir_ciface_llmc_rt_kv_store_bf16(MemRef<float, 4> *x, MemRef<float, 4> *cos,
                                                   MemRef<float, 4> *sin,
                                                   MemRef<uint16_t, 4> *dst, int32_t rope,
                                                   int32_t interleaved) {
  storeRows("llmc_rt_kv_store_bf16", x, cos, sin, dst, rope, interleaved);
}
