//===- KernelBench.cpp - llmc-kernel-bench: runtime kernels vs the machine -===//
//
// Times the packed f32 / bf16 linear kernels, the weight-quantized int8 /
// int4 ones (llmc_rt_linear_quant: symmetric, group 32, like llama.cpp's
// Q8_0 / Q4_0; GB/s counts codes + fp16 scales; w8a8 / w4a8: the same int8 /
// int4 weights with int8 activations, llmc_rt_linear_w8a8), the pruned sparse ones
// (sp24: 2:4, sp50: 50% unstructured, sp24q4: 2:4 with int4 values; GB/s
// counts the compressed bytes, GFLOP/s the dense-equivalent 2*M*K*N) and
// the old naive linear
// kernel (llmc_rt_linear_f32) on the linear-layer shapes of SmolLM2-135M and
// TinyLlama-1.1B, for M = 1 (decode) and prefill row counts, on 1 and 2
// threads; then the attention kernel against the previous one, and paged
// attention of a 16-sequence decode batch against 16 contiguous calls. Prints
// GFLOP/s, GB/s of weight traffic and the fraction of the measured (or
// given) machine peaks.
//
// Weights are cycled through enough copies to exceed the last-level cache,
// so decode numbers are DRAM numbers, as in a real model whose layers evict
// each other.
//
//===----------------------------------------------------------------------===//
#include "MachinePeaks.h"
#include "OldAttention.h"

#include "api/MemRefDescriptor.h"
#include "kernels/KernelDispatch.h"
#include "support/ThreadPool.h"
#include "support/WeightStreaming.h"

#include "llmc/PackedLayout.h"
#include "llmc/QuantLayout.h"
#include "llmc/SparseLayout.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <time.h>

using llmc::rt::MemRef;
namespace packed = llmc::packed;
namespace quant = llmc::quant;
namespace sparse = llmc::sparse;
namespace kern = llmc::rt::kern;

extern "C" void _mlir_ciface_llmc_rt_linear_f32(MemRef<float, 2> *, MemRef<float, 2> *,
                                                MemRef<float, 2> *, int32_t);
extern "C" void _mlir_ciface_llmc_rt_linear_packed_f32(MemRef<float, 2> *, MemRef<float, 1> *,
                                                       MemRef<float, 1> *, MemRef<float, 2> *,
                                                       MemRef<float, 2> *, int64_t, int64_t,
                                                       int32_t, int32_t, float);
extern "C" void _mlir_ciface_llmc_rt_linear_packed_bf16(MemRef<float, 2> *, MemRef<uint16_t, 1> *,
                                                        MemRef<float, 1> *, MemRef<float, 2> *,
                                                        MemRef<float, 2> *, int64_t, int64_t,
                                                        int32_t, int32_t, float);
extern "C" void _mlir_ciface_llmc_rt_linear_quant(MemRef<float, 2> *, MemRef<uint8_t, 1> *,
                                                  MemRef<uint16_t, 1> *, MemRef<uint8_t, 1> *,
                                                  MemRef<float, 1> *, MemRef<float, 2> *,
                                                  MemRef<float, 2> *, int64_t, int64_t, int32_t,
                                                  int32_t, int32_t, int32_t, int32_t, float);
extern "C" void _mlir_ciface_llmc_rt_linear_w8a8(MemRef<float, 2> *, MemRef<uint8_t, 1> *,
                                                 MemRef<uint16_t, 1> *, MemRef<uint8_t, 1> *,
                                                 MemRef<float, 1> *, MemRef<float, 2> *,
                                                 MemRef<float, 2> *, int64_t, int64_t, int32_t, int32_t,
                                                 int32_t, int32_t, int32_t, float);
extern "C" void _mlir_ciface_llmc_rt_linear_sparse24_f32(MemRef<float, 2> *, MemRef<float, 1> *,
                                                         MemRef<int32_t, 1> *, MemRef<float, 1> *,
                                                         MemRef<float, 2> *, MemRef<float, 2> *, int64_t,
                                                         int64_t, int32_t, int32_t, float);
extern "C" void _mlir_ciface_llmc_rt_linear_sparse24_q4(MemRef<float, 2> *, MemRef<uint8_t, 1> *,
                                                        MemRef<int32_t, 1> *, MemRef<uint16_t, 1> *,
                                                        MemRef<float, 1> *, MemRef<float, 2> *, MemRef<float, 2> *,
                                                        int64_t, int64_t, int32_t, int32_t, float);
extern "C" void _mlir_ciface_llmc_rt_linear_sparse_ell_f32(MemRef<float, 2> *, MemRef<float, 1> *,
                                                           MemRef<uint8_t, 1> *, MemRef<int32_t, 1> *,
                                                           MemRef<float, 1> *, MemRef<float, 2> *,
                                                           MemRef<float, 2> *, int64_t, int64_t, int32_t,
                                                           int32_t, float);
