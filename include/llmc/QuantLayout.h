//===- QuantLayout.h - quantized and 2:4-sparse weight formats -------------===//
//
// The single definition of llmc's quantized weight formats, shared by the
// compiler's quantization passes (which produce them at compile time) and the
// runtime kernels (which read them), with plain reference routines for both
// directions. Header-only, in the style of PackedLayout.h.
//
// Logical weight W is [K, N] (y = x W); quantization groups run along K (the
// reduction dim), one scale per (group, output column).
//
// Scheme: bits 8 or 4; group G = 32/64/128 (any multiple of the K alignment,
// 4 for int8 and 8 for int4), or 0 = per output channel (one group of the
// whole padded K); symmetric or asymmetric.
//
// Codes are unsigned (u8 for int8, u4 nibbles for int4); every weight
// dequantizes as   w = scale * (code - zero)
//   symmetric int8:  scale = amax / 127, code = q + 128 with q in [-127, 127]
//                    (llama.cpp Q8_0's grid); zero = 128, not stored.
//   symmetric int4:  scale = m / -8, where m is the group's first element of
//                    largest magnitude, code = q + 8 with q in [-8, 7]
//                    (llama.cpp Q4_0's grid: m maps to -8 exactly; the scale
//                    is negative when m > 0); zero = 8, not stored.
//   asymmetric:      the range [min(lo, 0), max(hi, 0)] (it contains 0, as
//                    GPTQ's and ONNX Runtime's quantizers make it) is split into
//                    2^bits - 1 steps: scale = range / (2^bits - 1),
//                    zero = round(-min / scale) in [0, 2^bits - 1], stored as
//                    one uint8 per (group, column).
// Because every range contains 0, a weight of 0 is exact (code == zero), and
// zero padding changes no scale: K is padded with zero rows up to a multiple
// of G (K not a multiple of the group size is padded, never an error),
// columns up to a multiple of nr. Rounding is to nearest, ties to even, with
// `code = clamp(round(w / scale) + zero)` for the stored (f16) scale. Scales
// are IEEE fp16, rounded away from zero so that no weight overflows the grid.
//
// Code layout, in panels of `nr` output columns (nr = 32 or 64 for AVX-512)
// like PackedLayout.h, each panel holding all of padded K:
//   int8: byte  [p][k/4][j][k%4]        = code(k, p*nr + j)
//   int4: byte  [p][k/8][j][k%4], low nibble = code(k) for k%8 < 4,
//                                 high nibble = code(k + 4)
// so one 64-byte load holds 4 consecutive k of 16 columns: int8 feeds
// vpdpbusd directly (u8 weight codes x s8 activations), and int4's
// `v & 0xF` and `v >> 4` give the operands for k..k+3 and k+4..k+7.
// Scales (fp16) and zero points (uint8) are [p][g][j] (group-major within a
// panel, so a kernel streams them along with its panel).
//
// 2:4 sparsity (weights in f32): in every block of 4 consecutive k of a
// column at most 2 weights are nonzero. Compressed: K padded to a multiple of
// 8, values [p][k/4][j][2] (the kept values of a block, by position), metadata
// one byte [p][k/8][j]: low nibble for block 2*(k/8), high nibble for the
// next, each nibble = i0 | i1 << 2 with i0 < i1 the positions (0..3) in the
// block; blocks with fewer than 2 nonzeros keep the lowest free positions
// (holding 0).
//
// W8A8: activations X [M, K] are quantized per token (row) at run time to
// int8 in [-127, 127]: scale = amax / 127 (f32), q = round(x * 127 / amax),
// rows zero-padded to the weight's padded K. A quantized linear layer is then
//   y[m, n] = sa[m] * sum_g scale[g, n] * (sum_{k in g} code[k, n] * qa[m, k]
//                                          - zero[g, n] * sum_{k in g} qa[m, k])
// with int32 sums (referenceLinearQuantized).
//
// W4A8 (int4 weights x int8 activations): one scale per token loses too
// much at 4 bits, so the activations are quantized per row AND per block of
// kActBlock = 32 consecutive k (llama.cpp Q8_0's grid): block b of row m is
// k in [32b, min(32b + 32, paddedK)), sa[m, b] = amax / 127 over the block's
// values, q = round(x * 127 / amax) (quantizeActivationsPerBlock). Then
//   y[m, n] = sum_g scale[g, n] * sum_{b in g} sa[m, b]
//                 * (sum_{k in b} code[k, n] * qa[m, k] - zero[g, n] * sum_{k in b} qa[m, k])
// with int32 sums per block (referenceLinearW4A8). A weight group must be a
// union of whole blocks: G a multiple of 32, or per channel (one group of
// the whole padded K, whose last block is shorter when paddedK is not a
// multiple of 32); other groups are refused (w4a8Unsupported). int8 weights
// keep W8A8's per-token scales.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_QUANTLAYOUT_H
#define LLMC_QUANTLAYOUT_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

