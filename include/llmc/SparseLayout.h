//===- SparseLayout.h - pruned (2:4 and unstructured) weight formats -------===//
//
// The single definition of llmc's sparse weight formats, shared by the
// compiler (llmc-prune-weights zeroes weights, llmc-pack-sparse-weights
// compresses them at compile time) and the runtime's sparse kernels, with
// plain reference routines for pruning, compression and decompression.
// Header-only, in the style of PackedLayout.h / QuantLayout.h.
//
// Logical weight W is [K, N] (y = x W); sparsity runs along K (the reduction
// dim), per output column n. Columns are grouped into panels of `nr`
// columns (columns past N are zero); a gated (SwiGLU) weight stores the
// panels of gate and up interleaved (panel 2p = gate panel p, 2p+1 = up
// panel p), like PackedLayout.h.
//
// 2:4 ("Sparse24"): in every block of 4 consecutive k of a column at most 2
// weights are nonzero. K is padded with zero rows to 4 * numBlocks. Per panel
//   values  f32    [b][t][nr]   t = 0, 1: the block's two kept weights,
//                               lower position first
//   meta    uint32 [g][nr]      g = b / 8: bits 4*(b%8) + 2t (2 bits) hold
//                               the position (0..3) of kept weight t of block b
// Blocks with fewer than 2 nonzeros keep the lowest free positions (holding 0);
// meta bits of blocks past numBlocks are 0. Bytes per weight: (8 + 0.5) / 4
// = 2.125 (f32 dense: 4), and a kernel does 2 multiply-adds per block instead
// of 4. Why this shape: a decode kernel loads nr values of one t as vectors
// and picks each column's activation with one in-register permute of the
// block's 4 activations (the index is `meta >> shift`: a permute reads only
// the low bits, so no mask); a prefill kernel broadcasts one value and
// loads a vector of rows at the decoded k.
//
// 2:4 with int4 values ("Sparse24Q4", for --sparsity=2:4 --quantize=int4): K
// is padded to a multiple of 32 (a group: 8 blocks, one metadata word). Per
// panel
//   codes   uint8  [b][nr]      low nibble: kept weight 0 of block b, high
//                               nibble: kept weight 1; code = q + 8, q in [-8, 7]
//   meta    uint32 [g][nr]      as 2:4
//   scales  fp16   [g][nr]      per group of 32 k (16 kept weights):
//                               scale = m / -8, m the group's kept weight of
//                               largest magnitude (llama.cpp Q4_0's grid,
//                               QuantLayout.h); w = scale * (code - 8)
// 14 bytes per 32 weights (0.44 per weight; dense int4 with group 32: 0.56).
//
// Unstructured ("SparseEll", ELLPACK in k-chunks): K is cut into chunks of
// kEllChunk = 256 k (the last one shorter). Within chunk c of panel p every
// column stores the same number L(p, c) of entries (the panel's largest
// nonzero count in the chunk; shorter columns are padded with entries of
// value 0 at offset 0), in increasing k:
//   values  f32   [row][nr]     row = starts[p*numChunks + c] + t
//   offsets uint8 [row][nr]     k - 256c of entry t of the column
//   starts  int32 [numPanels*numChunks + 1]  prefix sums of L (rows before
//                               chunk (p, c)); starts.back() = total rows
// Bytes per nonzero: 5 (+ padding); at 50% sparsity 2.5 per weight. A decode
// kernel gathers the activations of nr columns (one vector of offsets) and
// a prefill kernel loads a vector of rows at k = 256c + offset; one byte per
// index is what the chunking buys (offsets fit in 8 bits), and a chunk of
// activations for a block of rows stays in L1.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_SPARSELAYOUT_H
#define LLMC_SPARSELAYOUT_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "llmc/QuantLayout.h"

