// Rotary embeddings applied inside the attention kernels (llmc-fuse-rope),
// for every kernel variant this CPU runs, against a double-precision
// reference that rotates first (from llm.rotary's definition: x * cos +
// rotate(x) * sin) and then attends:
//   * contiguous cache: llmc_rt_rope_store_f32 writes the rotated new keys
//     into the cache view behind the past rows, llmc_rt_attention_rope_f32
//     rotates the queries as it loads them;
//   * paged cache: llmc_rt_paged_attention_rope_f32 rotates the keys it
//     stores and the queries it loads, cos/sin row t belonging to token t of
//     the ragged batch.
// Both rotary forms, GQA and MHA (per-head tables), decode (one token, key
// splits with 2 threads) and prefill, tables broadcast over batch and heads,
// with padded rows, or interleaved with each other (inner stride 2); the new
// keys and the queries are transposed views. Random tables (not real RoPE
// angles) so that a wrong cos/sin index cannot hide behind equal values.
#include "KernelVariants.h"
#include "TestSupport.h"
#include "api/MemRefDescriptor.h"
#include "kernels/KernelDispatch.h"
#include "support/ThreadPool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

using llmc::rt::MemRef;
using llmc::test::desc;
using llmc::test::randomVec;

extern "C" void _mlir_ciface_llmc_rt_rope_store_f32(MemRef<float, 4> *x, MemRef<float, 4> *cos,
                                                    MemRef<float, 4> *sin, MemRef<float, 4> *dst,
                                                    int32_t interleaved);
extern "C" void _mlir_ciface_llmc_rt_attention_rope_f32(
    MemRef<float, 4> *q, MemRef<float, 4> *k, MemRef<float, 4> *v, MemRef<float, 4> *mask,
    MemRef<float, 4> *cos, MemRef<float, 4> *sin, MemRef<float, 4> *out, int32_t hasMask,
    int32_t causal, float scale, int32_t interleaved);
extern "C" void _mlir_ciface_llmc_rt_paged_attention_rope_f32(
    MemRef<float, 4> *q, MemRef<float, 4> *kNew, MemRef<float, 4> *vNew,
    MemRef<float, 4> *kPool, MemRef<float, 4> *vPool, MemRef<int32_t, 2> *blockTables,
    MemRef<int32_t, 1> *seqStarts, MemRef<int32_t, 1> *seqPos, MemRef<float, 4> *cos,
    MemRef<float, 4> *sin, MemRef<float, 4> *out, float scale, int32_t interleaved);

