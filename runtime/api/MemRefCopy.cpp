//===- MemRefCopy.cpp - `memrefCopy`, called by lowered memref.copy -------===//
//
// finalize-memref-to-llvm lowers copies between non-contiguous memrefs to a
// call of `memrefCopy(elemSize, UnrankedMemRef *src, UnrankedMemRef *dst)`
// (upstream ships it in libmlir_c_runner_utils; generated libraries must not
// depend on that, so the runtime provides it).
//
//===----------------------------------------------------------------------===//
#include <cstdint>
#include <cstring>
#include <vector>

namespace {
struct Unranked {
  int64_t rank;
  void *descriptor;
};
struct View {
  char *data;
  const int64_t *sizes;
  const int64_t *strides;
};
View view(const Unranked &u, int64_t elemSize) {
  auto *words = static_cast<int64_t *>(u.descriptor);
  char *aligned = reinterpret_cast<char *>(words[1]);
  return {aligned + words[2] * elemSize, words + 3, words + 3 + u.rank};
}
} // namespace

extern "C" void memrefCopy(int64_t elemSize, Unranked *src, Unranked *dst) {
  int64_t rank = src->rank;
  View s = view(*src, elemSize), d = view(*dst, elemSize);
  if (rank == 0) {
    std::memcpy(d.data, s.data, elemSize);
    return;
  }
  for (int64_t i = 0; i < rank; ++i)
    if (s.sizes[i] == 0)
      return;
  std::vector<int64_t> idx(rank, 0);
  // Innermost dim contiguous in both: copy rows with memcpy.
  bool rows = s.strides[rank - 1] == 1 && d.strides[rank - 1] == 1;
  int64_t inner = rows ? s.sizes[rank - 1] : 1;
  while (true) {
    int64_t so = 0, dof = 0;
    for (int64_t i = 0; i < rank; ++i) {
      so += idx[i] * s.strides[i];
      dof += idx[i] * d.strides[i];
    }
    std::memcpy(d.data + dof * elemSize, s.data + so * elemSize, inner * elemSize);
    int64_t i = rows ? rank - 2 : rank - 1;
    for (; i >= 0; --i) {
      if (++idx[i] < s.sizes[i])
        break;
      idx[i] = 0;
    }
    if (i < 0)
      return;
  }
}
