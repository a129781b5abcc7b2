// The int8 KV cache (--kv-cache=int8, runtime/kernels/KVQuant.h): rows of D
// int8 codes + a f32 scale.
//  * the row quantizer and llmc_rt_kv_store_q8 (with and without rotating the
//    keys) against a plain double-precision quantizer written here;
//  * llmc_rt_attention_kv8_f32 (contiguous cache) and
//    llmc_rt_paged_attention_kv8_f32 (paged pools; it also quantizes the new
//    rows into their blocks) for every kernel variant this CPU runs, against
//    a double-precision attention over the dequantized K/V (codes * scale):
//    GQA, masks, causal T > S, odd sizes, ragged batches, and few work items
//    so the keys are split across threads.
#include "TestSupport.h"
#include "KernelVariants.h"
#include "api/MemRefDescriptor.h"
#include "kernels/KernelDispatch.h"
#include "support/ThreadPool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

using llmc::rt::MemRef;
using llmc::test::desc;
using llmc::test::randomVec;

extern "C" void _mlir_ciface_llmc_rt_kv_store_q8(MemRef<float, 4> *x, MemRef<float, 4> *cos,
                                                 MemRef<float, 4> *sin, MemRef<int8_t, 4> *dst,
                                                 int32_t rope, int32_t interleaved);
extern "C" void _mlir_ciface_llmc_rt_attention_kv8_f32(
    MemRef<float, 4> *q, MemRef<int8_t, 4> *k, MemRef<int8_t, 4> *v, MemRef<float, 4> *mask,
    MemRef<float, 4> *out, int32_t hasMask, int32_t causal, float scale);
extern "C" void _mlir_ciface_llmc_rt_paged_attention_kv8_f32(
    MemRef<float, 4> *q, MemRef<float, 4> *kNew, MemRef<float, 4> *vNew,
    MemRef<int8_t, 4> *kPool, MemRef<int8_t, 4> *vPool, MemRef<int32_t, 2> *blockTables,
    MemRef<int32_t, 1> *seqStarts, MemRef<int32_t, 1> *seqPos, MemRef<float, 4> *out,
    float scale);