namespace {

/// llm.rotary of one row in double: x * c + rotate(x) * s, with rotate-half
/// rotate(x) = concat(-x[D/2:], x[:D/2]) or interleaved
/// rotate(x)[2i] = -x[2i+1], rotate(x)[2i+1] = x[2i].
std::vector<double> rotaryRef(const std::vector<double> &x, const std::vector<double> &c,
                              const std::vector<double> &s, bool interleaved) {
  const size_t D = x.size(), half = D / 2;
  std::vector<double> rot(D), y(D);
  for (size_t i = 0; i < D; ++i) {
    if (interleaved)
      rot[i] = i % 2 == 0 ? -x[i + 1] : x[i - 1];
    else
      rot[i] = i < half ? -x[i + half] : x[i - half];
    y[i] = x[i] * c[i] + rot[i] * s[i];
  }
  return y;
}

/// cos/sin tables, logical [TB, TH, R, D] (TB, TH: 1 or full), laid out as
///   0: contiguous rows;  1: rows padded by 3 floats;
///   2: cos and sin interleaved in one buffer (inner stride 2).
struct Tables {
  int TB, TH, R, D, layout;
  std::vector<float> buf;
  Tables(int TB, int TH, int R, int D, int layout, unsigned seed)
      : TB(TB), TH(TH), R(R), D(D), layout(layout) {
    buf = randomVec(size_t(TB) * TH * R * rowStride() * (layout == 2 ? 1 : 2), seed);
  }
  int64_t rowStride() const { return layout == 0 ? D : layout == 1 ? D + 3 : 2 * D; }
  int64_t inner() const { return layout == 2 ? 2 : 1; }
  size_t offset(int which, int b, int h, int r) const {
    size_t row = ((size_t(b) * TH + h) * R + r) * rowStride();
    if (layout == 2)
      return row + which;
    return size_t(which) * TB * TH * R * rowStride() + row;
  }
  /// Row (b, h, r) of cos (which = 0) or sin, broadcasting dims of size 1.
  std::vector<double> row(int which, int b, int h, int r) const {
    size_t o = offset(which, TB == 1 ? 0 : b, TH == 1 ? 0 : h, r);
    std::vector<double> out(D);
    for (int d = 0; d < D; ++d)
      out[d] = buf[o + size_t(d) * inner()];
    return out;
  }
  MemRef<float, 4> view(int which) {
    return desc<float, 4>(const_cast<float *>(buf.data()) + offset(which, 0, 0, 0), {TB, TH, R, D},
                          {int64_t(TH) * R * rowStride(), int64_t(R) * rowStride(), rowStride(),
                           inner()});
  }
};

struct ContiguousCase {
  int B, H, KVH, S, past, D;
  bool interleaved, perBatch, perHead;
  int layout;
  unsigned seed;
};

std::string describe(const ContiguousCase &c) {
  return "B=" + std::to_string(c.B) + " H=" + std::to_string(c.H) + " KVH=" + std::to_string(c.KVH) +
         " S=" + std::to_string(c.S) + " past=" + std::to_string(c.past) + " D=" +
         std::to_string(c.D) + " interleaved=" + std::to_string(c.interleaved) +
         " perBatch=" + std::to_string(c.perBatch) + " perHead=" + std::to_string(c.perHead) +
         " layout=" + std::to_string(c.layout) + " kernels=" + llmc::rt::kern::activeKernels().name +
         " threads=" + std::to_string(llmc::rt::numThreads());
}

/// New keys rotated into the cache (rope store), then attention with the
/// queries rotated in the kernel; causal, as a decoder's @main runs it.
void checkContiguous(const ContiguousCase &c) {
  const int B = c.B, H = c.H, KVH = c.KVH, S = c.S, D = c.D, T = c.past + S, G = H / KVH;
  const int cap = T + 4;
  Tables tab(c.perBatch ? B : 1, c.perHead ? H : 1, S, D, c.layout, c.seed);
  // Cache [B][KVH][cap][D]: past rows (already rotated), garbage behind.
  auto kc = randomVec(size_t(B) * KVH * cap * D, c.seed + 1);
  auto vc = randomVec(size_t(B) * KVH * cap * D, c.seed + 2);
  const auto kBefore = kc;
  // New keys and queries as [B][S][heads][D] buffers seen as [B, heads, S, D].
  auto k0 = randomVec(size_t(B) * S * KVH * D, c.seed + 3);
  auto q0 = randomVec(size_t(B) * S * H * D, c.seed + 4);
  auto kAt = [&](int b, int h, int s) { return k0.data() + ((size_t(b) * S + s) * KVH + h) * D; };
  auto qAt = [&](int b, int h, int s) { return q0.data() + ((size_t(b) * S + s) * H + h) * D; };
  auto cacheAt = [&](const std::vector<float> &buf, int b, int h, int t) {
    return buf.data() + ((size_t(b) * KVH + h) * cap + t) * D;
  };
  auto rotated = [&](const float *x, int b, int h, int s) {
    return rotaryRef(std::vector<double>(x, x + D), tab.row(0, b, h, s), tab.row(1, b, h, s),
                     c.interleaved);
  };

  auto km = desc<float, 4>(k0.data(), {B, KVH, S, D},
                           {int64_t(S) * KVH * D, D, int64_t(KVH) * D, 1});
  auto slot = desc<float, 4>(kc.data() + size_t(c.past) * D, {B, KVH, S, D},
                             {int64_t(KVH) * cap * D, int64_t(cap) * D, D, 1});
  auto cm = tab.view(0), sm = tab.view(1);
  _mlir_ciface_llmc_rt_rope_store_f32(&km, &cm, &sm, &slot, c.interleaved);

  // The cache: rotated new rows at past..T-1, everything else untouched.
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < KVH; ++h)
      for (int t = 0; t < cap; ++t) {
        const float *got = cacheAt(kc, b, h, t);
        if (t < c.past || t >= T) {
          for (int d = 0; d < D; ++d)
            ASSERT_EQ(got[d], cacheAt(kBefore, b, h, t)[d])
                << "cache row " << t << " changed " << describe(c);
          continue;
        }
        auto want = rotated(kAt(b, h, t - c.past), b, h, t - c.past);
        for (int d = 0; d < D; ++d)
          ASSERT_NEAR(got[d], want[d], 1e-5) << "stored key b" << b << " h" << h << " t" << t
                                             << " d" << d << " " << describe(c);
      }

