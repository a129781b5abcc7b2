//===- llmc-probe.cpp - measure this machine's roofline limits ------------===//
//
// Prints one JSON document with the limits the speed benchmark compares
// against: DRAM read bandwidth and peak fp32 FMA, bf16 dot (vdpbf16ps) and
// int8 dot (vpdpbusd) throughput, each for the requested thread counts
// (median of several repetitions).
//
// Every ISA-specific kernel carries its own target attribute and runs only if
// __builtin_cpu_supports says the CPU has the instructions, so the binary is
// built for baseline x86-64 and reports "unsupported" instead of faulting on
// machines without AVX-512 (or AVX2).
//
//   llmc-probe [--threads 1,2] [--reps 7] [--bytes 1073741824] [--ms 60]
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif
#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::vector<int> threads = {1, 2};
  int reps = 7;
  size_t bytes = size_t(1) << 30;
  double kernelMs = 60; // target duration of one compute repetition
};

[[noreturn]] void usage(const char *why) {
  std::fprintf(stderr,
               "llmc-probe: %s\n"
               "usage: llmc-probe [--threads 1,2] [--reps N>=5] [--bytes N>=2^30] "
               "[--ms MILLISECONDS]\n"
               "(--bytes/--reps below the minimum are allowed with --quick, for tests)\n",
               why);
  std::exit(2);
}

Options parseArgs(int argc, char **argv) {
  Options o;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        usage(("missing value after " + a).c_str());
      return argv[++i];
    };
    if (a == "--threads") {
      o.threads.clear();
      std::string v = value();
      size_t pos = 0;
      while (pos <= v.size()) {
        size_t comma = v.find(',', pos);
        std::string item = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        int t = std::atoi(item.c_str());
        if (t < 1 || t > 256)
          usage(("bad thread count '" + item + "'").c_str());
        o.threads.push_back(t);
        if (comma == std::string::npos)
          break;
        pos = comma + 1;
      }
    } else if (a == "--reps") {
      o.reps = std::atoi(value().c_str());
    } else if (a == "--bytes") {
      o.bytes = std::strtoull(value().c_str(), nullptr, 10);
    } else if (a == "--ms") {
      o.kernelMs = std::atof(value().c_str());
    } else if (a == "--quick") {
      quick = true;
    } else if (a == "-h" || a == "--help") {
      usage("measures read bandwidth and peak arithmetic throughput, prints JSON");
    } else {
      usage(("unknown argument '" + a + "'").c_str());
    }
  }
  if (o.reps < 1 || (!quick && o.reps < 5))
    usage("--reps must be >= 5 (a median of at least 5)");
  if (o.bytes < (size_t(64) << 20) || (!quick && o.bytes < (size_t(1) << 30)))
    usage("--bytes must be >= 1 GiB so that caches do not serve the reads");
  if (o.kernelMs <= 0)
    usage("--ms must be positive");
  return o;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void pinToCpu(int cpu) {
#if defined(__linux__)
  // Pinning keeps two workers from sharing a core while the other one idles.
  int n = int(std::thread::hardware_concurrency());
  if (n <= 0)
    return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % n, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
#else
  (void)cpu;
#endif
}

/// Runs work(t) on `threads` threads started together; returns the wall
/// seconds from the common start to the last finish (thread creation and
/// pinning are outside the timed region).
double runParallel(int threads, const std::function<void(int)> &work) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t)
    pool.emplace_back([&, t] {
      pinToCpu(t);
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {
      }
      work(t);
    });
  pinToCpu(0);
  while (ready.load() != threads - 1) {
  }
  auto t0 = Clock::now();
  go.store(true, std::memory_order_release);
  work(0);
  for (auto &th : pool)
    th.join();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Sink that keeps the compiler from deleting the measured loops.
std::atomic<uint64_t> gSink{0};
void sink(const void *p, size_t n) {
  uint64_t h = 0;
  std::memcpy(&h, p, std::min(n, sizeof(h)));
  gSink.fetch_xor(h, std::memory_order_relaxed);
}

