"""W8A8 end to end on stories260K (`llmc compile --quantize=int8,act=int8`,
shorthand `w8a8`): int8 weights and int8 activations quantized per token at
run time (runtime/kernels/W8A8Linear.cpp). Every int8 linear of the library
is W8A8, the library still writes the model's story, and its perplexity
(`llmc perplexity`, llama.cpp's method) stays within a stated bound of the
f32 library's on the WikiText-2 test set and on the DATA.md reference story,
the same texts as test_quantized.py. W4A8 (`--quantize=int4,...,act=int8`:
int4 weights, activations per token and block of 32) likewise, with the
bounds of int4 weight-only and against the int4 weight-only library."""
from __future__ import annotations

import re

import pytest

from conftest import export_stories, perplexity, scoring_texts

CTX = 128
TEXT_BYTES = 20000
# Allowed relative perplexity increase over f32 (both texts). Measured:
# w8a8 +0.09% (wiki) / +0.01% (story), w8a8 asym g32 +0.24% / +0.13%
# (int8 weight-only: -0.04% / +0.35%); the bound is 10x tighter than int4's.
PPL_BOUND = 0.015
SCHEMES = {
    "w8a8": "--quantize=int8,act=int8",
    "w8a8-asym-g32": "--quantize=w8a8,group=32,asym",
}
# W4A8: allowed increase over f32 (int4 weight-only's bound in
# test_quantized.py) and over the int4 weight-only library of the same
# scheme (the cost of the int8 activation blocks). Measured: w4a8-g32
# +7.24% (wiki) / +3.42% (story) over f32 vs int4 weight-only +7.14% /
# +3.22%; w4a8-asym-channel +1.43% / +8.59% vs +1.32% / +8.57%: W4A8 costs
# at most +0.2% over weight-only, the bound is 5x that.
W4A8_BOUND = 0.15
W4A8_OVER_INT4 = 0.01
W4A8_SCHEMES = {
    "w4a8-g32": ("--quantize=int4,group=32,act=int8", "--quantize=int4,group=32"),
    "w4a8-asym-channel": ("--quantize=int4,asym,act=int8", "--quantize=int4,asym"),
}
# Greedy words from BOS that must equal the reference story (of 40), as for
# int8 weight-only in test_quantized.py.
STORY_WORDS = 40
STORY_MIN_SAME = 36
W4A8_STORY_MIN_SAME = 20


@pytest.fixture(scope="module")
def model(tmp_path_factory, llmc, stories_gguf):
    return export_stories(tmp_path_factory, llmc, stories_gguf, "w8a8")


@pytest.fixture(scope="module")
def texts(tmp_path_factory, shared_dir, stories_reference_text):
    return scoring_texts(tmp_path_factory, shared_dir, stories_reference_text, TEXT_BYTES, CTX)


def compile_lib(llmc, model, name, *flags):
    d, onnx_path = model
    return llmc.compile(onnx_path, d / f"{name}.so", "--tokenizer", d / "tokenizer.json", *flags)


@pytest.fixture(scope="module")
def f32(llmc, model, texts):
    so = compile_lib(llmc, model, "f32")
    return {k: perplexity(llmc, so, t, c) for k, (t, c) in texts.items()}


@pytest.fixture(scope="module")
def int8(llmc, model, texts):
    so = compile_lib(llmc, model, "int8", "--quantize=int8")
    return {k: perplexity(llmc, so, t, c) for k, (t, c) in texts.items()}


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_w8a8_perplexity(scheme, llmc, model, texts, f32, int8):
    so = compile_lib(llmc, model, scheme, SCHEMES[scheme])
    for name, (text, ctx) in texts.items():
        got, ref, wonly = perplexity(llmc, so, text, ctx), f32[name], int8[name]
        print(f"{scheme} {name}: PPL {got:.4f} vs f32 {ref:.4f} ({(got / ref - 1) * 100:+.2f}%), "
              f"int8 weight-only {wonly:.4f} ({(wonly / ref - 1) * 100:+.2f}%)")
        assert got <= ref * (1 + PPL_BOUND), f"{scheme} on {name}: {got:.4f} vs f32 {ref:.4f}"
        # Activation quantization changes the numbers: W8A8 is not silently weight-only.
        assert got != wonly, f"{scheme} on {name}: exactly the weight-only perplexity"


def test_every_int8_linear_is_w8a8(llmc, model):
    """The llm-level IR: all quantized linears carry act_bits = 8; the report
    lists 16 W8A8 tensors (5 x (qkv, o, down) + the head; gate/up, width
    172, is not a multiple of the panel and stays f32 as in
    test_quantized.py)."""
    d, onnx_path = model
    out = d / "w8a8.mlir"
    r = llmc("compile", onnx_path, "-o", out, "--emit=llm", "--quantize=int8,act=int8", check=True)
    linears = re.findall(r"llm\.quantized_linear [^\n]*", out.read_text())
    assert linears and all("act_bits = 8 : i64" in op for op in linears), linears
    report = [line for line in r.stdout.splitlines() if " linear " in line or " lm_head " in line]
    w8a8 = [line for line in report if "int8-channel-sym-a8" in line]
    assert len(w8a8) == 16, r.stdout


