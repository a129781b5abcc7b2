"""Reference perplexity (llama.cpp's `llama-perplexity` method) with ONNX Runtime,
and with llama.cpp itself when `llama_cpp` (PyPI llama-cpp-python) is importable.

Independent of llmc: the .onnx runs in ONNX Runtime, the text is tokenized by
the `tokenizers` package (the tokenizer.json a library embeds, or a file), and
the scoring below is written from llama.cpp's description, not from llmc's
code. docs/Perplexity.md describes the method.

  python -m llmc_tools.perplexity_ref --text wiki.test.raw --ctx 512 \
      --onnx m.onnx (--library m.so | --tokenizer tokenizer.json) [--chunks N] \
      [--gguf m.gguf [--llama-tokens own|shared]] [--threads N] [--json]

BOS: as llama.cpp, BOS goes in front of the text and replaces the first token
of every chunk iff the tokenizer adds it (here: iff `encode(add_special_tokens=True)`
puts a token before the text). llama.cpp on a GGUF by default tokenizes with
its own tokenizer (`--llama-tokens own`, what llama-perplexity does);
`--llama-tokens shared` feeds it the same ids as ONNX Runtime.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Result:
    engine: str
    ppl: float
    stderr: float | None
    tokens_scored: int
    chunks: int
    ctx: int
    tokens: int  # length of the tokenized text
    bos: bool
    seconds: float
    tokens_per_second: float
    running_ppl: list[float] = field(default_factory=list)


# ------------------------------------------------------------------ text and tokens


def read_text(path) -> str:
    """The file as llama.cpp's `-f` reads it: bytes as they are, minus one final newline."""
    data = Path(path).read_bytes().decode("utf-8", errors="surrogateescape")
    return data[:-1] if data.endswith("\n") else data


def embedded_tokenizer_json(library) -> str:
    """The tokenizer.json that `llmc compile --tokenizer` put into a library."""
    lib = ctypes.CDLL(str(Path(library).resolve()), mode=ctypes.RTLD_LOCAL)
    size = ctypes.c_uint64.in_dll(lib, "llmc_tokenizer_json_size").value
    if size == 0:
        raise ValueError(f"{library} embeds no tokenizer")
    addr = ctypes.addressof(ctypes.c_char.in_dll(lib, "llmc_tokenizer_json"))
    return ctypes.string_at(addr, size).decode("utf-8")


def tokenize(tokenizer_json: str, text: str) -> tuple[list[int], int | None]:
    """Token ids of the text and the BOS id if the tokenizer adds one (else None)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer_json)
    with_special = tok.encode(text, add_special_tokens=True).ids
    plain = tok.encode(text, add_special_tokens=False).ids
    if len(with_special) == len(plain) + 1 and with_special[1:] == plain:
        return with_special, with_special[0]
    if with_special != plain:
        raise ValueError("the tokenizer adds special tokens other than a leading BOS")
    return plain, None


# ------------------------------------------------------------------ scoring


def chunk_nll(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """-log softmax(logits[j])[targets[j]] per row: the max in float32, the sum of
    exp(logit - max) (computed in float32) accumulated in float64, as llama.cpp."""
    logits = np.asarray(logits, dtype=np.float32)
    mx = logits.max(axis=1, keepdims=True)
    sum_exp = np.exp(logits - mx).sum(axis=1, dtype=np.float64)
    picked = logits[np.arange(len(targets)), targets].astype(np.float64)
    return -(picked - mx[:, 0].astype(np.float64) - np.log(sum_exp))


def perplexity(eval_chunk, tokens: list[int], ctx: int, bos: int | None, chunks: int | None,
               engine: str, log=None) -> Result:
    """llama.cpp's perplexity loop. eval_chunk(ids) returns logits [ctx, vocab] of a
    chunk evaluated from an empty cache at positions 0..ctx-1."""
    if ctx < 4:
        raise ValueError("ctx must be at least 4")
    if len(tokens) < ctx:
        raise ValueError(f"the text tokenizes to {len(tokens)} tokens, fewer than one chunk of {ctx}")
    n_chunk = len(tokens) // ctx
    if chunks:
        n_chunk = min(n_chunk, chunks)
    first = ctx // 2
    nll = nll2 = 0.0
    count = 0
    running = []
    start = time.perf_counter()
    for c in range(n_chunk):
        ids = list(tokens[c * ctx:(c + 1) * ctx])
        if bos is not None:
            ids[0] = bos
        logits = eval_chunk(ids)
        # Positions first .. ctx-2 predict tokens first+1 .. ctx-1 (the original ones).
        targets = np.asarray(tokens[c * ctx + first + 1:(c + 1) * ctx], dtype=np.int64)
        v = chunk_nll(logits[first:ctx - 1], targets)
        nll += float(v.sum())
        nll2 += float((v * v).sum())
        count += len(v)
        running.append(math.exp(nll / count))
        if log:
            print(f"[{c + 1}]{running[-1]:.4f},", end="", file=log, flush=True)
    seconds = time.perf_counter() - start
    if log:
        print(file=log)
    mean = nll / count
    var = nll2 / count - mean * mean
    ppl = math.exp(mean)
    err = ppl * math.sqrt(var / (count - 1)) if var > 0 and count > 1 else None
    return Result(engine, ppl, err, count, n_chunk, ctx, len(tokens), bos is not None, seconds,
                  n_chunk * ctx / seconds, running)


# ------------------------------------------------------------------ engines


def ort_evaluator(onnx_path, threads: int | None):
    """Evaluates a chunk with ONNX Runtime in one run from an empty KV cache."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    names = {i.name: i for i in sess.get_inputs()}
    empty_past = {}
    for name, inp in names.items():
        if name.startswith("past_key_values."):
            _, heads, _, head_dim = inp.shape
            empty_past[name] = np.zeros((1, heads, 0, head_dim), np.float32)

    def run(ids):
        n = len(ids)
        feed = {"input_ids": np.asarray([ids], np.int64), **empty_past}
        if "attention_mask" in names:
            feed["attention_mask"] = np.ones((1, n), np.int64)
        if "position_ids" in names:
            feed["position_ids"] = np.arange(n, dtype=np.int64)[None]
        (logits,) = sess.run(["logits"], feed)
        return logits[0]

    return run


