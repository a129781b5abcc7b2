//===- MemRefView.h - a rank-4 memref descriptor as the kernels' View4 -*- C++ -*-===//
#ifndef LLMC_RUNTIME_KERNELS_MEMREFVIEW_H
#define LLMC_RUNTIME_KERNELS_MEMREFVIEW_H

#include "../api/MemRefDescriptor.h"
#include "KernelDispatch.h"

namespace llmc::rt::kern {

/// A view of f32 elements, or of int8 / bf16 K/V rows (p then addresses
/// bytes / bf16 values: runtime/kernels/KVQuant.h).
template <typename T> View4 view4(MemRef<T, 4> *m) {
  View4 v;
  v.p = reinterpret_cast<float *>(m->data());
  for (int i = 0; i < 4; ++i) {
    v.size[i] = m->sizes[i];
    v.stride[i] = m->strides[i];
  }
  return v;
}

} // namespace llmc::rt::kern

#endif