extern "C" void _mlir_ciface_llmc_rt_attention_f32(MemRef<float, 4> *, MemRef<float, 4> *,
                                                   MemRef<float, 4> *, MemRef<float, 4> *,
                                                   MemRef<float, 4> *, int32_t, int32_t, float);
extern "C" void _mlir_ciface_llmc_rt_attention_kvbf16_f32(MemRef<float, 4> *, MemRef<uint16_t, 4> *,
                                                        MemRef<uint16_t, 4> *, MemRef<float, 4> *,
                                                        MemRef<float, 4> *, int32_t, int32_t, float);
extern "C" void _mlir_ciface_llmc_rt_paged_attention_f32(
    MemRef<float, 4> *, MemRef<float, 4> *, MemRef<float, 4> *, MemRef<float, 4> *,
    MemRef<float, 4> *, MemRef<int32_t, 2> *, MemRef<int32_t, 1> *, MemRef<int32_t, 1> *,
    MemRef<float, 4> *, float);

namespace {

double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// --cpu-time: time single-threaded runs by the calling thread's CPU time,
// which other processes on a busy machine do not inflate.
bool gCpuTime = false;
double threadSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}
double clockFor() {
  return gCpuTime && llmc::rt::numThreads() == 1 ? threadSeconds() : seconds();
}

template <class T, int R> MemRef<T, R> desc(T *p, std::vector<int64_t> sizes) {
  MemRef<T, R> m;
  m.allocated = m.aligned = p;
  m.offset = 0;
  int64_t st = 1;
  for (int i = R - 1; i >= 0; --i) {
    m.sizes[i] = sizes[i];
    m.strides[i] = st;
    st *= sizes[i];
  }
  return m;
}

std::vector<float> randomVec(size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto &x : v)
    x = d(g);
  return v;
}

struct Options {
  std::vector<std::string> models{"smollm2", "tinyllama"};
  std::vector<int64_t> ms{1, 128, 512};
  std::vector<int> threads{1, 2};
  std::vector<std::string> kernels{"naive", "f32", "bf16", "int8", "w8a8", "int4", "w4a8",
                                       "sp24", "sp50", "sp24q4"};
  double minTime = 0.25;
  int64_t coldBytes = int64_t(256) << 20;
  bool linear = true, attention = true;
  double peakF32 = 0, peakBf16 = 0, bw1 = 0, bwN = 0;
  std::string shapeFilter;
  int nr = 0;
};

struct Shape {
  const char *model, *name;
  int64_t K, N;
  bool gated;
};

const Shape kShapes[] = {
    {"smollm2", "q/o proj", 576, 576, false},
    {"smollm2", "k/v proj", 576, 192, false},
    {"smollm2", "up proj", 576, 1536, false},
    {"smollm2", "gate+up", 576, 1536, true},
    {"smollm2", "down proj", 1536, 576, false},
    {"smollm2", "lm head", 576, 49152, false},
    {"tinyllama", "q/o proj", 2048, 2048, false},
    {"tinyllama", "k/v proj", 2048, 256, false},
    {"tinyllama", "up proj", 2048, 5632, false},
    {"tinyllama", "gate+up", 2048, 5632, true},
    {"tinyllama", "down proj", 5632, 2048, false},
    {"tinyllama", "lm head", 2048, 32000, false},
};

/// Median seconds per call of fn(i) (i = call number, for cycling copies),
/// after one warm-up call; at least 3 calls or minTime. A call slower than
/// minTime (the naive kernel on large shapes) is measured once.
template <class F> double timeIt(F fn, double minTime) {
  double w0 = clockFor();
  fn(0);
  double warm = clockFor() - w0;
  if (warm > minTime)
    return warm;
  std::vector<double> ts;
  double start = seconds();
  for (int i = 1; ts.size() < 3 || seconds() - start < minTime; ++i) {
    double t0 = clockFor();
    fn(i);
    ts.push_back(clockFor() - t0);
    if (ts.size() >= 1000)
      break;
  }
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2];
}

void printRow(const Shape &s, int64_t M, int thr, const char *kernel, double sec, double flops,
              double wbytes, const Options &o, double peak) {
  double gf = flops / sec / 1e9, gbs = wbytes / sec / 1e9;
  double bw = thr > 1 ? o.bwN : o.bw1;
  std::printf("%-9s %-10s %5lld %6lld %5lld %3d  %-6s %9.3f %8.1f %6.1f%% %8.1f %6.1f%%\n", s.model,
              s.name, (long long)s.K, (long long)(s.gated ? 2 * s.N : s.N), (long long)M, thr,
              kernel, sec * 1e3, gf, 100 * gf / (peak * thr), gbs, 100 * gbs / bw);
  std::fflush(stdout);
}

