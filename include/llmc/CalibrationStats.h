//===- CalibrationStats.h - input statistics of linear layers ---*- C++ -*-===//
//
// Calibration-based quantization (GPTQ) needs, per linear layer, the Gram
// matrix H = sum_t x_t x_t^T (K x K) of the layer's inputs over the
// calibration tokens. An instrumented library (llmc-instrument-linears)
// accumulates them at run time (runtime/api/Calibration.cpp) and writes
// them in this file format; llmc-quantize-weights reads them. Header-only,
// shared by the runtime and the compiler.
//
// File (little endian, as the only supported target is x86-64):
//   char[8]  "LLMCCAL1"
//   uint64   count               number of linears (ids 0 .. count-1)
//   count x {
//     int64  K, N                input size and output columns (K = 0: the
//                                linear never ran)
//     int64  tokens              rows observed
//     double H[K*(K+1)/2]        upper triangle, row-major (row i: H[i][i..K-1])
//   }
// Linear ids are the walk order of the quantization candidates in the
// function (see lib/Transforms/QuantCandidates.h).
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_CALIBRATIONSTATS_H
#define LLMC_CALIBRATIONSTATS_H

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace llmc::calib {

inline constexpr char kMagic[8] = {'L', 'L', 'M', 'C', 'C', 'A', 'L', '1'};

struct EntryInfo {
  int64_t K = 0, N = 0, tokens = 0;
  int64_t offset = 0; ///< file offset of the triangle
};

inline int64_t triangleSize(int64_t K) { return K * (K + 1) / 2; }

/// Writes one entry; `upper` holds triangleSize(K) doubles. False on I/O errors.
inline bool writeEntry(std::FILE *f, int64_t K, int64_t N, int64_t tokens, const double *upper) {
  int64_t head[3] = {K, N, tokens};
  if (std::fwrite(head, sizeof head, 1, f) != 1)
    return false;
  size_t n = size_t(triangleSize(K));
  return n == 0 || std::fwrite(upper, sizeof(double), n, f) == n;
}

inline bool writeHeader(std::FILE *f, uint64_t count) {
  return std::fwrite(kMagic, 8, 1, f) == 1 && std::fwrite(&count, 8, 1, f) == 1;
}

/// Reads a statistics file lazily: the index on open, one H at a time.
class Reader {
public:
  ~Reader() {
    if (f_)
      std::fclose(f_);
  }
  /// Opens `path`; "" or an error message.
  std::string open(const std::string &path) {
    f_ = std::fopen(path.c_str(), "rb");
    if (!f_)
      return "cannot open calibration statistics '" + path + "'";
    char magic[8];
    uint64_t count = 0;
    if (std::fread(magic, 8, 1, f_) != 1 || std::memcmp(magic, kMagic, 8) != 0 ||
        std::fread(&count, 8, 1, f_) != 1 || count > (1u << 24))
      return "'" + path + "' is not a calibration statistics file";
    int64_t pos = 16;
    for (uint64_t i = 0; i < count; ++i) {
      EntryInfo e;
      int64_t head[3];
      if (std::fseek(f_, long(pos), SEEK_SET) != 0 || std::fread(head, sizeof head, 1, f_) != 1 || head[0] < 0 ||
          head[0] > (1 << 20))
        return "'" + path + "' is truncated (entry " + std::to_string(i) + ")";
      e.K = head[0];
      e.N = head[1];
      e.tokens = head[2];
      e.offset = pos + int64_t(sizeof head);
      pos = e.offset + triangleSize(e.K) * int64_t(sizeof(double));
      entries_.push_back(e);
    }
    if (std::fseek(f_, 0, SEEK_END) != 0 || std::ftell(f_) < pos)
      return "'" + path + "' is truncated";
    return "";
  }
  const std::vector<EntryInfo> &entries() const { return entries_; }
  /// The full symmetric K x K matrix of entry `i` (row-major); false on I/O errors.
  bool readGram(size_t i, std::vector<double> &H) {
    const EntryInfo &e = entries_.at(i);
    std::vector<double> upper(size_t(triangleSize(e.K)));
    if (std::fseek(f_, long(e.offset), SEEK_SET) != 0 ||
        (!upper.empty() && std::fread(upper.data(), sizeof(double), upper.size(), f_) != upper.size()))
      return false;
    H.assign(size_t(e.K * e.K), 0.0);
    size_t p = 0;
    for (int64_t r = 0; r < e.K; ++r)
      for (int64_t c = r; c < e.K; ++c, ++p)
        H[r * e.K + c] = H[c * e.K + r] = upper[p];
    return true;
  }

private:
  std::FILE *f_ = nullptr;
  std::vector<EntryInfo> entries_;
};

} // namespace llmc::calib

#endif // LLMC_CALIBRATIONSTATS_H
