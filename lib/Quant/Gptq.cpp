//===- Gptq.cpp - GPTQ weight quantization (include/llmc/Gptq.h) ----------===//
//
// The algorithm and its conventions are described in the header. Weights
// are updated in f32 (as the reference PyTorch code does); H and its
// factorization are in double.
//
//===----------------------------------------------------------------------===//
#include "llmc/Gptq.h"

#include "Parallel.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <thread>

namespace llmc::gptq {

namespace q = llmc::quant;
using quantimpl::parallelChunks;
using quantimpl::quadraticForms;

namespace {

// The hot loops get an AVX2+FMA clone next to the baseline one (the
// compiler is built for plain x86-64); the loader picks one for the CPU.
#define GPTQ_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))

/// sum_i a[i] * b[i] over [0, n), in double. Eight partial sums: a single
/// accumulator would not be vectorized (FP addition is not reassociated).
GPTQ_MULTIVERSION double dot(const double *a, const double *b, int64_t n) {
  double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l)
      p[l] += a[i + l] * b[i + l];
  double s = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
  for (; i < n; ++i)
    s += a[i] * b[i];
  return s;
}

/// y[0, n) -= a * x[0, n), in double.
GPTQ_MULTIVERSION void axpyNegD(double *y, const double *x, double a, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    y[i] -= a * x[i];
}

/// y[0, n) -= a * x[0, n)
GPTQ_MULTIVERSION void axpyNeg(float *y, const float *x, float a, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    y[i] -= a * x[i];
}

/// The lazy batch update: rows r in [r0, K) of W ([K][nc]) get
/// -= sum_{p in [b0, b1)} U[p][r] * err[p - b0].
GPTQ_MULTIVERSION void blockUpdate(float *W, const float *err, const float *U, int64_t K, int64_t b0, int64_t b1,
                                   int64_t r0, int64_t nc) {
  for (int64_t r = r0; r < K; ++r) {
    float *wr = W + r * nc;
    for (int64_t p = b0; p < b1; ++p) {
      const float u = U[p * K + r], *ep = err + (p - b0) * nc;
      if (u != 0.f)
        for (int64_t j = 0; j < nc; ++j)
          wr[j] -= u * ep[j];
    }
  }
}

constexpr int64_t kChunkColumns = 128; // output columns per work item

} // namespace

std::string inverseCholeskyUpper(const double *H, int64_t K, double dampFraction, std::vector<double> &U,
                                 std::vector<bool> &dead) {
  dead.assign(K, false);
  double meanDiag = 0;
  for (int64_t k = 0; k < K; ++k) {
    double d = H[k * K + k];
    if (!std::isfinite(d))
      return "the calibration statistics contain non-finite values";
    if (d <= 0)
      dead[k] = true;
    meanDiag += dead[k] ? 1.0 : d;
  }
  meanDiag /= double(K);
  std::vector<double> V(K * K);
  for (int attempt = 0; attempt < 5; ++attempt, dampFraction = std::max(dampFraction * 10, 1e-6)) {
    double damp = dampFraction * meanDiag;
    // A = V V^T with V upper triangular, from the last row up:
    //   V[i][i] = sqrt(A[i][i] - sum_{k>i} V[i][k]^2)
    //   V[j][i] = (A[j][i] - sum_{k>i} V[j][k] V[i][k]) / V[i][i]   (j < i)
    std::fill(V.begin(), V.end(), 0.0);
    bool ok = true;
    for (int64_t i = K - 1; i >= 0 && ok; --i) {
      const double *vi = &V[i * K];
      double s = (dead[i] ? 1.0 + damp : H[i * K + i] + damp) - dot(vi + i + 1, vi + i + 1, K - i - 1);
      if (!(s > 0)) {
        ok = false;
        break;
      }
      double d = std::sqrt(s);
      V[i * K + i] = d;
      for (int64_t j = 0; j < i; ++j) {
        const double *vj = &V[j * K];
        double a = ((dead[i] || dead[j]) ? 0.0 : H[j * K + i]) - dot(vj + i + 1, vi + i + 1, K - i - 1);
        V[j * K + i] = a / d;
      }
    }
    if (!ok)
      continue;
    // U = V^-1 (upper): row i = (e_i - sum_{k>i} V[i][k] U[k][.]) / V[i][i].
    U.assign(K * K, 0.0);
    for (int64_t i = K - 1; i >= 0; --i) {
      double *ui = &U[i * K];
      const double *vi = &V[i * K];
      double inv = 1.0 / vi[i];
      ui[i] = inv;
      for (int64_t k = i + 1; k < K; ++k) {
        double a = vi[k] * inv;
        if (a == 0.0)
          continue;
        axpyNegD(ui + k, &U[k * K] + k, a, K - k);
      }
    }
    return "";
  }
  return "the calibration Gram matrix is not positive definite even with damping";
}

