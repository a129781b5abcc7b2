// Selecting a kernel variant in the unit tests, including the AVX-512 code
// built for AVX2 (KernelsAvx512Emulated.cpp, compiled into the tests only).
#ifndef LLMC_TEST_KERNELVARIANTS_H
#define LLMC_TEST_KERNELVARIANTS_H

#include "kernels/KernelDispatch.h"
#include "support/ThreadPool.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

/// The variants the suites run with, in order.
#define LLMC_KERNEL_VARIANTS "generic", "avx2", "avx512", "avx512-bf16", "avx512-emulated"

/// Makes `name` the active variant; false if this CPU cannot run it.
inline bool selectKernels(const char *name) {
  namespace kern = llmc::rt::kern;
  if (!std::strcmp(name, "avx512-emulated")) {
    if (!kern::kernelsSupported("avx2") || !kern::avx512EmulatedKernels())
      return false;
    kern::setKernelTableForTesting(kern::avx512EmulatedKernels());
    return true;
  }
  return kern::kernelsSupported(name) && kern::setKernelsForTesting(name);
}

/// A suite run once per variant (the parameter): skips the variants this CPU
/// cannot run, and restores the automatic choice and the thread count after.
class KernelVariantTest : public ::testing::TestWithParam<const char *> {
protected:
  void SetUp() override {
    if (!selectKernels(GetParam()))
      GTEST_SKIP() << "this CPU cannot run the '" << GetParam() << "' kernels";
  }
  void TearDown() override {
    llmc::rt::kern::setKernelsForTesting("");
    llmc::rt::setNumThreads(1 << 20);
  }
};

/// gtest parameter names: "avx512-bf16" -> "avx512_bf16".
struct VariantName {
  template <class Info> std::string operator()(const Info &info) const {
    std::string s = info.param;
    for (auto &ch : s)
      if (ch == '-')
        ch = '_';
    return s;
  }
};

#endif