namespace llmc::quant {

//===--- fp16 scales -------------------------------------------------------===//

/// Round-to-nearest-even f32 -> IEEE fp16 (subnormals kept, overflow -> inf).
inline uint16_t toF16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint16_t sign = uint16_t((x >> 16) & 0x8000u);
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) // inf / NaN (quiet)
    return sign | (ax > 0x7f800000u ? 0x7e00u : 0x7c00u);
  if (ax >= 0x477ff000u) // >= 65520 rounds past the largest half (65504)
    return sign | 0x7c00u;
  if (ax <= 0x33000000u) // <= 2^-25: rounds to 0 (2^-25 is a tie, to even)
    return sign;
  if (ax < 0x38800000u) { // below 2^-14: a subnormal half, units of 2^-24
    int shift = 126 - int(ax >> 23);
    uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
    uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1)))
      ++q;
    return sign | uint16_t(q);
  }
  uint32_t r = ax - 0x38000000u; // rebias the exponent from 127 to 15
  r = (r + 0xfffu + ((r >> 13) & 1)) >> 13;
  return sign | uint16_t(r);
}

inline float fromF16(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ffu;
  if (e == 0) {
    float v = std::ldexp(float(m), -24);
    return sign ? -v : v;
  }
  uint32_t bits = e == 31 ? (sign | 0x7f800000u | (m << 13)) : (sign | ((e + 112) << 23) | (m << 13));
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// The fp16 nearest to `s` whose magnitude is not smaller, so that dividing
/// the group's extreme by it stays on the grid. `s` must be finite and
/// |s| <= 65504.
inline uint16_t scaleToF16(float s) {
  uint16_t h = toF16(s);
  if (std::fabs(fromF16(h)) < std::fabs(s))
    ++h; // one ulp up in magnitude (fp16 is sign-magnitude)
  return h;
}

//===--- schemes and layout ------------------------------------------------===//

struct Scheme {
  int bits = 8;        ///< 8 or 4
  int64_t group = 0;   ///< K elements per scale; 0 = per output channel
  bool symmetric = true;
};

/// K alignment of the code layout: 4 for int8, 8 for int4.
inline int64_t kAlignment(int bits) { return bits == 4 ? 8 : 4; }

/// Why `s` is not a valid scheme, or "" if it is.
inline std::string validate(const Scheme &s) {
  if (s.bits != 8 && s.bits != 4)
    return "quantization bits must be 8 or 4, got " + std::to_string(s.bits);
  if (s.group < 0 || s.group % kAlignment(s.bits) != 0)
    return "group size " + std::to_string(s.group) + " must be 0 (per channel) or a positive multiple of " +
           std::to_string(kAlignment(s.bits)) + " for int" + std::to_string(s.bits);
  return "";
}

inline int maxCode(int bits) { return (1 << bits) - 1; }
/// The implicit zero point of symmetric schemes.
inline int symmetricZero(int bits) { return 1 << (bits - 1); }

/// Sizes and indexing of a [K, N] weight quantized with a scheme, nr columns per panel.
struct Layout {
  Scheme scheme;
  int64_t K = 0, N = 0, nr = 1;
  int64_t groupSize = 0; ///< G (per channel: the padded K)
  int64_t paddedK = 0;   ///< multiple of G
  int64_t numGroups = 0;
  int64_t numPanels = 0;

  /// Bytes of codes.
  int64_t codeBytes() const { return numPanels * nr * paddedK * scheme.bits / 8; }
  /// Number of scales (and of zero points, if asymmetric).
  int64_t numParams() const { return numPanels * nr * numGroups; }
  /// Bytes of the whole quantized weight: codes, fp16 scales, uint8 zeros.
  int64_t totalBytes() const { return codeBytes() + numParams() * (2 + (scheme.symmetric ? 0 : 1)); }

  /// Byte holding code(k, n); for int4, nibbleShift(k) says which half.
  int64_t codeByte(int64_t k, int64_t n) const {
    int64_t p = n / nr, j = n % nr;
    if (scheme.bits == 8)
      return ((p * (paddedK / 4) + k / 4) * nr + j) * 4 + k % 4;
    return ((p * (paddedK / 8) + k / 8) * nr + j) * 4 + k % 4;
  }
  static int nibbleShift(int64_t k) { return (k % 8) < 4 ? 0 : 4; }
  /// Index of the scale / zero point of group g, column n.
  int64_t paramIndex(int64_t g, int64_t n) const { return ((n / nr) * numGroups + g) * nr + n % nr; }
};

/// The layout of a [K, N] weight, or an error message in *error.
inline Layout makeLayout(const Scheme &s, int64_t K, int64_t N, int64_t nr, std::string *error) {
  Layout l;
  if (std::string e = validate(s); !e.empty()) {
    *error = e;
    return l;
  }
  if (K <= 0 || N <= 0 || nr <= 0) {
    *error = "K, N and nr must be positive";
    return l;
  }
  int64_t align = kAlignment(s.bits);
  l.scheme = s;
  l.K = K;
  l.N = N;
  l.nr = nr;
  l.groupSize = s.group ? s.group : (K + align - 1) / align * align;
  l.paddedK = (K + l.groupSize - 1) / l.groupSize * l.groupSize;
  l.numGroups = l.paddedK / l.groupSize;
  l.numPanels = (N + nr - 1) / nr;
  error->clear();
  return l;
}

inline uint8_t getCode(const Layout &l, const uint8_t *codes, int64_t k, int64_t n) {
  uint8_t b = codes[l.codeByte(k, n)];
  return l.scheme.bits == 8 ? b : uint8_t((b >> Layout::nibbleShift(k)) & 0xf);
}

inline void setCode(const Layout &l, uint8_t *codes, int64_t k, int64_t n, uint8_t code) {
  uint8_t &b = codes[l.codeByte(k, n)];
  if (l.scheme.bits == 8) {
    b = code;
    return;
  }
  int sh = Layout::nibbleShift(k);
  b = uint8_t((b & ~(0xf << sh)) | ((code & 0xf) << sh));
}

inline int zeroAt(const Layout &l, const uint8_t *zeros, int64_t g, int64_t n) {
  return l.scheme.symmetric ? symmetricZero(l.scheme.bits) : zeros[l.paramIndex(g, n)];
}

//===--- round-to-nearest quantization ------------------------------------===//

struct GroupParams {
  uint16_t scale = 0; ///< fp16
  uint8_t zero = 0;   ///< the zero point (the implicit one for symmetric schemes)
};

/// RTN parameters of one group: `count` values `stride` apart. Values beyond
/// the weight (padding) are zeros and need not be passed: they change nothing.
/// Fails (returns false) only for non-finite values or scales beyond fp16.
inline bool groupParams(const float *v, int64_t count, int64_t stride, const Scheme &s, GroupParams *out,
                        std::string *error) {
  float lo = 0.f, hi = 0.f, m = 0.f;
  for (int64_t i = 0; i < count; ++i) {
    float x = v[i * stride];
    if (!std::isfinite(x)) {
      *error = "cannot quantize a non-finite weight";
      return false;
    }
    lo = std::min(lo, x);
    hi = std::max(hi, x);
    if (std::fabs(x) > std::fabs(m))
      m = x; // first element of largest magnitude
  }
  float scale;
  if (s.symmetric)
    scale = s.bits == 8 ? std::fabs(m) / 127.f : m / -8.f;
  else
    scale = (hi - lo) / float(maxCode(s.bits));
  if (!(std::fabs(scale) <= 65504.f)) {
    *error = "weight range too large for an fp16 scale";
    return false;
  }
  out->scale = scale == 0.f ? 0 : scaleToF16(scale); // no -0 for all-zero groups
  if (s.symmetric) {
    out->zero = uint8_t(symmetricZero(s.bits));
  } else {
    float sc = fromF16(out->scale);
    out->zero = sc == 0.f ? 0 : uint8_t(std::clamp(std::nearbyint(-lo / sc), 0.f, float(maxCode(s.bits))));
  }
  return true;
}

/// code = clamp(round(w / scale) + zero, 0, 2^bits - 1); a zero scale gives `zero`.
inline uint8_t quantizeValue(float w, float scale, int zero, int bits) {
  if (scale == 0.f)
    return uint8_t(zero);
  float q = std::nearbyint(w / scale) + float(zero);
  return uint8_t(std::clamp(q, 0.f, float(maxCode(bits))));
}

inline float dequantizeValue(uint8_t code, float scale, int zero) { return scale * float(int(code) - zero); }

/// W element (k, n) of a weight stored [K, N] or, if `transposed`, [N, K].
inline float weightAt(const float *w, bool transposed, int64_t k, int64_t n, int64_t K, int64_t N) {
  return transposed ? w[n * K + k] : w[k * N + n];
}

/// Round-to-nearest quantization of all of W. `codes` has l.codeBytes()
/// bytes, `scales` l.numParams() fp16 values, `zeros` l.numParams() bytes
/// (asymmetric schemes only; may be null for symmetric ones). Padding rows
/// and columns get code == zero (they dequantize to 0); padding columns get
/// scale 0. Returns "" or an error message.
inline std::string quantizeRTN(const float *w, bool transposed, const Layout &l, uint8_t *codes, uint16_t *scales,
                               uint8_t *zeros) {
  if (!l.scheme.symmetric && !zeros)
    return "asymmetric quantization needs a zero-point buffer";
  std::memset(codes, 0, size_t(l.codeBytes()));
  const int64_t G = l.groupSize;
  for (int64_t n = 0; n < l.numPanels * l.nr; ++n)
    for (int64_t g = 0; g < l.numGroups; ++g) {
      int64_t k0 = g * G, count = n < l.N ? std::max<int64_t>(0, std::min(G, l.K - k0)) : 0;
      GroupParams gp;
      std::string err;
      const float *first = count ? &w[transposed ? n * l.K + k0 : k0 * l.N + n] : nullptr;
      if (!groupParams(first, count, transposed ? 1 : l.N, l.scheme, &gp, &err))
        return err + " (column " + std::to_string(n) + ", group " + std::to_string(g) + ")";
      scales[l.paramIndex(g, n)] = gp.scale;
      if (zeros)
        zeros[l.paramIndex(g, n)] = l.scheme.symmetric ? 0 : gp.zero;
      float sc = fromF16(gp.scale);
      for (int64_t k = k0; k < k0 + G; ++k) {
        float x = (n < l.N && k < l.K) ? weightAt(w, transposed, k, n, l.K, l.N) : 0.f;
        setCode(l, codes, k, n, quantizeValue(x, sc, gp.zero, l.scheme.bits));
      }
    }
  return "";
}

/// W (row-major [K, N]) from its quantized form.
inline void dequantize(const Layout &l, const uint8_t *codes, const uint16_t *scales, const uint8_t *zeros,
                       float *w) {
  for (int64_t k = 0; k < l.K; ++k)
    for (int64_t n = 0; n < l.N; ++n) {
      int64_t g = k / l.groupSize;
      w[k * l.N + n] = dequantizeValue(getCode(l, codes, k, n), fromF16(scales[l.paramIndex(g, n)]),
                                       zeroAt(l, zeros, g, n));
    }
}

//===--- int8 per-token activations (W8A8) --------------------------------===//

/// Quantizes the n values at x to int8 (q[i] = round(x[i] * 127 / amax)),
/// padded with zeros up to `padded`; returns the scale amax / 127 (0 for zeros).
inline float quantizeSpan(const float *x, int64_t n, int64_t padded, int8_t *q) {
  float amax = 0.f;
  for (int64_t k = 0; k < n; ++k)
    amax = std::max(amax, std::fabs(x[k]));
  float inv = amax > 0.f ? 127.f / amax : 0.f;
  for (int64_t k = 0; k < padded; ++k)
    q[k] = k < n ? int8_t(std::clamp(std::nearbyint(x[k] * inv), -127.f, 127.f)) : 0;
  return amax / 127.f;
}

/// Quantizes each row of X [M, K] (row stride ldx) to int8: q [M, paddedK]
/// (zero padded), scales [M]. A row of zeros gets scale 0 and q 0.
inline void quantizeActivationsPerToken(const float *x, int64_t M, int64_t K, int64_t ldx, int64_t paddedK,
                                        int8_t *q, float *scales) {
  for (int64_t m = 0; m < M; ++m)
    scales[m] = quantizeSpan(x + m * ldx, K, paddedK, q + m * paddedK);
}

/// The quantized linear layer in the integer domain (the formula in the
/// header comment): qa [M, l.paddedK] and sa [M] from
/// quantizeActivationsPerToken; y [M, N] row-major.
inline void referenceLinearQuantized(const int8_t *qa, const float *sa, int64_t M, const Layout &l,
                                     const uint8_t *codes, const uint16_t *scales, const uint8_t *zeros,
                                     float *y) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < l.N; ++n) {
      const int8_t *a = qa + m * l.paddedK;
      float acc = 0.f;
      for (int64_t g = 0; g < l.numGroups; ++g) {
        int32_t dot = 0, sum = 0;
        for (int64_t k = g * l.groupSize; k < (g + 1) * l.groupSize; ++k) {
          dot += int32_t(getCode(l, codes, k, n)) * a[k];
          sum += a[k];
        }
        acc += fromF16(scales[l.paramIndex(g, n)]) * float(dot - zeroAt(l, zeros, g, n) * sum);
      }
      y[m * l.N + n] = sa[m] * acc;
    }
}