/// RTN parameters of a group, or with `clip` the best of the RTN range
/// shrunk by 1, 0.975, ..., 0.75 under the error sum_i h_i (w_i - q(w_i))^2
/// (h: the inputs' energies diag(H); clipping trades the largest weights'
/// error for finer steps on all others).
static bool chooseParams(const float *v, int64_t count, int64_t stride, const double *h, const q::Scheme &s,
                         bool clip, q::GroupParams *out, std::string *error) {
  if (!q::groupParams(v, count, stride, s, out, error))
    return false;
  if (!clip || out->scale == 0)
    return true;
  auto cost = [&](const q::GroupParams &gp) {
    float sc = q::fromF16(gp.scale);
    double e = 0;
    for (int64_t i = 0; i < count; ++i) {
      float x = v[i * stride];
      double d = double(x) - q::dequantizeValue(q::quantizeValue(x, sc, gp.zero, s.bits), sc, gp.zero);
      e += h[i] * d * d;
    }
    return e;
  };
  float lo = 0.f, hi = 0.f;
  for (int64_t i = 0; i < count; ++i) {
    lo = std::min(lo, v[i * stride]);
    hi = std::max(hi, v[i * stride]);
  }
  const float full = q::fromF16(out->scale);
  double best = cost(*out);
  for (int step = 1; step <= 10; ++step) {
    float p = 1.f - 0.025f * float(step);
    q::GroupParams gp;
    gp.scale = q::toF16(full * p);
    float sc = q::fromF16(gp.scale);
    if (sc == 0.f)
      break;
    gp.zero = s.symmetric ? uint8_t(q::symmetricZero(s.bits))
                          : uint8_t(std::clamp(std::nearbyint(-lo * p / sc), 0.f, float(q::maxCode(s.bits))));
    if (double c = cost(gp); c < best) {
      best = c;
      *out = gp;
    }
  }
  return true;
}

std::string quantizeClipped(const float *w, bool transposed, const double *energy, const quant::Layout &l,
                            uint8_t *codes, uint16_t *scales, uint8_t *zeros, int threads) {
  // RTN first: fills the padding exactly as quantizeRTN does (and validates).
  if (std::string e = q::quantizeRTN(w, transposed, l, codes, scales, zeros); !e.empty())
    return e;
  const q::Scheme &s = l.scheme;
  const int64_t K = l.K, N = l.N, G = l.groupSize;
  std::string error;
  std::mutex errorMutex;
  const int64_t numChunks = (N + kChunkColumns - 1) / kChunkColumns;
  parallelChunks(numChunks, threads, [&](int64_t chunk) {
    std::vector<float> col(K);
    for (int64_t n = chunk * kChunkColumns; n < std::min(N, (chunk + 1) * kChunkColumns); ++n) {
      for (int64_t k = 0; k < K; ++k)
        col[k] = q::weightAt(w, transposed, k, n, K, N);
      for (int64_t g = 0; g < l.numGroups; ++g) {
        const int64_t k0 = g * G, count = std::min(G, K - k0);
        if (count <= 0)
          continue;
        q::GroupParams p;
        std::string e;
        if (!chooseParams(&col[k0], count, 1, &energy[k0], s, /*clip=*/true, &p, &e)) {
          std::lock_guard<std::mutex> lock(errorMutex);
          error = e + " (column " + std::to_string(n) + ")";
          return;
        }
        const int64_t idx = l.paramIndex(g, n);
        scales[idx] = p.scale;
        if (zeros)
          zeros[idx] = s.symmetric ? 0 : p.zero;
        const float sc = q::fromF16(p.scale);
        for (int64_t k = k0; k < std::min(k0 + G, l.paddedK); ++k)
          q::setCode(l, codes, k, n, q::quantizeValue(k < K ? col[k] : 0.f, sc, p.zero, s.bits));
      }
    }
  });
  return error;
}

