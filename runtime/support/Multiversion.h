//===- Multiversion.h - one kernel binary for every x86-64 CPU --*- C++ -*-===//
#ifndef LLMC_RUNTIME_MULTIVERSION_H
#define LLMC_RUNTIME_MULTIVERSION_H

// Function multiversioning: the loader picks the AVX-512, AVX2 or baseline
// clone of a kernel for the CPU it runs on, so one library runs anywhere.
#define LLMC_MULTIVERSION                                                      \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

#endif
