//===- WeightResidency.cpp - placing a library's read-only data ----------===//
//
// See WeightResidency.h. The segments are found with dl_iterate_phdr: the
// object whose loadable segments contain the given address, and of those
// the ones mapped read-only and not executable (PF_R alone), which is where
// the linker puts .rodata and .lrodata (the weights).
//
//===----------------------------------------------------------------------===//
#include "WeightResidency.h"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

namespace llmc::rt {
namespace {

struct Range {
  uintptr_t begin, end; // [begin, end), not page-rounded
};

struct FindArgs {
  uintptr_t address;
  bool found = false;
  std::vector<Range> readOnly;
};

int findObject(struct dl_phdr_info *info, size_t, void *data) {
  auto *args = static_cast<FindArgs *>(data);
  bool contains = false;
  std::vector<Range> ro;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr) &ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD)
      continue;
    uintptr_t b = info->dlpi_addr + ph.p_vaddr, e = b + ph.p_memsz;
    if (args->address >= b && args->address < e)
      contains = true;
    if ((ph.p_flags & (PF_R | PF_W | PF_X)) == PF_R && ph.p_memsz > 0)
      ro.push_back({b, e});
  }
  if (!contains)
    return 0;
  args->found = true;
  args->readOnly = std::move(ro);
  return 1; // stop
}

std::string errnoText(const char *what) { return std::string(what) + ": " + std::strerror(errno); }

/// Replaces the file mapping of [b, e) (page-aligned) by anonymous memory
/// with the same contents at the same addresses.
bool makePrivate(uintptr_t b, uintptr_t e, std::string *err) {
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  const size_t len = e - b;
  void *raw = mmap(nullptr, len + kHuge, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) {
    *err = errnoText("mmap");
    return false;
  }
  // Same offset within a huge page as the destination, so that mremap can
  // move whole huge pages instead of splitting them.
  const uintptr_t r = reinterpret_cast<uintptr_t>(raw);
  uintptr_t dst = r - r % kHuge + b % kHuge;
  if (dst < r)
    dst += kHuge;
  madvise(reinterpret_cast<void *>(dst), len, MADV_HUGEPAGE); // a hint; may be off
  std::memcpy(reinterpret_cast<void *>(dst), reinterpret_cast<const void *>(b), len);
  const char *failed = nullptr;
  if (mprotect(reinterpret_cast<void *>(dst), len, PROT_READ) != 0)
    failed = "mprotect";
  else if (mremap(reinterpret_cast<void *>(dst), len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
                  reinterpret_cast<void *>(b)) == MAP_FAILED)
    failed = "mremap";
  if (failed) {
    *err = errnoText(failed);
    munmap(raw, len + kHuge); // the whole reservation, copy included
    return false;
  }
  // The copy now lives at b; what is left of the reservation is its slack.
  if (dst > r)
    munmap(raw, dst - r);
  if (r + kHuge > dst)
    munmap(reinterpret_cast<void *>(dst + len), r + kHuge - dst);
  return true;
}

} // namespace

bool parseWeightPlacement(const char *text, WeightPlacement *out) {
  if (!std::strcmp(text, "mapped"))
    *out = WeightPlacement::Mapped;
  else if (!std::strcmp(text, "locked"))
    *out = WeightPlacement::Locked;
  else if (!std::strcmp(text, "private"))
    *out = WeightPlacement::Private;
  else
    return false;
  return true;
}

ResidencyResult placeReadOnlySegments(const void *addressInObject, WeightPlacement placement) {
  ResidencyResult res;
  FindArgs args;
  args.address = reinterpret_cast<uintptr_t>(addressInObject);
  dl_iterate_phdr(findObject, &args);
  if (!args.found) {
    res.ok = false;
    res.error = "no loaded object contains the given address";
    return res;
  }
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  for (const Range &seg : args.readOnly) {
    // Outward for advice and locking (whole pages of this segment only:
    // the linker gives segments of different permissions their own pages);
    // inward for the remap, which must not touch a neighbour.
    uintptr_t outB = seg.begin - seg.begin % page, outE = (seg.end + page - 1) / page * page;
    uintptr_t inB = (seg.begin + page - 1) / page * page, inE = seg.end - seg.end % page;
    res.bytes += int64_t(seg.end - seg.begin);
    switch (placement) {
    case WeightPlacement::Mapped:
      madvise(reinterpret_cast<void *>(outB), outE - outB, MADV_WILLNEED); // a hint
      break;
    case WeightPlacement::Locked:
      if (mlock(reinterpret_cast<void *>(outB), outE - outB) != 0) {
        res.ok = false;
        res.error = errnoText("mlock") +
                    (errno == ENOMEM || errno == EPERM
                         ? " (raise RLIMIT_MEMLOCK, e.g. `ulimit -l unlimited`, or run with "
                           "CAP_IPC_LOCK)"
                         : "");
        return res;
      }
      break;
    case WeightPlacement::Private:
      if (inE > inB) {
        std::string err;
        if (!makePrivate(inB, inE, &err)) {
          res.ok = false;
          res.error = err;
          return res;
        }
      }
      break;
    }
  }
  return res;
}

const ResidencyResult &placeLibraryWeights() {
  static std::once_flag once;
  static ResidencyResult result;
  std::call_once(once, [] {
    const char *env = std::getenv("LLMC_WEIGHTS");
    const bool asked = env && *env;
    WeightPlacement placement = WeightPlacement::Private;
    if (asked && !parseWeightPlacement(env, &placement)) {
      result.ok = false;
      result.error = std::string("LLMC_WEIGHTS=") + env + ": expected mapped, locked or private";
      return;
    }
    const void *self = reinterpret_cast<const void *>(&placeLibraryWeights);
    result = placeReadOnlySegments(self, placement);
    if (!result.ok && !asked) {
      // The default is a speed choice, not a request: where the copy is
      // impossible (no memory for it), the file pages serve as they are.
      result = placeReadOnlySegments(self, WeightPlacement::Mapped);
    }
    if (!result.ok)
      result.error = std::string("LLMC_WEIGHTS=") + (asked ? env : "private") + ": " + result.error;
  });
  return result;
}

} // namespace llmc::rt