// ------------------------------------------------------------ read bandwidth

using ReadFn = void (*)(const float *, size_t);

void readScalar(const float *p, size_t n) {
  // Eight accumulators so the add latency does not limit the load rate.
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k)
      acc[k] += p[i + k];
  sink(acc, sizeof(acc));
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) void readAvx2(const float *p, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (size_t i = 0; i + 64 <= n; i += 64) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
    a4 = _mm256_add_ps(a4, _mm256_load_ps(p + i + 32));
    a5 = _mm256_add_ps(a5, _mm256_load_ps(p + i + 40));
    a6 = _mm256_add_ps(a6, _mm256_load_ps(p + i + 48));
    a7 = _mm256_add_ps(a7, _mm256_load_ps(p + i + 56));
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                           _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  sink(out, sizeof(out));
}

__attribute__((target("avx512f"))) void readAvx512(const float *p, size_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (size_t i = 0; i + 128 <= n; i += 128) {
    a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
    a4 = _mm512_add_ps(a4, _mm512_load_ps(p + i + 64));
    a5 = _mm512_add_ps(a5, _mm512_load_ps(p + i + 80));
    a6 = _mm512_add_ps(a6, _mm512_load_ps(p + i + 96));
    a7 = _mm512_add_ps(a7, _mm512_load_ps(p + i + 112));
  }
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                           _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
  alignas(64) float out[16];
  _mm512_store_ps(out, s);
  sink(out, sizeof(out));
}
#endif

struct ReadKernel {
  const char *name;
  ReadFn fn;
};

ReadKernel bestReadKernel() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f"))
    return {"zmm", readAvx512};
  if (__builtin_cpu_supports("avx2"))
    return {"ymm", readAvx2};
#endif
  return {"scalar", readScalar};
}

struct Stats {
  double median = 0, min = 0, max = 0;
  std::vector<double> samples;
};