//===--- int8 per-block activations (W4A8) --------------------------------===//

/// K values per activation scale of W4A8 (llama.cpp Q8_0's block).
constexpr int64_t kActBlock = 32;

/// Activation blocks of a row of paddedK values (the last may be shorter).
inline int64_t actBlocks(int64_t paddedK) { return (paddedK + kActBlock - 1) / kActBlock; }

/// Why W4A8 cannot run weights quantized with `s`, or "" if it can (int4,
/// group 0 = per channel or a multiple of kActBlock).
inline std::string w4a8Unsupported(const Scheme &s) {
  if (s.bits != 4)
    return "W4A8 needs int4 weights, got int" + std::to_string(s.bits);
  if (s.group != 0 && s.group % kActBlock != 0)
    return "W4A8 needs an int4 group that is a multiple of " + std::to_string(kActBlock) +
           " (or per channel), got group " + std::to_string(s.group);
  return "";
}

/// Quantizes each row of X [M, K] (row stride ldx) per block of kActBlock:
/// q [M, paddedK] (zero padded), scales [M, actBlocks(paddedK)]. Padding
/// (k >= K) counts as zeros: a block past K gets scale 0.
inline void quantizeActivationsPerBlock(const float *x, int64_t M, int64_t K, int64_t ldx, int64_t paddedK,
                                        int8_t *q, float *scales) {
  const int64_t nb = actBlocks(paddedK);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t b = 0; b < nb; ++b) {
      int64_t k0 = b * kActBlock, len = std::min(kActBlock, paddedK - k0);
      scales[m * nb + b] = quantizeSpan(x + m * ldx + k0, std::clamp<int64_t>(K - k0, 0, len), len,
                                        q + m * paddedK + k0);
    }
}

