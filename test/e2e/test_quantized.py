"""Weight quantization end to end on stories260K (`llmc compile --quantize=...`):
the quantized library still writes the model's story and its perplexity stays
close to the f32 library's, measured with `llmc perplexity` (llama.cpp's method)
on two texts: the WikiText-2 test set (out of domain for a TinyStories model)
and the DATA.md reference story (in domain)."""
from __future__ import annotations

import json

import pytest

from conftest import require

CTX = 128
TEXT_BYTES = 20000
# Allowed relative perplexity increase over f32, per scheme. stories260K is
# tiny (dim 64): every weight matters more than in a real model, so int4 is
# given more room; the bounds are what the issue calls "stated".
SCHEMES = {
    "int8": ("--quantize=int8", 0.01),
    "int8-asym-g32": ("--quantize=int8,group=32,asym", 0.01),
    "int4-g32": ("--quantize=int4,group=32", 0.15),
    "int4-asym-g32": ("--quantize=int4,group=32,asym", 0.15),
}


@pytest.fixture(scope="module")
def model(tmp_path_factory, llmc, stories_gguf):
    d = tmp_path_factory.mktemp("quant")
    onnx_path = llmc.export(stories_gguf, d / "m.onnx")
    llmc.tool("gguf_tokenizer", stories_gguf, "-o", d / "tokenizer.json")
    return d, onnx_path


@pytest.fixture(scope="module")
def texts(tmp_path_factory, shared_dir, stories_reference_text):
    d = tmp_path_factory.mktemp("texts")
    wiki = d / "wiki.txt"
    wiki.write_bytes(require(shared_dir / "data/wikitext-2-raw/wiki.test.raw").read_bytes()[:TEXT_BYTES])
    story = d / "story.txt"
    story.write_text(stories_reference_text * 3)
    return {"wiki": (wiki, CTX), "story": (story, 64)}


def compile_lib(llmc, model, name, *flags):
    d, onnx_path = model
    return llmc.compile(onnx_path, d / f"{name}.so", "--tokenizer", d / "tokenizer.json", *flags)


def ppl(llmc, so, text, ctx):
    r = llmc("perplexity", so, "--text", text, "--ctx", ctx, "--json", check=True)
    return json.loads(r.stdout)["ppl"]


@pytest.fixture(scope="module")
def f32(llmc, model, texts):
    so = compile_lib(llmc, model, "f32")
    return so, {k: ppl(llmc, so, t, c) for k, (t, c) in texts.items()}


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_quantized_perplexity(scheme, llmc, model, texts, f32):
    flag, bound = SCHEMES[scheme]
    so = compile_lib(llmc, model, scheme, flag)
    for name, (text, ctx) in texts.items():
        got, ref = ppl(llmc, so, text, ctx), f32[1][name]
        print(f"{scheme} {name}: PPL {got:.4f} vs f32 {ref:.4f} ({(got / ref - 1) * 100:+.2f}%)")
        assert got <= ref * (1 + bound), f"{scheme} on {name}: {got:.4f} vs f32 {ref:.4f}"
    # The library is really smaller: weights are stored quantized.
    assert so.stat().st_size < f32[0].stat().st_size


def test_int8_writes_the_story(llmc, model, f32, stories_reference_text):
    """Greedy text from BOS of the int8 library is the f32 model's story (coherent text)."""
    so = compile_lib(llmc, model, "int8-story", "--quantize=int8")
    r = llmc("run", so, "--bos", "-n", 120, "--ignore-eos", check=True)
    words = stories_reference_text.split()[:40]
    got = r.stdout.split()[:40]
    same = sum(a == b for a, b in zip(got, words))
    print(r.stdout[:300])
    assert same >= 36, f"only {same}/40 words match the f32 story"


def test_quantize_option_errors(llmc, model):
    d, onnx_path = model
    for bad, needle in [("--quantize=int5", "cannot parse"), ("--quantize=group=32", "needs int8 or int4"),
                        ("--quantize=int4,method=gptq", "method 'gptq' is not available"),
                        ("--quantize=int4,group=30", "group size 30")]:
        r = llmc("compile", onnx_path, "-o", d / "bad.so", bad)
        assert r.returncode in (1, 2) and needle in r.stderr, (bad, r.stderr)