Stats summarize(const std::vector<double> &v) {
  Stats s;
  s.samples = v;
  s.median = median(v);
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

/// GB/s (1e9 bytes) reading `bytes` split evenly over `threads` threads.
Stats measureBandwidth(const float *data, size_t floats, int threads, int reps, ReadFn fn) {
  // 4 KiB-aligned chunks per thread (the kernels read whole 512-byte blocks).
  size_t per = (floats / threads) & ~size_t(1023);
  auto one = [&]() {
    double s = runParallel(threads, [&](int t) { fn(data + size_t(t) * per, per); });
    return double(per) * threads * sizeof(float) / s / 1e9;
  };
  one(); // warm-up: TLB, frequency
  std::vector<double> v;
  for (int r = 0; r < reps; ++r)
    v.push_back(one());
  return summarize(v);
}

// ------------------------------------------------------------ compute peaks

// A compute kernel runs `iters` iterations of independent dependency chains
// and returns the arithmetic operations it performed (FLOPs or int ops).
using ComputeFn = double (*)(int64_t iters);

double fmaScalar(int64_t iters) {
  // Not a peak (no FMA instruction guaranteed): the baseline for old CPUs.
  float a[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  const float m = 0.9999999f, c = 1e-7f;
  for (int64_t i = 0; i < iters; ++i)
    for (int k = 0; k < 8; ++k)
      a[k] = a[k] * m + c;
  sink(a, sizeof(a));
  return double(iters) * 8 * 2;
}

#if defined(__x86_64__)
// 12 accumulators: FMA latency (4-5 cycles) x 2 pipes needs >= 10 in flight.
// They are named variables a0..a11 (not an array) so that they stay in
// registers; X(i, P, Q) is applied to each.
#define LLMC_CHAINS(X, P, Q)                                                   \
  X(0, P, Q) X(1, P, Q) X(2, P, Q) X(3, P, Q) X(4, P, Q) X(5, P, Q) X(6, P, Q)   \
  X(7, P, Q) X(8, P, Q) X(9, P, Q) X(10, P, Q) X(11, P, Q)
constexpr int kChains = 12;
#define LLMC_PEAK_DECL(i, VEC, INIT) VEC a##i = INIT(i);
#define LLMC_PEAK_STEP(i, STEP, unused) a##i = STEP(a##i);
#define LLMC_PEAK_SUM(i, ADD, unused) s = ADD(s, a##i);

/// One peak kernel NAME(iters): kChains independent chains of VEC, each
/// updated by STEP once per iteration (OPS arithmetic operations per chain
/// and step), summed with ADD at the end and sunk so no chain is dropped.
#define LLMC_PEAK_KERNEL(NAME, TARGET, VEC, INIT, STEP, ADD, OPS)             \
  __attribute__((target(TARGET))) double NAME(int64_t iters) {                 \
    LLMC_CHAINS(LLMC_PEAK_DECL, VEC, INIT)                                     \
    for (int64_t it = 0; it < iters; ++it) {                                   \
      LLMC_CHAINS(LLMC_PEAK_STEP, STEP, _)                                     \
    }                                                                          \
    VEC s = INIT(0);                                                           \
    LLMC_CHAINS(LLMC_PEAK_SUM, ADD, _)                                         \
    unsigned char out[sizeof(VEC)];                                            \
    std::memcpy(out, &s, sizeof(VEC));                                         \
    sink(out, sizeof(out));                                                    \
    return double(iters) * kChains * (OPS);                                    \
  }

// fp32 FMA: 2 FLOPs per lane. The chains start at 2 + i: 1.0 is a fixed
// point of a * 0.9999999f + 1e-7f in float, and the compiler drops a chain
// it can prove constant (the probe then counted work it never did).
#define LLMC_YMM_F32(i) _mm256_set1_ps(2.0f + i)
#define LLMC_ZMM_F32(i) _mm512_set1_ps(2.0f + i)
#define LLMC_FMA_YMM(a) _mm256_fmadd_ps(a, _mm256_set1_ps(0.9999999f), _mm256_set1_ps(1e-7f))
#define LLMC_FMA_ZMM(a) _mm512_fmadd_ps(a, _mm512_set1_ps(0.9999999f), _mm512_set1_ps(1e-7f))
LLMC_PEAK_KERNEL(fmaYmm, "avx2,fma", __m256, LLMC_YMM_F32, LLMC_FMA_YMM, _mm256_add_ps, 8 * 2)
LLMC_PEAK_KERNEL(fmaZmm, "avx512f", __m512, LLMC_ZMM_F32, LLMC_FMA_ZMM, _mm512_add_ps, 16 * 2)

// vdpbf16ps: per fp32 lane, two bf16 products added to the accumulator,
// i.e. 4 FLOPs per lane (2 mul + 2 add), the convention bf16 peaks use.
// Operands 1.0 and ~2.3e-10 in bf16.
#define LLMC_BF16_ZMM(a)                                                       \
  _mm512_dpbf16_ps(a, (__m512bh)_mm512_set1_epi16(0x3f80), (__m512bh)_mm512_set1_epi16(0x2f80))
#define LLMC_BF16_YMM(a)                                                       \
  _mm256_dpbf16_ps(a, (__m256bh)_mm256_set1_epi16(0x3f80), (__m256bh)_mm256_set1_epi16(0x2f80))
LLMC_PEAK_KERNEL(bf16Zmm, "avx512f,avx512bf16", __m512, LLMC_ZMM_F32, LLMC_BF16_ZMM, _mm512_add_ps,
                 16 * 4)
LLMC_PEAK_KERNEL(bf16Ymm, "avx512f,avx512bf16,avx512vl", __m256, LLMC_YMM_F32, LLMC_BF16_YMM,
                 _mm256_add_ps, 8 * 4)

// vpdpbusd: per int32 lane, four u8*s8 products added = 8 ops per lane
// (zmm: AVX512-VNNI; ymm: AVX-VNNI, e.g. Alder Lake without AVX-512).
#define LLMC_ZMM_I32(i) _mm512_set1_epi32(i)
#define LLMC_YMM_I32(i) _mm256_set1_epi32(i)
#define LLMC_VNNI_ZMM(a) _mm512_dpbusd_epi32(a, _mm512_set1_epi8(1), _mm512_set1_epi8(1))
#define LLMC_VNNI_YMM(a) _mm256_dpbusd_avx_epi32(a, _mm256_set1_epi8(1), _mm256_set1_epi8(1))
LLMC_PEAK_KERNEL(vnniZmm, "avx512f,avx512vnni", __m512i, LLMC_ZMM_I32, LLMC_VNNI_ZMM,
                 _mm512_add_epi32, 16 * 8)
LLMC_PEAK_KERNEL(vnniYmm, "avx2,avxvnni", __m256i, LLMC_YMM_I32, LLMC_VNNI_YMM, _mm256_add_epi32,
                 8 * 8)

// The pre-VNNI int8 dot (vpmaddubsw + vpmaddwd + vpaddd, what AVX2 int8
// kernels such as llama.cpp's use): 32 u8*s8 products and adds per ymm.
// Each chain feeds its own accumulator back as the u8 operand, so nothing is
// loop-invariant (a constant operand would be hoisted out).
#define LLMC_MADDUBS_YMM(a)                                                    \
  _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(a, _mm256_set1_epi8(1)),         \
                                        _mm256_set1_epi16(1)))
