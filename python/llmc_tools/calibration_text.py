"""Calibration text for `llmc compile --quantize=...,method=gptq --calibration=FILE`.

  python -m llmc_tools.calibration_text OUT [--source wiki.test.raw] [--fraction 0.25]

There is no WikiText-2 train split in ../shared, so the calibration text is
the last `fraction` of the lines of wiki.test.raw (by default 25%: lines
3,269 to 4,358 of 4,358, about 320 kB). The perplexity table scores the
*first* chunks of the same file (`llmc perplexity --chunks N`, ctx 512: the
first N * 512 tokens, 10,240 tokens for N = 20 out of 303,415), so the two
parts do not overlap; `--check-ctx/--check-chunks` prints where the tail
starts in tokens of a tokenizer.json to show it. A full-file perplexity run
(all 592 chunks) does include the tail: use it only for RTN-vs-GPTQ
comparisons that say so.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SOURCE = Path(os.environ.get("LLMC_SHARED", REPO.parent / "shared")) / "data/wikitext-2-raw/wiki.test.raw"


def tail_lines(text: str, fraction: float) -> tuple[str, int]:
    """The last `fraction` of the lines of `text` and the index of the first kept line."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    lines = text.splitlines(keepends=True)
    start = len(lines) - int(round(len(lines) * fraction))
    return "".join(lines[start:]), start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--fraction", type=float, default=0.25)
    ap.add_argument("--tokenizer", type=Path, help="tokenizer.json: report where the tail starts in tokens")
    ap.add_argument("--check-ctx", type=int, default=512)
    ap.add_argument("--check-chunks", type=int, default=20)
    a = ap.parse_args(argv)
    text = a.source.read_text(encoding="utf-8")
    tail, start = tail_lines(text, a.fraction)
    a.out.write_text(tail, encoding="utf-8")
    print(f"wrote {a.out}: lines {start + 1}..{len(text.splitlines())} of {a.source} ({len(tail.encode())} bytes)")
    if a.tokenizer:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(a.tokenizer))
        head = "".join(text.splitlines(keepends=True)[:start])
        first = len(tok.encode(head, add_special_tokens=False).ids)
        scored = a.check_ctx * a.check_chunks
        print(f"the tail starts at token {first}; perplexity with --ctx {a.check_ctx} --chunks "
              f"{a.check_chunks} reads tokens 0..{scored - 1}: "
              + ("disjoint" if scored <= first else "OVERLAPPING"))
        if scored > first:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
