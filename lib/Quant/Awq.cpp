//===- Awq.cpp - AWQ scale search (include/llmc/Awq.h) ---------------------===//
//
// Per alpha: quantize the sampled columns of diag(s) W group by group with
// round to nearest, scale back by 1 / s, and measure sum_n d_n^T H d_n of
// the differences d (quadraticForms, column chunks on all cores).
//
//===----------------------------------------------------------------------===//
#include "llmc/Awq.h"

#include "Parallel.h"

#include <algorithm>
#include <cmath>
#include <mutex>

namespace llmc::awq {

namespace q = llmc::quant;
using quantimpl::parallelChunks;
using quantimpl::quadraticForms;

namespace {
constexpr int64_t kChunkColumns = 64; // sampled columns per work item
} // namespace

std::vector<double> activationRms(const double *H, int64_t K, int64_t tokens) {
  std::vector<double> a(K, 0.0);
  const double t = double(std::max<int64_t>(tokens, 1));
  for (int64_t k = 0; k < K; ++k)
    a[k] = H[k * K + k] > 0 ? std::sqrt(H[k * K + k] / t) : 0.0;
  return a;
}

std::vector<float> scalesForAlpha(const std::vector<double> &rms, double alpha) {
  const int64_t K = int64_t(rms.size());
  std::vector<double> s(K, 1.0);
  double lo = INFINITY, hi = 0;
  for (int64_t k = 0; k < K; ++k)
    if (rms[k] > 0) {
      s[k] = std::max(std::pow(rms[k], alpha), 1e-4);
      lo = std::min(lo, s[k]);
      hi = std::max(hi, s[k]);
    }
  std::vector<float> out(K, 1.f);
  if (hi == 0)
    return out; // no live input: nothing to scale
  const double norm = std::sqrt(hi * lo);
  for (int64_t k = 0; k < K; ++k)
    if (rms[k] > 0)
      out[k] = float(s[k] / norm);
  return out;
}

std::string searchScales(const std::vector<WeightRef> &weights, int64_t K, const double *H, int64_t tokens,
                         const quant::Scheme &scheme, const Options &options, Result &out) {
  if (K <= 0 || weights.empty())
    return "AWQ needs at least one weight with K > 0";
  if (std::string e = q::validate(scheme); !e.empty())
    return e;
  for (int64_t k = 0; k < K; ++k)
    if (!std::isfinite(H[k * K + k]))
      return "the calibration statistics contain non-finite values";
  const int64_t G = scheme.group > 0 ? scheme.group : K;

  // The sampled columns of all weights side by side: Wc [K][C].
  std::vector<float> Wc;
  int64_t C = 0;
  {
    std::vector<std::pair<const WeightRef *, int64_t>> cols;
    for (const WeightRef &w : weights) {
      const int64_t n = std::min<int64_t>(w.N, std::max<int64_t>(options.searchColumns, 1));
      for (int64_t j = 0; j < n; ++j)
        cols.push_back({&w, j * w.N / n});
    }
    C = int64_t(cols.size());
    Wc.resize(size_t(K * C));
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < K; ++k)
        Wc[k * C + c] = q::weightAt(cols[c].first->w, cols[c].first->transposed, k, cols[c].second, K,
                                    cols[c].first->N);
  }
  std::vector<float> Hf(H, H + K * K);
  const std::vector<double> rms = activationRms(H, K, tokens);
  const int64_t numChunks = (C + kChunkColumns - 1) / kChunkColumns;

  // sum over the sampled columns c of d_c^T H d_c, with d_c (K values at
  // `stride`) written by column(c, d_c, stride), which returns "" or an error.
  auto quadraticSum = [&](auto column, std::string &error) {
    std::vector<double> sums(numChunks, 0.0);
    std::mutex errorMutex;
    parallelChunks(numChunks, options.threads, [&](int64_t chunk) {
      const int64_t c0 = chunk * kChunkColumns, nc = std::min(kChunkColumns, C - c0);
      std::vector<float> D(K * nc), t(nc);
      for (int64_t j = 0; j < nc; ++j)
        if (std::string e = column(c0 + j, &D[j], nc); !e.empty()) {
          std::lock_guard<std::mutex> lock(errorMutex);
          error = e;
          return;
        }
      const float *mats[1] = {D.data()};
      quadraticForms(Hf.data(), K, mats, 1, nc, t.data(), &sums[chunk]);
    });
    double total = 0;
    for (double v : sums)
      total += v;
    return total;
  };
  // d = w: the output itself, ||X W||^2.
  auto weightColumn = [&](int64_t c, float *d, int64_t stride) {
    for (int64_t k = 0; k < K; ++k)
      d[k * stride] = Wc[k * C + c];
    return std::string();
  };
  // d = RTN(diag(s) w) / s - w: the rounding error with scales s.
  auto roundingError = [&](const std::vector<float> &s) {
    return [&](int64_t c, float *d, int64_t stride) {
      std::vector<float> col(K);
      for (int64_t k = 0; k < K; ++k)
        col[k] = Wc[k * C + c] * s[k];
      for (int64_t k0 = 0; k0 < K; k0 += G) {
        const int64_t count = std::min(G, K - k0);
        q::GroupParams gp;
        std::string e;
        if (!q::groupParams(&col[k0], count, 1, scheme, &gp, &e))
          return e;
        const float sc = q::fromF16(gp.scale);
        for (int64_t k = k0; k < k0 + count; ++k)
          d[k * stride] = q::dequantizeValue(q::quantizeValue(col[k], sc, gp.zero, scheme.bits), sc, gp.zero) / s[k] -
                          Wc[k * C + c];
      }
      return std::string();
    };
  };

  std::string error;
  const double reference = quadraticSum(weightColumn, error); // ||X W||^2 on the sampled columns
  const int grid = std::max(options.grid, 1);
  double best = INFINITY;
  for (int g = 0; g < grid && error.empty(); ++g) {
    const double alpha = double(g) / grid;
    std::vector<float> s = scalesForAlpha(rms, alpha);
    const double e = quadraticSum(roundingError(s), error);
    if (g == 0)
      out.rtnError = reference > 0 ? e / reference : 0.0;
    if (e < best) { // ties keep the smaller alpha (alpha 0: plain RTN)
      best = e;
      out.alpha = alpha;
      out.scales = std::move(s);
    }
  }
  if (!error.empty())
    return error;
  out.error = reference > 0 ? best / reference : 0.0;
  return "";
}

} // namespace llmc::awq
