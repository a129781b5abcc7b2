//===- KernelDispatch.h - per-ISA kernel tables and run-time selection -*- C++ -*-===//
//
// The packed linear and attention kernels exist once per instruction set
// (AVX-512, AVX2+FMA, portable). Each variant fills a KernelTable; the table
// is chosen once from the CPU (`__builtin_cpu_supports`) unless LLMC_ISA
// (avx512|avx2|generic) asks for a lower one. The drivers (PackedLinear.cpp,
// Attention.cpp) do blocking and threading and call only through the table.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_RUNTIME_KERNELDISPATCH_H
#define LLMC_RUNTIME_KERNELDISPATCH_H

#include <cstdint>

namespace llmc::rt::kern {

/// ceil(a / b) for a >= 0, b > 0 (tile, chunk and block counts).
constexpr int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// How a variant wants the activations of a bf16 linear layer packed.
enum class BF16Input {
  RoundedF32, ///< floats rounded to bf16 values, [k][mr]
  Pairs,      ///< bf16 pairs (k even in the low half) as uint32, [k/2][mr]
};

/// One micro-tile: c[mr][nr] (+)= A[mr][kc] * Wpanel[kc][nr].
struct TileArgs {
  const void *a;    ///< packed activations of the row block, [k][mr] (or pairs)
  int mr;           ///< rows, 1..mrMax
  const void *w;    ///< panel at its row k0 (f32 or uint16 bf16 elements)
  int64_t nr;       ///< panel width = row stride of the panel
  int64_t kc;       ///< k steps (even for bf16)
  float *c;         ///< tile output, row stride ldc
  int64_t ldc;
  bool accumulate;  ///< add to c instead of overwriting it
  /// Few-row bf16 tiles prefetch the panel non-temporally (weights stream
  /// from DRAM every step; support/WeightStreaming.h).
  bool streamWeights = false;
  /// f32 tiles ask for these cache lines (into L2), one at a time spread
  /// over the k loop: the driver's share of the next panel's slice, so that
  /// its first tile does not wait on DRAM (see PackedLinear.cpp).
  const char *prefetch = nullptr;
  int64_t prefetchLines = 0;
};

/// y[mr][ncols] = epilogue(c) (see PackedLinear.cpp for the order).
struct EpilogueArgs {
  const float *c;        ///< accumulators (gate for SwiGLU)
  const float *cu;       ///< up accumulators for SwiGLU, else null
  int64_t ldc;
  int mr;
  int64_t ncols;
  const float *rowScale; ///< RMSNorm factors of the rows, or null
  const float *bias;     ///< bias at the first column, or null
  const float *res;      ///< residual at the tile, or null (may equal y)
  int64_t ldr;
  float *y;
  int64_t ldy;
  bool stream = false;   ///< non-temporal stores to y (outputs larger than the LLC)
};

/// A strided 4-D view (element strides).
struct View4 {
  float *p;
  int64_t size[4];
  int64_t stride[4];
};

/// Element type of the K/V rows an attention job reads (--kv-cache).
enum class KVRows { F32, Int8, BF16 };

struct AttentionJob {
  View4 q, k, v, mask, out;
  bool hasMask, causal;
  float scale;
  int64_t B, H, S, D, KVH, T, Dv, G;
  /// Paged K/V (PagedAttention.cpp); null for cache views. Then k and v are
  /// block pools [blocks, KVH, blockSize, D], item b is sequence b: its
  /// queries are rows seqStart[b] + s of q/out (batch 0), at positions
  /// seqPos[b] + s (always causal), and its key t is row t % blockSize of
  /// block blockTable[b * tableStride[0] + (t / blockSize) * tableStride[1]].
  const int32_t *blockTable = nullptr;
  int64_t tableStride[2] = {0, 0}, blockSize = 0;
  const int64_t *seqStart = nullptr, *seqPos = nullptr;
  /// Rotary embedding of the queries (llmc-fuse-rope; Rope.h): each query
  /// row is rotated as it is loaded, with row (batch, head, row) of cos/sin
  /// (broadcast dims of size 1) — for a paged job batch 0 and the token's
  /// row in the concatenated batch. The keys arrive rotated.
  bool rope = false, ropeInterleaved = false;
  View4 cos{}, sin{};
  /// How the K/V rows are stored (KVQuant.h): f32; --kv-cache=int8: k.p /
  /// v.p point at int8 rows of D (Dv) codes plus a f32 scale, strides in
  /// bytes; --kv-cache=bf16: at rows of D (Dv) bf16 values (uint16_t bit
  /// patterns), strides in bf16 elements. Int8 and bf16 rows have unit
  /// inner stride.
  KVRows kvRows = KVRows::F32;
};

/// Rows of one work item: heads kvh*G+[g0,g1) x queries [s0,s1), keys
/// [t0,t1). Writes `out` directly, or (if partial) the unnormalized state
/// m[R], l[R], o[R][Dv] (rows ordered g-major) for a later merge.
struct AttentionItem {
  int64_t b, kvh, g0, g1, s0, s1, t0, t1;
  float *partial; ///< null: write `out`
};

struct KernelTable {
  const char *name;
  /// Largest row block for panels of width nr (0: this variant cannot do nr).
  int (*mrMax)(int64_t nr, bool bf16);
  BF16Input bf16Input;
  void (*tileF32)(const TileArgs &);
  void (*tileBF16)(const TileArgs &);
  void (*epilogue)(const EpilogueArgs &);
  /// Largest number of query rows (G x S block) an attention item may hold.
  int attentionMaxRows;
  void (*attention)(const AttentionJob &, const AttentionItem &);
};

/// The variants compiled into this library (null where not built for this
/// architecture).
const KernelTable *genericKernels();
const KernelTable *avx2Kernels();
const KernelTable *avx512Kernels();
const KernelTable *avx512Bf16Kernels();
/// The AVX-512 code built 16 lanes wide for AVX2 machines, so tests run the
/// AVX-512 algorithm anywhere. Only in the test binary
/// (KernelsAvx512Emulated.cpp is not part of the runtime library).
const KernelTable *avx512EmulatedKernels();

/// The table in use (chosen once; see file comment).
const KernelTable &activeKernels();

/// Forces a variant by name ("avx512", "avx512-bf16", "avx2", "generic");
/// false if the CPU cannot run it. "" restores the automatic choice. Not
/// thread-safe against running kernels.
bool setKernelsForTesting(const char *name);
/// Forces a given table (null: the automatic choice), for tests.
void setKernelTableForTesting(const KernelTable *table);

/// Whether this CPU can run the named variant.
bool kernelsSupported(const char *name);

} // namespace llmc::rt::kern

#endif