std::string quantize(const float *w, bool transposed, const double *H, const quant::Layout &l,
                     const Options &options, uint8_t *codes, uint16_t *scales, uint8_t *zeros) {
  const q::Scheme &s = l.scheme;
  const int64_t K = l.K, N = l.N, G = l.groupSize;
  const bool perChannel = l.numGroups == 1;
  // RTN first: fills padding columns and rows exactly as quantizeRTN does
  // (and validates the weights); GPTQ then rewrites the real columns.
  if (std::string e = q::quantizeRTN(w, transposed, l, codes, scales, zeros); !e.empty())
    return e;
  // Processing order: input order, or with act-order the inputs of largest
  // energy first (a stable sort, so equal energies keep input order).
  std::vector<int64_t> perm(K);
  for (int64_t k = 0; k < K; ++k)
    perm[k] = k;
  if (options.actOrder)
    std::stable_sort(perm.begin(), perm.end(),
                     [&](int64_t a, int64_t b) { return H[a * K + a] > H[b * K + b]; });
  std::vector<double> Hp;
  if (options.actOrder) {
    Hp.resize(K * K);
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < K; ++j)
        Hp[i * K + j] = H[perm[i] * K + perm[j]];
  }
  std::vector<double> U64;
  std::vector<bool> dead; // by position in the processing order
  if (std::string e = inverseCholeskyUpper(options.actOrder ? Hp.data() : H, K, options.dampFraction, U64, dead);
      !e.empty())
    return e;
  Hp = {};
  std::vector<float> U(U64.begin(), U64.end());
  U64 = {};
  std::vector<double> energy(K);
  for (int64_t k = 0; k < K; ++k)
    energy[k] = std::max(0.0, H[k * K + k]);
  // Groups are contiguous in input order. In input order a group's
  // parameters come from its weights as updated when its first row is
  // reached (blocks then hold whole groups); with act-order (rows of a group
  // are scattered) and per channel they come from the original weights.
  const bool staticParams = perChannel || options.actOrder;
  int64_t B = std::max<int64_t>(options.blockSize, 1);
  if (!staticParams)
    B = (B + G - 1) / G * G;

  std::string error;
  std::mutex errorMutex;
  std::atomic<bool> failed{false};
  const int64_t numChunks = (N + kChunkColumns - 1) / kChunkColumns;
  parallelChunks(numChunks, options.threads, [&](int64_t chunk) {
    if (failed)
      return;
    const int64_t n0 = chunk * kChunkColumns, nc = std::min(kChunkColumns, N - n0);
    std::vector<float> W(K * nc), err(B * nc);
    std::vector<uint8_t> code(K * nc);
    // Parameters of every group and column (`sc`: the scales as floats).
    std::vector<q::GroupParams> gp(l.numGroups * nc);
    std::vector<float> sc(l.numGroups * nc);
    for (int64_t p = 0; p < K; ++p)
      for (int64_t j = 0; j < nc; ++j)
        W[p * nc + j] = dead[p] ? 0.f : q::weightAt(w, transposed, perm[p], n0 + j, K, N);
    auto setGroup = [&](int64_t g, const float *first, int64_t stride) -> bool {
      int64_t k0 = g * G, count = std::min(G, K - k0);
      for (int64_t j = 0; j < nc; ++j) {
        std::string e;
        q::GroupParams &p = gp[g * nc + j];
        if (!chooseParams(first + j, count, stride, &energy[k0], s, options.clipSearch, &p, &e)) {
          std::lock_guard<std::mutex> lock(errorMutex);
          failed = true;
          error = e + " (column " + std::to_string(n0 + j) + ")";
          return false;
        }
        sc[g * nc + j] = q::fromF16(p.scale);
        int64_t idx = l.paramIndex(g, n0 + j);
        scales[idx] = p.scale;
        if (zeros)
          zeros[idx] = s.symmetric ? 0 : p.zero;
      }
      return true;
    };
    if (staticParams) {
      std::vector<float> orig(K * nc); // input order, dead inputs zeroed
      for (int64_t p = 0; p < K; ++p)
        std::copy(&W[p * nc], &W[p * nc] + nc, &orig[perm[p] * nc]);
      for (int64_t g = 0; g < l.numGroups; ++g)
        if (g * G < K && !setGroup(g, &orig[g * G * nc], nc))
          return;
    }
    for (int64_t b0 = 0; b0 < K; b0 += B) {
      const int64_t b1 = std::min(b0 + B, K);
      for (int64_t p = b0; p < b1; ++p) {
        const int64_t k = perm[p], g = k / G;
        if (!staticParams && k % G == 0 && !setGroup(g, &W[p * nc], nc))
          return;
        const float d = U[p * K + p];
        const q::GroupParams *gpg = &gp[g * nc];
        const float *scg = &sc[g * nc];
        float *wp = &W[p * nc], *ep = &err[(p - b0) * nc];
        for (int64_t j = 0; j < nc; ++j) {
          uint8_t c = q::quantizeValue(wp[j], scg[j], gpg[j].zero, s.bits);
          code[k * nc + j] = c;
          ep[j] = (wp[j] - q::dequantizeValue(c, scg[j], gpg[j].zero)) / d;
        }
        for (int64_t r = p + 1; r < b1; ++r)
          if (float u = U[p * K + r]; u != 0.f)
            axpyNeg(&W[r * nc], ep, u, nc);
      }
      // The block's errors reach the later blocks in one batch.
      blockUpdate(W.data(), err.data(), U.data(), K, b0, b1, b1, nc);
    }
    const int64_t last = l.numGroups - 1;
    for (int64_t j = 0; j < nc; ++j) {
      for (int64_t k = 0; k < K; ++k)
        q::setCode(l, codes, k, n0 + j, code[k * nc + j]);
      // Padding rows of the last group dequantize to 0 with its zero point.
      for (int64_t k = K; k < l.paddedK; ++k)
        q::setCode(l, codes, k, n0 + j, gp[last * nc + j].zero);
    }
  });
  return failed ? error : "";
}

