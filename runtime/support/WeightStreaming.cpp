//===- WeightStreaming.cpp - do the weights stream from DRAM every step? ---===//
#include "WeightStreaming.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <unistd.h>

namespace llmc::rt {

namespace {
std::atomic<bool> gStream{true};

/// "16384K" / "32M" / "512" (sysfs cache size) in bytes; 0 if unreadable.
int64_t readSysfsSize(const std::string &path) {
  FILE *f = std::fopen(path.c_str(), "r");
  if (!f)
    return 0;
  long long v = 0;
  char unit = 0;
  int n = std::fscanf(f, "%lld%c", &v, &unit);
  std::fclose(f);
  if (n < 1 || v <= 0)
    return 0;
  if (unit == 'K' || unit == 'k')
    v <<= 10;
  else if (unit == 'M' || unit == 'm')
    v <<= 20;
  return v;
}
} // namespace

bool weightsStream() { return gStream.load(std::memory_order_relaxed); }
void setWeightsStream(bool stream) { gStream.store(stream, std::memory_order_relaxed); }

int64_t lastLevelCacheBytes() {
  int64_t best = 0;
  for (int i = 0; i < 8; ++i) { // index0..: L1d, L1i, L2, L3, ...
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i);
    if (int64_t s = readSysfsSize(dir + "/size"); s > best)
      best = s;
  }
#if defined(_SC_LEVEL3_CACHE_SIZE)
  // sysconf reports what cpuid says, which in a VM can be the host's whole
  // socket: only a fallback.
  if (best == 0)
    best = std::max<int64_t>(0, sysconf(_SC_LEVEL3_CACHE_SIZE));
#endif
  return best > 0 ? best : int64_t(32) << 20;
}

void decideWeightStreaming(int64_t weightBytes) {
  setWeightsStream(weightBytes > lastLevelCacheBytes());
}

} // namespace llmc::rt
