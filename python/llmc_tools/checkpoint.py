"""Load Llama-architecture weights and hyper-parameters from GGUF or llama2.c files.

Everything is returned as float32 numpy arrays in one canonical layout:
linear weights are [out, in] (torch nn.Linear order), and Q/K rows are in the
*interleaved* RoPE layout that llama.cpp and llama2.c use (pairs (0,1), (2,3), ...
of each head rotate together).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class LlamaConfig:
    dim: int
    hidden_dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    rope_theta: float = 10000.0
    rms_eps: float = 1e-5
    context_length: int = 2048

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads


@dataclass
class LayerWeights:
    attn_norm: np.ndarray  # [dim]
    wq: np.ndarray  # [n_heads*head_dim, dim]
    wk: np.ndarray  # [n_kv_heads*head_dim, dim]
    wv: np.ndarray  # [n_kv_heads*head_dim, dim]
    wo: np.ndarray  # [dim, n_heads*head_dim]
    ffn_norm: np.ndarray  # [dim]
    w_gate: np.ndarray  # [hidden_dim, dim]
    w_up: np.ndarray  # [hidden_dim, dim]
    w_down: np.ndarray  # [dim, hidden_dim]


@dataclass
class Checkpoint:
    config: LlamaConfig
    tok_embeddings: np.ndarray  # [vocab, dim]
    layers: list[LayerWeights]
    final_norm: np.ndarray  # [dim]
    output: np.ndarray | None  # [vocab, dim]; None means tied to tok_embeddings
    bos_token_id: int = 1
    eos_token_id: int = 2
    source: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def tied_embeddings(self) -> bool:
        return self.output is None

    @property
    def lm_head(self) -> np.ndarray:
        return self.tok_embeddings if self.output is None else self.output


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Dispatch on the file content: GGUF files start with the magic b'GGUF'."""
    path = Path(path)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"GGUF":
        return load_gguf(path)
    return load_llama2c(path)


# ---------------------------------------------------------------- GGUF


def _field(reader, key, default=None):
    f = reader.fields.get(key)
    return default if f is None else f.contents()


def _gguf_tensor_f32(t) -> np.ndarray:
    import gguf

    # GGUF lists dims innermost-first; numpy wants outermost-first.
    shape = tuple(int(d) for d in reversed(list(t.shape)))
    if t.tensor_type == gguf.GGMLQuantizationType.F32:
        arr = np.asarray(t.data, dtype=np.float32)
    else:
        arr = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
    return np.ascontiguousarray(arr.reshape(shape))


def load_gguf(path: str | Path) -> Checkpoint:
    import gguf

    reader = gguf.GGUFReader(str(path))
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ValueError(f"{path}: unsupported GGUF architecture {arch!r} (need 'llama')")
    tensors = {t.name: t for t in reader.tensors}

    def get(name):
        if name not in tensors:
            raise KeyError(f"{path}: missing tensor {name}")
        return _gguf_tensor_f32(tensors[name])

    # Features that change the math and that the exporter does not model: refuse
    # rather than export a silently different network.
    scaling = _field(reader, "llama.rope.scaling.type", "none")
    if scaling not in ("none", None):
        raise NotImplementedError(f"{path}: rope scaling {scaling!r} is not supported")
    if "rope_freqs.weight" in tensors:
        raise NotImplementedError(f"{path}: per-frequency rope factors are not supported")

    emb = get("token_embd.weight")
    n_heads = int(_field(reader, "llama.attention.head_count"))
    dim = int(_field(reader, "llama.embedding_length"))
    cfg = LlamaConfig(
        dim=dim,
        hidden_dim=int(_field(reader, "llama.feed_forward_length")),
        n_layers=int(_field(reader, "llama.block_count")),
        n_heads=n_heads,
        n_kv_heads=int(_field(reader, "llama.attention.head_count_kv", n_heads)),
        vocab_size=int(emb.shape[0]),
        rope_theta=float(_field(reader, "llama.rope.freq_base", 10000.0)),
        rms_eps=float(_field(reader, "llama.attention.layer_norm_rms_epsilon", 1e-5)),
        context_length=int(_field(reader, "llama.context_length", 2048)),
    )
    rope_dims = int(_field(reader, "llama.rope.dimension_count", cfg.head_dim))
    if rope_dims != cfg.head_dim:
        raise NotImplementedError(f"{path}: partial rotary ({rope_dims} of {cfg.head_dim}) unsupported")

    layers = []
    for i in range(cfg.n_layers):
        p = f"blk.{i}."
        layers.append(
            LayerWeights(
                attn_norm=get(p + "attn_norm.weight"),
                wq=get(p + "attn_q.weight"),
                wk=get(p + "attn_k.weight"),
                wv=get(p + "attn_v.weight"),
                wo=get(p + "attn_output.weight"),
                ffn_norm=get(p + "ffn_norm.weight"),
                w_gate=get(p + "ffn_gate.weight"),
                w_up=get(p + "ffn_up.weight"),
                w_down=get(p + "ffn_down.weight"),
            )
        )
    output = get("output.weight") if "output.weight" in tensors else None
    ckpt = Checkpoint(
        config=cfg,
        tok_embeddings=emb,
        layers=layers,
        final_norm=get("output_norm.weight"),
        output=output,
        bos_token_id=int(_field(reader, "tokenizer.ggml.bos_token_id", 1)),
        eos_token_id=int(_field(reader, "tokenizer.ggml.eos_token_id", 2)),
        source=str(path),
        metadata={"general.name": _field(reader, "general.name", "")},
    )
    _check_shapes(ckpt)
    return ckpt


