//===- KVCacheStore.cpp - new rows quantized into an int8 KV cache ---------===//
//
// With --kv-cache=int8 a `llm.kv_cache_append` lowers to one call that
// writes the new rows of a contiguous cache slot (the function-ABI lowering
// passes the view behind the past entries, [B, KVH, S, D + 4] int8) as codes
// plus a row scale (KVQuant.h), optionally rotating keys first
// (llmc-fuse-rope, Rope.h), so f32 keys/values never reach the cache.
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

[[noreturn]] void fail(const char *msg) {
  std::fprintf(stderr, "llmc runtime: llmc_rt_kv_store_q8: %s\n", msg);
  std::abort();
}

} // namespace

/// dst[b, h, r] = quantized row x[b, h, r, :] (rotated with cos/sin rows,
/// broadcasting, if `rope`; else cos/sin are ignored). dst has x's sizes
/// with D + 4 bytes in the last dim and unit inner stride.
extern "C" void _mlir_ciface_llmc_rt_kv_store_q8(MemRef<float, 4> *x, MemRef<float, 4> *cos,
                                                 MemRef<float, 4> *sin, MemRef<int8_t, 4> *dst,
                                                 int32_t rope, int32_t interleaved) {
  const View4 X = view4(x);
  const int64_t B = X.size[0], H = X.size[1], R = X.size[2], D = X.size[3];
  for (int i = 0; i < 3; ++i)
    if (dst->sizes[i] != X.size[i])
      fail("the destination and the new rows differ in shape");
  if (dst->sizes[3] != D + kKVScaleBytes)
    fail("destination rows must hold D codes and a 4-byte scale");
  if (dst->strides[3] != 1)
    fail("destination rows must be contiguous");
  if (B * H * R * D == 0)
    return;
  View4 C{}, S{};
  if (rope) {
    C = view4(cos);
    S = view4(sin);
    for (const View4 *t : {&C, &S})
      if (const char *why = ropeTableMismatch(*t, B, H, R, D))
        fail(why);
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
        quantizeKVRow(dst->data() + b * dst->strides[0] + h * dst->strides[1] +
                          r * dst->strides[2],
                      src, ss, D);
      }
}