/// The W4A8 layer in the integer domain (the formula in the header
/// comment): qa [M, l.paddedK] and sa [M, actBlocks(l.paddedK)] from
/// quantizeActivationsPerBlock; y [M, N] row-major. The scheme must pass
/// w4a8Unsupported.
inline void referenceLinearW4A8(const int8_t *qa, const float *sa, int64_t M, const Layout &l,
                                const uint8_t *codes, const uint16_t *scales, const uint8_t *zeros, float *y) {
  const int64_t nb = actBlocks(l.paddedK);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < l.N; ++n) {
      const int8_t *a = qa + m * l.paddedK;
      float acc = 0.f;
      for (int64_t g = 0; g < l.numGroups; ++g) {
        const int zero = zeroAt(l, zeros, g, n);
        float group = 0.f;
        for (int64_t k0 = g * l.groupSize; k0 < (g + 1) * l.groupSize; k0 += kActBlock) {
          int32_t dot = 0, sum = 0;
          for (int64_t k = k0; k < std::min(k0 + kActBlock, (g + 1) * l.groupSize); ++k) {
            dot += int32_t(getCode(l, codes, k, n)) * a[k];
            sum += a[k];
          }
          group += sa[m * nb + k0 / kActBlock] * float(dot - zero * sum);
        }
        acc += fromF16(scales[l.paramIndex(g, n)]) * group;
      }
      y[m * l.N + n] = acc;
    }
}

} // namespace llmc::quant

