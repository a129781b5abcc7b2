"""Writes a calibration statistics file (include/llmc/CalibrationStats.h) for
lit tests of llmc-quantize-weights: one entry per argument "K,N,KIND" with
KIND identity (H = I, 100 tokens), pair (H = I but H[0][1] = H[1][0] = 0.5:
inputs 0 and 1 correlated), outlier (H = I but H[0][0] = 10000: input 0 is
100x larger than the others, as AWQ's salient channels) or unseen (K = 0:
the linear never ran).

  make_calibration_stats.py OUT K,N,KIND [K,N,KIND ...]
"""
import struct
import sys


def main(out, specs):
    with open(out, "wb") as f:
        f.write(b"LLMCCAL1" + struct.pack("<Q", len(specs)))
        for spec in specs:
            k, n, kind = spec.split(",")
            k, n = int(k), int(n)
            if kind == "unseen":
                f.write(struct.pack("<qqq", 0, n, 0))
                continue
            f.write(struct.pack("<qqq", k, n, 100))
            for r in range(k):
                for c in range(r, k):
                    v = 1.0 if r == c else (0.5 if kind == "pair" and (r, c) == (0, 1) else 0.0)
                    if kind == "outlier" and r == c == 0:
                        v = 10000.0
                    f.write(struct.pack("<d", v))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
