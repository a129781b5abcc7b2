// llmc_rt_paged_attention_f32 (ragged batch over a paged KV cache) for every
// kernel variant this CPU runs, against a double-precision reference that
// keeps each sequence's K/V history contiguous and never looks at the pool:
// GQA and MHA, head sizes 64 and 8, block sizes 16 and 8, batches mixing
// prefill chunks and single-token decodes, shuffled physical blocks,
// transposed / padded q, kNew, vNew and out views, padded pool rows and
// tables, strided seqStarts / seqPos. The pool must hold the new rows at
// their slots and be unchanged elsewhere. Few work items (one long decode)
// cover the key-split path; malformed calls must abort.
#include "TestSupport.h"
#include "KernelVariants.h"
#include "api/MemRefDescriptor.h"
#include "kernels/KernelDispatch.h"
#include "support/ThreadPool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

using llmc::rt::MemRef;
using llmc::test::desc;
using llmc::test::randomVec;

extern "C" void _mlir_ciface_llmc_rt_paged_attention_f32(
    MemRef<float, 4> *q, MemRef<float, 4> *kNew, MemRef<float, 4> *vNew,
    MemRef<float, 4> *kPool, MemRef<float, 4> *vPool, MemRef<int32_t, 2> *blockTables,
    MemRef<int32_t, 1> *seqStarts, MemRef<int32_t, 1> *seqPos, MemRef<float, 4> *out,
    float scale);