# ---------------------------------------------------------------- llama2.c

_LLAMA2C_MAGIC = 0x616B3432  # "ak42": versioned llama2.c exports, not the legacy format


def load_llama2c(path: str | Path) -> Checkpoint:
    """Legacy (version 0) llama2.c checkpoint: 7 int32 header, then float32 arrays."""
    path = Path(path)
    raw = path.read_bytes()
    if len(raw) < 28:
        raise ValueError(f"{path}: too small for a llama2.c checkpoint")
    if struct.unpack_from("<I", raw, 0)[0] == _LLAMA2C_MAGIC:
        raise NotImplementedError(f"{path}: versioned llama2.c format; only legacy v0 is supported")
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack_from("<7i", raw, 0)
    shared = vocab > 0  # negative vocab_size flags a separate classifier matrix
    vocab = abs(vocab)
    hs = dim // n_heads
    kv_dim = n_kv * hs

    sizes = [
        ("tok", (vocab, dim)),
        ("rms_att", (n_layers, dim)),
        ("wq", (n_layers, dim, dim)),
        ("wk", (n_layers, kv_dim, dim)),
        ("wv", (n_layers, kv_dim, dim)),
        ("wo", (n_layers, dim, dim)),
        ("rms_ffn", (n_layers, dim)),
        ("w1", (n_layers, hidden, dim)),
        ("w2", (n_layers, dim, hidden)),
        ("w3", (n_layers, hidden, dim)),
        ("rms_final", (dim,)),
        ("freq_cis_real", (seq_len, hs // 2)),  # legacy RoPE tables, unused
        ("freq_cis_imag", (seq_len, hs // 2)),
    ]
    if not shared:
        sizes.append(("wcls", (vocab, dim)))
    n_floats = sum(int(np.prod(s)) for _, s in sizes)
    if 28 + 4 * n_floats != len(raw):
        raise ValueError(
            f"{path}: size {len(raw)} does not match header (expected {28 + 4 * n_floats} bytes)"
        )
    flat = np.frombuffer(raw, dtype="<f4", offset=28, count=n_floats).astype(np.float32)
    arrays, off = {}, 0
    for name, shape in sizes:
        n = int(np.prod(shape))
        arrays[name] = flat[off : off + n].reshape(shape)
        off += n

    cfg = LlamaConfig(
        dim=dim,
        hidden_dim=hidden,
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        vocab_size=vocab,
        rope_theta=10000.0,
        rms_eps=1e-5,
        context_length=seq_len,
    )
    layers = [
        LayerWeights(
            attn_norm=arrays["rms_att"][i],
            wq=arrays["wq"][i],
            wk=arrays["wk"][i],
            wv=arrays["wv"][i],
            wo=arrays["wo"][i],
            ffn_norm=arrays["rms_ffn"][i],
            w_gate=arrays["w1"][i],
            w_up=arrays["w3"][i],
            w_down=arrays["w2"][i],
        )
        for i in range(n_layers)
    ]
    ckpt = Checkpoint(
        config=cfg,
        tok_embeddings=arrays["tok"],
        layers=layers,
        final_norm=arrays["rms_final"],
        output=None if shared else arrays["wcls"],
        source=str(path),
    )
    _check_shapes(ckpt)
    return ckpt


def _check_shapes(ckpt: Checkpoint) -> None:
    c = ckpt.config
    if c.dim % c.n_heads or c.n_heads % c.n_kv_heads or c.head_dim % 2:
        raise ValueError(f"inconsistent head configuration: {c}")
    kv = c.n_kv_heads * c.head_dim
    want = {
        "attn_norm": (c.dim,),
        "wq": (c.dim, c.dim),
        "wk": (kv, c.dim),
        "wv": (kv, c.dim),
        "wo": (c.dim, c.dim),
        "ffn_norm": (c.dim,),
        "w_gate": (c.hidden_dim, c.dim),
        "w_up": (c.hidden_dim, c.dim),
        "w_down": (c.dim, c.hidden_dim),
    }
    for i, layer in enumerate(ckpt.layers):
        for name, shape in want.items():
            got = getattr(layer, name).shape
            if got != shape:
                raise ValueError(f"layer {i} {name}: shape {got}, expected {shape}")
    if ckpt.tok_embeddings.shape != (c.vocab_size, c.dim):
        raise ValueError(f"token embedding shape {ckpt.tok_embeddings.shape}")
    if ckpt.output is not None and ckpt.output.shape != (c.vocab_size, c.dim):
        raise ValueError(f"output shape {ckpt.output.shape}")