namespace {

float rowScale(const int8_t *row, int D) {
  float s;
  std::memcpy(&s, row + D, 4);
  return s;
}

/// The plain reference: scale = max|x| / 127, code = round(x / scale).
/// Returns the codes as exact quotients so the caller can allow a tie.
struct RefRow {
  float scale;
  std::vector<double> quotient; // x / scale
};
RefRow refQuantize(const double *x, int D) {
  double amax = 0;
  for (int d = 0; d < D; ++d)
    amax = std::max(amax, std::fabs(x[d]));
  RefRow r{float(amax / 127.0), std::vector<double>(D, 0.0)};
  for (int d = 0; d < D; ++d)
    r.quotient[d] = r.scale > 0 ? x[d] / double(r.scale) : 0.0;
  return r;
}

/// Checks a stored row against the reference: same scale, codes the rounded
/// quotients (either neighbour when the quotient is within 1e-4 of a tie).
void expectRow(const int8_t *row, const double *x, int D, const std::string &what) {
  RefRow r = refQuantize(x, D);
  ASSERT_FLOAT_EQ(rowScale(row, D), r.scale) << what;
  for (int d = 0; d < D; ++d) {
    const double qd = r.quotient[d], frac = std::fabs(qd - std::trunc(qd));
    const bool tie = std::fabs(frac - 0.5) < 1e-4;
    const double want = std::round(qd);
    if (tie)
      ASSERT_LE(std::fabs(row[d] - qd), 0.5 + 1e-4) << what << " d " << d;
    else
      ASSERT_EQ(row[d], int(want)) << what << " d " << d << " quotient " << qd;
  }
}

/// Random int8 rows [n][D + 4]: codes in [-127, 127], scales in [0.002, 0.03]
/// (every 7th row all zero with scale 0, as a zero K/V row is stored).
std::vector<int8_t> randomRows(size_t n, int D, int rowBytes, unsigned seed) {
  std::mt19937 g(seed);
  std::vector<int8_t> buf(n * rowBytes);
  for (size_t i = 0; i < n; ++i) {
    int8_t *row = buf.data() + i * rowBytes;
    const bool zero = i % 7 == 3;
    for (int d = 0; d < rowBytes; ++d)
      row[d] = int8_t(int(g() % 255) - 127); // padding bytes too: must be ignored
    float s = zero ? 0.f : 0.002f + 0.028f * float(g() % 1000) / 1000.f;
    for (int d = 0; d < D && zero; ++d)
      row[d] = 0;
    std::memcpy(row + D, &s, 4);
  }
  return buf;
}

double dequant(const int8_t *row, int D, int d) { return double(row[d]) * rowScale(row, D); }

// ---------------------------------------------------------------------------

TEST(KVQuant, StoreQuantizesRowsLikeTheReference) {
  // [B=2, H=3, R=5, D] new rows, viewed transposed; the destination is a
  // strided window of a larger cache (rows of D + 4 bytes + 3 padding).
  for (int D : {8, 64, 6}) {
    const int B = 2, H = 3, R = 5, rowBytes = D + 4 + 3, cap = 9;
    auto x = randomVec(size_t(B) * R * H * D, 100 + D, -3.f, 3.f);
    for (int d = 0; d < D; ++d)
      x[size_t(2) * H * D + d] = 0.f; // one all-zero row: scale 0, codes 0
    x[5] = 127.f * 0.25f;             // exact multiples of the scale
    std::vector<int8_t> cache(size_t(B) * H * cap * rowBytes, 42);
    auto xm = desc<float, 4>(x.data(), {B, H, R, D}, {int64_t(R) * H * D, D, H * D, 1});
    auto dm = desc<int8_t, 4>(cache.data() + 2 * rowBytes, {B, H, R, D + 4},
                              {int64_t(H) * cap * rowBytes, cap * rowBytes, rowBytes, 1});
    _mlir_ciface_llmc_rt_kv_store_q8(&xm, &xm, &xm, &dm, /*rope=*/0, 0);
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < H; ++h)
        for (int c = 0; c < cap; ++c) {
          const int8_t *row = cache.data() + ((size_t(b) * H + h) * cap + c) * rowBytes;
          if (c < 2 || c >= 2 + R) {
            for (int i = 0; i < rowBytes; ++i)
              ASSERT_EQ(row[i], 42) << "a row outside the window changed";
            continue;
          }
          std::vector<double> xd(D);
          for (int d = 0; d < D; ++d)
            xd[d] = x[((size_t(b) * R + (c - 2)) * H + h) * D + d];
          expectRow(row, xd.data(), D, "D=" + std::to_string(D));
          for (int i = D + 4; i < rowBytes; ++i)
            ASSERT_EQ(row[i], 42) << "row padding changed";
          // Round trip within half a step of the scale.
          for (int d = 0; d < D; ++d)
            ASSERT_LE(std::fabs(dequant(row, D, d) - xd[d]), 0.5 * rowScale(row, D) + 1e-7);
        }
  }
}