namespace {

struct Seq {
  int past, n; // tokens already cached, new tokens
};

struct PagedCase {
  int H, KVH, D, Dv, BS;
  std::vector<Seq> seqs;
  int poolPad = 0;  // extra floats after each pool row (row stride D + pad)
  int qInner = 1;   // inner stride of q
  unsigned seed = 5;
};

std::string describe(const PagedCase &c) {
  std::string s = "H=" + std::to_string(c.H) + " KVH=" + std::to_string(c.KVH) +
                  " D=" + std::to_string(c.D) + " Dv=" + std::to_string(c.Dv) +
                  " BS=" + std::to_string(c.BS) + " poolPad=" + std::to_string(c.poolPad) +
                  " qInner=" + std::to_string(c.qInner) + " seqs(past+n)=";
  for (const Seq &q : c.seqs)
    s += std::to_string(q.past) + "+" + std::to_string(q.n) + " ";
  return s + "kernels=" + llmc::rt::kern::activeKernels().name +
         " threads=" + std::to_string(llmc::rt::numThreads());
}

int ceilDiv(int a, int b) { return (a + b - 1) / b; }

void checkPaged(const PagedCase &c) {
  const int H = c.H, KVH = c.KVH, D = c.D, Dv = c.Dv, BS = c.BS, G = H / KVH;
  const int S = int(c.seqs.size());
  std::mt19937 rng(c.seed);

  // Sequence layout in the batch and the logical history of each sequence:
  // hk[s][(h * len + j) * D + d], j < past + n (the last n are new).
  std::vector<int> start(S + 1, 0), pos(S);
  int MB = 1;
  for (int s = 0; s < S; ++s) {
    start[s + 1] = start[s] + c.seqs[s].n;
    pos[s] = c.seqs[s].past;
    MB = std::max(MB, ceilDiv(c.seqs[s].past + c.seqs[s].n, BS) + 1); // + an unused entry
  }
  const int T = start[S];
  std::vector<std::vector<float>> hk(S), hv(S);
  for (int s = 0; s < S; ++s) {
    const int len = c.seqs[s].past + c.seqs[s].n;
    hk[s] = randomVec(size_t(KVH) * len * D, c.seed * 131 + 2 * s + 1);
    hv[s] = randomVec(size_t(KVH) * len * Dv, c.seed * 131 + 2 * s + 2);
  }

  // Physical blocks: a shuffled permutation, 3 spare blocks that nobody owns.
  int used = 0;
  for (const Seq &q : c.seqs)
    used += ceilDiv(q.past + q.n, BS);
  const int NB = used + 3;
  std::vector<int> perm(NB);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  // Table rows padded by 2 (row stride MB + 2); unused entries -1.
  const int tableStride = MB + 2;
  std::vector<int32_t> table(size_t(S) * tableStride, -1);
  for (int s = 0, next = 0; s < S; ++s)
    for (int i = 0; i < ceilDiv(c.seqs[s].past + c.seqs[s].n, BS); ++i)
      table[size_t(s) * tableStride + i] = perm[next++];

  // Pools [NB][KVH][BS][D + pad], random garbage, then the cached rows.
  const int kRow = D + c.poolPad, vRow = Dv + c.poolPad;
  std::vector<float> kPool = randomVec(size_t(NB) * KVH * BS * kRow, c.seed + 7, 5.f, 6.f);
  std::vector<float> vPool = randomVec(size_t(NB) * KVH * BS * vRow, c.seed + 8, 5.f, 6.f);
  auto kSlot = [&](std::vector<float> &pool, int s, int h, int p) {
    int blk = table[size_t(s) * tableStride + p / BS];
    return pool.data() + ((size_t(blk) * KVH + h) * BS + p % BS) * kRow;
  };
  auto vSlot = [&](std::vector<float> &pool, int s, int h, int p) {
    int blk = table[size_t(s) * tableStride + p / BS];
    return pool.data() + ((size_t(blk) * KVH + h) * BS + p % BS) * vRow;
  };
  auto hist = [&](std::vector<std::vector<float>> &hx, int s, int h, int j, int dim) {
    return hx[s].data() + (size_t(h) * (c.seqs[s].past + c.seqs[s].n) + j) * dim;
  };
  for (int s = 0; s < S; ++s)
    for (int h = 0; h < KVH; ++h)
      for (int j = 0; j < c.seqs[s].past; ++j) {
        std::copy_n(hist(hk, s, h, j, D), D, kSlot(kPool, s, h, j));
        std::copy_n(hist(hv, s, h, j, Dv), Dv, vSlot(vPool, s, h, j));
      }
  // The pools after the call: every new row at its slot, nothing else moved.
  std::vector<float> kWant = kPool, vWant = vPool;
  for (int s = 0; s < S; ++s)
    for (int h = 0; h < KVH; ++h)
      for (int j = c.seqs[s].past; j < c.seqs[s].past + c.seqs[s].n; ++j) {
        std::copy_n(hist(hk, s, h, j, D), D, kSlot(kWant, s, h, j));
        std::copy_n(hist(hv, s, h, j, Dv), Dv, vSlot(vWant, s, h, j));
      }

  // New K/V as transposes ([T][KVH][dim] buffers viewed as [1, KVH, T, dim]).
  std::vector<float> kNew(size_t(T) * KVH * D), vNew(size_t(T) * KVH * Dv);
  for (int s = 0; s < S; ++s)
    for (int t = start[s]; t < start[s + 1]; ++t)
      for (int h = 0; h < KVH; ++h) {
        std::copy_n(hist(hk, s, h, pos[s] + t - start[s], D), D,
                    kNew.data() + (size_t(t) * KVH + h) * D);
        std::copy_n(hist(hv, s, h, pos[s] + t - start[s], Dv), Dv,
                    vNew.data() + (size_t(t) * KVH + h) * Dv);
      }
  // q: [T][H][D * qInner] viewed as [1, H, T, D]; out: [T][H * Dv + 3] with
  // the padding checked untouched.
  auto q = randomVec(size_t(T) * H * D * c.qInner, c.seed + 9);
  const int outRow = H * Dv + 3;
  std::vector<float> out(size_t(T) * outRow, 777.f);

  // Reference: softmax over each sequence's contiguous history.
  const float scale = 1.f / std::sqrt(float(D));
  std::vector<double> ref(size_t(T) * H * Dv, 0.0);
  for (int s = 0; s < S; ++s)
    for (int t = start[s]; t < start[s + 1]; ++t)
      for (int h = 0; h < H; ++h) {
        const int p = pos[s] + t - start[s];
        std::vector<double> sc(p + 1);
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j <= p; ++j) {
          double acc = 0;
          const float *kj = hist(hk, s, h / G, j, D);
          for (int d = 0; d < D; ++d)
            acc += double(q[(size_t(t) * H + h) * D * c.qInner + size_t(d) * c.qInner]) * kj[d];
          sc[j] = acc * scale;
          mx = std::max(mx, sc[j]);
        }
        for (int j = 0; j <= p; ++j)
          sum += sc[j] = std::exp(sc[j] - mx);
        for (int j = 0; j <= p; ++j)
          for (int d = 0; d < Dv; ++d)
            ref[(size_t(t) * H + h) * Dv + d] += sc[j] / sum * hist(hv, s, h / G, j, Dv)[d];
      }

