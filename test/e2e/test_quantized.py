"""Weight quantization end to end on stories260K (`llmc compile --quantize=...`):
the quantized library still writes the model's story and its perplexity stays
close to the f32 library's, measured with `llmc perplexity` (llama.cpp's method)
on two texts: the WikiText-2 test set (out of domain for a TinyStories model)
and the DATA.md reference story (in domain). GPTQ (`method=gptq`) calibrates
on the tail of wiki.test.raw (`llmc_tools.calibration_text`, disjoint from the
first TEXT_BYTES scored here) and must not be worse than round to nearest."""
from __future__ import annotations

import json
import re

import pytest

from conftest import export_stories, perplexity, require, scoring_texts

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
    return export_stories(tmp_path_factory, llmc, stories_gguf, "quant")


@pytest.fixture(scope="module")
def texts(tmp_path_factory, shared_dir, stories_reference_text):
    return scoring_texts(tmp_path_factory, shared_dir, stories_reference_text, TEXT_BYTES, CTX)


def compile_lib(llmc, model, name, *flags):
    d, onnx_path = model
    return llmc.compile(onnx_path, d / f"{name}.so", "--tokenizer", d / "tokenizer.json", *flags)


@pytest.fixture(scope="module")
def f32(llmc, model, texts):
    so = compile_lib(llmc, model, "f32")
    return so, {k: perplexity(llmc, so, t, c) for k, (t, c) in texts.items()}


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_quantized_perplexity(scheme, llmc, model, texts, f32):
    flag, bound = SCHEMES[scheme]
    so = compile_lib(llmc, model, scheme, flag)
    for name, (text, ctx) in texts.items():
        got, ref = perplexity(llmc, so, text, ctx), f32[1][name]
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


def test_quantize_option_errors(llmc, model, tmp_path):
    d, onnx_path = model
    stats = tmp_path / "other.bin"
    stats.write_bytes(b"LLMCCAL1" + (3).to_bytes(8, "little") + bytes(72))  # 3 linears that never ran
    for bad, needle in [(["--quantize=int5"], "cannot parse"), (["--quantize=group=32"], "needs int8 or int4"),
                        (["--quantize=int4,method=hqq"], "method 'hqq' is not available"),
                        (["--quantize=int4,method=awq"], "method=awq needs --calibration"),
                        (["--quantize=int4,method=gptq"], "method=gptq needs --calibration"),
                        (["--quantize=int4,embedding=int2"], "cannot parse --quantize component 'embedding=int2'"),
                        (["--calibration=x.txt"], "need --quantize"),
                        (["--quantize=int4,method=gptq", "--calibration-stats", stats],
                         "the calibration statistics describe 3 linears, this compile has 21"),
                        (["--quantize=int4,group=30"], "group size 30")]:
        r = llmc("compile", onnx_path, "-o", d / "bad.so", *bad)
        assert r.returncode in (1, 2) and needle in r.stderr, (bad, r.stderr)


# GPTQ: calibration on 16 chunks of 128 tokens of the wiki.test.raw tail.
CALIBRATION = ["--calibration-chunks", "16", "--calibration-ctx", "128"]
GPTQ_BOUND = 0.15  # as int4 RTN above


@pytest.fixture(scope="module")
def calibration(tmp_path_factory, llmc, shared_dir):
    d = tmp_path_factory.mktemp("calib")
    text = d / "calib.txt"
    llmc.tool("calibration_text", text, "--source", require(shared_dir / "data/wikitext-2-raw/wiki.test.raw"))
    return text


@pytest.fixture(scope="module")
def rtn_g32(llmc, model, texts):
    so = compile_lib(llmc, model, "rtn-g32", "--quantize=int4,group=32")
    return {k: perplexity(llmc, so, t, c) for k, (t, c) in texts.items()}


def check_calibrated(label, llmc, so, texts, f32, rtn_g32):
    """A calibrated int4 library: within GPTQ_BOUND of f32 on both texts, and
    not worse than RTN on WikiText (the calibration's domain)."""
    for name, (text, ctx) in texts.items():
        got, ref, rtn = perplexity(llmc, so, text, ctx), f32[1][name], rtn_g32[name]
        print(f"{label} {name}: PPL {got:.4f} vs f32 {ref:.4f} ({(got / ref - 1) * 100:+.2f}%), "
              f"RTN {rtn:.4f} ({(rtn / ref - 1) * 100:+.2f}%)")
        assert got <= ref * (1 + GPTQ_BOUND), f"{label} on {name}: {got:.4f} vs f32 {ref:.4f}"
        if name == "wiki":
            assert got <= rtn, f"{label} on {name}: {got:.4f} vs RTN {rtn:.4f}"