void benchLinear(const Options &o) {
  // The compiler packs nr = 32 for AVX-512 targets, 16 for AVX2.
  const int nr = o.nr ? o.nr
                      : (std::string(kern::activeKernels().name).rfind("avx512", 0) == 0 ? 32 : 16);
  std::printf("\nLinear layers (packed nr=%d; %%peak: of threads x per-core peak; GB/s: packed "
              "weight bytes / time; %%BW: of DRAM read bandwidth)\n",
              nr);
  std::printf("%-9s %-10s %5s %6s %5s %3s  %-6s %9s %8s %7s %8s %7s\n", "model", "layer", "K", "N",
              "M", "thr", "kernel", "ms", "GFLOP/s", "%peak", "GB/s", "%BW");
  for (const Shape &s : kShapes) {
    if (std::find(o.models.begin(), o.models.end(), s.model) == o.models.end())
      continue;
    if (!o.shapeFilter.empty() && std::string(s.name).find(o.shapeFilter) == std::string::npos)
      continue;
    const int64_t K = s.K, N = s.N, g = s.gated ? 2 : 1, NW = g * N;
    const int flags = s.gated ? packed::kSwiGLU : 0;
    const int64_t maxM = *std::max_element(o.ms.begin(), o.ms.end());
    auto x = randomVec(maxM * K, 1);
    std::vector<float> y(maxM * NW);
    auto wl = randomVec(K * NW, 2); // logical [K, g*N]: gate columns then up columns
    std::vector<float> wgate(K * N), wup(s.gated ? K * N : 0);
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = 0; n < N; ++n) {
        wgate[k * N + n] = wl[k * NW + n];
        if (s.gated)
          wup[k * N + n] = wl[k * NW + N + n];
      }
    auto want = [&](const char *kname) {
      return std::find(o.kernels.begin(), o.kernels.end(), kname) != o.kernels.end();
    };
    // Copies of each weight so one round exceeds the caches.
    const int64_t f32Size = g * packed::packedSizeF32(K, N, nr);
    const int64_t bf16Size = g * packed::packedSizeBF16(K, N, nr);
    auto copiesFor = [&](int64_t bytes) {
      return int(std::max<int64_t>(1, std::min<int64_t>(64, (o.coldBytes + bytes - 1) / bytes)));
    };
    std::vector<std::vector<float>> wf32, wnaive;
    std::vector<std::vector<uint16_t>> wbf16;
    if (want("f32")) {
      std::vector<float> p(f32Size);
      if (s.gated)
        packed::packGatedF32(wgate.data(), wup.data(), false, K, N, nr, p.data());
      else
        packed::packF32(wgate.data(), false, K, N, nr, p.data());
      wf32.assign(copiesFor(f32Size * 4), p);
    }
    if (want("bf16")) {
      std::vector<uint16_t> p(bf16Size);
      if (s.gated)
        packed::packGatedBF16(wgate.data(), wup.data(), false, K, N, nr, p.data());
      else
        packed::packBF16(wgate.data(), false, K, N, nr, p.data());
      wbf16.assign(copiesFor(bf16Size * 2), p);
    }
    // Quantized weights: the [K, g*N] concatenation as one layout, nr >= 32
    // (the GEMV covers 32 columns per pass).
    struct QuantWeights {
      quant::Layout l;
      std::vector<std::vector<uint8_t>> codes;
      std::vector<std::vector<uint16_t>> scales; // copied too: no hot scales
    };
    const int qnr = o.nr ? o.nr : std::max(nr, 32); // --nr: the panels of a compiled library
    QuantWeights wq[2];
    for (int b = 0; b < 2; ++b) {
      const int bits = b ? 4 : 8;
      if (b ? !want("int4") && !want("w4a8") : !want("int8") && !want("w8a8")) // wNa8 read the intN weights
        continue;
      std::string err;
      wq[b].l = quant::makeLayout(quant::Scheme{bits, 32, true}, K, NW, qnr, &err);
      std::vector<uint8_t> c(wq[b].l.codeBytes());
      std::vector<uint16_t> sc(wq[b].l.numParams());
      err = quant::quantizeRTN(wl.data(), false, wq[b].l, c.data(), sc.data(), nullptr);
      if (!err.empty()) {
        std::fprintf(stderr, "llmc-kernel-bench: %s\n", err.c_str());
        std::exit(1);
      }
      wq[b].codes.assign(copiesFor(wq[b].l.totalBytes()), c);
      wq[b].scales.assign(wq[b].codes.size(), sc);
    }
    if (want("naive"))
      wnaive.assign(copiesFor(K * NW * 4), wl);
    // Pruned weights (magnitude, per output column, like llmc-prune-weights):
    // 2:4 in panels of nr, 50% unstructured in panels of nr / 2. GB/s
    // counts the compressed bytes; GFLOP/s the dense-equivalent 2*M*K*N.
    struct SparseWeights {
      sparse::Sparse24Layout l24;
      sparse::SparseEllLayout lell;
      int64_t nr = 0, bytes = 0;
      std::vector<std::vector<float>> values;
      std::vector<std::vector<int32_t>> meta; // 2:4
      std::vector<std::vector<uint8_t>> offsets; // unstructured
      std::vector<int32_t> starts;
      std::vector<std::vector<uint16_t>> scales; // sp24q4
    };
    // f = 0: sp24, 1: sp50, 2: sp24q4 (2:4 with int4 values, like int4's g32)
    SparseWeights wsp[3];
    const char *spNames[3] = {"sp24", "sp50", "sp24q4"};
    for (int f = 0; f < 3; ++f) {
      if (!want(spNames[f]))
        continue;
      std::vector<float> pr[2] = {wgate, wup};
      for (int m = 0; m < g; ++m) {
        const std::vector<float> orig = pr[m];
        auto score = [&](int64_t k, int64_t n) { return std::fabs(orig[k * N + n]); };
        if (f == 1)
          sparse::pruneUnstructured(pr[m].data(), K, N, 0.5, score);
        else
          sparse::prune24(pr[m].data(), K, N, score);
      }
      sparse::Source src = s.gated ? sparse::gated(pr[0].data(), pr[1].data(), false, K, N)
                                   : sparse::single(pr[0].data(), false, K, N);
      SparseWeights &sw = wsp[f];
      sw.nr = f == 1 ? std::max(1, nr / 2) : nr;
      std::vector<float> v;
      if (f == 2) {
        sparse::Sparse24Q4Layout lq = sparse::makeSparse24Q4Layout(K, N, sw.nr, int(g));
        std::vector<uint8_t> c(lq.numCodes());
        std::vector<int32_t> m(lq.numMeta());
        std::vector<uint16_t> sc(lq.numScales());
        sparse::compress24q4(src, lq, c.data(), reinterpret_cast<uint32_t *>(m.data()), sc.data());
        sw.bytes = lq.bytes();
        sw.offsets.assign(copiesFor(sw.bytes), c); // the codes
        sw.meta.assign(sw.offsets.size(), m);
        sw.scales.assign(sw.offsets.size(), sc);
        sw.values.assign(sw.offsets.size(), {});
        continue;
      }
      if (!f) {
        sw.l24 = sparse::makeSparse24Layout(K, N, sw.nr, int(g));
        v.resize(sw.l24.numValues());
        std::vector<int32_t> m(sw.l24.numMeta());
        sparse::compress24(src, sw.l24, v.data(), reinterpret_cast<uint32_t *>(m.data()));
        sw.bytes = sw.l24.bytes();
        sw.meta.assign(copiesFor(sw.bytes), m);
      } else {
        std::string err;
        sw.lell = sparse::makeSparseEllLayout(src, sw.nr, &err);
        v.resize(sw.lell.numValues());
        std::vector<uint8_t> o(v.size());
        sparse::compressEll(src, sw.lell, v.data(), o.data());
        sw.bytes = sw.lell.bytes();
        sw.offsets.assign(copiesFor(sw.bytes), o);
        sw.starts = sw.lell.starts;
      }
      sw.values.assign(copiesFor(sw.bytes), v);
    }

    for (int64_t M : o.ms)
      for (int thr : o.threads) {
        llmc::rt::setNumThreads(thr);
        const double flops = 2.0 * M * K * NW;
        auto xm = desc<float, 2>(x.data(), {M, K});
        MemRef<float, 1> none = desc<float, 1>(nullptr, {0});
        MemRef<float, 2> noneRes = desc<float, 2>(nullptr, {0, 0});
        if (want("naive")) {
          auto ym = desc<float, 2>(y.data(), {M, NW});
          double t = timeIt(
              [&](int i) {
                auto wm = desc<float, 2>(wnaive[i % wnaive.size()].data(), {K, NW});
                _mlir_ciface_llmc_rt_linear_f32(&xm, &wm, &ym, 0);
              },
              o.minTime);
          printRow(s, M, thr, "naive", t, flops, K * NW * 4.0, o, o.peakF32);
        }
        auto ym = desc<float, 2>(y.data(), {M, N});
        if (want("f32")) {
          double t = timeIt(
              [&](int i) {
                auto wm = desc<float, 1>(wf32[i % wf32.size()].data(), {f32Size});
                _mlir_ciface_llmc_rt_linear_packed_f32(&xm, &wm, &none, &noneRes, &ym, K, N, nr,
                                                       flags, 1e-5f);
              },
              o.minTime);
          printRow(s, M, thr, "f32", t, flops, f32Size * 4.0, o, o.peakF32);
        }
        if (want("bf16")) {
          double t = timeIt(
              [&](int i) {
                auto wm = desc<uint16_t, 1>(wbf16[i % wbf16.size()].data(), {bf16Size});
                _mlir_ciface_llmc_rt_linear_packed_bf16(&xm, &wm, &none, &noneRes, &ym, K, N, nr,
                                                        flags, 1e-5f);
              },
              o.minTime);
          printRow(s, M, thr, "bf16", t, flops, bf16Size * 2.0, o, o.peakBf16);
        }
        for (int b = 0; b < 2; ++b) {
          const QuantWeights &q = wq[b];
          if (q.codes.empty())
            continue;
          uint8_t dummyZero = 0;
          auto zm = desc<uint8_t, 1>(&dummyZero, {1});
          if (want(b ? "int4" : "int8")) {
            double t = timeIt(
                [&](int i) {
                  auto cm = desc<uint8_t, 1>(const_cast<uint8_t *>(q.codes[i % q.codes.size()].data()),
                                             {q.l.codeBytes()});
                  auto sm = desc<uint16_t, 1>(const_cast<uint16_t *>(q.scales[i % q.codes.size()].data()),
                                              {q.l.numParams()});
                  _mlir_ciface_llmc_rt_linear_quant(&xm, &cm, &sm, &zm, &none, &noneRes, &ym, K, N,
                                                    qnr, q.l.scheme.bits, 32, 1, flags, 1e-5f);
                },
                o.minTime);
            printRow(s, M, thr, b ? "int4" : "int8", t, flops, double(q.l.totalBytes()), o, o.peakF32);
          }
          if (!want(b ? "w4a8" : "w8a8"))
            continue;
          double t = timeIt(
              [&](int i) {
                auto cm = desc<uint8_t, 1>(const_cast<uint8_t *>(q.codes[i % q.codes.size()].data()),
                                           {q.l.codeBytes()});
                auto sm = desc<uint16_t, 1>(const_cast<uint16_t *>(q.scales[i % q.codes.size()].data()),
                                            {q.l.numParams()});
                _mlir_ciface_llmc_rt_linear_w8a8(&xm, &cm, &sm, &zm, &none, &noneRes, &ym, K, N, qnr,
                                                 q.l.scheme.bits, 32, 1, flags, 1e-5f);
              },
              o.minTime);
          printRow(s, M, thr, b ? "w4a8" : "w8a8", t, flops, double(q.l.totalBytes()), o, o.peakF32);
        }
        for (int f = 0; f < 3; ++f) {
          SparseWeights &sw = wsp[f];
          if (sw.values.empty())
            continue;
          auto stm = desc<int32_t, 1>(sw.starts.data(), {int64_t(sw.starts.size())});
          double t = timeIt(
              [&](int i) {
                std::vector<float> &v = sw.values[i % sw.values.size()];
                auto vm = desc<float, 1>(v.data(), {int64_t(v.size())});
                if (f == 2) {
                  size_t c = i % sw.offsets.size();
                  auto cm = desc<uint8_t, 1>(sw.offsets[c].data(), {int64_t(sw.offsets[c].size())});
                  auto mm = desc<int32_t, 1>(sw.meta[c].data(), {int64_t(sw.meta[c].size())});
                  auto sm = desc<uint16_t, 1>(sw.scales[c].data(), {int64_t(sw.scales[c].size())});
                  _mlir_ciface_llmc_rt_linear_sparse24_q4(&xm, &cm, &mm, &sm, &none, &noneRes, &ym, K, N,
                                                          int32_t(sw.nr), flags, 1e-5f);
                } else if (!f) {
                  std::vector<int32_t> &m = sw.meta[i % sw.meta.size()];
                  auto mm = desc<int32_t, 1>(m.data(), {int64_t(m.size())});
                  _mlir_ciface_llmc_rt_linear_sparse24_f32(&xm, &vm, &mm, &none, &noneRes, &ym, K, N,
                                                           int32_t(sw.nr), flags, 1e-5f);
                } else {
                  std::vector<uint8_t> &of = sw.offsets[i % sw.offsets.size()];
                  auto om = desc<uint8_t, 1>(of.data(), {int64_t(of.size())});
                  _mlir_ciface_llmc_rt_linear_sparse_ell_f32(&xm, &vm, &om, &stm, &none, &noneRes, &ym, K,
                                                             N, int32_t(sw.nr), flags, 1e-5f);
                }
              },
              o.minTime);
          printRow(s, M, thr, spNames[f], t, flops, double(sw.bytes), o, o.peakF32);
        }
      }
  }
}