  auto qm = desc<float, 4>(q.data(), {1, H, T, D},
                           {int64_t(T) * H * D * c.qInner, int64_t(D) * c.qInner,
                            int64_t(H) * D * c.qInner, c.qInner});
  auto knm = desc<float, 4>(kNew.data(), {1, KVH, T, D}, {int64_t(T) * KVH * D, D, KVH * D, 1});
  auto vnm =
      desc<float, 4>(vNew.data(), {1, KVH, T, Dv}, {int64_t(T) * KVH * Dv, Dv, KVH * Dv, 1});
  auto kpm = desc<float, 4>(kPool.data(), {NB, KVH, BS, D},
                            {int64_t(KVH) * BS * kRow, int64_t(BS) * kRow, kRow, 1});
  auto vpm = desc<float, 4>(vPool.data(), {NB, KVH, BS, Dv},
                            {int64_t(KVH) * BS * vRow, int64_t(BS) * vRow, vRow, 1});
  auto tm = desc<int32_t, 2>(table.data(), {S, MB}, {tableStride, 1});
  // seqStarts / seqPos every other element of a buffer (strides are read).
  std::vector<int32_t> startBuf(2 * (S + 1), -999), posBuf(2 * S + 1, -999);
  for (int s = 0; s <= S; ++s)
    startBuf[2 * s] = start[s];
  for (int s = 0; s < S; ++s)
    posBuf[2 * s] = pos[s];
  auto ssm = desc<int32_t, 1>(startBuf.data(), {S + 1}, {2});
  auto spm = desc<int32_t, 1>(posBuf.data(), {S}, {2});
  auto om = desc<float, 4>(out.data(), {1, H, T, Dv}, {int64_t(T) * outRow, Dv, outRow, 1});
  _mlir_ciface_llmc_rt_paged_attention_f32(&qm, &knm, &vnm, &kpm, &vpm, &tm, &ssm, &spm, &om,
                                           scale);

  for (size_t i = 0; i < kPool.size(); ++i)
    ASSERT_EQ(kPool[i], kWant[i]) << "kPool element " << i << " " << describe(c);
  for (size_t i = 0; i < vPool.size(); ++i)
    ASSERT_EQ(vPool[i], vWant[i]) << "vPool element " << i << " " << describe(c);
  for (int t = 0; t < T; ++t) {
    for (int h = 0; h < H; ++h)
      for (int d = 0; d < Dv; ++d)
        ASSERT_NEAR(out[size_t(t) * outRow + h * Dv + d], ref[(size_t(t) * H + h) * Dv + d], 2e-5)
            << "token " << t << " head " << h << " d " << d << " " << describe(c);
    for (int i = H * Dv; i < outRow; ++i)
      ASSERT_EQ(out[size_t(t) * outRow + i], 777.f) << "padding of out row " << t;
  }
}

