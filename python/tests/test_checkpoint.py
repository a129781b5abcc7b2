"""Checkpoint readers and the Q/K RoPE layout conversion."""
import struct

import numpy as np
import pytest

from conftest import STORIES_BIN, STORIES_GGUF, require
from llmc_tools.checkpoint import load_checkpoint, load_gguf, load_llama2c
from llmc_tools.qk_layout import interleaved_to_rotate_half, rotate_half_to_interleaved


def test_gguf_config(stories_ckpt):
    c = stories_ckpt.config
    assert (c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size) == (64, 172, 5, 8, 4, 512)
    assert c.head_dim == 8 and c.context_length == 2048 and c.rope_theta == 10000.0
    assert c.rms_eps == pytest.approx(1e-5)
    assert stories_ckpt.output is not None  # this GGUF stores a separate output.weight
    assert stories_ckpt.layers[0].wk.shape == (32, 64) and stories_ckpt.layers[0].w_down.shape == (64, 172)


def test_llama2c_equals_gguf(stories_ckpt):
    b = load_llama2c(require(STORIES_BIN))
    assert b.tied_embeddings and b.config.context_length == 512
    assert np.array_equal(b.tok_embeddings, stories_ckpt.tok_embeddings)
    assert np.array_equal(b.lm_head, stories_ckpt.lm_head)
    assert np.array_equal(b.final_norm, stories_ckpt.final_norm)
    for la, lb in zip(stories_ckpt.layers, b.layers):
        for name in vars(la):
            assert np.array_equal(getattr(la, name), getattr(lb, name)), name


def test_load_checkpoint_dispatch():
    assert load_checkpoint(require(STORIES_GGUF)).source.endswith(".gguf")
    assert load_checkpoint(require(STORIES_BIN)).source.endswith(".bin")


def test_llama2c_untied_classifier(tmp_path):
    raw = require(STORIES_BIN).read_bytes()
    hdr = list(struct.unpack_from("<7i", raw))
    hdr[5] = -hdr[5]  # negative vocab_size: a classifier matrix follows the RoPE tables
    wcls = np.arange(512 * 64, dtype=np.float32).reshape(512, 64)
    p = tmp_path / "untied.bin"
    p.write_bytes(struct.pack("<7i", *hdr) + raw[28:] + wcls.tobytes())
    ck = load_llama2c(p)
    assert not ck.tied_embeddings and ck.config.vocab_size == 512
    assert np.array_equal(ck.output, wcls)


def test_llama2c_size_mismatch(tmp_path):
    p = tmp_path / "short.bin"
    p.write_bytes(require(STORIES_BIN).read_bytes()[:-4])
    with pytest.raises(ValueError, match="does not match"):
        load_llama2c(p)


def test_gguf_rejects_non_llama(tmp_path):
    import gguf

    p = tmp_path / "gpt2.gguf"
    w = gguf.GGUFWriter(str(p), "gpt2")
    w.add_tensor("x", np.zeros(4, np.float32))
    w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file(), w.close()
    with pytest.raises(ValueError, match="architecture"):
        load_gguf(p)


def _write_llama_gguf(path, ck, quant):
    """Write `ck` as a llama GGUF; 2-D weights whose rows fit Q8_0 blocks are quantized."""
    import gguf

    c = ck.config
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(c.context_length), w.add_embedding_length(c.dim)
    w.add_feed_forward_length(c.hidden_dim), w.add_block_count(c.n_layers)
    w.add_head_count(c.n_heads), w.add_head_count_kv(c.n_kv_heads)
    w.add_layer_norm_rms_eps(c.rms_eps), w.add_rope_freq_base(50000.0)

    def put(name, a):
        if quant and a.ndim == 2 and a.shape[1] % 32 == 0:
            q = gguf.quants.quantize(a, quant)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=quant)
        else:
            w.add_tensor(name, a)

    put("token_embd.weight", ck.tok_embeddings)
    put("output_norm.weight", ck.final_norm)
    for i, l in enumerate(ck.layers):
        for n, a in [("attn_norm", l.attn_norm), ("attn_q", l.wq), ("attn_k", l.wk), ("attn_v", l.wv),
                     ("attn_output", l.wo), ("ffn_norm", l.ffn_norm), ("ffn_gate", l.w_gate),
                     ("ffn_up", l.w_up), ("ffn_down", l.w_down)]:
            put(f"blk.{i}.{n}.weight", a)
    w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file(), w.close()


def test_gguf_quantized_tied(tmp_path, stories_ckpt):
    """Q8_0 tensors dequantize into [out, in]; no output.weight means tied embeddings."""
    import gguf

    p = tmp_path / "q8.gguf"
    _write_llama_gguf(p, stories_ckpt, gguf.GGMLQuantizationType.Q8_0)
    ck = load_gguf(p)
    assert ck.tied_embeddings and ck.config.rope_theta == 50000.0
    kinds = {t.tensor_type for t in gguf.GGUFReader(str(p)).tensors}
    assert gguf.GGMLQuantizationType.Q8_0 in kinds
    pairs = [(ck.tok_embeddings, stories_ckpt.tok_embeddings)]
    for a, b in zip(ck.layers, stories_ckpt.layers):
        pairs += [(a.wq, b.wq), (a.wk, b.wk), (a.w_gate, b.w_gate), (a.w_down, b.w_down)]
    for got, ref in pairs:
        assert got.shape == ref.shape and got.dtype == np.float32
        assert np.abs(got - ref).max() <= 0.01 * np.abs(ref).max()
    assert not np.array_equal(ck.layers[0].wq, stories_ckpt.layers[0].wq)  # really quantized


def _rope_interleaved(x, pos, theta=10000.0):
    d = x.shape[-1]
    f = pos / theta ** (np.arange(0, d, 2) / d)
    c, s = np.cos(f), np.sin(f)
    out = x.copy()
    out[0::2] = x[0::2] * c - x[1::2] * s
    out[1::2] = x[0::2] * s + x[1::2] * c
    return out


def _rope_rotate_half(x, pos, theta=10000.0):
    d = x.shape[-1]
    f = pos / theta ** (np.arange(0, d, 2) / d)
    c, s = np.cos(np.concatenate([f, f])), np.sin(np.concatenate([f, f]))
    rot = np.concatenate([-x[d // 2 :], x[: d // 2]])
    return x * c + rot * s


def test_qk_unpermute_makes_rotate_half_equal_interleaved():
    rng = np.random.default_rng(0)
    n_heads, hd, dim = 3, 8, 12
    w = rng.standard_normal((n_heads * hd, dim))
    x = rng.standard_normal(dim)
    w_rh = interleaved_to_rotate_half(w, n_heads)
    assert np.array_equal(rotate_half_to_interleaved(w_rh, n_heads), w)
    assert not np.array_equal(w_rh, w)
    for h in range(n_heads):
        q_il = _rope_interleaved((w @ x)[h * hd : (h + 1) * hd], 5.0)
        q_rh = _rope_rotate_half((w_rh @ x)[h * hd : (h + 1) * hd], 5.0)
        # Same vector up to the row order, so dot products (attention scores) agree.
        assert np.allclose(np.sort(q_il), np.sort(q_rh))
        assert np.allclose(q_rh, interleaved_to_rotate_half(q_il[:, None], 1)[:, 0])