void benchAttention(const Options &o) {
  struct Case {
    const char *name;
    int H, KVH, S, T, D;
  };
  const Case cases[] = {
      {"smollm2 decode", 9, 3, 1, 512, 64},      {"smollm2 decode", 9, 3, 1, 2048, 64},
      {"smollm2 prefill", 9, 3, 128, 128, 64},   {"smollm2 prefill", 9, 3, 512, 512, 64},
      {"tinyllama decode", 32, 4, 1, 512, 64},   {"tinyllama prefill", 32, 4, 512, 512, 64},
  };
  std::printf("\nAttention (causal, KV cache views with capacity T+256; old = previous kernel; "
              "bf16 KV = the same cache in bf16, --kv-cache=bf16)\n");
  std::printf("%-18s %3s %4s %5s %5s %3s %3s %10s %10s %8s %12s\n", "case", "H", "KVH", "S", "T",
              "D", "thr", "old us", "new us", "speedup", "bf16 KV us");
  for (const Case &c : cases) {
    bool want = false;
    for (const auto &m : o.models)
      want |= std::string(c.name).rfind(m, 0) == 0;
    if (!want)
      continue;
    const int cap = c.T + 256;
    auto q = randomVec(size_t(c.H) * c.S * c.D, 1);
    auto kc = randomVec(size_t(c.KVH) * cap * c.D, 2), vc = randomVec(size_t(c.KVH) * cap * c.D, 3);
    std::vector<float> out(size_t(c.H) * c.S * c.D);
    auto qm = desc<float, 4>(q.data(), {1, c.H, c.S, c.D});
    auto km = desc<float, 4>(kc.data(), {1, c.KVH, cap, c.D});
    km.sizes[2] = c.T; // a view of the filled part of the cache
    auto vm = km;
    vm.aligned = vm.allocated = vc.data();
    auto om = desc<float, 4>(out.data(), {1, c.H, c.S, c.D});
    std::vector<uint16_t> kh(kc.size()), vh(vc.size());
    for (size_t i = 0; i < kc.size(); ++i) {
      kh[i] = llmc::packed::toBF16(kc[i]);
      vh[i] = llmc::packed::toBF16(vc[i]);
    }
    auto khm = desc<uint16_t, 4>(kh.data(), {1, c.KVH, cap, c.D});
    khm.sizes[2] = c.T;
    auto vhm = khm;
    vhm.aligned = vhm.allocated = vh.data();
    float scale = 1.f / std::sqrt(float(c.D));
    for (int thr : o.threads) {
      llmc::rt::setNumThreads(thr);
      double told = timeIt([&](int) { oldAttentionF32(&qm, &km, &vm, &qm, &om, 0, 1, scale); },
                           o.minTime);
      double tnew = timeIt(
          [&](int) { _mlir_ciface_llmc_rt_attention_f32(&qm, &km, &vm, &qm, &om, 0, 1, scale); },
          o.minTime);
      double thalf = timeIt(
          [&](int) {
            _mlir_ciface_llmc_rt_attention_kvbf16_f32(&qm, &khm, &vhm, &qm, &om, 0, 1, scale);
          },
          o.minTime);
      std::printf("%-18s %3d %4d %5d %5d %3d %3d %10.1f %10.1f %7.1fx %12.1f\n", c.name, c.H,
                  c.KVH, c.S, c.T, c.D, thr, told * 1e6, tnew * 1e6, told / tnew, thalf * 1e6);
      std::fflush(stdout);
    }
  }
}