namespace llmc::sparse {

/// W element (k, n) of a weight stored [K, N] or, if `transposed`, [N, K].
inline float weightAt(const float *w, bool transposed, int64_t k, int64_t n, int64_t K, int64_t N) {
  return transposed ? w[n * K + k] : w[k * N + n];
}

/// One weight or the gate|up pair of a gated linear: panel P of the packed
/// form is panel P / numMats of matrix P % numMats (both [K, N]).
struct Source {
  const float *mats[2] = {nullptr, nullptr};
  int numMats = 1;
  bool transposed = false;
  int64_t K = 0, N = 0;
  /// Element (k, n) of panel-order matrix `m`; 0 outside [K, N].
  float at(int m, int64_t k, int64_t n) const {
    return (k < K && n < N) ? weightAt(mats[m], transposed, k, n, K, N) : 0.f;
  }
};

inline Source single(const float *w, bool transposed, int64_t K, int64_t N) {
  Source s;
  s.mats[0] = w;
  s.transposed = transposed;
  s.K = K;
  s.N = N;
  return s;
}
inline Source gated(const float *gate, const float *up, bool transposed, int64_t K, int64_t N) {
  Source s = single(gate, transposed, K, N);
  s.mats[1] = up;
  s.numMats = 2;
  return s;
}

//===--- pruning -----------------------------------------------------------===//

/// Keeps the 2 highest-scoring weights of every block of 4 consecutive k of
/// every column of a row-major [K, N] weight, zeroing the others (ties: the
/// lower k is kept). score(k, n) must be >= 0; magnitude pruning passes
/// |w|, Wanda |w| * ||x_k||. A last partial block (K % 4) of 1 or 2 weights
/// is kept; of 3, the lowest-scoring one is zeroed.
template <class Score> void prune24(float *w, int64_t K, int64_t N, Score score) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k0 = 0; k0 < K; k0 += 4) {
      const int cnt = int(std::min<int64_t>(4, K - k0));
      if (cnt <= 2)
        continue;
      int keep0 = -1, keep1 = -1; // the two best, earlier first on ties
      float s0 = 0, s1 = 0;
      for (int i = 0; i < cnt; ++i) {
        float s = score(k0 + i, n);
        if (keep0 < 0 || s > s0) {
          keep1 = keep0, s1 = s0;
          keep0 = i, s0 = s;
        } else if (keep1 < 0 || s > s1) {
          keep1 = i, s1 = s;
        }
      }
      for (int i = 0; i < cnt; ++i)
        if (i != keep0 && i != keep1)
          w[(k0 + i) * N + n] = 0.f;
    }
}

/// Zeroes, in every column of a row-major [K, N] weight, the
/// floor(sparsity * K) lowest-scoring weights (ties: the higher k goes
/// first), so each column keeps the same count.
template <class Score> void pruneUnstructured(float *w, int64_t K, int64_t N, double sparsity, Score score) {
  const int64_t drop = std::clamp<int64_t>(int64_t(std::floor(sparsity * double(K) + 1e-9)), 0, K);
  std::vector<int64_t> order(K);
  std::vector<float> s(K);
  for (int64_t n = 0; n < N && drop > 0; ++n) {
    for (int64_t k = 0; k < K; ++k)
      s[k] = score(k, n);
    std::iota(order.begin(), order.end(), 0);
    // Ascending score; among equal scores the higher k first (a total order).
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return s[a] < s[b] || (s[a] == s[b] && a > b);
    });
    for (int64_t i = 0; i < drop; ++i)
      w[order[i] * N + n] = 0.f;
  }
}

//===--- 2:4 -----------------------------------------------------------------===//

constexpr int kSparse24GroupBlocks = 8; ///< blocks per metadata word

struct Sparse24Layout {
  int64_t K = 0, N = 0, nr = 1;
  int numMats = 1;
  int64_t numBlocks = 0; ///< ceil(K / 4)
  int64_t numGroups = 0; ///< metadata words per column: ceil(numBlocks / 8)
  int64_t numPanels = 0; ///< panels of all matrices (gated: 2 per output panel)