LLMC_PEAK_KERNEL(maddubsYmm, "avx2", __m256i, LLMC_YMM_I32, LLMC_MADDUBS_YMM, _mm256_add_epi32,
                 32 * 2)
#endif

struct Variant {
  const char *name;
  const char *isa; // the CPU features it needs, for the report
  bool supported;
  ComputeFn fn;
};

/// Median G-ops/s of `fn` on `threads` threads, each thread running the same
/// iteration count, sized so that one repetition lasts about `ms`.
Stats measureCompute(ComputeFn fn, int threads, int reps, double ms) {
  int64_t iters = 1 << 16;
  for (;;) { // calibrate on one thread
    auto t0 = Clock::now();
    fn(iters);
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s > 0.01 || iters > (int64_t(1) << 40)) {
      iters = std::max<int64_t>(1, int64_t(iters * (ms / 1000.0) / s));
      break;
    }
    iters *= 4;
  }
  auto one = [&]() {
    std::vector<double> ops(threads, 0);
    double s = runParallel(threads, [&](int t) { ops[t] = fn(iters); });
    double total = 0;
    for (double o : ops)
      total += o;
    return total / s / 1e9;
  };
  one(); // warm-up (frequency ramp, AVX-512 license)
  std::vector<double> v;
  for (int r = 0; r < reps; ++r)
    v.push_back(one());
  return summarize(v);
}

// ------------------------------------------------------------ JSON output

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  return buf;
}

std::string statsJson(const Stats &s) {
  std::string out = "{\"median\": " + num(s.median) + ", \"min\": " + num(s.min) +
                    ", \"max\": " + num(s.max) + ", \"samples\": [";
  for (size_t i = 0; i < s.samples.size(); ++i)
    out += (i ? ", " : "") + num(s.samples[i]);
  return out + "]}";
}

/// "\"family\": F, \"model\": M, \"stepping\": S" from CPUID leaf 1 (display
/// family and model, extended fields folded in): virtual machines often
/// show only a generic brand string ("AMD EPYC"), and the family and model
/// tell CPU generations apart (AMD family 23 = Zen/Zen 2, 25 = Zen 3/4).
std::string cpuSignature() {
  unsigned family = 0, model = 0, stepping = 0;
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d)) {
    const unsigned baseFamily = (a >> 8) & 0xf, baseModel = (a >> 4) & 0xf;
    family = baseFamily == 0xf ? baseFamily + ((a >> 20) & 0xff) : baseFamily;
    model = (baseFamily == 0x6 || baseFamily == 0xf) ? (((a >> 16) & 0xf) << 4) | baseModel
                                                      : baseModel;
    stepping = a & 0xf;
  }
