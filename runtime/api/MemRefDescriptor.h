//===- MemRefDescriptor.h - MLIR memref descriptors in C++ ------*- C++ -*-===//
//
// The C-interface layout of a ranked memref, as generated code reads it:
// { T *allocated, T *aligned, int64 offset, int64 sizes[R], int64 strides[R] }.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_RUNTIME_MEMREFDESCRIPTOR_H
#define LLMC_RUNTIME_MEMREFDESCRIPTOR_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace llmc::rt {

template <typename T, int R> struct MemRef {
  T *allocated;
  T *aligned;
  int64_t offset;
  int64_t sizes[R];
  int64_t strides[R];
  T *data() const { return aligned + offset; }
};

/// A descriptor of any rank in a word buffer (for calling generated code
/// with a rank only known at run time).
class DynamicMemRef {
public:
  DynamicMemRef(void *data, const std::vector<int64_t> &sizes,
                const std::vector<int64_t> &strides) {
    words_.resize(3 + 2 * sizes.size());
    words_[0] = reinterpret_cast<int64_t>(data);
    words_[1] = reinterpret_cast<int64_t>(data);
    words_[2] = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      words_[3 + i] = sizes[i];
      words_[3 + sizes.size() + i] = strides[i];
    }
  }
  static std::vector<int64_t> rowMajorStrides(const std::vector<int64_t> &sizes) {
    std::vector<int64_t> s(sizes.size(), 1);
    for (int i = (int)sizes.size() - 2; i >= 0; --i)
      s[i] = s[i + 1] * sizes[i + 1];
    return s;
  }
  void *get() { return words_.data(); }

private:
  std::vector<int64_t> words_;
};

} // namespace llmc::rt

#endif