  int64_t panelValues() const { return numBlocks * 2 * nr; }
  int64_t panelMeta() const { return numGroups * nr; }
  int64_t numValues() const { return numPanels * panelValues(); }
  int64_t numMeta() const { return numPanels * panelMeta(); }
  int64_t bytes() const { return numValues() * 4 + numMeta() * 4; }
  /// Index of kept value t of block b of column j of (all-matrix) panel P.
  int64_t valueIndex(int64_t P, int64_t b, int t, int64_t j) const {
    return P * panelValues() + (b * 2 + t) * nr + j;
  }
  int64_t metaIndex(int64_t P, int64_t b, int64_t j) const {
    return P * panelMeta() + (b / kSparse24GroupBlocks) * nr + j;
  }
  static int metaShift(int64_t b, int t) { return int(4 * (b % kSparse24GroupBlocks) + 2 * t); }
};

/// Layout of a [K, N] weight (numMats = 2: gated, gate and up each [K, N]).
inline Sparse24Layout makeSparse24Layout(int64_t K, int64_t N, int64_t nr, int numMats = 1) {
  Sparse24Layout l;
  l.K = K;
  l.N = N;
  l.nr = nr;
  l.numMats = numMats;
  l.numBlocks = (K + 3) / 4;
  l.numGroups = (l.numBlocks + kSparse24GroupBlocks - 1) / kSparse24GroupBlocks;
  l.numPanels = (N + nr - 1) / nr * numMats;
  return l;
}

/// Compresses a 2:4-sparse source. `values` has l.numValues() floats,
/// `meta` l.numMeta() words. Returns "" or an error naming the first block
/// with more than two nonzeros.
inline std::string compress24(const Source &src, const Sparse24Layout &l, float *values, uint32_t *meta) {
  std::memset(meta, 0, size_t(l.numMeta()) * 4);
  for (int64_t P = 0; P < l.numPanels; ++P) {
    const int m = int(P % l.numMats);
    for (int64_t j = 0; j < l.nr; ++j) {
      const int64_t n = (P / l.numMats) * l.nr + j;
      for (int64_t b = 0; b < l.numBlocks; ++b) {
        float v[4];
        for (int i = 0; i < 4; ++i)
          v[i] = src.at(m, 4 * b + i, n);
        int idx[2], found = 0;
        for (int i = 0; i < 4; ++i)
          if (v[i] != 0.f) {
            if (found == 2)
              return "weight is not 2:4 sparse: column " + std::to_string(n) + (l.numMats == 2 ? (m ? " (up)" : " (gate)") : "") +
                     ", k " + std::to_string(4 * b) + ".." + std::to_string(4 * b + 3) + " has more than 2 nonzeros";
            idx[found++] = i;
          }
        for (int i = 0; found < 2; ++i) // fill with the lowest free positions
          if (found == 0 || i != idx[0])
            idx[found++] = i;
        if (idx[0] > idx[1])
          std::swap(idx[0], idx[1]);
        for (int t = 0; t < 2; ++t) {
          values[l.valueIndex(P, b, t, j)] = v[idx[t]];
          meta[l.metaIndex(P, b, j)] |= uint32_t(idx[t]) << Sparse24Layout::metaShift(b, t);
        }
      }
    }
  }
  return "";
}

/// Matrix m ([K, N] row-major) of a compressed weight.
inline void decompress24(const Sparse24Layout &l, const float *values, const uint32_t *meta, int m, float *w) {
  std::fill(w, w + l.K * l.N, 0.f);
  for (int64_t P = m; P < l.numPanels; P += l.numMats)
    for (int64_t j = 0; j < l.nr; ++j) {
      const int64_t n = (P / l.numMats) * l.nr + j;
      if (n >= l.N)
        continue;
      for (int64_t b = 0; b < l.numBlocks; ++b)
        for (int t = 0; t < 2; ++t) {
          int pos = int((meta[l.metaIndex(P, b, j)] >> Sparse24Layout::metaShift(b, t)) & 3);
          int64_t k = 4 * b + pos;
          float v = values[l.valueIndex(P, b, t, j)];
          if (k < l.K)
            w[k * l.N + n] = v;
        }
    }
}

//===--- 2:4 with int4 values ------------------------------------------------===//

constexpr int64_t kSparse24Q4Group = 32; ///< k per scale (8 blocks: one metadata word)