#endif
  return "\"family\": " + std::to_string(family) + ", \"model\": " + std::to_string(model) +
         ", \"stepping\": " + std::to_string(stepping);
}

std::string cpuBrand() {
#if defined(__x86_64__)
  unsigned regs[12] = {};
  unsigned maxExt = __get_cpuid_max(0x80000000, nullptr);
  if (maxExt >= 0x80000004) {
    for (unsigned i = 0; i < 3; ++i)
      __get_cpuid(0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2],
                  &regs[4 * i + 3]);
    std::string s(reinterpret_cast<const char *>(regs), sizeof(regs));
    s = s.c_str();
    while (!s.empty() && s.back() == ' ')
      s.pop_back();
    std::string clean;
    for (char c : s)
      clean += (c == '"' || c == '\\') ? ' ' : c;
    return clean;
  }
#endif
  return "unknown";
}

/// One metric: per variant and thread count the stats, and the peak over the
/// supported variants ("unsupported" when none runs on this CPU).
std::string computeMetric(const char *unit, const std::vector<Variant> &variants,
                          const Options &o) {
  std::string out = "{\"unit\": \"" + std::string(unit) + "\", \"variants\": {";
  std::vector<double> peak(o.threads.size(), 0);
  bool any = false;
  for (size_t v = 0; v < variants.size(); ++v) {
    const Variant &var = variants[v];
    out += (v ? ", " : "") + std::string("\"") + var.name + "\": {\"isa\": \"" + var.isa + "\", ";
    if (!var.supported) {
      out += "\"status\": \"unsupported\"}";
      continue;
    }
    any = true;
    out += "\"status\": \"ok\"";
    for (size_t t = 0; t < o.threads.size(); ++t) {
      Stats s = measureCompute(var.fn, o.threads[t], o.reps, o.kernelMs);
      peak[t] = std::max(peak[t], s.median);
      out += ", \"" + std::to_string(o.threads[t]) + "\": " + statsJson(s);
    }
    out += "}";
  }
  out += "}, ";
  if (!any)
    return out + "\"peak\": \"unsupported\"}";
  out += "\"peak\": {";
  for (size_t t = 0; t < o.threads.size(); ++t)
    out += (t ? ", " : "") + std::string("\"") + std::to_string(o.threads[t]) + "\": " + num(peak[t]);
  return out + "}}";
}

bool has(const char *feature) {
#if defined(__x86_64__)
  // __builtin_cpu_supports needs a literal; map the few names used here.
  std::string f = feature;
  if (f == "avx2") return __builtin_cpu_supports("avx2");
  if (f == "fma") return __builtin_cpu_supports("fma");
  if (f == "avx512f") return __builtin_cpu_supports("avx512f");
  if (f == "avx512vl") return __builtin_cpu_supports("avx512vl");
  if (f == "avx512bf16") return __builtin_cpu_supports("avx512bf16");
  if (f == "avx512vnni") return __builtin_cpu_supports("avx512vnni");
  if (f == "avxvnni") return __builtin_cpu_supports("avxvnni");
  if (f == "f16c") return __builtin_cpu_supports("f16c");
#endif
  (void)feature;
  return false;
}

} // namespace

