//===- KVCacheAttentionCheck.h - attention checks over a stored KV format -*- C++ -*-===//
//
// The checks the KV cache formats (--kv-cache=int8, bf16) share, written once
// over a format traits class F:
//   using Elem = ...;                       // stored element type
//   static constexpr int kRowExtra;         // elements after the D values
//   static std::vector<Elem> randomRows(size_t n, int D, int rowLen, unsigned seed);
//   static double value(const Elem *row, int D, int d);   // element d, widened
//   static void expectStored(const Elem *row, const float *x, int D, const std::string &what);
//   static void expectRotated(const Elem *row, const double *y, int D, const std::string &what);
//   static void store(...), attention(...), paged(...), pagedRope(...);  // the kernels
// expectStored: the row is exactly what the format stores for x;
// expectRotated: the row stores y, rotated by the kernel in f32 (some slack).
//  * the store kernel rotating keys before storing them;
//  * contiguous-cache attention against AttentionReference.h over the stored
//    rows: GQA, masks, causal T > S, odd sizes, padded rows;
//  * paged attention (which also stores the new rows into their blocks, with
//    or without rotating the keys): ragged batches, every other pool row
//    unchanged, and few work items so the keys are split across threads.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_TEST_UNIT_RUNTIME_KVCACHEATTENTIONCHECK_H
#define LLMC_TEST_UNIT_RUNTIME_KVCACHEATTENTIONCHECK_H

#include "AttentionReference.h"
#include "KernelVariants.h"
#include "TestSupport.h"
#include "kernels/KernelDispatch.h"
#include "support/ThreadPool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace llmc::test {

/// llm.rotary of one row of D values in double: rotate-half pairs (p, p + D/2)
/// or interleaved pairs (2p, 2p + 1).
inline std::vector<double> rotateRow(const float *x, const float *cos, const float *sin, int D,
                                     bool interleaved) {
  std::vector<double> y(x, x + D);
  for (int p = 0; p < D / 2; ++p) {
    const int a = interleaved ? 2 * p : p, b = interleaved ? 2 * p + 1 : p + D / 2;
    y[a] = double(x[a]) * cos[a] - double(x[b]) * sin[a];
    y[b] = double(x[b]) * cos[b] + double(x[a]) * sin[b];
  }
  return y;
}

/// The store kernel with rope: [1, H=2, R=4, D=16] rows, cos/sin [1, 1, R, D]
/// broadcast over heads.
template <class F> void checkStoreRotates(bool interleaved) {
  const int B = 1, H = 2, R = 4, D = 16, row = D + F::kRowExtra;
  auto x = randomVec(size_t(B) * H * R * D, 7);
  auto cs = randomVec(size_t(R) * D, 8), sn = randomVec(size_t(R) * D, 9);
  std::vector<typename F::Elem> dst(size_t(B) * H * R * row);
  auto xm = desc<float, 4>(x.data(), {B, H, R, D}, {H * R * D, R * D, D, 1});
  auto cm = desc<float, 4>(cs.data(), {1, 1, R, D}, {R * D, R * D, D, 1});
  auto sm = desc<float, 4>(sn.data(), {1, 1, R, D}, {R * D, R * D, D, 1});
  auto dm = desc<typename F::Elem, 4>(dst.data(), {B, H, R, row}, {H * R * row, R * row, row, 1});
  F::store(&xm, &cm, &sm, &dm, 1, interleaved);
  for (int h = 0; h < H; ++h)
    for (int r = 0; r < R; ++r) {
      const auto y = rotateRow(x.data() + (size_t(h) * R + r) * D, cs.data() + r * D,
                               sn.data() + r * D, D, interleaved);
      F::expectRotated(dst.data() + (size_t(h) * R + r) * row, y.data(), D,
                       "interleaved=" + std::to_string(interleaved) + " h " +
                           std::to_string(h) + " r " + std::to_string(r));
    }
}

// ---------------------------------------------------------------------------
// Contiguous cache.

struct KVCase {
  int B, H, KVH, S, T, D, Dv;
  bool causal, mask;
  unsigned seed = 3;
};

inline std::string describe(const KVCase &c) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "B=%d H=%d KVH=%d S=%d T=%d D=%d Dv=%d causal=%d mask=%d kernels=%s threads=%d",
                c.B, c.H, c.KVH, c.S, c.T, c.D, c.Dv, c.causal, c.mask,
                llmc::rt::kern::activeKernels().name, llmc::rt::numThreads());
  return buf;
}