TEST(KVQuant, StoreRotatesKeysBeforeQuantizing) {
  for (bool interleaved : {false, true}) {
    const int B = 1, H = 2, R = 4, D = 16;
    auto x = randomVec(size_t(B) * H * R * D, 7);
    // cos/sin [1, 1, R, D], broadcast over heads.
    auto cs = randomVec(size_t(R) * D, 8), sn = randomVec(size_t(R) * D, 9);
    std::vector<int8_t> dst(size_t(B) * H * R * (D + 4));
    auto xm = desc<float, 4>(x.data(), {B, H, R, D}, {H * R * D, R * D, D, 1});
    auto cm = desc<float, 4>(cs.data(), {1, 1, R, D}, {R * D, R * D, D, 1});
    auto sm = desc<float, 4>(sn.data(), {1, 1, R, D}, {R * D, R * D, D, 1});
    auto dm = desc<int8_t, 4>(dst.data(), {B, H, R, D + 4},
                              {H * R * (D + 4), R * (D + 4), D + 4, 1});
    _mlir_ciface_llmc_rt_kv_store_q8(&xm, &cm, &sm, &dm, 1, interleaved);
    for (int h = 0; h < H; ++h)
      for (int r = 0; r < R; ++r) {
        const float *xr = x.data() + (size_t(h) * R + r) * D;
        const float *c = cs.data() + r * D, *s = sn.data() + r * D;
        std::vector<double> y(D);
        for (int p = 0; p < D / 2; ++p) {
          const int a = interleaved ? 2 * p : p, b = interleaved ? 2 * p + 1 : p + D / 2;
          y[a] = double(xr[a]) * c[a] - double(xr[b]) * s[a];
          y[b] = double(xr[b]) * c[b] + double(xr[a]) * s[b];
        }
        // The kernel rotates in f32: allow the codes a one-step slack by
        // checking the dequantized row instead of exact codes.
        const int8_t *row = dst.data() + (size_t(h) * R + r) * (D + 4);
        RefRow ref = refQuantize(y.data(), D);
        ASSERT_NEAR(rowScale(row, D), ref.scale, 1e-6 * ref.scale);
        for (int d = 0; d < D; ++d)
          ASSERT_LE(std::fabs(dequant(row, D, d) - y[d]), 0.5 * ref.scale + 1e-5)
              << "interleaved=" << interleaved << " h " << h << " r " << r << " d " << d;
      }
  }
}

// ---------------------------------------------------------------------------
// Contiguous cache.

struct Q8Case {
  int B, H, KVH, S, T, D, Dv;
  bool causal, mask;
  unsigned seed = 3;
};

std::string describe(const Q8Case &c) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "B=%d H=%d KVH=%d S=%d T=%d D=%d Dv=%d causal=%d mask=%d kernels=%s threads=%d",
                c.B, c.H, c.KVH, c.S, c.T, c.D, c.Dv, c.causal, c.mask,
                llmc::rt::kern::activeKernels().name, llmc::rt::numThreads());
  return buf;
}

void checkContiguous(const Q8Case &c) {
  const int B = c.B, H = c.H, KVH = c.KVH, S = c.S, T = c.T, D = c.D, Dv = c.Dv, G = H / KVH;
  const int cap = T + 3, kRow = D + 4 + 2, vRow = Dv + 4 + 1; // padded rows: strides in bytes
  auto q = randomVec(size_t(B) * H * S * D, c.seed, -2.f, 2.f);
  auto kbuf = randomRows(size_t(B) * KVH * cap, D, kRow, c.seed + 1);
  auto vbuf = randomRows(size_t(B) * KVH * cap, Dv, vRow, c.seed + 2);
  std::vector<float> mask(size_t(B) * S * T, 0.f);
  std::mt19937 g(c.seed + 3);
  for (auto &m : mask) {
    int r = int(g() % 10);
    m = r == 0 ? -std::numeric_limits<float>::infinity() : (r < 4 ? float(int(g() % 7)) - 3.f : 0.f);
  }
  const float scale = 1.f / std::sqrt(float(D));
  auto krow = [&](int b, int h, int t) { return kbuf.data() + ((size_t(b) * KVH + h) * cap + t) * kRow; };
  auto vrow = [&](int b, int h, int t) { return vbuf.data() + ((size_t(b) * KVH + h) * cap + t) * vRow; };
  std::vector<double> ref(size_t(B) * H * S * Dv, 0.0);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int s = 0; s < S; ++s) {
        std::vector<double> sc(T);
        double mx = -INFINITY;
        for (int t = 0; t < T; ++t) {
          double acc = 0;
          for (int d = 0; d < D; ++d)
            acc += double(q[((size_t(b) * H + h) * S + s) * D + d]) * dequant(krow(b, h / G, t), D, d);
          acc *= scale;
          if (c.mask)
            acc += mask[(size_t(b) * S + s) * T + t];
          if (c.causal && t > T - S + s)
            acc = -INFINITY;
          sc[t] = acc;
          mx = std::max(mx, acc);
        }
        if (mx == -INFINITY)
          continue;
        double sum = 0;
        for (int t = 0; t < T; ++t)
          sum += sc[t] = std::exp(sc[t] - mx);
        for (int t = 0; t < T; ++t)
          for (int d = 0; d < Dv; ++d)
            ref[((size_t(b) * H + h) * S + s) * Dv + d] += sc[t] / sum * dequant(vrow(b, h / G, t), Dv, d);
      }
  std::vector<float> out(size_t(B) * H * S * Dv, 777.f);
  auto qm = desc<float, 4>(q.data(), {B, H, S, D}, {int64_t(H) * S * D, int64_t(S) * D, D, 1});
  auto km = desc<int8_t, 4>(kbuf.data(), {B, KVH, T, D + 4},
                            {int64_t(KVH) * cap * kRow, int64_t(cap) * kRow, kRow, 1});
  auto vm = desc<int8_t, 4>(vbuf.data(), {B, KVH, T, Dv + 4},
                            {int64_t(KVH) * cap * vRow, int64_t(cap) * vRow, vRow, 1});
  auto mm = desc<float, 4>(mask.data(), {B, 1, S, T}, {int64_t(S) * T, int64_t(S) * T, T, 1});
  auto om = desc<float, 4>(out.data(), {B, H, S, Dv}, {int64_t(H) * S * Dv, int64_t(S) * Dv, Dv, 1});
  _mlir_ciface_llmc_rt_attention_kv8_f32(&qm, &km, &vm, &mm, &om, c.mask, c.causal, scale);
  for (size_t i = 0; i < out.size(); ++i)
    ASSERT_NEAR(out[i], ref[i], 1e-5 * std::max(1.0, std::fabs(ref[i]))) << "element " << i << " " << describe(c);
}

