//===- OldAttention.h - the previous attention kernel, as a baseline -*- C++ -*-===//
#ifndef LLMC_KERNEL_BENCH_OLDATTENTION_H
#define LLMC_KERNEL_BENCH_OLDATTENTION_H

#include "api/MemRefDescriptor.h"

void oldAttentionF32(llmc::rt::MemRef<float, 4> *q, llmc::rt::MemRef<float, 4> *k,
                     llmc::rt::MemRef<float, 4> *v, llmc::rt::MemRef<float, 4> *mask,
                     llmc::rt::MemRef<float, 4> *out, int32_t hasMask, int32_t causal,
                     float scale);

#endif
