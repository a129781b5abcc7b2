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

  // sum_n d_n^T H d_n of the columns quantized with scales s (s empty: W itself).
  auto outputError = [&](const std::vector<float> *s, std::string &error) {
    std::vector<double> sums(numChunks, 0.0);
    std::mutex errorMutex;
    parallelChunks(numChunks, options.threads, [&](int64_t chunk) {
      const int64_t c0 = chunk * kChunkColumns, nc = std::min(kChunkColumns, C - c0);
      std::vector<float> D(K * nc), col(K), t(nc);
      for (int64_t j = 0; j < nc; ++j) {
        for (int64_t k = 0; k < K; ++k)
          col[k] = Wc[k * C + c0 + j] * (s ? (*s)[k] : 1.f);
        for (int64_t k0 = 0; k0 < K; k0 += G) {
          const int64_t count = std::min(G, K - k0);
          q::GroupParams gp;
          std::string e;
          if (s && !q::groupParams(&col[k0], count, 1, scheme, &gp, &e)) {
            std::lock_guard<std::mutex> lock(errorMutex);
            error = e;
            return;
          }
          const float sc = s ? q::fromF16(gp.scale) : 0.f;
          for (int64_t k = k0; k < k0 + count; ++k) {
            const float w = Wc[k * C + c0 + j];
            D[k * nc + j] = s ? q::dequantizeValue(q::quantizeValue(col[k], sc, gp.zero, scheme.bits), sc, gp.zero) /
                                        (*s)[k] -
                                    w
                              : w;
          }
        }
      }
      const float *mats[1] = {D.data()};
      quadraticForms(Hf.data(), K, mats, 1, nc, t.data(), &sums[chunk]);
    });
    double total = 0;
    for (double v : sums)
      total += v;
    return total;
  };

  std::string error;
  const double reference = outputError(nullptr, error); // ||X W||^2 on the sampled columns
  const int grid = std::max(options.grid, 1);
  double best = INFINITY;
  for (int g = 0; g < grid && error.empty(); ++g) {
    const double alpha = double(g) / grid;
    std::vector<float> s = scalesForAlpha(rms, alpha);
    const double e = outputError(&s, error);
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