namespace llmc::sparse24 {

/// Sizes and indexing of a 2:4-compressed [K, N] f32 weight, nr columns per panel.
struct Layout {
  int64_t K = 0, N = 0, nr = 1;
  int64_t paddedK = 0; ///< multiple of 8
  int64_t numPanels = 0;
  int64_t numBlocks() const { return paddedK / 4; }
  int64_t numValues() const { return numPanels * nr * numBlocks() * 2; }
  int64_t metaBytes() const { return numPanels * nr * paddedK / 8; }
  /// Index of kept value t (0, 1) of block b (k = 4b .. 4b+3) of column n.
  int64_t valueIndex(int64_t b, int64_t n, int t) const {
    return (((n / nr) * numBlocks() + b) * nr + n % nr) * 2 + t;
  }
  /// Metadata byte of block b of column n; the nibble is (b % 2) * 4 bits up.
  int64_t metaByte(int64_t b, int64_t n) const { return ((n / nr) * (paddedK / 8) + b / 2) * nr + n % nr; }
};

inline Layout makeLayout(int64_t K, int64_t N, int64_t nr) {
  Layout l;
  l.K = K;
  l.N = N;
  l.nr = nr;
  l.paddedK = (K + 7) / 8 * 8;
  l.numPanels = (N + nr - 1) / nr;
  return l;
}

/// Zeroes the two smallest-magnitude weights of every block of 4 along K
/// (ties: the lower k is kept) of a row-major [K, N] weight: magnitude pruning.
inline void pruneMagnitude(float *w, int64_t K, int64_t N) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k0 = 0; k0 < K; k0 += 4) {
      int64_t cnt = std::min<int64_t>(4, K - k0);
      if (cnt <= 2)
        continue;
      int keep0 = -1, keep1 = -1; // the two largest, earlier first on ties
      for (int i = 0; i < cnt; ++i) {
        float a = std::fabs(w[(k0 + i) * N + n]);
        if (keep0 < 0 || a > std::fabs(w[(k0 + keep0) * N + n])) {
          keep1 = keep0;
          keep0 = i;
        } else if (keep1 < 0 || a > std::fabs(w[(k0 + keep1) * N + n])) {
          keep1 = i;
        }
      }
      for (int i = 0; i < cnt; ++i)
        if (i != keep0 && i != keep1)
          w[(k0 + i) * N + n] = 0.f;
    }
}