template <class F> void checkContiguous(const KVCase &c) {
  using Elem = typename F::Elem;
  const int B = c.B, H = c.H, KVH = c.KVH, S = c.S, T = c.T, D = c.D, Dv = c.Dv, G = H / KVH;
  // Rows padded past the stored elements: the kernel must follow the strides.
  const int cap = T + 3, kRow = D + F::kRowExtra + 2, vRow = Dv + F::kRowExtra + 1;
  auto q = randomVec(size_t(B) * H * S * D, c.seed, -2.f, 2.f);
  auto kbuf = F::randomRows(size_t(B) * KVH * cap, D, kRow, c.seed + 1);
  auto vbuf = F::randomRows(size_t(B) * KVH * cap, Dv, vRow, c.seed + 2);
  std::vector<float> mask(size_t(B) * S * T, 0.f);
  std::mt19937 g(c.seed + 3);
  for (auto &m : mask) {
    int r = int(g() % 10);
    m = r == 0 ? -std::numeric_limits<float>::infinity() : (r < 4 ? float(int(g() % 7)) - 3.f : 0.f);
  }
  const float scale = 1.f / std::sqrt(float(D));
  std::vector<float> out(size_t(B) * H * S * Dv, 777.f);
  auto qm = desc<float, 4>(q.data(), {B, H, S, D}, {int64_t(H) * S * D, int64_t(S) * D, D, 1});
  auto km = desc<Elem, 4>(kbuf.data(), {B, KVH, T, D + F::kRowExtra},
                          {int64_t(KVH) * cap * kRow, int64_t(cap) * kRow, kRow, 1});
  auto vm = desc<Elem, 4>(vbuf.data(), {B, KVH, T, Dv + F::kRowExtra},
                          {int64_t(KVH) * cap * vRow, int64_t(cap) * vRow, vRow, 1});
  auto mm = desc<float, 4>(mask.data(), {B, 1, S, T}, {int64_t(S) * T, int64_t(S) * T, T, 1});
  auto om = desc<float, 4>(out.data(), {B, H, S, Dv}, {int64_t(H) * S * Dv, int64_t(S) * Dv, Dv, 1});
  F::attention(&qm, &km, &vm, &mm, &om, c.mask, c.causal, scale);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int s = 0; s < S; ++s) {
        const size_t kv = size_t(b) * KVH + h / G;
        auto ref = attendRow(
            q.data() + ((size_t(b) * H + h) * S + s) * D, D, Dv, T, scale,
            [&](int t, int d) { return F::value(kbuf.data() + (kv * cap + t) * kRow, D, d); },
            [&](int t, int d) { return F::value(vbuf.data() + (kv * cap + t) * vRow, Dv, d); },
            [&](int t) {
              if (c.causal && t > T - S + s)
                return -std::numeric_limits<double>::infinity();
              return c.mask ? double(mask[(size_t(b) * S + s) * T + t]) : 0.0;
            });
        for (int d = 0; d < Dv; ++d) {
          const float got = out[((size_t(b) * H + h) * S + s) * Dv + d];
          ASSERT_NEAR(got, ref[d], 1e-5 * std::max(1.0, std::fabs(ref[d])))
              << "b " << b << " h " << h << " s " << s << " d " << d << " " << describe(c);
        }
      }
}

// ---------------------------------------------------------------------------
// Paged pools.

struct KVSeq {
  int past, n;
};

struct PagedKVCase {
  int H, KVH, D, Dv, BS;
  std::vector<KVSeq> seqs;
  unsigned seed = 5;
  bool rope = false, interleaved = false;
};

inline int ceilDiv(int a, int b) { return (a + b - 1) / b; }