def test_gptq_perplexity(llmc, model, texts, f32, rtn_g32, calibration):
    """GPTQ int4 g32 end to end: a calibration run, then a library whose
    perplexity stays within GPTQ_BOUND of f32 on both texts and is not worse
    than RTN's on WikiText (the calibration's domain; about 6,000 scored
    tokens). The story scores about 280 tokens (standard error about 4%), too
    few to rank the two methods, and is out of the calibration's domain:
    measured 1.91 (GPTQ) vs 1.81 (RTN) vs 1.75 (f32), within the bound. The
    report says GPTQ lowered every layer's output error."""
    d, _ = model
    report = d / "gptq.json"
    stats = d / "stats.bin"
    so = compile_lib(llmc, model, "gptq-g32", "--quantize=int4,group=32,method=gptq",
                     "--calibration", calibration, *CALIBRATION, "--save-calibration-stats", stats,
                     "--quantize-report", report)
    check_calibrated("gptq-g32", llmc, so, texts, f32, rtn_g32)
    r = json.loads(report.read_text())
    assert r["method"] == "gptq" and r["calibration_tokens"] == 16 * 128
    quantized = [t for t in r["tensors"] if t["method"] == "gptq"]
    assert len(quantized) == 16, r  # 5 x (qkv, o, down) + the head; gate/up (width 172) stays f32
    for t in quantized:
        assert t["rel_error"] < t["rtn_rel_error"], t
    assert stats.stat().st_size > 0


def test_awq_perplexity(llmc, model, texts, f32, rtn_g32, calibration):
    """AWQ int4 g32 end to end (method=awq, same calibration as GPTQ): within
    GPTQ_BOUND of f32 on both texts and not worse than RTN on WikiText. The
    report: the QKV projections (scales into the input norm's gain) and the
    down projections (into the f32 gate/up's up half) are AWQ-scaled, each
    with a lower output error than RTN's on the calibration data; the
    attention output projections and the head stay round to nearest and
    say why."""
    d, _ = model
    report = d / "awq.json"
    so = compile_lib(llmc, model, "awq-g32", "--quantize=int4,group=32,method=awq",
                     "--calibration", calibration, *CALIBRATION, "--quantize-report", report)
    check_calibrated("awq-g32", llmc, so, texts, f32, rtn_g32)
    r = json.loads(report.read_text())
    assert r["method"] == "awq"
    scaled = [t for t in r["tensors"] if t["method"] == "awq"]
    assert sorted({t["name"].split(".")[4] for t in scaled}) == ["down_proj", "q_proj"], scaled
    assert len(scaled) == 10, scaled  # 5 x (qkv, down)
    for t in scaled:
        assert 0 <= t["awq_alpha"] < 1 and t["rel_error"] < t["rtn_rel_error"], t
    others = [t for t in r["tensors"] if t["method"] == "rtn"]
    assert len(others) == 6 and all(t["note"].startswith("awq: ") for t in others), others


def test_mixed_precision(llmc, model, texts, f32, calibration):
    """int8 head and int8 embedding over int4 GPTQ layers: stories260K's head is
    its embedding table transposed, so the table is stored once and read by
    llm.quantized_embedding; the printed report says so."""
    d, onnx_path = model
    report = d / "mixed.json"
    r = llmc("compile", onnx_path, "-o", d / "mixed.so", "--tokenizer", d / "tokenizer.json",
             "--quantize=int4,group=32,method=gptq,lm-head=int8,embedding=int8",
             "--calibration", calibration, *CALIBRATION, "--quantize-report", report, check=True)
    assert re.search(r"model\.embed_tokens\.weight\s+embedding\s+512x64\s+int8-g32-sym\s+shared", r.stdout), r.stdout
    tensors = {t["kind"]: t for t in json.loads(report.read_text())["tensors"]}
    assert tensors["lm_head"]["scheme"] == "int8-g32-sym"
    assert tensors["embedding"]["bytes"] == 0 and tensors["embedding"]["shared_with"] == "lm_head.weight"
    for name, (text, ctx) in texts.items():
        got, ref = perplexity(llmc, d / "mixed.so", text, ctx), f32[1][name]
        print(f"int4 gptq + int8 head/embedding {name}: PPL {got:.4f} vs f32 {ref:.4f} ({(got / ref - 1) * 100:+.2f}%)")
        assert got <= ref * (1 + GPTQ_BOUND), f"mixed on {name}: {got:.4f} vs f32 {ref:.4f}"
    # An int4 table on its own (head f32): its own tensors, still coherent.
    so = compile_lib(llmc, model, "emb4", "--quantize=int8,lm-head=f32,embedding=int4")
    got, ref = perplexity(llmc, so, *texts["story"]), f32[1]["story"]
    print(f"int8 + f32 head + int4 embedding story: PPL {got:.4f} vs f32 {ref:.4f}")
    assert got <= ref * 1.1