std::vector<double> relativeOutputErrors(const float *w, bool transposed, const double *H, const quant::Layout &l,
                                         const std::vector<QuantizedView> &qs, int threads) {
  const int64_t K = l.K, N = l.N;
  const int m = int(qs.size()) + 1; // the differences, then W itself
  std::vector<float> Hf(H, H + K * K);
  const int64_t numChunks = (N + kChunkColumns - 1) / kChunkColumns;
  std::vector<double> sums(size_t(numChunks) * m, 0.0);
  parallelChunks(numChunks, threads, [&](int64_t chunk) {
    const int64_t n0 = chunk * kChunkColumns, nc = std::min(kChunkColumns, N - n0);
    std::vector<std::vector<float>> X(m, std::vector<float>(K * nc));
    for (int64_t k = 0; k < K; ++k) {
      int64_t g = k / l.groupSize;
      for (int64_t j = 0; j < nc; ++j) {
        int64_t n = n0 + j;
        float x = q::weightAt(w, transposed, k, n, K, N);
        X[m - 1][k * nc + j] = x;
        for (int i = 0; i + 1 < m; ++i) {
          const QuantizedView &v = qs[i];
          X[i][k * nc + j] = q::dequantizeValue(q::getCode(l, v.codes, k, n),
                                                q::fromF16(v.scales[l.paramIndex(g, n)]), q::zeroAt(l, v.zeros, g, n)) -
                             x;
        }
      }
    }
    std::vector<const float *> mats;
    for (auto &x : X)
      mats.push_back(x.data());
    std::vector<float> t(nc);
    quadraticForms(Hf.data(), K, mats.data(), m, nc, t.data(), &sums[size_t(chunk) * m]);
  });
  std::vector<double> total(m, 0.0);
  for (int64_t c = 0; c < numChunks; ++c)
    for (int i = 0; i < m; ++i)
      total[i] += sums[size_t(c) * m + i];
  std::vector<double> out;
  for (int i = 0; i + 1 < m; ++i)
    out.push_back(total[m - 1] > 0 ? total[i] / total[m - 1] : 0.0);
  return out;
}

double relativeOutputError(const float *w, bool transposed, const double *H, const quant::Layout &l,
                           const uint8_t *codes, const uint16_t *scales, const uint8_t *zeros, int threads) {
  return relativeOutputErrors(w, transposed, H, l, {QuantizedView{codes, scales, zeros}}, threads)[0];
}

} // namespace llmc::gptq
