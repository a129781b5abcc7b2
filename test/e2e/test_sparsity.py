"""Pruning end to end on stories260K (`llmc compile --sparsity=...`).

Three things are checked:
- the sparse kernels compute what the dense kernels compute on the same pruned
  weights (`--sparsity=...,dense-kernels` keeps the pruned weights in the dense
  layout): equal perplexities and equal greedy text;
- perplexity, measured with `llmc perplexity` (llama.cpp's method) on the
  WikiText-2 test set (out of domain for a TinyStories model) and the DATA.md
  reference story (in domain), stays within the bounds stated below, and Wanda
  (calibrated on the tail of wiki.test.raw, disjoint from the scored text) is
  not worse than magnitude pruning;
- the library still writes text and is smaller (the weights are compressed),
  also with int4 values (`--sparsity=2:4 --quantize=int4`); 50% pruning with
  int4 values runs on the dense int4 kernels (`dense-kernels`) and must stay
  close to the same pruning with f32 values.

stories260K is tiny (dim 64, 260K parameters): every weight matters far more
than in a real model, and 2:4 magnitude pruning of it loses the story (LLaMA-7B
loses a lot too: Wanda's paper reports WikiText PPL 5.68 -> 42.5 for 2:4
magnitude). The bounds are the issue's "stated bound", with ~15% margin over
what was measured (docs/Sparsity.md has the numbers): they catch a broken
kernel or pruning rule, which costs orders of magnitude, not the method's loss.
"""
from __future__ import annotations

import re

import subprocess

import pytest

from conftest import assert_clean_failure, export_stories, perplexity, require, scoring_texts

CTX = 128
TEXT_BYTES = 20000
# Allowed perplexity, as a multiple of the f32 library's, per text.
# The story is the f32 model's own greedy text (PPL 1.75), so any change to
# the weights multiplies its perplexity much more than WikiText's.
VARIANTS = {
    "2:4": ("--sparsity=2:4", {"wiki": 4.6, "story": 75.0}),
    "50%": ("--sparsity=unstructured=0.5", {"wiki": 3.2, "story": 12.0}),
    "2:4-wanda": ("--sparsity=2:4,method=wanda", {"wiki": 3.2, "story": 27.0}),
    "50%-wanda": ("--sparsity=unstructured=0.5,method=wanda", {"wiki": 2.0, "story": 6.5}),
    # 2:4 with int4 values (one fp16 scale per 32 k); the LM head int4 g32 too.
    "2:4+int4": ("--sparsity=2:4 --quantize=int4,group=32", {"wiki": 5.0, "story": 90.0}),
    # 50% with int4 values has no sparse kernel (ELL with int4 values would be
    # larger than dense int4): pruned, then quantized and run densely.
    "50%-wanda+int4": ("--sparsity=unstructured=0.5,method=wanda,dense-kernels --quantize=int4,group=32",
                       {"wiki": 2.0, "story": 6.5}),
}


@pytest.fixture(scope="module")
def model(tmp_path_factory, llmc, stories_gguf, shared_dir):
    d, onnx_path = export_stories(tmp_path_factory, llmc, stories_gguf, "sparse")
    wiki = require(shared_dir / "data/wikitext-2-raw/wiki.test.raw")
    llmc.tool("calibration_text", d / "calib.txt", "--source", wiki)
    return d, onnx_path


@pytest.fixture(scope="module")
def texts(tmp_path_factory, shared_dir, stories_reference_text):
    return scoring_texts(tmp_path_factory, shared_dir, stories_reference_text, TEXT_BYTES, CTX)


def compile_lib(llmc, model, name, *flags):
    d, onnx_path = model
    extra = []
    if any("wanda" in f for f in flags):
        extra = ["--calibration", d / "calib.txt", "--calibration-chunks", 8]
    return llmc.compile(onnx_path, d / f"{name}.so", "--tokenizer", d / "tokenizer.json", *flags, *extra)


def story(llmc, so, n=60):
    return llmc("run", so, "--bos", "-n", n, "--ignore-eos", check=True).stdout


@pytest.fixture(scope="module")
def f32(llmc, model, texts):
    so = compile_lib(llmc, model, "f32")
    return so, {k: perplexity(llmc, so, t, c) for k, (t, c) in texts.items()}


@pytest.fixture(scope="module")
def measured(llmc, model, texts):
    """(library, {text: ppl}) per variant, compiled once."""
    out = {}
    for name, (flags, _) in VARIANTS.items():
        so = compile_lib(llmc, model, re.sub(r"\W", "_", name), *flags.split())
        out[name] = so, {k: perplexity(llmc, so, t, c) for k, (t, c) in texts.items()}
    return out