class KVInt8Attention : public ::testing::TestWithParam<const char *> {
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

TEST_P(KVInt8Attention, ContiguousPrefillGQAAndMasks) {
  for (bool causal : {false, true})
    for (bool mask : {false, true}) {
      checkContiguous({1, 9, 3, 20, 26, 64, 64, causal, mask});  // SmolLM2 heads, G = 3
      checkContiguous({2, 8, 4, 5, 70, 8, 8, causal, mask});     // stories260K heads
      checkContiguous({1, 40, 1, 3, 9, 16, 16, causal, mask});   // more heads than an item
      checkContiguous({1, 6, 2, 7, 45, 7, 5, causal, mask});     // odd D, Dv != D
      checkContiguous({1, 3, 1, 33, 131, 20, 40, causal, mask}); // odd T, several key blocks
      if (HasFatalFailure())
        return;
    }
}

TEST_P(KVInt8Attention, ContiguousDecodeSplitsKeys) {
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    checkContiguous({1, 9, 3, 1, 513, 64, 64, true, false});
    checkContiguous({1, 32, 4, 1, 300, 64, 64, true, true});
    checkContiguous({1, 9, 3, 2, 1001, 32, 32, true, false});
    checkContiguous({1, 2, 1, 1, 1, 8, 8, true, false});
    checkContiguous({1, 6, 2, 3, 0, 8, 8, false, false}); // empty cache: zeros
    if (HasFatalFailure())
      return;
  }
}

// ---------------------------------------------------------------------------
// Paged pools.

struct Seq {
  int past, n;
};

struct PagedQ8Case {
  int H, KVH, D, Dv, BS;
  std::vector<Seq> seqs;
  unsigned seed = 5;
};

int ceilDiv(int a, int b) { return (a + b - 1) / b; }