  // Reference attention over (past rows as stored, rotated new rows) with
  // the rotated queries.
  const float scale = 1.f / std::sqrt(float(D));
  std::vector<double> ref(size_t(B) * H * S * D, 0.0);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int s = 0; s < S; ++s) {
        auto q = rotated(qAt(b, h, s), b, h, s);
        std::vector<double> sc(T);
        double mx = -INFINITY, sum = 0;
        for (int t = 0; t < T; ++t) {
          std::vector<double> k =
              t < c.past ? std::vector<double>(cacheAt(kc, b, h / G, t), cacheAt(kc, b, h / G, t) + D)
                         : rotated(kAt(b, h / G, t - c.past), b, h / G, t - c.past);
          double acc = 0;
          for (int d = 0; d < D; ++d)
            acc += q[d] * k[d];
          sc[t] = t > c.past + s ? -INFINITY : acc * scale;
          mx = std::max(mx, sc[t]);
        }
        for (int t = 0; t < T; ++t)
          sum += sc[t] = std::exp(sc[t] - mx);
        for (int t = 0; t < T; ++t)
          for (int d = 0; d < D; ++d)
            ref[((size_t(b) * H + h) * S + s) * D + d] += sc[t] / sum * cacheAt(vc, b, h / G, t)[d];
      }

  std::vector<float> out(size_t(B) * H * S * D, 777.f);
  auto qm = desc<float, 4>(q0.data(), {B, H, S, D}, {int64_t(S) * H * D, D, int64_t(H) * D, 1});
  auto kv = desc<float, 4>(kc.data(), {B, KVH, T, D}, {int64_t(KVH) * cap * D, int64_t(cap) * D, D, 1});
  auto vv = desc<float, 4>(vc.data(), {B, KVH, T, D}, {int64_t(KVH) * cap * D, int64_t(cap) * D, D, 1});
  auto om = desc<float, 4>(out.data(), {B, H, S, D}, {int64_t(H) * S * D, int64_t(S) * D, D, 1});
  _mlir_ciface_llmc_rt_attention_rope_f32(&qm, &kv, &vv, &qm, &cm, &sm, &om, /*hasMask=*/0,
                                          /*causal=*/1, scale, c.interleaved);
  for (size_t i = 0; i < out.size(); ++i)
    ASSERT_NEAR(out[i], ref[i], 3e-5) << "output element " << i << " " << describe(c);
}

struct Seq {
  int past, n;
};

struct PagedCase {
  int H, KVH, D, BS;
  std::vector<Seq> seqs;
  bool interleaved, perHead;
  int layout;
  unsigned seed;
};

std::string describe(const PagedCase &c) {
  std::string s = "H=" + std::to_string(c.H) + " KVH=" + std::to_string(c.KVH) + " D=" +
                  std::to_string(c.D) + " BS=" + std::to_string(c.BS) +
                  " interleaved=" + std::to_string(c.interleaved) +
                  " perHead=" + std::to_string(c.perHead) + " layout=" + std::to_string(c.layout) +
                  " seqs(past+n)=";
  for (const Seq &q : c.seqs)
    s += std::to_string(q.past) + "+" + std::to_string(q.n) + " ";
  return s + "kernels=" + llmc::rt::kern::activeKernels().name +
         " threads=" + std::to_string(llmc::rt::numThreads());
}

int ceilDiv(int a, int b) { return (a + b - 1) / b; }