@pytest.mark.parametrize("flag", ["--sparsity=2:4", "--sparsity=unstructured=0.5"])
def test_sparse_kernels_match_dense_kernels(flag, llmc, model, texts):
    """Same pruned weights, sparse kernels vs the dense packed kernels."""
    name = re.sub(r"\W", "_", flag)
    sparse = compile_lib(llmc, model, name + "_sp", flag)
    dense = compile_lib(llmc, model, name + "_dense", flag + ",dense-kernels")
    for key, (text, ctx) in texts.items():
        a, b = perplexity(llmc, sparse, text, ctx), perplexity(llmc, dense, text, ctx)
        print(f"{flag} {key}: sparse kernels PPL {a:.5f}, dense kernels {b:.5f}")
        assert abs(a - b) <= 1e-4 * b, (flag, key, a, b)
    assert story(llmc, sparse) == story(llmc, dense)
    # The dense layout stores every zero; the sparse one does not.
    assert sparse.stat().st_size < dense.stat().st_size


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_perplexity_bound(variant, measured, f32):
    so, got = measured[variant]
    for text, bound in VARIANTS[variant][1].items():
        ref = f32[1][text]
        print(f"{variant} {text}: PPL {got[text]:.3f} vs f32 {ref:.3f} (x{got[text] / ref:.2f}, bound x{bound})")
        assert got[text] <= ref * bound, f"{variant} on {text}: {got[text]:.3f} vs f32 {ref:.3f}"
    assert so.stat().st_size < f32[0].stat().st_size


def constant_bytes(so):
    """Bytes of the library's read-only data (the weights live in .lrodata / .rodata)."""
    out = subprocess.run(["size", "-A", str(so)], check=True, capture_output=True, text=True).stdout
    return sum(int(f[1]) for f in (line.split() for line in out.splitlines())
               if len(f) >= 2 and f[0] in (".rodata", ".lrodata"))


def test_int4_values_are_smaller(measured):
    """2:4 with int4 values stores 14 bytes per 32 weights instead of 68. Compared on
    the constants, not the file: the runtime code is a fixed ~1.5 MB of either file."""
    q4, f32 = constant_bytes(measured["2:4+int4"][0]), constant_bytes(measured["2:4"][0])
    print(f"constants: 2:4+int4 {q4} B, 2:4 {f32} B ({q4 / f32:.2f}x)")
    assert q4 < 0.6 * f32


def test_pruned_int4_close_to_pruned_f32(measured):
    """Quantizing the pruned weights (zeros stay code 0 of the symmetric grid)
    costs about what int4 g32 costs a dense model, not the pruning again."""
    q4, f = measured["50%-wanda+int4"][1], measured["50%-wanda"][1]
    for text in f:
        print(f"50% wanda {text}: f32 values {f[text]:.3f}, int4 values {q4[text]:.3f} (x{q4[text] / f[text]:.3f})")
        assert q4[text] <= f[text] * 1.15, (text, f[text], q4[text])


@pytest.mark.parametrize("pattern", ["2:4", "50%"])
def test_wanda_not_worse_than_magnitude(pattern, measured):
    mag, wanda = measured[pattern][1], measured[pattern + "-wanda"][1]
    for text in mag:
        print(f"{pattern} {text}: magnitude {mag[text]:.3f}, wanda {wanda[text]:.3f}")
        assert wanda[text] <= mag[text] * 1.02, (pattern, text, mag[text], wanda[text])


def test_pruned_models_write_text(llmc, measured):
    """Every pruned library writes text (letters, words); the 50% ones with f32
    values still start the story (2:4 of a 260K model does not: see the module
    comment; with int4 values on top, 50% Wanda writes "Once like time, there
    was a little ...": its accuracy is held by the perplexity bounds)."""
    for name, (so, _) in measured.items():
        text = story(llmc, so)
        print(f"{name}: {text[:120]!r}")
        assert len(re.findall(r"[A-Za-z]", text)) >= 40, (name, text)
        assert len(re.findall(r"[A-Za-z]{2,}", text)) >= 3, (name, text)
        if name.startswith("50%") and "int4" not in name:
            assert text.split()[:2] == ["Once", "upon"], (name, text)


def test_sparsity_option_errors(llmc, model):
    d, onnx_path = model
    for bad, needle in [
        ("--sparsity=3:4", "cannot parse --sparsity component '3:4'"),
        ("--sparsity=unstructured=1.5", "the fraction must be a number in (0, 1)"),
        ("--sparsity=2:4,method=sparsegpt", "method 'sparsegpt' is not available"),
        ("--sparsity=2:4,unstructured", "names two patterns"),
        ("--sparsity=method=wanda", "needs a pattern"),
        ("--sparsity=2:4,method=wanda", "needs --calibration=FILE"),
    ]:
        r = llmc("compile", onnx_path, "-o", d / "bad.so", bad)
        assert_clean_failure(r, needle)
    r = llmc("compile", onnx_path, "-o", d / "bad.so", "--sparsity=unstructured", "--quantize=int4")
    assert_clean_failure(r, "only as --sparsity=2:4 --quantize=int4", "dense-kernels")
    r = llmc("compile", onnx_path, "-o", d / "bad.so", "--sparsity=2:4", "--quantize=int8")
    assert_clean_failure(r, "only as --sparsity=2:4 --quantize=int4")
    r = llmc("compile", onnx_path, "-o", d / "bad.so", "--sparsity=2:4", "--no-kernels")
    assert_clean_failure(r, "needs the runtime kernels")