void checkPagedQ8(const PagedQ8Case &c) {
  const int H = c.H, KVH = c.KVH, D = c.D, Dv = c.Dv, BS = c.BS, G = H / KVH;
  const int S = int(c.seqs.size()), kRow = D + 4, vRow = Dv + 4;
  std::mt19937 rng(c.seed);
  std::string what = "H=" + std::to_string(H) + " KVH=" + std::to_string(KVH) + " D=" +
                     std::to_string(D) + " BS=" + std::to_string(BS) + " kernels=" +
                     llmc::rt::kern::activeKernels().name + " threads=" +
                     std::to_string(llmc::rt::numThreads()) + " seqs=";
  for (const Seq &s : c.seqs)
    what += std::to_string(s.past) + "+" + std::to_string(s.n) + " ";
  std::vector<int> start(S + 1, 0), pos(S);
  int MB = 1, used = 0;
  for (int s = 0; s < S; ++s) {
    start[s + 1] = start[s] + c.seqs[s].n;
    pos[s] = c.seqs[s].past;
    MB = std::max(MB, ceilDiv(c.seqs[s].past + c.seqs[s].n, BS));
    used += ceilDiv(c.seqs[s].past + c.seqs[s].n, BS);
  }
  const int T = start[S], NB = used + 2;
  std::vector<int> perm(NB);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<int32_t> table(size_t(S) * MB, -1);
  for (int s = 0, next = 0; s < S; ++s)
    for (int i = 0; i < ceilDiv(c.seqs[s].past + c.seqs[s].n, BS); ++i)
      table[size_t(s) * MB + i] = perm[next++];
  // Pools: random rows (the cached past, already int8), new rows written by the call.
  auto kPool = randomRows(size_t(NB) * KVH * BS, D, kRow, c.seed + 1);
  auto vPool = randomRows(size_t(NB) * KVH * BS, Dv, vRow, c.seed + 2);
  auto slot = [&](std::vector<int8_t> &pool, int row, int s, int h, int p) {
    int blk = table[size_t(s) * MB + p / BS];
    return pool.data() + ((size_t(blk) * KVH + h) * BS + p % BS) * row;
  };
  auto kNew = randomVec(size_t(KVH) * T * D, c.seed + 3, -2.f, 2.f);
  auto vNew = randomVec(size_t(KVH) * T * Dv, c.seed + 4, -2.f, 2.f);
  auto q = randomVec(size_t(H) * T * D, c.seed + 5, -2.f, 2.f);
  std::vector<float> out(size_t(H) * T * Dv, 777.f);
  const float scale = 1.f / std::sqrt(float(D));
  auto qm = desc<float, 4>(q.data(), {1, H, T, D}, {int64_t(H) * T * D, int64_t(T) * D, D, 1});
  auto knm = desc<float, 4>(kNew.data(), {1, KVH, T, D}, {int64_t(KVH) * T * D, int64_t(T) * D, D, 1});
  auto vnm = desc<float, 4>(vNew.data(), {1, KVH, T, Dv}, {int64_t(KVH) * T * Dv, int64_t(T) * Dv, Dv, 1});
  auto kpm = desc<int8_t, 4>(kPool.data(), {NB, KVH, BS, kRow}, {int64_t(KVH) * BS * kRow, int64_t(BS) * kRow, kRow, 1});
  auto vpm = desc<int8_t, 4>(vPool.data(), {NB, KVH, BS, vRow}, {int64_t(KVH) * BS * vRow, int64_t(BS) * vRow, vRow, 1});
  auto tm = desc<int32_t, 2>(table.data(), {S, MB}, {MB, 1});
  auto ssm = desc<int32_t, 1>(start.data(), {S + 1}, {1});
  auto spm = desc<int32_t, 1>(pos.data(), {S}, {1});
  auto om = desc<float, 4>(out.data(), {1, H, T, Dv}, {int64_t(H) * T * Dv, int64_t(T) * Dv, Dv, 1});
  const auto kBefore = kPool, vBefore = vPool;
  _mlir_ciface_llmc_rt_paged_attention_kv8_f32(&qm, &knm, &vnm, &kpm, &vpm, &tm, &ssm, &spm, &om, scale);

  // New rows quantized at their slots; every other pool byte unchanged.
  std::vector<char> isNew(kPool.size() / kRow, 0);
  for (int s = 0; s < S; ++s)
    for (int t = start[s]; t < start[s + 1]; ++t)
      for (int h = 0; h < KVH; ++h) {
        const int p = pos[s] + t - start[s];
        std::vector<double> kx(D), vx(Dv);
        for (int d = 0; d < D; ++d)
          kx[d] = kNew[(size_t(h) * T + t) * D + d];
        for (int d = 0; d < Dv; ++d)
          vx[d] = vNew[(size_t(h) * T + t) * Dv + d];
        expectRow(slot(kPool, kRow, s, h, p), kx.data(), D, "new key " + what);
        expectRow(slot(vPool, vRow, s, h, p), vx.data(), Dv, "new value " + what);
        isNew[(slot(kPool, kRow, s, h, p) - kPool.data()) / kRow] = 1;
      }
  for (size_t r = 0; r < isNew.size(); ++r)
    if (!isNew[r]) {
      ASSERT_TRUE(std::equal(kPool.begin() + r * kRow, kPool.begin() + (r + 1) * kRow, kBefore.begin() + r * kRow))
          << "key pool row " << r << " changed " << what;
      ASSERT_TRUE(std::equal(vPool.begin() + r * vRow, vPool.begin() + (r + 1) * vRow, vBefore.begin() + r * vRow))
          << "value pool row " << r << " changed " << what;
    }
  if (::testing::Test::HasFatalFailure())
    return;

  // Reference over the dequantized pool rows (checked above), causal per sequence.
  for (int s = 0; s < S; ++s)
    for (int t = start[s]; t < start[s + 1]; ++t)
      for (int h = 0; h < H; ++h) {
        const int p = pos[s] + t - start[s];
        std::vector<double> sc(p + 1), o(Dv, 0.0);
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j <= p; ++j) {
          const int8_t *kr = slot(kPool, kRow, s, h / G, j);
          double acc = 0;
          for (int d = 0; d < D; ++d)
            acc += double(q[(size_t(h) * T + t) * D + d]) * dequant(kr, D, d);
          sc[j] = acc * scale;
          mx = std::max(mx, sc[j]);
        }
        for (int j = 0; j <= p; ++j)
          sum += sc[j] = std::exp(sc[j] - mx);
        for (int j = 0; j <= p; ++j)
          for (int d = 0; d < Dv; ++d)
            o[d] += sc[j] / sum * dequant(slot(vPool, vRow, s, h / G, j), Dv, d);
        for (int d = 0; d < Dv; ++d) {
          const float got = out[(size_t(h) * T + t) * Dv + d];
          ASSERT_NEAR(got, o[d], 1e-5 * std::max(1.0, std::fabs(o[d])))
              << "token " << t << " head " << h << " d " << d << " " << what;
        }
      }
}

