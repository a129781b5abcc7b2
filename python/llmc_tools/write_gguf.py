"""Write a Llama checkpoint as an F32 or F16 GGUF that llama.cpp loads.

  python -m llmc_tools.write_gguf MODEL -o out.gguf [--type f32|f16] [--tokenizer-from SRC.gguf]
  python -m llmc_tools.write_gguf --synthetic tinyllama-1.1b -o out.gguf --type f16

The checkpoint is checkpoint.py's canonical form, which already is llama.cpp's
layout: linear weights [out, in] (GGUF lists dims innermost first, so they
appear as [in, out]) and Q/K rows in the interleaved RoPE order that
llama.cpp's HF converter produces with its permute(). So weights are written
as they are, and load_gguf() of the result gives back the same arrays (F16:
rounded to half precision).

F16 files keep 1-D tensors (norms) in F32, as llama.cpp's converter does.
Tokenizer: every `tokenizer.*` key of a source GGUF is copied (SmolLM2's
GPT-2 BPE vocabulary); without a source a minimal SentencePiece-style
vocabulary of the model's size is made (<unk>, <s>, </s>, the 256 byte tokens,
then filler pieces), enough for llama.cpp to load and run token ids.

Tensors are written one at a time (header first), so a 1.1B model needs no
second copy of its weights in memory.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .checkpoint import Checkpoint, load_checkpoint

FILE_TYPES = {"f32": 0, "f16": 1}  # llama_ftype: ALL_F32, MOSTLY_F16

# GGUF token types (llama.cpp's llama_token_type).
_NORMAL, _UNKNOWN, _CONTROL, _BYTE = 1, 2, 3, 6


def _tensors(ckpt: Checkpoint):
    """(gguf name, array [out, in] or [n]) in llama.cpp's converter order."""
    yield "token_embd.weight", ckpt.tok_embeddings
    yield "output_norm.weight", ckpt.final_norm
    if ckpt.output is not None:  # tied models have no output.weight: llama.cpp reuses token_embd
        yield "output.weight", ckpt.output
    for i, lw in enumerate(ckpt.layers):
        p = f"blk.{i}."
        yield p + "attn_norm.weight", lw.attn_norm
        yield p + "attn_q.weight", lw.wq
        yield p + "attn_k.weight", lw.wk
        yield p + "attn_v.weight", lw.wv
        yield p + "attn_output.weight", lw.wo
        yield p + "ffn_norm.weight", lw.ffn_norm
        yield p + "ffn_gate.weight", lw.w_gate
        yield p + "ffn_up.weight", lw.w_up
        yield p + "ffn_down.weight", lw.w_down


def _stored_dtype(arr: np.ndarray, ftype: str):
    return np.float16 if ftype == "f16" and arr.ndim >= 2 else np.float32


def _copy_tokenizer(writer, src: Path, vocab_size: int) -> None:
    import gguf

    reader = gguf.GGUFReader(str(src))
    copied = 0
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        main = field.types[0]
        if main == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(key, field.contents(), main, sub_type=field.types[-1])
        else:
            writer.add_key_value(key, field.contents(), main)
        copied += 1
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    if copied == 0 or tokens is None:
        raise ValueError(f"{src}: no tokenizer.* metadata to copy")
    if len(tokens.data) != vocab_size:
        raise ValueError(f"{src}: tokenizer has {len(tokens.data)} tokens, the model {vocab_size}")


def minimal_vocab(vocab_size: int) -> tuple[list[str], list[float], list[int]]:
    """SentencePiece-style pieces llama.cpp accepts: specials, byte tokens, fillers."""
    if vocab_size < 3 + 256:
        raise ValueError(f"vocab_size {vocab_size} too small for a byte-fallback vocabulary (>= 259)")
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [_UNKNOWN, _CONTROL, _CONTROL] + [_BYTE] * 256
    n_fill = vocab_size - len(tokens)
    tokens += [f"\u2581t{i}" for i in range(n_fill)]  # unique pieces ("▁t0", ...)
    types += [_NORMAL] * n_fill
    scores = [0.0] * 259 + [-float(i) for i in range(n_fill)]
    return tokens, scores, types


def _add_minimal_tokenizer(writer, vocab_size: int, bos: int, eos: int) -> None:
    tokens, scores, types = minimal_vocab(vocab_size)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(bos)
    writer.add_eos_token_id(eos)
    writer.add_unk_token_id(0)


def write_gguf(ckpt: Checkpoint, path: str | Path, ftype: str = "f32",
               tokenizer_from: str | Path | None = None, name: str | None = None) -> Path:
    """Writes `ckpt` to `path` as an F32 or F16 GGUF (llama architecture)."""
    import gguf

    if ftype not in FILE_TYPES:
        raise ValueError(f"ftype must be one of {sorted(FILE_TYPES)}")
    c = ckpt.config
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")  # no half-written file under the final name
    w = gguf.GGUFWriter(str(tmp), "llama")
    w.add_name(name or ckpt.metadata.get("general.name") or path.stem)
    w.add_file_type(FILE_TYPES[ftype])
    w.add_context_length(c.context_length)
    w.add_embedding_length(c.dim)
    w.add_feed_forward_length(c.hidden_dim)
    w.add_block_count(c.n_layers)
    w.add_head_count(c.n_heads)
    w.add_head_count_kv(c.n_kv_heads)
    w.add_rope_dimension_count(c.head_dim)
    w.add_rope_freq_base(c.rope_theta)
    w.add_layer_norm_rms_eps(c.rms_eps)
    w.add_vocab_size(c.vocab_size)
    if tokenizer_from:
        _copy_tokenizer(w, Path(tokenizer_from), c.vocab_size)
    else:
        _add_minimal_tokenizer(w, c.vocab_size, ckpt.bos_token_id, ckpt.eos_token_id)

    for tname, arr in _tensors(ckpt):
        dt = np.dtype(_stored_dtype(arr, ftype))
        w.add_tensor_info(tname, arr.shape, dt, arr.size * dt.itemsize)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for _, arr in _tensors(ckpt):
        w.write_tensor_data(np.ascontiguousarray(arr, dtype=_stored_dtype(arr, ftype)))
    w.close()
    tmp.replace(path)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("model", nargs="?", help="GGUF (llama arch, any quant) or llama2.c checkpoint")
    src.add_argument("--synthetic", metavar="PRESET", help="random weights of a synthetic_llama preset")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--type", choices=sorted(FILE_TYPES), default="f32")
    ap.add_argument("--tokenizer-from", help="copy tokenizer.* metadata from this GGUF "
                    "(default: the MODEL itself if it is a GGUF, else a minimal vocabulary)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.synthetic:
        from .synthetic_llama import synthetic_checkpoint

        ckpt = synthetic_checkpoint(args.synthetic, seed=args.seed)
        tok = args.tokenizer_from
    else:
        ckpt = load_checkpoint(args.model)
        with open(args.model, "rb") as f:
            is_gguf = f.read(4) == b"GGUF"
        tok = args.tokenizer_from or (args.model if is_gguf else None)
    out = write_gguf(ckpt, args.output, args.type, tokenizer_from=tok)
    print(f"wrote {out} ({args.type}, {out.stat().st_size / 2**20:.1f} MiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