void checkPaged(const PagedCase &c) {
  const int H = c.H, KVH = c.KVH, D = c.D, BS = c.BS, G = H / KVH, S = int(c.seqs.size());
  std::vector<int> start(S + 1, 0);
  int MB = 1, used = 0;
  for (int s = 0; s < S; ++s) {
    start[s + 1] = start[s] + c.seqs[s].n;
    MB = std::max(MB, ceilDiv(c.seqs[s].past + c.seqs[s].n, BS));
    used += ceilDiv(c.seqs[s].past + c.seqs[s].n, BS);
  }
  const int T = start[S], NB = used + 2;
  Tables tab(1, c.perHead ? H : 1, T, D, c.layout, c.seed);
  // Shuffled physical blocks.
  std::vector<int> perm(NB);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(c.seed));
  std::vector<int32_t> table(size_t(S) * MB, -1);
  for (int s = 0, next = 0; s < S; ++s)
    for (int i = 0; i < ceilDiv(c.seqs[s].past + c.seqs[s].n, BS); ++i)
      table[size_t(s) * MB + i] = perm[next++];
  // Pools [NB][KVH][BS][D] of garbage; the past rows are (rotated) keys.
  auto kPool = randomVec(size_t(NB) * KVH * BS * D, c.seed + 1);
  auto vPool = randomVec(size_t(NB) * KVH * BS * D, c.seed + 2);
  const auto kBefore = kPool;
  auto slot = [&](int s, int h, int p) {
    return (size_t(table[size_t(s) * MB + p / BS]) * KVH + h) * BS + p % BS;
  };
  // New rows and queries as [T][heads][D] buffers seen as [1, heads, T, D].
  auto kNew = randomVec(size_t(T) * KVH * D, c.seed + 3);
  auto vNew = randomVec(size_t(T) * KVH * D, c.seed + 4);
  auto q = randomVec(size_t(T) * H * D, c.seed + 5);
  auto rotated = [&](const float *x, int h, int t) {
    return rotaryRef(std::vector<double>(x, x + D), tab.row(0, 0, h, t), tab.row(1, 0, h, t),
                     c.interleaved);
  };

  // Reference: per sequence, keys 0..p (past as stored, new ones rotated).
  const float scale = 1.f / std::sqrt(float(D));
  std::vector<double> ref(size_t(T) * H * D, 0.0);
  for (int s = 0; s < S; ++s)
    for (int t = start[s]; t < start[s + 1]; ++t)
      for (int h = 0; h < H; ++h) {
        const int p = c.seqs[s].past + t - start[s];
        auto qr = rotated(q.data() + (size_t(t) * H + h) * D, h, t);
        std::vector<double> sc(p + 1);
        double mx = -INFINITY, sum = 0;
        auto keyAt = [&](int j) {
          if (j < c.seqs[s].past) {
            const float *r = kBefore.data() + slot(s, h / G, j) * D;
            return std::vector<double>(r, r + D);
          }
          const int tj = start[s] + j - c.seqs[s].past;
          return rotated(kNew.data() + (size_t(tj) * KVH + h / G) * D, h / G, tj);
        };
        auto valueAt = [&](int j) -> const float * {
          if (j < c.seqs[s].past)
            return vPool.data() + slot(s, h / G, j) * D;
          return vNew.data() + (size_t(start[s] + j - c.seqs[s].past) * KVH + h / G) * D;
        };
        for (int j = 0; j <= p; ++j) {
          auto k = keyAt(j);
          double acc = 0;
          for (int d = 0; d < D; ++d)
            acc += qr[d] * k[d];
          sc[j] = acc * scale;
          mx = std::max(mx, sc[j]);
        }
        for (int j = 0; j <= p; ++j)
          sum += sc[j] = std::exp(sc[j] - mx);
        for (int j = 0; j <= p; ++j)
          for (int d = 0; d < D; ++d)
            ref[(size_t(t) * H + h) * D + d] += sc[j] / sum * valueAt(j)[d];
      }

  std::vector<float> out(size_t(T) * H * D, 777.f);
  auto qm = desc<float, 4>(q.data(), {1, H, T, D}, {int64_t(T) * H * D, D, int64_t(H) * D, 1});
  auto knm = desc<float, 4>(kNew.data(), {1, KVH, T, D}, {int64_t(T) * KVH * D, D, int64_t(KVH) * D, 1});
  auto vnm = desc<float, 4>(vNew.data(), {1, KVH, T, D}, {int64_t(T) * KVH * D, D, int64_t(KVH) * D, 1});
  auto kpm = desc<float, 4>(kPool.data(), {NB, KVH, BS, D}, {int64_t(KVH) * BS * D, int64_t(BS) * D, D, 1});
  auto vpm = desc<float, 4>(vPool.data(), {NB, KVH, BS, D}, {int64_t(KVH) * BS * D, int64_t(BS) * D, D, 1});
  auto tm = desc<int32_t, 2>(table.data(), {S, MB}, {MB, 1});
  std::vector<int32_t> starts(start.begin(), start.end()), pos(S);
  for (int s = 0; s < S; ++s)
    pos[s] = c.seqs[s].past;
  auto ssm = desc<int32_t, 1>(starts.data(), {S + 1}, {1});
  auto spm = desc<int32_t, 1>(pos.data(), {S}, {1});
  auto cm = tab.view(0), sm = tab.view(1);
  auto om = desc<float, 4>(out.data(), {1, H, T, D}, {int64_t(T) * H * D, D, int64_t(H) * D, 1});
  _mlir_ciface_llmc_rt_paged_attention_rope_f32(&qm, &knm, &vnm, &kpm, &vpm, &tm, &ssm, &spm, &cm,
                                                &sm, &om, scale, c.interleaved);

  // The key pool: new rows rotated at their slots, every other float as before.
  std::vector<bool> isNew(kPool.size(), false);
  for (int s = 0; s < S; ++s)
    for (int t = start[s]; t < start[s + 1]; ++t)
      for (int h = 0; h < KVH; ++h) {
        const size_t o = slot(s, h, c.seqs[s].past + t - start[s]) * D;
        auto want = rotated(kNew.data() + (size_t(t) * KVH + h) * D, h, t);
        for (int d = 0; d < D; ++d) {
          isNew[o + d] = true;
          ASSERT_NEAR(kPool[o + d], want[d], 1e-5)
              << "stored key of token " << t << " head " << h << " d " << d << " " << describe(c);
        }
      }
  for (size_t i = 0; i < kPool.size(); ++i)
    if (!isNew[i])
      ASSERT_EQ(kPool[i], kBefore[i]) << "key pool element " << i << " changed " << describe(c);
  for (size_t i = 0; i < out.size(); ++i)
    ASSERT_NEAR(out[i], ref[i], 3e-5) << "output element " << i << " (token " << i / (H * D)
                                      << ") " << describe(c);
}

