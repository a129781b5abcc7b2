//===- KernelDispatch.cpp - choosing the kernel variant for this CPU ------===//
#include "KernelDispatch.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace llmc::rt::kern;

namespace {

bool cpuHasAvx2() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

// __builtin_cpu_supports also checks that the OS saves the zmm state.
bool cpuHasAvx512() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return cpuHasAvx2() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

bool cpuHasAvx512Bf16() {
#if defined(__x86_64__)
  return cpuHasAvx512() && __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

/// The best variant named `name` (or below it) this CPU runs; null if the
/// name is unknown.
const KernelTable *variantFor(const char *name) {
  if (!std::strcmp(name, "avx512")) {
    if (cpuHasAvx512Bf16() && avx512Bf16Kernels())
      return avx512Bf16Kernels();
    if (cpuHasAvx512() && avx512Kernels())
      return avx512Kernels();
    name = "avx2";
  }
  if (!std::strcmp(name, "avx2")) {
    if (cpuHasAvx2() && avx2Kernels())
      return avx2Kernels();
    name = "generic";
  }
  if (!std::strcmp(name, "generic"))
    return genericKernels();
  return nullptr;
}

const KernelTable *automatic() {
  const char *env = std::getenv("LLMC_ISA");
  if (env && *env) {
    if (const KernelTable *t = variantFor(env))
      return t;
    std::fprintf(stderr, "llmc: LLMC_ISA=%s is not one of avx512, avx2, generic; ignored\n",
                 env);
  }
  return variantFor("avx512");
}

std::atomic<const KernelTable *> &current() {
  static std::atomic<const KernelTable *> t{automatic()};
  return t;
}

} // namespace

const KernelTable &llmc::rt::kern::activeKernels() {
  return *current().load(std::memory_order_acquire);
}

bool llmc::rt::kern::kernelsSupported(const char *name) {
  if (!std::strcmp(name, "avx512"))
    return cpuHasAvx512() && avx512Kernels();
  if (!std::strcmp(name, "avx512-bf16"))
    return cpuHasAvx512Bf16() && avx512Bf16Kernels();
  if (!std::strcmp(name, "avx2"))
    return cpuHasAvx2() && avx2Kernels();
  return !std::strcmp(name, "generic");
}

bool llmc::rt::kern::setKernelsForTesting(const char *name) {
  const KernelTable *t = nullptr;
  if (!*name)
    t = automatic();
  else if (!kernelsSupported(name))
    return false;
  else if (!std::strcmp(name, "avx512"))
    t = avx512Kernels();
  else if (!std::strcmp(name, "avx512-bf16"))
    t = avx512Bf16Kernels();
  else if (!std::strcmp(name, "avx2"))
    t = avx2Kernels();
  else
    t = genericKernels();
  current().store(t, std::memory_order_release);
  return true;
}

void llmc::rt::kern::setKernelTableForTesting(const KernelTable *table) {
  current().store(table ? table : automatic(), std::memory_order_release);
}