/// Decode of a batch of sequences: one paged call over a block pool against
/// one contiguous-cache call per sequence. The K/V data is cycled through
/// copies totalling --cold-mb, like the weights of the linear benchmark.
void benchPagedAttention(const Options &o) {
  if (std::find(o.models.begin(), o.models.end(), "smollm2") == o.models.end())
    return;
  const int64_t H = 9, KVH = 3, D = 64, nSeq = 16, past = 256, BS = 16, cap = 512;
  const int64_t keys = past + 1, MB = cap / BS, used = (keys + BS - 1) / BS;
  const double kvBytes = double(nSeq) * KVH * keys * 2 * D * sizeof(float);
  const int64_t copies = std::max<int64_t>(1, int64_t(o.coldBytes / kvBytes));
  const float scale = 1.f / std::sqrt(float(D));
  auto q = randomVec(size_t(H) * nSeq * D, 1), kn = randomVec(size_t(KVH) * nSeq * D, 2);
  std::vector<float> out(size_t(H) * nSeq * D);

  // Paged: one pool holding every copy's blocks, interleaved (block i of
  // sequence s of copy c is block (i * nSeq + s) * copies + c) so that a
  // sequence's blocks are scattered as in a long-running server.
  const int64_t NB = used * nSeq * copies;
  auto kp = randomVec(size_t(NB) * KVH * BS * D, 3), vp = randomVec(size_t(NB) * KVH * BS * D, 4);
  std::vector<int32_t> tables(size_t(copies) * nSeq * MB, 0), starts(nSeq + 1), pos(nSeq, past);
  for (int64_t c = 0; c < copies; ++c)
    for (int64_t s = 0; s < nSeq; ++s)
      for (int64_t i = 0; i < used; ++i)
        tables[(c * nSeq + s) * MB + i] = int32_t((i * nSeq + s) * copies + c);
  for (int64_t s = 0; s <= nSeq; ++s)
    starts[s] = int32_t(s);
  auto qm = desc<float, 4>(q.data(), {1, H, nSeq, D});
  auto knm = desc<float, 4>(kn.data(), {1, KVH, nSeq, D});
  auto om = desc<float, 4>(out.data(), {1, H, nSeq, D});
  auto kpm = desc<float, 4>(kp.data(), {NB, KVH, BS, D});
  auto vpm = desc<float, 4>(vp.data(), {NB, KVH, BS, D});
  auto ssm = desc<int32_t, 1>(starts.data(), {nSeq + 1});
  auto spm = desc<int32_t, 1>(pos.data(), {nSeq});

  // Contiguous: per copy and sequence a cache [1, KVH, cap, D] viewed up to
  // `keys`; the 16 calls of one step each take one query row.
  std::vector<float> kc = randomVec(size_t(copies) * nSeq * KVH * cap * D, 5);
  std::vector<float> vc = randomVec(size_t(copies) * nSeq * KVH * cap * D, 6);
  auto cacheView = [&](std::vector<float> &buf, int64_t c, int64_t s) {
    auto m = desc<float, 4>(buf.data() + (c * nSeq + s) * KVH * cap * D, {1, KVH, cap, D});
    m.sizes[2] = keys;
    return m;
  };

  std::printf("\nPaged attention (SmolLM2 decode step: %lld sequences x %lld cached tokens, "
              "blocks of %lld; contig = %lld calls of llmc_rt_attention_f32; GB/s of K/V read, "
              "%lld copies)\n",
              (long long)nSeq, (long long)past, (long long)BS, (long long)nSeq,
              (long long)copies);
  std::printf("%-7s %3s %4s %3s %4s %5s %3s %10s %10s %8s %11s %10s\n", "kernel", "H", "KVH", "D",
              "seqs", "keys", "thr", "contig us", "paged us", "speedup", "contig GB/s",
              "paged GB/s");
  for (int thr : o.threads) {
    llmc::rt::setNumThreads(thr);
    double tc = timeIt(
        [&](int i) {
          const int64_t c = i % copies;
          for (int64_t s = 0; s < nSeq; ++s) {
            auto km = cacheView(kc, c, s), vm = cacheView(vc, c, s);
            auto qs = desc<float, 4>(q.data() + s * D, {1, H, 1, D});
            qs.strides[1] = nSeq * D; // query s of the batch's [1, H, nSeq, D]
            auto os = qs;
            os.aligned = os.allocated = out.data() + s * D;
            _mlir_ciface_llmc_rt_attention_f32(&qs, &km, &vm, &qs, &os, 0, 1, scale);
          }
        },
        o.minTime);
    double tp = timeIt(
        [&](int i) {
          auto tm = desc<int32_t, 2>(tables.data() + (i % copies) * nSeq * MB, {nSeq, MB});
          _mlir_ciface_llmc_rt_paged_attention_f32(&qm, &knm, &knm, &kpm, &vpm, &tm, &ssm, &spm,
                                                   &om, scale);
        },
        o.minTime);
    std::printf("%-7s %3lld %4lld %3lld %4lld %5lld %3d %10.1f %10.1f %7.2fx %11.1f %10.1f\n",
                kern::activeKernels().name, (long long)H, (long long)KVH, (long long)D,
                (long long)nSeq, (long long)keys, thr, tc * 1e6, tp * 1e6, tc / tp,
                kvBytes / tc / 1e9, kvBytes / tp / 1e9);
    std::fflush(stdout);
  }
}

