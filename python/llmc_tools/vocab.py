"""Token-id -> text decoding from a GGUF vocabulary or a llama2.c tokenizer.bin.

Only decoding is needed to check generated text; encoding lives in the runtime.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_CONTROL = 3  # GGUF token_type for control tokens (<s>, </s>, ...)


@dataclass
class Vocab:
    pieces: list[str]
    kind: str  # "spm" (SentencePiece, '▁' is space), "llama2c" (plain spaces), "gpt2" (byte-level)
    bos_token_id: int = 1
    eos_token_id: int = 2
    control: frozenset = frozenset()
    strip_leading_space: bool = True  # SentencePiece adds a dummy prefix space to the first word

    def decode(self, ids) -> str:
        data = bytearray()
        for i in ids:
            i = int(i)
            if i in self.control or i in (self.bos_token_id, self.eos_token_id):
                continue
            data += self._piece_bytes(self.pieces[i])
        text = data.decode("utf-8", errors="replace")
        if self.kind != "gpt2" and self.strip_leading_space and text.startswith(" "):
            text = text[1:]
        return text

    def _piece_bytes(self, piece: str) -> bytes:
        if self.kind == "gpt2":
            table = _gpt2_unicode_to_byte()
            return bytes(table[c] for c in piece)
        if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
            return bytes([int(piece[3:5], 16)])
        return piece.replace("\u2581", " ").encode("utf-8")


@lru_cache(maxsize=1)
def _gpt2_unicode_to_byte() -> dict:
    # GPT-2 byte-level BPE shows each byte as a printable code point; printable
    # latin-1 bytes map to themselves, the rest to 256 + running index.
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[chr(b)] = b
        else:
            table[chr(256 + extra)] = b
            extra += 1
    return table


def load_vocab(path: str | Path) -> Vocab:
    path = Path(path)
    with open(path, "rb") as f:
        magic = f.read(4)
    return _load_gguf_vocab(path) if magic == b"GGUF" else _load_llama2c_tokenizer(path)


def _load_gguf_vocab(path: Path) -> Vocab:
    import gguf

    r = gguf.GGUFReader(str(path))

    def field(key, default=None):
        f = r.fields.get(key)
        return default if f is None else f.contents()

    pieces = list(field("tokenizer.ggml.tokens"))
    types = field("tokenizer.ggml.token_type") or []
    model = field("tokenizer.ggml.model", "llama")
    return Vocab(
        pieces=pieces,
        kind="gpt2" if model == "gpt2" else "spm",
        bos_token_id=int(field("tokenizer.ggml.bos_token_id", 1)),
        eos_token_id=int(field("tokenizer.ggml.eos_token_id", 2)),
        control=frozenset(i for i, t in enumerate(types) if t == _CONTROL),
        strip_leading_space=bool(field("tokenizer.ggml.add_space_prefix", True)),
    )


def _load_llama2c_tokenizer(path: Path) -> Vocab:
    """llama2.c tokenizer.bin: int32 max_len, then {float32 score, int32 len, bytes}*.

    The vocabulary size is not stored; read entries until the file ends.
    """
    raw = path.read_bytes()
    off, pieces = 4, []
    while off < len(raw):
        _score, n = struct.unpack_from("<fi", raw, off)
        off += 8
        pieces.append(raw[off : off + n].decode("utf-8"))
        off += n
    return Vocab(pieces=pieces, kind="llama2c")