def test_w8a8_writes_the_story(llmc, model, stories_reference_text):
    """Greedy text from BOS of the W8A8 library is the f32 model's story."""
    so = compile_lib(llmc, model, "w8a8-story", "--quantize=w8a8")
    r = llmc("run", so, "--bos", "-n", 120, "--ignore-eos", check=True)
    words = stories_reference_text.split()[:STORY_WORDS]
    got = r.stdout.split()[:STORY_WORDS]
    same = sum(a == b for a, b in zip(got, words))
    print(r.stdout[:300])
    assert same >= STORY_MIN_SAME, f"only {same}/{STORY_WORDS} words match the f32 story"


@pytest.mark.parametrize("scheme", list(W4A8_SCHEMES))
def test_w4a8_perplexity(scheme, llmc, model, texts, f32):
    flags, wonly_flags = W4A8_SCHEMES[scheme]
    so = compile_lib(llmc, model, scheme, flags)
    wonly_so = compile_lib(llmc, model, scheme + "-wonly", wonly_flags)
    for name, (text, ctx) in texts.items():
        got, ref, wonly = perplexity(llmc, so, text, ctx), f32[name], perplexity(llmc, wonly_so, text, ctx)
        print(f"{scheme} {name}: PPL {got:.4f} vs f32 {ref:.4f} ({(got / ref - 1) * 100:+.2f}%), "
              f"int4 weight-only {wonly:.4f} ({(wonly / ref - 1) * 100:+.2f}%)")
        assert got <= ref * (1 + W4A8_BOUND), f"{scheme} on {name}: {got:.4f} vs f32 {ref:.4f}"
        assert got <= wonly * (1 + W4A8_OVER_INT4), f"{scheme} on {name}: {got:.4f} vs int4 {wonly:.4f}"
        assert got != wonly, f"{scheme} on {name}: exactly the weight-only perplexity"


def test_every_int4_linear_is_w4a8(llmc, model):
    """All quantized linears of an int4 act=int8 compile carry bits = 4 and
    act_bits = 8 (16 of them, as for W8A8); with lm-head=int8 the head is
    W8A8 and the rest W4A8."""
    d, onnx_path = model
    out = d / "w4a8.mlir"
    r = llmc("compile", onnx_path, "-o", out, "--emit=llm", "--quantize=int4,group=32,act=int8,lm-head=int8",
             check=True)
    linears = re.findall(r"llm\.quantized_linear [^\n]*", out.read_text())
    assert linears and all("act_bits = 8 : i64" in op for op in linears), linears
    report = [line for line in r.stdout.splitlines() if " linear " in line or " lm_head " in line]
    assert len([line for line in report if "int4-g32-sym-a8" in line]) == 15, r.stdout
    assert len([line for line in report if "int8-g32-sym-a8" in line]) == 1, r.stdout


def test_w4a8_writes_a_story(llmc, model, stories_reference_text):
    """Greedy text from BOS of the W4A8 g32 library stays close to the f32
    model's story (int4 changes some words, so the bound is looser than
    W8A8's: W4A8_STORY_MIN_SAME of STORY_WORDS). Measured: the first 16
    words are the story's, then "...in the sunshine. One day, she saw a big,
    scary shiny shiny ..." (a greedy loop; int4 g32 weight-only continues
    "...she saw a small boy playing with a big ball", W4A8 per channel and
    g64 write coherent stories)."""
    so = compile_lib(llmc, model, "w4a8-story", "--quantize=int4,group=32,act=int8")
    r = llmc("run", so, "--bos", "-n", 120, "--ignore-eos", check=True)
    words = stories_reference_text.split()[:STORY_WORDS]
    got = r.stdout.split()[:STORY_WORDS]
    same = sum(a == b for a, b in zip(got, words))
    print(r.stdout[:300])
    assert same >= W4A8_STORY_MIN_SAME, f"only {same}/{STORY_WORDS} words match the f32 story"


def test_w8a8_option_errors(llmc, model):
    d, onnx_path = model
    for bad, needle in [(["--quantize=int4,group=16,act=int8"], "(W4A8) needs group=0 (per channel) or a multiple of 32"),
                        (["--quantize=int8,act=int4"], "cannot parse --quantize component 'act=int4'")]:
        r = llmc("compile", onnx_path, "-o", d / "bad.so", *bad)
        assert r.returncode == 2 and needle in r.stderr, (bad, r.stderr)