/// A random ragged batch: 1..6 sequences, each a single-token decode or a
/// prefill chunk (from scratch or after a cached prefix).
std::vector<Seq> randomBatch(std::mt19937 &g) {
  std::vector<Seq> seqs(1 + g() % 6);
  for (Seq &s : seqs) {
    switch (g() % 3) {
    case 0: s = {int(g() % 150), 1}; break;                  // decode
    case 1: s = {int(g() % 3 == 0 ? 0 : g() % 90), int(2 + g() % 40)}; break; // prefill chunk
    default: s = {int(g() % 40), int(1 + g() % 4)}; break;  // a few tokens
    }
  }
  return seqs;
}

using PagedAttention = KernelVariantTest;

TEST_P(PagedAttention, RaggedBatchesOfPrefillChunksAndDecodes) {
  // Hand-picked: block boundaries (positions 15/16, 7/8), a fresh prefill,
  // a chunk after a cached prefix, a sequence without new tokens.
  const std::vector<Seq> fixed = {{0, 20}, {37, 13}, {50, 1}, {15, 1}, {16, 1}, {5, 0}, {100, 1}};
  unsigned seed = 1;
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    for (auto [H, KVH] : {std::pair{9, 3}, std::pair{4, 4}})
      for (int D : {64, 8})
        for (int BS : {16, 8}) {
          checkPaged({H, KVH, D, D, BS, fixed, 0, 1, seed++});
          std::mt19937 g(seed);
          for (int rep = 0; rep < 3; ++rep)
            checkPaged({H, KVH, D, D, BS, randomBatch(g), 0, 1, seed++});
          if (HasFatalFailure())
            return;
        }
  }
}

TEST_P(PagedAttention, StridedOperandsAndOddShapes) {
  std::mt19937 g(77);
  // Padded pool rows, q with an inner stride, Dv != D, odd head size.
  checkPaged({9, 3, 64, 64, 16, randomBatch(g), 5, 2, 31});
  checkPaged({4, 2, 8, 12, 8, {{3, 9}, {0, 1}, {30, 1}}, 1, 3, 32});
  checkPaged({6, 2, 7, 5, 4, {{9, 6}, {2, 1}}, 2, 1, 33});
  // More heads per group than an item holds (generic: 16 rows).
  checkPaged({20, 1, 16, 16, 8, {{12, 5}, {40, 1}}, 0, 1, 34});
  // A batch of new sequences only, one token each (first decode step).
  checkPaged({9, 3, 64, 64, 16, {{0, 1}, {0, 1}, {0, 1}}, 0, 1, 35});
}