TEST_P(KVInt8Attention, PagedRaggedBatches) {
  const std::vector<Seq> fixed = {{0, 20}, {37, 13}, {50, 1}, {15, 1}, {16, 1}, {5, 0}, {100, 1}};
  unsigned seed = 1;
  for (auto [H, KVH] : {std::pair{9, 3}, std::pair{8, 4}})
    for (int D : {64, 8})
      for (int BS : {16, 4}) {
        checkPagedQ8({H, KVH, D, D, BS, fixed, seed++});
        checkPagedQ8({H, KVH, D, D, BS, {{3, 9}, {0, 1}, {30, 1}, {7, 33}}, seed++});
        if (HasFatalFailure())
          return;
      }
  checkPagedQ8({6, 2, 7, 5, 4, {{9, 6}, {2, 1}}, 90}); // odd D, Dv != D
  checkPagedQ8({20, 1, 16, 16, 8, {{12, 5}, {40, 1}}, 91});
}

TEST_P(KVInt8Attention, PagedFewItemsSplitKeys) {
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    checkPagedQ8({9, 3, 64, 64, 16, {{1000, 1}}, 41});
    checkPagedQ8({4, 4, 8, 8, 8, {{700, 1}}, 42});
    checkPagedQ8({9, 3, 64, 64, 16, {{999, 2}}, 43});
    checkPagedQ8({4, 1, 64, 64, 16, {{3, 1}, {600, 1}}, 45});
    if (HasFatalFailure())
      return;
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, KVInt8Attention, ::testing::Values(LLMC_KERNEL_VARIANTS),
                         VariantName());

} // namespace