def llama_cpp_model(gguf, ctx: int, threads: int | None):
    from llama_cpp import Llama

    kw = dict(model_path=str(gguf), n_ctx=ctx, n_batch=ctx, logits_all=True, verbose=False)
    if threads:
        kw.update(n_threads=threads, n_threads_batch=threads)
    return Llama(**kw)


def llama_cpp_evaluator(llm):
    def run(ids):
        llm.reset()  # empties the KV cache
        llm.eval(ids)
        return np.array(llm.scores[:len(ids)], dtype=np.float32)

    return run


def llama_cpp_tokens(llm, text: str) -> tuple[list[int], int | None]:
    """llama.cpp's own tokenization with add_special (BOS iff the vocabulary adds it)."""
    ids = llm.tokenize(text.encode("utf-8", errors="surrogateescape"), add_bos=True, special=False)
    adds_bos = llm.tokenize(b"", add_bos=True, special=False) == [llm.token_bos()]
    return ids, (llm.token_bos() if adds_bos else None)


# ------------------------------------------------------------------ command line


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", required=True)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=None, help="score at most N chunks")
    ap.add_argument("--onnx", help="ONNX decoder graph to run with ONNX Runtime")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--library", help="llmc library whose embedded tokenizer.json to use")
    src.add_argument("--tokenizer", help="tokenizer.json")
    ap.add_argument("--gguf", help="also run llama.cpp (llama-cpp-python) on this GGUF")
    ap.add_argument("--llama-tokens", choices=["own", "shared"], default="own",
                    help="llama.cpp tokenizes itself (default) or gets the tokenizer.json ids")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = ap.parse_args(argv)
    if not args.onnx and not args.gguf:
        ap.error("give --onnx and/or --gguf")
    if args.onnx and not (args.library or args.tokenizer):
        ap.error("--onnx needs --library or --tokenizer for the token ids")
    log = sys.stderr if args.json else sys.stdout

    text = read_text(args.text)
    results = []
    shared = None
    if args.library or args.tokenizer:
        tj = embedded_tokenizer_json(args.library) if args.library else Path(args.tokenizer).read_text()
        shared = tokenize(tj, text)
    if args.onnx:
        tokens, bos = shared
        results.append(perplexity(ort_evaluator(args.onnx, args.threads), tokens, args.ctx, bos,
                                  args.chunks, "onnxruntime", log))
    if args.gguf:
        try:
            llm = llama_cpp_model(args.gguf, args.ctx, args.threads)
        except ImportError as e:
            print(f"perplexity_ref: llama.cpp not run: {e} (pip install llama-cpp-python)", file=sys.stderr)
            return 1
        if args.llama_tokens == "shared":
            if shared is None:
                ap.error("--llama-tokens shared needs --library or --tokenizer")
            tokens, bos = shared
        else:
            tokens, bos = llama_cpp_tokens(llm, text)
        results.append(perplexity(llama_cpp_evaluator(llm), tokens, args.ctx, bos, args.chunks,
                                  "llama.cpp", log))
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        for r in results:
            err = f" +/- {r.stderr:.5f}" if r.stderr is not None else ""
            print(f"{r.engine}: Final estimate: PPL = {r.ppl:.4f}{err} ({r.tokens_scored} tokens scored, "
                  f"{r.chunks} chunks, {r.tokens} tokens, BOS {'added' if r.bos else 'not added'}, "
                  f"{r.seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