int main(int argc, char **argv) {
  Options o = parseArgs(argc, argv);
#if defined(__x86_64__)
  __builtin_cpu_init();
#endif
  static const char *kFeatures[] = {"avx2", "fma", "f16c", "avx512f", "avx512vl",
                                    "avx512bf16", "avx512vnni", "avxvnni"};
  std::string out = "{\n  \"tool\": \"llmc-probe\",\n  \"cpu\": {\"brand\": \"" + cpuBrand() +
                    "\", " + cpuSignature() + ", \"logical_cpus\": " +
                    std::to_string(std::thread::hardware_concurrency()) + ", \"features\": {";
  for (size_t i = 0; i < sizeof(kFeatures) / sizeof(*kFeatures); ++i)
    out += (i ? ", " : "") + std::string("\"") + kFeatures[i] + "\": " +
           (has(kFeatures[i]) ? "true" : "false");
  out += "}},\n  \"threads\": [";
  for (size_t t = 0; t < o.threads.size(); ++t)
    out += (t ? ", " : "") + std::to_string(o.threads[t]);
  out += "],\n  \"reps\": " + std::to_string(o.reps) + ",\n";

  // Read bandwidth: one array, first touched by the threads that read it.
  {
    size_t floats = o.bytes / sizeof(float);
    size_t alloc = (floats * sizeof(float) + (2u << 20) - 1) & ~size_t((2u << 20) - 1);
    auto *data = static_cast<float *>(std::aligned_alloc(2u << 20, alloc));
    if (!data) {
      std::fprintf(stderr, "llmc-probe: cannot allocate %zu bytes\n", alloc);
      return 1;
    }
#if defined(__linux__)
    madvise(data, alloc, MADV_HUGEPAGE); // fewer TLB misses, as large weight buffers get
#endif
    int maxT = *std::max_element(o.threads.begin(), o.threads.end());
    runParallel(maxT, [&](int t) {
      size_t per = floats / maxT, b = per * t, e = t == maxT - 1 ? floats : b + per;
      for (size_t i = b; i < e; ++i)
        data[i] = float(i & 1023) * 1e-3f;
    });
    ReadKernel k = bestReadKernel();
    out += "  \"read_bandwidth\": {\"unit\": \"GB/s\", \"array_bytes\": " +
           std::to_string(floats * sizeof(float)) + ", \"kernel\": \"" + k.name + "\"";
    for (int t : o.threads)
      out += ", \"" + std::to_string(t) + "\": " +
             statsJson(measureBandwidth(data, floats, t, o.reps, k.fn));
    out += "},\n";
    std::free(data);
  }

#if defined(__x86_64__)
  bool avx512 = has("avx512f");
  std::vector<Variant> fp32 = {{"zmm-fma", "avx512f", avx512, fmaZmm},
                               {"ymm-fma", "avx2,fma", has("avx2") && has("fma"), fmaYmm},
                               {"scalar", "baseline (mul+add)", true, fmaScalar}};
  std::vector<Variant> bf16 = {
      {"zmm-vdpbf16ps", "avx512bf16", avx512 && has("avx512bf16"), bf16Zmm},
      {"ymm-vdpbf16ps", "avx512bf16,avx512vl", avx512 && has("avx512bf16") && has("avx512vl"),
       bf16Ymm}};
  std::vector<Variant> vnni = {{"zmm-vpdpbusd", "avx512vnni", avx512 && has("avx512vnni"), vnniZmm},
                               {"ymm-vpdpbusd", "avxvnni", has("avxvnni"), vnniYmm}};
  std::vector<Variant> int8avx2 = {{"ymm-vpmaddubsw", "avx2", has("avx2"), maddubsYmm}};
#else
  std::vector<Variant> fp32 = {{"scalar", "baseline (mul+add)", true, fmaScalar}};
  std::vector<Variant> bf16, vnni, int8avx2;
#endif
  // Peak fp32 ignores the scalar loop when a SIMD FMA variant exists.
  if (fp32.size() > 1 && (fp32[0].supported || fp32[1].supported))
    fp32.back().supported = false;
  out += "  \"fp32_fma\": " + computeMetric("GFLOP/s", fp32, o) + ",\n";
  out += "  \"bf16_dot\": " + computeMetric("GFLOP/s", bf16, o) + ",\n";
  out += "  \"int8_vnni\": " + computeMetric("GOPS", vnni, o) + ",\n";
  out += "  \"int8_avx2\": " + computeMetric("GOPS", int8avx2, o) + "\n}\n";
  std::fputs(out.c_str(), stdout);
  return 0;
}
