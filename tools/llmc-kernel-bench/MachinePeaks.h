//===- MachinePeaks.h - quick measurements of this machine's limits -*- C++ -*-===//
//
// The benchmark reports kernels as a fraction of what the machine can do:
// FMA throughput of the vector width in use, vdpbf16ps throughput, and the
// DRAM read bandwidth with 1..n threads. Each takes a few tens of ms.
//
//===----------------------------------------------------------------------===//
#ifndef LLMC_KERNEL_BENCH_MACHINEPEAKS_H
#define LLMC_KERNEL_BENCH_MACHINEPEAKS_H

/// fp32 GFLOP/s of one core with `lanes`-wide FMAs (16: AVX-512, 8: AVX2).
double measureFmaPeak(int lanes);
/// bf16 GFLOP/s of one core with vdpbf16ps (0 if the CPU lacks it).
double measureBf16DotPeak();
/// GB/s reading a buffer far larger than the caches with `threads` threads.
double measureReadBandwidth(int threads);

#endif
