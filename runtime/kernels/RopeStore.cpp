//===- RopeStore.cpp - new keys rotated on their way into the KV cache -----===//
//
// `llm.kv_cache_append ... rope(cos, sin)` (llmc-fuse-rope) lowers to one
// call that writes rotary(update) straight into the cache slot's free rows
// (the function-ABI lowering passes the view behind the past entries), so
// the rotated keys never exist as a separate tensor.
//
//===----------------------------------------------------------------------===//
#include "../api/MemRefDescriptor.h"
#include "KernelDispatch.h"
#include "MemRefView.h"
#include "Rope.h"

#include <cstdio>
#include <cstdlib>

using llmc::rt::MemRef;
using namespace llmc::rt::kern;

namespace {

[[noreturn]] void fail(const char *msg) {
  std::fprintf(stderr, "llmc runtime: llmc_rt_rope_store_f32: %s\n", msg);
  std::abort();
}

} // namespace

/// dst[b, h, r, :] = rotary(x[b, h, r, :], cos[b, h, r, :], sin[b, h, r, :])
/// with cos/sin broadcasting; dst has x's sizes, any strides.
extern "C" void _mlir_ciface_llmc_rt_rope_store_f32(MemRef<float, 4> *x, MemRef<float, 4> *cos,
                                                    MemRef<float, 4> *sin, MemRef<float, 4> *dst,
                                                    int32_t interleaved) {
  const View4 X = view4(x), C = view4(cos), S = view4(sin), Y = view4(dst);
  for (int i = 0; i < 4; ++i)
    if (X.size[i] != Y.size[i])
      fail("the destination and the new rows differ in shape");
  const int64_t B = X.size[0], H = X.size[1], R = X.size[2], D = X.size[3];
  if (B * H * R * D == 0)
    return;
  for (const View4 *t : {&C, &S})
    if (const char *why = ropeTableMismatch(*t, B, H, R, D))
      fail(why);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t r = 0; r < R; ++r)
        ropeRotate(Y.p + b * Y.stride[0] + h * Y.stride[1] + r * Y.stride[2], Y.stride[3],
                   X.p + b * X.stride[0] + h * X.stride[1] + r * X.stride[2], X.stride[3],
                   ropeRow(C, b, h, r), C.stride[3], ropeRow(S, b, h, r), S.stride[3], D,
                   interleaved != 0);
}