template <class F> void checkPaged(const PagedKVCase &c) {
  using Elem = typename F::Elem;
  const int H = c.H, KVH = c.KVH, D = c.D, Dv = c.Dv, BS = c.BS, G = H / KVH;
  const int S = int(c.seqs.size()), kRow = D + F::kRowExtra, vRow = Dv + F::kRowExtra;
  std::mt19937 rng(c.seed);
  std::string what = "H=" + std::to_string(H) + " KVH=" + std::to_string(KVH) + " D=" +
                     std::to_string(D) + " BS=" + std::to_string(BS) + " rope=" +
                     std::to_string(c.rope) + std::to_string(c.interleaved) + " kernels=" +
                     llmc::rt::kern::activeKernels().name + " threads=" +
                     std::to_string(llmc::rt::numThreads()) + " seqs=";
  for (const KVSeq &s : c.seqs)
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
  // Pools: random rows (the cached past, already stored), new rows written by the call.
  auto kPool = F::randomRows(size_t(NB) * KVH * BS, D, kRow, c.seed + 1);
  auto vPool = F::randomRows(size_t(NB) * KVH * BS, Dv, vRow, c.seed + 2);
  auto slot = [&](std::vector<Elem> &pool, int row, int s, int h, int p) {
    int blk = table[size_t(s) * MB + p / BS];
    return pool.data() + ((size_t(blk) * KVH + h) * BS + p % BS) * row;
  };
  auto kNew = randomVec(size_t(KVH) * T * D, c.seed + 3, -2.f, 2.f);
  auto vNew = randomVec(size_t(KVH) * T * Dv, c.seed + 4, -2.f, 2.f);
  auto q = randomVec(size_t(H) * T * D, c.seed + 5, -2.f, 2.f);
  // Rotary tables [1, 1, T, D] (row t: token t), broadcast over heads.
  auto cs = randomVec(size_t(T) * D, c.seed + 6), sn = randomVec(size_t(T) * D, c.seed + 7);
  std::vector<float> out(size_t(H) * T * Dv, 777.f);
  const float scale = 1.f / std::sqrt(float(D));
  auto qm = desc<float, 4>(q.data(), {1, H, T, D}, {int64_t(H) * T * D, int64_t(T) * D, D, 1});
  auto knm = desc<float, 4>(kNew.data(), {1, KVH, T, D}, {int64_t(KVH) * T * D, int64_t(T) * D, D, 1});
  auto vnm = desc<float, 4>(vNew.data(), {1, KVH, T, Dv}, {int64_t(KVH) * T * Dv, int64_t(T) * Dv, Dv, 1});
  auto kpm = desc<Elem, 4>(kPool.data(), {NB, KVH, BS, kRow}, {int64_t(KVH) * BS * kRow, int64_t(BS) * kRow, kRow, 1});
  auto vpm = desc<Elem, 4>(vPool.data(), {NB, KVH, BS, vRow}, {int64_t(KVH) * BS * vRow, int64_t(BS) * vRow, vRow, 1});
  auto tm = desc<int32_t, 2>(table.data(), {S, MB}, {MB, 1});
  auto ssm = desc<int32_t, 1>(start.data(), {S + 1}, {1});
  auto spm = desc<int32_t, 1>(pos.data(), {S}, {1});
  auto om = desc<float, 4>(out.data(), {1, H, T, Dv}, {int64_t(H) * T * Dv, int64_t(T) * Dv, Dv, 1});
  auto cm = desc<float, 4>(cs.data(), {1, 1, T, D}, {int64_t(T) * D, int64_t(T) * D, D, 1});
  auto sm = desc<float, 4>(sn.data(), {1, 1, T, D}, {int64_t(T) * D, int64_t(T) * D, D, 1});
  const auto kBefore = kPool, vBefore = vPool;
  if (c.rope)
    F::pagedRope(&qm, &knm, &vnm, &kpm, &vpm, &tm, &ssm, &spm, &cm, &sm, &om, scale, c.interleaved);
  else
    F::paged(&qm, &knm, &vnm, &kpm, &vpm, &tm, &ssm, &spm, &om, scale);

  // llm.rotary of row t of x (D values) in double, or x itself without rope.
  auto rotated = [&](const float *x, int t) {
    if (!c.rope)
      return std::vector<double>(x, x + D);
    return rotateRow(x, cs.data() + size_t(t) * D, sn.data() + size_t(t) * D, D, c.interleaved);
  };
  // New rows stored at their slots (keys rotated first); every other pool
  // row unchanged.
  std::vector<char> isNew(kPool.size() / kRow, 0);
  for (int s = 0; s < S; ++s)
    for (int t = start[s]; t < start[s + 1]; ++t)
      for (int h = 0; h < KVH; ++h) {
        const int p = pos[s] + t - start[s];
        const float *kx = kNew.data() + (size_t(h) * T + t) * D;
        const float *vx = vNew.data() + (size_t(h) * T + t) * Dv;
        const Elem *kr = slot(kPool, kRow, s, h, p), *vr = slot(vPool, vRow, s, h, p);
        if (c.rope)
          F::expectRotated(kr, rotated(kx, t).data(), D, "new key " + what);
        else
          F::expectStored(kr, kx, D, "new key " + what);
        F::expectStored(vr, vx, Dv, "new value " + what);
        isNew[(kr - kPool.data()) / kRow] = 1;
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

  // Reference over the stored pool rows (checked above), causal per sequence.
  for (int s = 0; s < S; ++s)
    for (int t = start[s]; t < start[s + 1]; ++t)
      for (int h = 0; h < H; ++h) {
        const int p = pos[s] + t - start[s];
        const std::vector<double> qd = rotated(q.data() + (size_t(h) * T + t) * D, t);
        const std::vector<float> qr(qd.begin(), qd.end());
        auto ref = attendRow(
            qr.data(), D, Dv, p + 1, scale,
            [&](int j, int d) { return F::value(slot(kPool, kRow, s, h / G, j), D, d); },
            [&](int j, int d) { return F::value(slot(vPool, vRow, s, h / G, j), Dv, d); },
            [](int) { return 0.0; });
        for (int d = 0; d < Dv; ++d) {
          const float got = out[(size_t(h) * T + t) * Dv + d];
          // With rope the reference query is rotated in double, then rounded to f32.
          ASSERT_NEAR(got, ref[d], (c.rope ? 1e-4 : 1e-5) * std::max(1.0, std::fabs(ref[d])))
              << "token " << t << " head " << h << " d " << d << " " << what;
        }
      }
}

// ---------------------------------------------------------------------------
// The attention cases every format runs, once per kernel variant.

template <class F> class KVAttentionTest : public KernelVariantTest {
protected:
  static void contiguousPrefillGQAAndMasks() {
    for (bool causal : {false, true})
      for (bool mask : {false, true}) {
        checkContiguous<F>({1, 9, 3, 20, 26, 64, 64, causal, mask});  // SmolLM2 heads, G = 3
        checkContiguous<F>({2, 8, 4, 5, 70, 8, 8, causal, mask});     // stories260K heads
        checkContiguous<F>({1, 40, 1, 3, 9, 16, 16, causal, mask});   // more heads than an item
        checkContiguous<F>({1, 6, 2, 7, 45, 7, 5, causal, mask});     // odd D, Dv != D
        checkContiguous<F>({1, 3, 1, 33, 131, 20, 40, causal, mask}); // odd T, several key blocks
        if (HasFatalFailure())
          return;
      }
  }

  static void contiguousDecodeSplitsKeys() {
    for (int threads : {1, 2}) {
      llmc::rt::setNumThreads(threads);
      checkContiguous<F>({1, 9, 3, 1, 513, 64, 64, true, false});
      checkContiguous<F>({1, 32, 4, 1, 300, 64, 64, true, true});
      checkContiguous<F>({1, 9, 3, 2, 1001, 32, 32, true, false});
      checkContiguous<F>({1, 2, 1, 1, 1, 8, 8, true, false});
      checkContiguous<F>({1, 6, 2, 3, 0, 8, 8, false, false}); // empty cache: zeros
      if (HasFatalFailure())
        return;
    }
  }

  static void pagedRaggedBatches() {
    const std::vector<KVSeq> fixed = {{0, 20}, {37, 13}, {50, 1}, {15, 1}, {16, 1}, {5, 0}, {100, 1}};
    unsigned seed = 1;
    for (auto [H, KVH] : {std::pair{9, 3}, std::pair{8, 4}})
      for (int D : {64, 8})
        for (int BS : {16, 4}) {
          checkPaged<F>({H, KVH, D, D, BS, fixed, seed++});
          checkPaged<F>({H, KVH, D, D, BS, {{3, 9}, {0, 1}, {30, 1}, {7, 33}}, seed++});
          if (HasFatalFailure())
            return;
        }
    checkPaged<F>({6, 2, 7, 5, 4, {{9, 6}, {2, 1}}, 90}); // odd D, Dv != D
    checkPaged<F>({20, 1, 16, 16, 8, {{12, 5}, {40, 1}}, 91});
  }

  static void pagedRotatesKeys() {
    for (bool interleaved : {false, true}) {
      checkPaged<F>({9, 3, 64, 64, 16, {{0, 20}, {37, 13}, {50, 1}}, 60, true, interleaved});
      checkPaged<F>({8, 4, 8, 8, 4, {{3, 9}, {30, 1}}, 61, true, interleaved});
      if (HasFatalFailure())
        return;
    }
  }

  static void pagedFewItemsSplitKeys() {
    for (int threads : {1, 2}) {
      llmc::rt::setNumThreads(threads);
      checkPaged<F>({9, 3, 64, 64, 16, {{1000, 1}}, 41});
      checkPaged<F>({4, 4, 8, 8, 8, {{700, 1}}, 42});
      checkPaged<F>({9, 3, 64, 64, 16, {{999, 2}}, 43});
      checkPaged<F>({4, 1, 64, 64, 16, {{3, 1}, {600, 1}}, 45});
      if (HasFatalFailure())
        return;
    }
  }
};

} // namespace llmc::test

#endif