/// Compresses W ([K, N], or [N, K] if transposed) that is 2:4 sparse along K.
/// `values` has l.numValues() floats, `meta` l.metaBytes() bytes. Returns ""
/// or an error naming the first block with more than two nonzeros.
inline std::string compress(const float *w, bool transposed, const Layout &l, float *values, uint8_t *meta) {
  std::memset(meta, 0, size_t(l.metaBytes()));
  for (int64_t n = 0; n < l.numPanels * l.nr; ++n)
    for (int64_t b = 0; b < l.numBlocks(); ++b) {
      float v[4];
      for (int i = 0; i < 4; ++i) {
        int64_t k = 4 * b + i;
        v[i] = (n < l.N && k < l.K) ? quant::weightAt(w, transposed, k, n, l.K, l.N) : 0.f;
      }
      int idx[2], found = 0;
      for (int i = 0; i < 4; ++i)
        if (v[i] != 0.f) {
          if (found == 2)
            return "weight is not 2:4 sparse: column " + std::to_string(n) + ", k " + std::to_string(4 * b) +
                   ".." + std::to_string(4 * b + 3) + " has more than 2 nonzeros";
          idx[found++] = i;
        }
      for (int i = 0; found < 2; ++i) // fill with the lowest free positions
        if (found == 0 || (found == 1 && i != idx[0]))
          idx[found++] = i;
      if (idx[0] > idx[1])
        std::swap(idx[0], idx[1]);
      values[l.valueIndex(b, n, 0)] = v[idx[0]];
      values[l.valueIndex(b, n, 1)] = v[idx[1]];
      meta[l.metaByte(b, n)] |= uint8_t((idx[0] | idx[1] << 2) << ((b % 2) * 4));
    }
  return "";
}

/// W (row-major [K, N]) from its compressed form.
inline void decompress(const Layout &l, const float *values, const uint8_t *meta, float *w) {
  std::fill(w, w + l.K * l.N, 0.f);
  for (int64_t n = 0; n < l.N; ++n)
    for (int64_t b = 0; b < l.numBlocks(); ++b) {
      int nib = (meta[l.metaByte(b, n)] >> ((b % 2) * 4)) & 0xf;
      for (int t = 0; t < 2; ++t) {
        int64_t k = 4 * b + ((nib >> (2 * t)) & 3);
        if (k < l.K)
          w[k * l.N + n] = values[l.valueIndex(b, n, t)];
      }
    }
}

} // namespace llmc::sparse24

#endif // LLMC_QUANTLAYOUT_H