struct Sparse24Q4Layout {
  Sparse24Layout blocks; ///< the 2:4 layout of K padded to a multiple of 32
  int64_t K = 0;
  int64_t numGroups() const { return blocks.numGroups; }
  int64_t panelCodes() const { return blocks.numBlocks * blocks.nr; }
  int64_t panelScales() const { return blocks.numGroups * blocks.nr; }
  int64_t numCodes() const { return blocks.numPanels * panelCodes(); }
  int64_t numScales() const { return blocks.numPanels * panelScales(); }
  int64_t numMeta() const { return blocks.numMeta(); }
  int64_t bytes() const { return numCodes() + numMeta() * 4 + numScales() * 2; }
};

inline Sparse24Q4Layout makeSparse24Q4Layout(int64_t K, int64_t N, int64_t nr, int numMats = 1) {
  Sparse24Q4Layout l;
  l.K = K;
  l.blocks = makeSparse24Layout((K + kSparse24Q4Group - 1) / kSparse24Q4Group * kSparse24Q4Group, N, nr, numMats);
  l.blocks.K = K; // columns past K read as 0 (padding), numBlocks keeps the padded count
  return l;
}

/// Compresses a 2:4-sparse source with int4 values: `codes` l.numCodes()
/// bytes, `meta` l.numMeta() words, `scales` l.numScales() fp16 values.
/// Returns "" or an error (not 2:4 sparse, non-finite weight, scale beyond fp16).
inline std::string compress24q4(const Source &src, const Sparse24Q4Layout &l, uint8_t *codes, uint32_t *meta,
                                uint16_t *scales) {
  const Sparse24Layout &b = l.blocks;
  std::vector<float> values(size_t(b.numValues()));
  if (std::string e = compress24(src, b, values.data(), meta); !e.empty())
    return e;
  for (int64_t P = 0; P < b.numPanels; ++P)
    for (int64_t g = 0; g < b.numGroups; ++g)
      for (int64_t j = 0; j < b.nr; ++j) {
        float m = 0.f;
        for (int64_t blk = 8 * g; blk < 8 * g + 8; ++blk)
          for (int t = 0; t < 2; ++t) {
            float v = values[b.valueIndex(P, blk, t, j)];
            if (!std::isfinite(v))
              return "cannot quantize a non-finite weight";
            if (std::fabs(v) > std::fabs(m))
              m = v; // the first of largest magnitude
          }
        float scale = m / -8.f;
        if (!(std::fabs(scale) <= 65504.f))
          return "weight range too large for an fp16 scale";
        uint16_t h = scale == 0.f ? 0 : quant::scaleToF16(scale);
        scales[P * l.panelScales() + g * b.nr + j] = h;
        const float sc = quant::fromF16(h);
        for (int64_t blk = 8 * g; blk < 8 * g + 8; ++blk) {
          uint8_t byte = 0;
          for (int t = 0; t < 2; ++t)
            byte |= uint8_t(quant::quantizeValue(values[b.valueIndex(P, blk, t, j)], sc, 8, 4) << (4 * t));
          codes[P * l.panelCodes() + blk * b.nr + j] = byte;
        }
      }
  return "";
}

/// Matrix m ([K, N] row-major) of a compressed weight (the dequantized values).
inline void decompress24q4(const Sparse24Q4Layout &l, const uint8_t *codes, const uint32_t *meta,
                           const uint16_t *scales, int m, float *w) {
  const Sparse24Layout &b = l.blocks;
  std::vector<float> values(size_t(b.numValues()));
  for (int64_t P = 0; P < b.numPanels; ++P)
    for (int64_t blk = 0; blk < b.numBlocks; ++blk)
      for (int64_t j = 0; j < b.nr; ++j) {
        uint8_t byte = codes[P * l.panelCodes() + blk * b.nr + j];
        float sc = quant::fromF16(scales[P * l.panelScales() + (blk / 8) * b.nr + j]);
        for (int t = 0; t < 2; ++t)
          values[b.valueIndex(P, blk, t, j)] = quant::dequantizeValue(uint8_t((byte >> (4 * t)) & 15), sc, 8);
      }
  decompress24(b, values.data(), meta, m, w);
}

//===--- unstructured (ELL in k-chunks) ------------------------------------===//

constexpr int64_t kEllChunk = 256;

