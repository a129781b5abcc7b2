//===- QuadraticForms.cpp - sum_j x_j^T H x_j over a block of columns -------===//
//
// The one hot loop of the quantizers' error measurements (GPTQ's report,
// AWQ's scale search), with an AVX2+FMA clone next to the baseline one: the
// compiler is built for plain x86-64 and the loader picks one for the CPU.
//
//===----------------------------------------------------------------------===//
#include "Parallel.h"

namespace llmc::quantimpl {

// sum_k x_k (H_kk x_k + 2 sum_{r>k} H_kr x_r), column by column in parallel
// lanes. (No library templates in here: clones would not instantiate them.)
__attribute__((target_clones("arch=x86-64-v3", "default"))) void
quadraticForms(const float *Hf, int64_t K, const float *const *mats, int m, int64_t nc, float *t, double *out) {
  for (int64_t k = 0; k < K; ++k) {
    const float *hk = Hf + k * K;
    for (int i = 0; i < m; ++i) {
      float *ti = t;
      for (int64_t j = 0; j < nc; ++j)
        ti[j] = 0.f;
      for (int64_t r = k + 1; r < K; ++r) {
        const float h = hk[r], *xr = mats[i] + r * nc;
        for (int64_t j = 0; j < nc; ++j)
          ti[j] += h * xr[j];
      }
      const float *xk = mats[i] + k * nc;
      double s = 0;
      for (int64_t j = 0; j < nc; ++j)
        s += double(xk[j]) * (double(hk[k]) * xk[j] + 2.0 * ti[j]);
      out[i] += s;
    }
  }
}

} // namespace llmc::quantimpl