TEST_P(PagedAttention, FewItemsSplitKeys) {
  for (int threads : {1, 2}) {
    llmc::rt::setNumThreads(threads);
    checkPaged({9, 3, 64, 64, 16, {{1000, 1}}, 0, 1, 41}); // SmolLM2
    checkPaged({4, 4, 8, 8, 8, {{700, 1}}, 0, 1, 42});
    checkPaged({9, 3, 64, 64, 16, {{999, 2}}, 0, 1, 43}); // two tokens, crossing a block
    checkPaged({9, 3, 64, 64, 16, {{500, 1}, {3, 1}}, 0, 1, 44}); // uneven pair
    // One KV head, two sequences: split items of a sequence that is not the
    // batch's first, one with fewer keys than splits (empty partial states).
    checkPaged({4, 1, 64, 64, 16, {{3, 1}, {600, 1}}, 0, 1, 45});
    checkPaged({4, 1, 8, 8, 8, {{0, 2}, {400, 1}}, 0, 1, 46});
    if (HasFatalFailure())
      return;
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, PagedAttention, ::testing::Values(LLMC_KERNEL_VARIANTS),
                         VariantName());

// Malformed calls abort with a message naming the kernel and the problem.
struct BadCall {
  std::vector<float> q = std::vector<float>(2 * 2 * 4, 0.f), kn = q, vn = q, out = q;
  std::vector<float> kp = std::vector<float>(3 * 2 * 4 * 4, 0.f), vp = kp;
  std::vector<int32_t> table{0, 1}, starts{0, 2}, pos{3};
  void call() {
    // H = KVH = 2, T = 2, D = 4; NB = 3 blocks of 4; one sequence, MB = 2.
    auto qm = desc<float, 4>(q.data(), {1, 2, 2, 4}, {16, 8, 4, 1});
    auto knm = qm, vnm = qm, om = qm;
    knm.aligned = kn.data();
    vnm.aligned = vn.data();
    om.aligned = out.data();
    auto kpm = desc<float, 4>(kp.data(), {3, 2, 4, 4}, {32, 16, 4, 1});
    auto vpm = kpm;
    vpm.aligned = vp.data();
    auto tm = desc<int32_t, 2>(table.data(), {1, 2}, {2, 1});
    auto ssm = desc<int32_t, 1>(starts.data(), {int64_t(starts.size())}, {1});
    auto spm = desc<int32_t, 1>(pos.data(), {int64_t(pos.size())}, {1});
    _mlir_ciface_llmc_rt_paged_attention_f32(&qm, &knm, &vnm, &kpm, &vpm, &tm, &ssm, &spm, &om,
                                             0.5f);
  }
};

TEST(PagedAttentionDeathTest, RejectsMalformedCalls) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  BadCall ok;
  ok.call(); // well-formed: positions 3, 4 in blocks 0 and 1
  {
    BadCall b;
    b.table = {0, 7};
    EXPECT_DEATH(b.call(), "llmc_rt_paged_attention_f32: block 1 of sequence 0 is 7, outside "
                           "the pool of 3 blocks");
  }
  {
    BadCall b;
    b.pos = {7}; // positions 7, 8 > 2 blocks of 4
    EXPECT_DEATH(b.call(), "llmc_rt_paged_attention_f32: sequence 0 covers positions \\[7, 9\\)");
  }
  {
    BadCall b;
    b.starts = {0, 3};
    EXPECT_DEATH(b.call(), "seqStarts\\[1\\] is 3, expected the number of new tokens 2");
  }
  {
    BadCall b;
    b.table = {0, 1, 2, 0};
    b.starts = {0, 3, 2};
    b.pos = {0, 0};
    auto call = [&] {
      auto qm = desc<float, 4>(b.q.data(), {1, 2, 2, 4}, {16, 8, 4, 1});
      auto kpm = desc<float, 4>(b.kp.data(), {3, 2, 4, 4}, {32, 16, 4, 1});
      auto tm = desc<int32_t, 2>(b.table.data(), {2, 2}, {2, 1});
      auto ssm = desc<int32_t, 1>(b.starts.data(), {3}, {1});
      auto spm = desc<int32_t, 1>(b.pos.data(), {2}, {1});
      _mlir_ciface_llmc_rt_paged_attention_f32(&qm, &qm, &qm, &kpm, &kpm, &tm, &ssm, &spm, &qm,
                                               0.5f);
    };
    EXPECT_DEATH(call(),
        "seqStarts is not monotone: seqStarts\\[1\\] = 3 > seqStarts\\[2\\] = 2");
  }
  {
    BadCall b;
    b.kp.resize(3 * 2 * 4 * 5);
    auto call = [&] {
      auto qm = desc<float, 4>(b.q.data(), {1, 2, 2, 4}, {16, 8, 4, 1});
      auto kpm = desc<float, 4>(b.kp.data(), {3, 2, 4, 5}, {40, 20, 5, 1}); // D = 5 != 4
      auto tm = desc<int32_t, 2>(b.table.data(), {1, 2}, {2, 1});
      auto ssm = desc<int32_t, 1>(b.starts.data(), {2}, {1});
      auto spm = desc<int32_t, 1>(b.pos.data(), {1}, {1});
      _mlir_ciface_llmc_rt_paged_attention_f32(&qm, &qm, &qm, &kpm, &kpm, &tm, &ssm, &spm, &qm,
                                               0.5f);
    };
    EXPECT_DEATH(call(), "kPool has shape \\[3, 2, 4, 5\\], expected \\[3, 2, 4, 4\\]");
  }
}

} // namespace