template <class T> std::vector<T> splitList(const char *s, T (*conv)(const std::string &)) {
  std::vector<T> out;
  std::string cur;
  for (const char *p = s;; ++p) {
    if (*p == ',' || !*p) {
      if (!cur.empty())
        out.push_back(conv(cur));
      cur.clear();
      if (!*p)
        break;
    } else {
      cur += *p;
    }
  }
  return out;
}

void usage() {
  std::printf(
      "usage: llmc-kernel-bench [options]\n"
      "  --models smollm2,tinyllama   model shapes (default both)\n"
      "  --m 1,128,512                rows (tokens) per call\n"
      "  --threads 1,2                thread counts\n"
      "  --kernels naive,f32,bf16,int8,w8a8,int4,w4a8,sp24,sp50,sp24q4  linear kernels to time\n"
      "                               (sp24: 2:4 pruned f32, sp50: 50%% unstructured f32,\n"
      "                               sp24q4: 2:4 with int4 values, one scale per 32 k)\n"
      "  --shape NAME                 only layers whose name contains NAME (e.g. 'lm head')\n"
      "  --isa avx512|avx2|generic    kernel variant (as LLMC_ISA)\n"
      "  --nr N                       panel width (default 32 for AVX-512, else 16; quantized\n"
      "                               kernels: default max(that, 32))\n"
      "  --min-time S                 seconds per measurement (default 0.25)\n"
      "  --cold-mb MB                 cycle weight copies totalling MB (default 256; 0: hot,\n"
      "                               and no non-temporal weight prefetch, as for a model\n"
      "                               that fits in the last-level cache)\n"
      "  --linear-only | --attention-only\n"
      "  --cpu-time                   time 1-thread runs by thread CPU time (busy machines)\n"
      "  --peak-f32 G --peak-bf16 G   per-core GFLOP/s peaks (default: measured)\n"
      "  --bw1 G --bw2 G              DRAM GB/s for 1 / all threads (default: measured)\n");
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  auto toInt = [](const std::string &s) -> int64_t { return std::atoll(s.c_str()); };
  auto toInt32 = [](const std::string &s) -> int { return std::atoi(s.c_str()); };
  auto toStr = [](const std::string &s) -> std::string { return s; };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char * {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "llmc-kernel-bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--models")
      o.models = splitList<std::string>(next(), +toStr);
    else if (a == "--m")
      o.ms = splitList<int64_t>(next(), +toInt);
    else if (a == "--threads")
      o.threads = splitList<int>(next(), +toInt32);
    else if (a == "--kernels")
      o.kernels = splitList<std::string>(next(), +toStr);
    else if (a == "--shape")
      o.shapeFilter = next();
    else if (a == "--isa") {
      const char *isa = next();
      if (!kern::setKernelsForTesting(isa)) {
        std::fprintf(stderr, "llmc-kernel-bench: this CPU cannot run '%s' kernels\n", isa);
        return 2;
      }
    } else if (a == "--nr")
      o.nr = std::atoi(next());
    else if (a == "--min-time")
      o.minTime = std::atof(next());
    else if (a == "--cold-mb")
      o.coldBytes = std::atoll(next()) << 20;
    else if (a == "--cpu-time")
      gCpuTime = true;
    else if (a == "--linear-only")
      o.attention = false;
    else if (a == "--attention-only")
      o.linear = false;
    else if (a == "--peak-f32")
      o.peakF32 = std::atof(next());
    else if (a == "--peak-bf16")
      o.peakBf16 = std::atof(next());
    else if (a == "--bw1")
      o.bw1 = std::atof(next());
    else if (a == "--bw2")
      o.bwN = std::atof(next());
    else {
      usage();
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }

  // Cycled copies stream from DRAM like a model's weights; hot ones stay
  // cached, as the weights of a model smaller than the last-level cache.
  llmc::rt::setWeightsStream(o.coldBytes > 0);
  const kern::KernelTable &kt = kern::activeKernels();
  const bool wide = std::string(kt.name).rfind("avx512", 0) == 0;
  if (!o.peakF32)
    o.peakF32 = measureFmaPeak(wide ? 16 : 8);
  if (!o.peakBf16) {
    // Without vdpbf16ps the bf16 kernels widen to f32 and FMA: same peak.
    o.peakBf16 = std::string(kt.name) == "avx512-bf16" ? measureBf16DotPeak() : o.peakF32;
  }
  const int maxThr = *std::max_element(o.threads.begin(), o.threads.end());
  if (!o.bw1)
    o.bw1 = measureReadBandwidth(1);
  if (!o.bwN)
    o.bwN = maxThr > 1 ? measureReadBandwidth(maxThr) : o.bw1;
  std::printf("llmc-kernel-bench: kernels=%s, pool threads=%d\n", kt.name,
              llmc::rt::numThreads());
  std::printf("peaks per core: f32 %.0f GFLOP/s, bf16 %.0f GFLOP/s; DRAM read: %.1f GB/s (1 "
              "thread), %.1f GB/s (%d threads)\n",
              o.peakF32, o.peakBf16, o.bw1, o.bwN, maxThr);
  if (o.linear)
    benchLinear(o);
  if (o.attention) {
    benchAttention(o);
    benchPagedAttention(o);
  }
  return 0;
}
