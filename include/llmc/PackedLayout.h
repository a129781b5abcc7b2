//===- PackedLayout.h - the packed weight layout shared by compiler and runtime -===//
//
// The compiler packs linear-layer weights at compile time (pass
// llmc-pack-weights) into the blocked layout the runtime's GEMM/GEMV kernels
// stream; this header is the single definition of that layout, used by the
// packing pass and by the kernels' tests.
//
// Logical weight W is [K, N] (y = x W). Columns are grouped into panels of
// `nr` columns (nr = 32 for AVX-512 targets, 16 for AVX2; any nr >= 1 is
// valid for the portable kernel):
//   f32:  packed[p][k][j]          = W[k, p*nr + j]
//   bf16: packed[p][k/2][j][k%2]   = bf16(W[k, p*nr + j])   (K padded to even)
// for p in [0, ceil(N/nr)); columns past N and the padded K row are 0.
//
// Gated (SwiGLU) packing puts the gate and up projections side by side:
// panel 2p holds gate columns [p*nr, p*nr+nr) and panel 2p+1 the same up
// columns, so a kernel computes silu(gate)*up of a tile in registers.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_PACKEDLAYOUT_H
#define LLMC_PACKEDLAYOUT_H

#include <cstdint>
#include <cstring>

namespace llmc::packed {

/// Kernel epilogue flags (the `flags` argument of llmc_rt_linear_packed_*).
enum EpilogueFlags : int32_t {
  kBias = 1,     ///< y += bias[n]
  kResidual = 2, ///< y += residual[m, n]
  kSwiGLU = 4,   ///< weights are gated-packed; y = silu(gate) * up
  kRMSNorm = 8,  ///< y *= 1/sqrt(mean(x[m,:]^2) + eps) (gamma folded into W)
};

inline int64_t numPanels(int64_t n, int64_t nr) { return (n + nr - 1) / nr; }
inline int64_t paddedK(int64_t k) { return (k + 1) & ~int64_t(1); }

/// Number of elements of a packed f32 weight.
inline int64_t packedSizeF32(int64_t k, int64_t n, int64_t nr) {
  return numPanels(n, nr) * nr * k;
}
/// Number of 16-bit elements of a packed bf16 weight.
inline int64_t packedSizeBF16(int64_t k, int64_t n, int64_t nr) {
  return numPanels(n, nr) * nr * paddedK(k);
}

/// Round-to-nearest-even f32 -> bf16 (NaN kept quiet).
inline uint16_t toBF16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1);
  return uint16_t(u >> 16);
}
inline float fromBF16(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// W element (k, n) of a weight stored [K, N] or, if `transposed`, [N, K].
inline float weightAt(const float *w, bool transposed, int64_t k, int64_t n,
                      int64_t K, int64_t N) {
  return transposed ? w[n * K + k] : w[k * N + n];
}

/// Packs panel `p` of W (f32 / bf16 layouts above).
inline void packPanelF32(const float *w, bool transposed, int64_t K, int64_t N,
                         int64_t nr, int64_t p, float *out) {
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < nr; ++j) {
      int64_t n = p * nr + j;
      *out++ = n < N ? weightAt(w, transposed, k, n, K, N) : 0.f;
    }
}
inline void packPanelBF16(const float *w, bool transposed, int64_t K, int64_t N,
                          int64_t nr, int64_t p, uint16_t *out) {
  int64_t kp = paddedK(K);
  for (int64_t k2 = 0; k2 < kp; k2 += 2)
    for (int64_t j = 0; j < nr; ++j)
      for (int64_t kk = 0; kk < 2; ++kk) {
        int64_t n = p * nr + j, k = k2 + kk;
        *out++ = (n < N && k < K) ? toBF16(weightAt(w, transposed, k, n, K, N)) : 0;
      }
}

/// Packs all of W.
inline void packF32(const float *w, bool transposed, int64_t K, int64_t N, int64_t nr,
                    float *out) {
  for (int64_t p = 0; p < numPanels(N, nr); ++p)
    packPanelF32(w, transposed, K, N, nr, p, out + p * nr * K);
}
inline void packBF16(const float *w, bool transposed, int64_t K, int64_t N, int64_t nr,
                     uint16_t *out) {
  for (int64_t p = 0; p < numPanels(N, nr); ++p)
    packPanelBF16(w, transposed, K, N, nr, p, out + p * nr * paddedK(K));
}

/// Gated packing: interleaves the panels of `gate` and `up` (both [K, N] or
/// both transposed); `out` holds twice packedSize{F32,BF16}(K, N, nr).
inline void packGatedF32(const float *gate, const float *up, bool transposed, int64_t K,
                         int64_t N, int64_t nr, float *out) {
  for (int64_t p = 0; p < numPanels(N, nr); ++p) {
    packPanelF32(gate, transposed, K, N, nr, p, out);
    out += nr * K;
    packPanelF32(up, transposed, K, N, nr, p, out);
    out += nr * K;
  }
}
inline void packGatedBF16(const float *gate, const float *up, bool transposed, int64_t K,
                          int64_t N, int64_t nr, uint16_t *out) {
  int64_t kp = paddedK(K);
  for (int64_t p = 0; p < numPanels(N, nr); ++p) {
    packPanelBF16(gate, transposed, K, N, nr, p, out);
    out += nr * kp;
    packPanelBF16(up, transposed, K, N, nr, p, out);
    out += nr * kp;
  }
}

} // namespace llmc::packed

#endif // LLMC_PACKEDLAYOUT_H
