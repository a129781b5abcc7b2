"""SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized to f32 by the exporter): llmc against
ONNX Runtime on the same .onnx. For each ChatML prompt: prefill, then 32 greedy decode
steps; the tokens must be identical and the logits of every step (the prefill's last
position and each decode step, 33 rows) must agree.

Tolerances, chosen after measuring (x86-64, 2 cores; llmc -O2 with runtime kernels vs
ORT 1.31 CPU, 4 prompts, 2 runs): max |llmc - ort| over whole logit vectors was 8.9e-5..1.6e-4
(logits up to ~38 in magnitude); relative diff |llmc - ort| / max(|ort|, 1e-6) over the
top-10 logits of each step (ranked by ORT) was 2.9e-6..5.9e-6. The whole-vector relative diff
is not meaningful (logits near zero give values > 1) and is printed only. Limits below
leave ~10x headroom for other SIMD widths / summation orders; a real bug is far above.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

N_DECODE = 32
TOP_K = 10
ABS_TOL = 2e-3
REL_TOL_TOPK = 1e-4
MAX_CONTEXT = 256
ORT_IR_MAX = 13  # ONNX Runtime 1.31 loads models with IR version <= 13

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain gravity to a five year old.",
    "List three primary colors.",
]


@pytest.fixture(scope="module")
def smol(tmp_path_factory, llmc, smollm2_gguf):
    """Export, tokenizer conversion and compilation, once for the module."""
    import onnx

    d = tmp_path_factory.mktemp("smollm2")
    t0 = time.time()
    onnx_path = llmc.export(smollm2_gguf, d / "model.onnx")
    tok_path = d / "tokenizer.json"
    llmc.tool("gguf_tokenizer", smollm2_gguf, "-o", tok_path)
    t1 = time.time()
    ir = onnx.load(str(onnx_path), load_external_data=False).ir_version
    assert ir <= ORT_IR_MAX, f"exporter wrote IR version {ir}; ONNX Runtime 1.31 needs <= {ORT_IR_MAX}"
    so = llmc.compile(onnx_path, d / "model.so", "--tokenizer", tok_path)
    t2 = time.time()
    print(f"\nSmolLM2: export+tokenizer {t1 - t0:.1f}s, llmc compile {t2 - t1:.1f}s, IR version {ir}")

    from llmc_tools.ort_generate import make_session
    from llmc_tools.runtime import Library
    from tokenizers import Tokenizer

    lib = Library(str(so))
    ort = make_session(str(onnx_path), threads=2)
    yield {"lib": lib, "ort": ort, "tok": Tokenizer.from_file(str(tok_path))}
    lib.close()
    for p in (onnx_path, so):  # ~650 MB + ~650 MB: do not leave them in pytest's temp dirs
        p.unlink(missing_ok=True)


def chatml_ids(tok, user_text):
    text = f"<|im_start|>user\n{user_text}<|im_end|>\n<|im_start|>assistant\n"
    ids = tok.encode(text).ids
    assert ids[:3] == [1, 4093, 198], ids[:8]  # <|im_start|> user \n
    assert ids.count(1) == 2 and ids.count(2) == 1 and ids[-1] == 198, ids  # 2 = <|im_end|>
    return ids


def llmc_greedy(lib, prompt, n_decode):
    """Prefill then n_decode greedy steps; returns (ids, logits rows) with n_decode + 1 rows."""
    sess = lib.session(MAX_CONTEXT)
    try:
        logits = sess.append(prompt)
        ids, rows = [], []
        for i in range(n_decode + 1):
            rows.append(logits)
            ids.append(int(np.argmax(logits)))
            if i < n_decode:
                logits = sess.append(ids[-1:])
        return ids, np.stack(rows)
    finally:
        sess.close()


def test_smollm2_vocab(smol):
    assert smol["lib"].vocab_size() == 49152
    assert smol["tok"].get_vocab_size() == 49152


@pytest.mark.parametrize("prompt", PROMPTS)
def test_llmc_matches_ort(smol, prompt):
    from llmc_tools.ort_generate import generate

    ids = chatml_ids(smol["tok"], prompt)
    t0 = time.time()
    got_ids, got = llmc_greedy(smol["lib"], ids, N_DECODE)
    t1 = time.time()
    ref = generate(smol["ort"], ids, N_DECODE + 1)
    t2 = time.time()
    want = ref.step_logits
    assert got.shape == want.shape == (N_DECODE + 1, 49152)
    assert np.isfinite(got).all()

    diff = np.abs(got - want)
    rel = diff / np.maximum(np.abs(want), 1e-6)
    top = np.argsort(-want, axis=1)[:, :TOP_K]
    rel_top = np.take_along_axis(rel, top, axis=1)
    print(f"\n[{prompt!r}] {len(ids)} prompt tokens: max abs diff {diff.max():.3g}, "
          f"max rel diff top-{TOP_K} {rel_top.max():.3g}, max rel diff whole vector {rel.max():.3g} "
          f"(max |logit| {np.abs(want).max():.1f}); llmc {t1 - t0:.2f}s, ort {t2 - t1:.2f}s")
    print("   ", repr(smol["tok"].decode(got_ids)))

    assert got_ids == ref.ids, f"token mismatch at step {next(i for i, (a, b) in enumerate(zip(got_ids, ref.ids)) if a != b)}"
    assert diff.max() < ABS_TOL
    assert rel_top.max() < REL_TOL_TOPK