using RopeAttention = KernelVariantTest;

TEST_P(RopeAttention, ContiguousPrefill) {
  unsigned seed = 1;
  for (bool il : {false, true})
    for (int layout : {0, 1, 2}) {
      // SmolLM2's shape (GQA 9/3, D 64), a fresh prompt and a chunk after a
      // cached prefix; batch 2 with per-batch tables; MHA with per-head tables.
      checkContiguous({1, 9, 3, 20, 0, 64, il, false, false, layout, seed++});
      checkContiguous({1, 9, 3, 13, 7, 64, il, true, false, layout, seed++});
      checkContiguous({2, 4, 2, 6, 3, 8, il, true, false, layout, seed++});
      checkContiguous({2, 4, 4, 5, 2, 16, il, true, true, layout, seed++});
      if (HasFatalFailure())
        return;
    }
}

TEST_P(RopeAttention, ContiguousDecode) {
  unsigned seed = 100;
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    for (bool il : {false, true}) {
      checkContiguous({1, 9, 3, 1, 400, 64, il, false, false, 1, seed++}); // key splits
      checkContiguous({1, 32, 4, 1, 70, 64, il, false, false, 2, seed++}); // TinyLlama heads
      checkContiguous({2, 6, 2, 1, 9, 8, il, true, false, 0, seed++});
      checkContiguous({1, 2, 1, 1, 0, 8, il, false, false, 0, seed++});    // first token
      if (HasFatalFailure())
        return;
    }
  }
}

TEST_P(RopeAttention, PagedPrefillAndDecode) {
  unsigned seed = 200;
  const std::vector<Seq> mixed = {{0, 9}, {20, 1}, {33, 5}, {15, 1}, {4, 0}, {7, 3}};
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    for (bool il : {false, true}) {
      checkPaged({9, 3, 64, 16, mixed, il, false, 0, seed++});
      checkPaged({9, 3, 64, 16, {{500, 1}}, il, false, 1, seed++}); // one decode: key splits
      checkPaged({4, 2, 8, 4, mixed, il, false, 2, seed++});
      checkPaged({4, 4, 16, 8, {{3, 6}, {30, 1}}, il, true, 1, seed++}); // per-head tables
      if (HasFatalFailure())
        return;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, RopeAttention, ::testing::Values(LLMC_KERNEL_VARIANTS),
                         VariantName());

// Tables that do not broadcast to the rotated tensor abort with a message.
TEST(RopeAttentionDeathTest, RejectsTablesOfTheWrongShape) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::vector<float> x(2 * 2 * 3 * 4, 0.f), dst = x, tab(2 * 3 * 4, 0.f);
  auto xm = desc<float, 4>(x.data(), {1, 2, 3, 4}, {24, 12, 4, 1});
  auto dm = desc<float, 4>(dst.data(), {1, 2, 3, 4}, {24, 12, 4, 1});
  auto bad = desc<float, 4>(tab.data(), {1, 1, 2, 4}, {8, 8, 4, 1}); // 2 rows for 3
  EXPECT_DEATH(_mlir_ciface_llmc_rt_rope_store_f32(&xm, &bad, &bad, &dm, 0),
               "llmc_rt_rope_store_f32: cos/sin do not broadcast to the rotated tensor");
  auto shortRows = desc<float, 4>(tab.data(), {1, 1, 3, 2}, {6, 6, 2, 1});
  EXPECT_DEATH(_mlir_ciface_llmc_rt_rope_store_f32(&xm, &shortRows, &shortRows, &dm, 0),
               "cos/sin rows must have the head size");
  auto out = dm;
  EXPECT_DEATH(_mlir_ciface_llmc_rt_attention_rope_f32(&xm, &xm, &xm, &xm, &bad, &bad, &out, 0, 1,
                                                       0.5f, 0),
               "llmc_rt_attention_rope_f32: cos/sin do not broadcast");
}

} // namespace