struct SparseEllLayout {
  int64_t K = 0, N = 0, nr = 1;
  int numMats = 1;
  int64_t numChunks = 0; ///< ceil(K / 256)
  int64_t numPanels = 0;
  std::vector<int32_t> starts; ///< numPanels * numChunks + 1 prefix sums of rows

  int64_t rows() const { return starts.empty() ? 0 : starts.back(); }
  int64_t numValues() const { return rows() * nr; }
  int64_t bytes() const { return numValues() * 5 + int64_t(starts.size()) * 4; }
  int64_t chunkRow(int64_t P, int64_t c) const { return starts[P * numChunks + c]; }
  int64_t chunkLength(int64_t P, int64_t c) const { return starts[P * numChunks + c + 1] - starts[P * numChunks + c]; }
};

/// Chooses the row counts of a source (its sparsity pattern). Fails with a
/// message if the rows would overflow the int32 starts.
inline SparseEllLayout makeSparseEllLayout(const Source &src, int64_t nr, std::string *error) {
  SparseEllLayout l;
  l.K = src.K;
  l.N = src.N;
  l.nr = nr;
  l.numMats = src.numMats;
  l.numChunks = (src.K + kEllChunk - 1) / kEllChunk;
  l.numPanels = (src.N + nr - 1) / nr * src.numMats;
  l.starts.assign(size_t(l.numPanels * l.numChunks + 1), 0);
  int64_t total = 0;
  for (int64_t P = 0; P < l.numPanels; ++P)
    for (int64_t c = 0; c < l.numChunks; ++c) {
      l.starts[P * l.numChunks + c] = int32_t(total);
      int64_t longest = 0;
      for (int64_t j = 0; j < nr; ++j) {
        int64_t cnt = 0;
        for (int64_t k = c * kEllChunk; k < std::min(src.K, (c + 1) * kEllChunk); ++k)
          cnt += src.at(int(P % src.numMats), k, (P / src.numMats) * nr + j) != 0.f;
        longest = std::max(longest, cnt);
      }
      total += longest;
      if (total > INT32_MAX) {
        *error = "sparse weight too large for int32 row starts";
        return l;
      }
    }
  l.starts.back() = int32_t(total);
  error->clear();
  return l;
}

/// Compresses a source into `values` (l.numValues() floats) and `offsets`
/// (l.numValues() bytes) for a layout made from the same source.
inline void compressEll(const Source &src, const SparseEllLayout &l, float *values, uint8_t *offsets) {
  std::memset(offsets, 0, size_t(l.numValues()));
  std::fill(values, values + l.numValues(), 0.f);
  for (int64_t P = 0; P < l.numPanels; ++P)
    for (int64_t c = 0; c < l.numChunks; ++c)
      for (int64_t j = 0; j < l.nr; ++j) {
        int64_t row = l.chunkRow(P, c);
        for (int64_t k = c * kEllChunk; k < std::min(src.K, (c + 1) * kEllChunk); ++k) {
          float v = src.at(int(P % src.numMats), k, (P / src.numMats) * l.nr + j);
          if (v == 0.f)
            continue;
          values[row * l.nr + j] = v;
          offsets[row * l.nr + j] = uint8_t(k - c * kEllChunk);
          ++row;
        }
      }
}

/// Matrix m ([K, N] row-major) of a compressed weight.
inline void decompressEll(const SparseEllLayout &l, const float *values, const uint8_t *offsets, int m, float *w) {
  std::fill(w, w + l.K * l.N, 0.f);
  for (int64_t P = m; P < l.numPanels; P += l.numMats)
    for (int64_t c = 0; c < l.numChunks; ++c)
      for (int64_t r = l.chunkRow(P, c); r < l.chunkRow(P, c) + l.chunkLength(P, c); ++r)
        for (int64_t j = 0; j < l.nr; ++j) {
          const int64_t n = (P / l.numMats) * l.nr + j, k = c * kEllChunk + offsets[r * l.nr + j];
          if (n < l.N && k < l.K)
            w[k * l.N + n] += values[r * l.nr + j]; // padding entries add 0
        }
}

} // namespace llmc::sparse

#endif // LLMC_SPARSELAYOUT_H
