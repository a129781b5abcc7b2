"""Write a Hugging Face ``tokenizer.json`` from the tokenizer metadata of a GGUF file.

Usage::

    python -m llmc_tools.gguf_tokenizer MODEL.gguf -o tokenizer.json

Supported ``tokenizer.ggml.model`` values:

* ``gpt2``  -- byte-level BPE (vocabulary and merges are stored in the GGUF).
  ``tokenizer.ggml.pre`` selects the pre-tokenizer (see ``PRE_TOKENIZERS``).
* ``llama`` -- SentencePiece-style BPE with byte fallback. The GGUF stores the
  pieces and their scores only; the merges are rebuilt from the scores (a piece
  with a higher score is merged earlier, as SentencePiece does).

GGUF token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
Unknown/control tokens become special added tokens; user-defined tokens become
added tokens too (``special`` false, the inverse of how llama.cpp's converter maps
non-special added tokens to USER_DEFINED).

Besides the standard Hugging Face keys, the ``model`` object gets an extra member
``"llmc"`` holding the BOS/EOS ids, whether BOS is added by default and the GGUF
chat template. (The ``tokenizers`` library rejects unknown top-level keys but
ignores unknown members of the model object; llmc's C++ loader reads ``llmc``
from either place.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

TOKEN_NORMAL = 1
TOKEN_UNKNOWN = 2
TOKEN_CONTROL = 3
TOKEN_USER_DEFINED = 4
TOKEN_UNUSED = 5
TOKEN_BYTE = 6

# The GPT-2 byte-level split pattern (what ByteLevel(use_regex=true) applies).
GPT2_PATTERN = (
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
)
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _byte_level(use_regex: bool) -> Dict[str, Any]:
    return {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
            "use_regex": use_regex}


def _split(pattern: str) -> Dict[str, Any]:
    return {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated",
            "invert": False}


def _pre_gpt2() -> Dict[str, Any]:
    return _byte_level(True)


def _pre_digits_gpt2() -> Dict[str, Any]:
    # llama.cpp's STARCODER-family pre-tokenizer ("\p{N}" then the GPT-2 regex);
    # Hugging Face writes it as Digits(individual) followed by ByteLevel.
    return {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True}, _byte_level(True)]}


def _pre_split(pattern: str):
    return lambda: {"type": "Sequence",
                    "pretokenizers": [_split(pattern), _byte_level(False)]}


# tokenizer.ggml.pre -> pre-tokenizer factory (names as llama.cpp writes them).
PRE_TOKENIZERS = {
    "default": _pre_gpt2,
    "gpt-2": _pre_gpt2,
    "gpt2": _pre_gpt2,
    "smollm": _pre_digits_gpt2,
    "starcoder": _pre_digits_gpt2,
    "refact": _pre_digits_gpt2,
    "codeshell": _pre_digits_gpt2,
    "llama-bpe": _pre_split(LLAMA3_PATTERN),
    "llama3": _pre_split(LLAMA3_PATTERN),
    "qwen2": _pre_split(QWEN2_PATTERN),
}


class ConversionError(Exception):
    pass


def read_gguf_tokenizer(path: str) -> Dict[str, Any]:
    """Return the ``tokenizer.*`` metadata of a GGUF file as plain Python values."""
    try:
        import gguf  # type: ignore
    except ImportError as exc:  # pragma: no cover
        raise ConversionError("the 'gguf' Python package is required (pip install gguf)") from exc
    try:
        reader = gguf.GGUFReader(path)
    except Exception as exc:  # noqa: BLE001 - report any reader failure clearly
        raise ConversionError(f"{path}: cannot read GGUF file: {exc}") from exc
    meta: Dict[str, Any] = {}
    for key, field in reader.fields.items():
        if key.startswith("tokenizer.") or key == "general.architecture":
            meta[key] = field.contents()
    return meta


def _special_id(meta: Dict[str, Any], key: str, n_vocab: int) -> Optional[int]:
    value = meta.get(key)
    if value is None:
        return None
    value = int(value)
    if value < 0 or value >= n_vocab:  # e.g. 0xFFFFFFFF means "none"
        return None
    return value


def _added_tokens(tokens: Sequence[str], types: Sequence[int]) -> List[Dict[str, Any]]:
    added = []
    for idx, (tok, ttype) in enumerate(zip(tokens, types)):
        if ttype in (TOKEN_CONTROL, TOKEN_UNKNOWN, TOKEN_USER_DEFINED):
            added.append({
                "id": idx,
                "content": tok,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": ttype != TOKEN_USER_DEFINED,
            })
    return added


def _vocab_dict(tokens: Sequence[str]) -> Dict[str, int]:
    vocab: Dict[str, int] = {}
    for idx, tok in enumerate(tokens):
        if tok in vocab:
            raise ConversionError(f"duplicate token {tok!r} (ids {vocab[tok]} and {idx})")
        vocab[tok] = idx
    return vocab


def _split_merge(merge: str, vocab: Dict[str, int]) -> List[str]:
    parts = merge.split(" ")
    if len(parts) == 2 and parts[0] in vocab and parts[1] in vocab:
        return parts
    # A token containing a literal space: find the split where both sides exist.
    for i, ch in enumerate(merge):
        if ch == " " and merge[:i] in vocab and merge[i + 1:] in vocab:
            return [merge[:i], merge[i + 1:]]
    raise ConversionError(f"merge {merge!r} does not name two vocabulary tokens")


def _build_gpt2(meta: Dict[str, Any]) -> Dict[str, Any]:
    tokens = list(meta["tokenizer.ggml.tokens"])
    types = list(meta.get("tokenizer.ggml.token_type") or [TOKEN_NORMAL] * len(tokens))
    vocab = _vocab_dict(tokens)
    merges_raw = meta.get("tokenizer.ggml.merges")
    if not merges_raw:
        raise ConversionError("gpt2 tokenizer without tokenizer.ggml.merges")
    merges = [_split_merge(m, vocab) for m in merges_raw]
    pre = str(meta.get("tokenizer.ggml.pre", "default"))
    if pre not in PRE_TOKENIZERS:
        raise ConversionError(
            f"unsupported tokenizer.ggml.pre {pre!r}; supported: {', '.join(sorted(PRE_TOKENIZERS))}")
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": _added_tokens(tokens, types),
        "normalizer": None,
        "pre_tokenizer": PRE_TOKENIZERS[pre](),
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": merges,
        },
    }


def spm_merges(tokens: Sequence[str], scores: Sequence[float],
               types: Sequence[int]) -> List[List[str]]:
    """Rebuild BPE merges from SentencePiece pieces and scores.

    SentencePiece merges the adjacent pair whose concatenation is the vocabulary
    piece with the highest score. Every way of cutting a normal piece into two
    normal pieces is a merge; merges are ranked by the score of the resulting
    piece (highest first, ties by id), and the cuts of one piece by the ids of
    their left and right parts.
    """
    normal = {tok: idx for idx, tok in enumerate(tokens) if types[idx] == TOKEN_NORMAL}
    order = sorted(normal.values(), key=lambda i: (-float(scores[i]), i))
    merges: List[List[str]] = []
    for idx in order:
        piece = tokens[idx]
        cuts = []
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in normal and right in normal:
                cuts.append((normal[left], normal[right], left, right))
        cuts.sort()
        merges.extend([c[2], c[3]] for c in cuts)
    return merges


def _build_llama(meta: Dict[str, Any]) -> Dict[str, Any]:
    tokens = list(meta["tokenizer.ggml.tokens"])
    n = len(tokens)
    types = list(meta.get("tokenizer.ggml.token_type") or [TOKEN_NORMAL] * n)
    scores = list(meta.get("tokenizer.ggml.scores") or [0.0] * n)
    vocab = _vocab_dict(tokens)
    if meta.get("tokenizer.ggml.merges"):
        merges = [_split_merge(m, vocab) for m in meta["tokenizer.ggml.merges"]]
    else:
        merges = spm_merges(tokens, scores, types)
    unk_id = _special_id(meta, "tokenizer.ggml.unknown_token_id", n)
    add_space_prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", True))
    byte_fallback = any(t == TOKEN_BYTE for t in types)

    normalizers: List[Dict[str, Any]] = []
    if add_space_prefix:
        normalizers.append({"type": "Prepend", "prepend": "\u2581"})
    normalizers.append({"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"})
    decoders: List[Dict[str, Any]] = [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"},
        {"type": "Fuse"},
    ]
    if add_space_prefix:
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})

    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": _added_tokens(tokens, types),
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": tokens[unk_id] if unk_id is not None else None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": byte_fallback,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": merges,
        },
    }


def _post_processor(bos_token: str, bos_id: int) -> Dict[str, Any]:
    return {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": bos_token, "type_id": 0}},
                   {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": bos_token, "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": bos_token, "type_id": 1}},
                 {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {bos_token: {"id": bos_token, "ids": [bos_id], "tokens": [bos_token]}},
    }


def convert(meta: Dict[str, Any]) -> Dict[str, Any]:
    """Build the tokenizer.json object from GGUF ``tokenizer.*`` metadata."""
    model = meta.get("tokenizer.ggml.model")
    if "tokenizer.ggml.tokens" not in meta:
        raise ConversionError("GGUF has no tokenizer.ggml.tokens")
    if model == "gpt2":
        out = _build_gpt2(meta)
        default_add_bos = False
    elif model == "llama":
        out = _build_llama(meta)
        default_add_bos = True
    else:
        raise ConversionError(
            f"unsupported tokenizer.ggml.model {model!r} (supported: gpt2, llama)")
    tokens = meta["tokenizer.ggml.tokens"]
    n = len(tokens)
    bos_id = _special_id(meta, "tokenizer.ggml.bos_token_id", n)
    eos_id = _special_id(meta, "tokenizer.ggml.eos_token_id", n)
    add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", default_add_bos)) and bos_id is not None
    if add_bos:
        out["post_processor"] = _post_processor(tokens[bos_id], bos_id)
    llmc: Dict[str, Any] = {
        "source": "gguf",
        "ggml_model": model,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "bos_token": tokens[bos_id] if bos_id is not None else None,
        "eos_token": tokens[eos_id] if eos_id is not None else None,
        "add_bos_token": add_bos,
        "chat_template": meta.get("tokenizer.chat_template"),
    }
    if model == "gpt2":
        llmc["ggml_pre"] = str(meta.get("tokenizer.ggml.pre", "default"))
    out["model"]["llmc"] = llmc
    return out


def convert_file(gguf_path: str, out_path: str) -> Dict[str, Any]:
    obj = convert(read_gguf_tokenizer(gguf_path))
    out_dir = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(out_dir, exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return obj


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m llmc_tools.gguf_tokenizer",
        description="Write a Hugging Face tokenizer.json from GGUF tokenizer metadata.")
    ap.add_argument("gguf", help="input .gguf file")
    ap.add_argument("-o", "--output", required=True, help="output tokenizer.json")
    args = ap.parse_args(argv)
    try:
        obj = convert_file(args.gguf, args.output)
    except (ConversionError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    model = obj["model"]
    print(f"wrote {args.output}: {len(model['vocab'])} tokens, {len(model['merges'])} merges, "
          f"{len(obj['added_tokens'])} added tokens", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
