"""The benchmark's inputs: GGUF writer and synthetic checkpoints (fast; runs in CI).

References: stories260K.gguf as ggml-org's converter wrote it (tensors, layout,
hyper-parameters), read with gguf-py's reader; ONNX Runtime for the synthetic
model's forward pass.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("LLMC_SHARED", REPO.parent / "shared"))
STORIES = SHARED / "models/stories260K-gguf/stories260K.gguf"

HPARAMS = ["llama.embedding_length", "llama.feed_forward_length", "llama.block_count",
           "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.dimension_count",
           "llama.attention.layer_norm_rms_epsilon", "general.architecture", "tokenizer.ggml.model",
           "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"]


def _reader(path):
    import gguf

    return gguf.GGUFReader(str(path))


def _field(reader, key):
    f = reader.fields.get(key)
    return None if f is None else f.contents()


@pytest.fixture(scope="module")
def stories():
    assert STORIES.is_file(), f"{STORIES} missing (set LLMC_SHARED)"
    from llmc_tools.checkpoint import load_checkpoint

    return load_checkpoint(STORIES)


def test_f32_gguf_reproduces_the_converters_file(stories, tmp_path):
    from llmc_tools.write_gguf import write_gguf

    out = write_gguf(stories, tmp_path / "s.gguf", "f32", tokenizer_from=STORIES)
    ref, got = _reader(STORIES), _reader(out)
    ref_t = {t.name: t for t in ref.tensors}
    got_t = {t.name: t for t in got.tensors}
    assert set(ref_t) == set(got_t)
    for name, t in ref_t.items():
        g = got_t[name]
        assert list(g.shape) == list(t.shape), name
        assert int(g.tensor_type) == int(t.tensor_type) == 0, name
        assert np.array_equal(np.asarray(g.data), np.asarray(t.data)), f"{name} differs"
    for key in HPARAMS:
        a, b = _field(ref, key), _field(got, key)
        assert a == pytest.approx(b) if isinstance(a, float) else a == b, key
    assert _field(got, "tokenizer.ggml.tokens") == _field(ref, "tokenizer.ggml.tokens")


def test_f16_gguf_is_half_of_the_weights(stories, tmp_path):
    import gguf
    from llmc_tools.write_gguf import write_gguf

    out = write_gguf(stories, tmp_path / "s16.gguf", "f16", tokenizer_from=STORIES)
    got = {t.name: t for t in _reader(out).tensors}
    ref = {t.name: t for t in _reader(STORIES).tensors}
    for name, t in got.items():
        want = np.asarray(ref[name].data, dtype=np.float32)
        if len(t.shape) == 1:  # norms stay F32, as llama.cpp's converter keeps them
            assert t.tensor_type == gguf.GGMLQuantizationType.F32
            assert np.array_equal(np.asarray(t.data), want)
        else:
            assert t.tensor_type == gguf.GGMLQuantizationType.F16
            assert np.array_equal(np.asarray(t.data), want.astype(np.float16)), name
    assert _field(_reader(out), "general.file_type") == 1


def test_synthetic_presets_and_minimal_tokenizer(tmp_path):
    from llmc_tools.checkpoint import LlamaConfig
    from llmc_tools.synthetic_llama import PRESETS, parameter_count, synthetic_checkpoint
    from llmc_tools.write_gguf import write_gguf

    cfg, tied = PRESETS["tinyllama-1.1b"]
    assert (cfg.dim, cfg.hidden_dim, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.vocab_size) == \
        (2048, 5632, 22, 32, 4, 32000) and not tied
    assert cfg.rope_theta == 10000.0 and cfg.rms_eps == 1e-5
    # TinyLlama-1.1B has 1,100,048,384 parameters (its model card's count).
    assert parameter_count(cfg, tied) == 1_100_048_384
    # TinyLlama's vocabulary, a narrow body (fast).
    small = LlamaConfig(dim=64, hidden_dim=128, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=32000)
    a = synthetic_checkpoint(small, tied_embeddings=False, seed=3)
    b = synthetic_checkpoint(small, tied_embeddings=False, seed=3)
    assert np.array_equal(a.layers[0].w_up, b.layers[0].w_up), "same seed, same weights"
    assert a.layers[0].wq.std() == pytest.approx(0.02, rel=0.02)
    out = write_gguf(a, tmp_path / "syn.gguf", "f16")
    r = _reader(out)
    toks = _field(r, "tokenizer.ggml.tokens")
    assert len(toks) == 32000 and len(set(toks)) == 32000
    assert toks[:3] == ["<unk>", "<s>", "</s>"] and toks[3 + 0x0A] == "<0x0A>"
    assert "output.weight" in {t.name for t in r.tensors}


def test_synthetic_model_runs_finite_in_onnxruntime(tmp_path):
    import onnxruntime as ort
    from llmc_tools.export_onnx import build, save
    from llmc_tools.ort_generate import _empty_past
    from llmc_tools.synthetic_llama import synthetic_checkpoint, with_layers

    ckpt = synthetic_checkpoint(with_layers("smollm2-135m", 3), seed=0)
    path = tmp_path / "syn.onnx"
    save(build(ckpt), path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    n = 32
    feed = {"input_ids": np.arange(5, 5 + n, dtype=np.int64)[None], "attention_mask": np.ones((1, n), np.int64),
            "position_ids": np.arange(n, dtype=np.int64)[None], **_empty_past(sess)}
    logits = sess.run(["logits"], feed)[0]
    assert np.isfinite(logits).all()
    assert 0.01 < logits.std() < 100, logits.std()
