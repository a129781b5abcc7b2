"""`llmc perplexity` (llama.cpp's method) on stories260K against an independent
reference: python/llmc_tools/perplexity_ref.py running the same .onnx in ONNX
Runtime, with the tokens from the `tokenizers` package on the tokenizer.json the
library embeds. Plus the error cases."""
from __future__ import annotations

import json

import pytest

from conftest import assert_clean_failure, require

CTX = 128
TEXT_BYTES = 20000  # ~12k stories260K tokens: 96 chunks of 128
REL_TOL = 1e-4


@pytest.fixture(scope="module")
def stories(tmp_path_factory, llmc, stories_gguf):
    """stories260K as ONNX and as a library with its tokenizer (BOS added by default)."""
    d = tmp_path_factory.mktemp("ppl")
    onnx_path = llmc.export(stories_gguf, d / "m.onnx")
    llmc.tool("gguf_tokenizer", stories_gguf, "-o", d / "tokenizer.json")
    so = llmc.compile(onnx_path, d / "m.so", "--tokenizer", d / "tokenizer.json")
    return onnx_path, so


@pytest.fixture(scope="module")
def wiki_slice(tmp_path_factory, shared_dir):
    raw = require(shared_dir / "data/wikitext-2-raw/wiki.test.raw").read_bytes()
    p = tmp_path_factory.mktemp("text") / "wiki_head.txt"
    p.write_bytes(raw[:TEXT_BYTES])
    return p


def llmc_ppl(llmc, so, text, *flags):
    r = llmc("perplexity", so, "--text", text, "--json", *flags, check=True)
    return json.loads(r.stdout)


def ort_ppl(onnx_path, so, text, ctx=CTX, chunks=None):
    from llmc_tools import perplexity_ref as ref

    tokens, bos = ref.tokenize(ref.embedded_tokenizer_json(so), ref.read_text(text))
    return ref.perplexity(ref.ort_evaluator(onnx_path, threads=2), tokens, ctx, bos, chunks, "onnxruntime")


def assert_matches(got, want):
    print(f"llmc PPL {got['ppl']:.6f} +/- {got['stderr']:.6f}, ORT {want.ppl:.6f} +/- {want.stderr:.6f} "
          f"({got['tokens_scored']} tokens scored, {got['seconds']:.2f} s)")
    assert got["tokens"] == want.tokens, "llmc and the tokenizers package tokenize the text differently"
    assert got["bos"] == want.bos
    assert got["chunks"] == want.chunks and got["tokens_scored"] == want.tokens_scored
    assert got["ppl"] == pytest.approx(want.ppl, rel=REL_TOL)
    assert got["stderr"] == pytest.approx(want.stderr, rel=1e-3)
    assert got["running_ppl"] == pytest.approx(want.running_ppl, rel=REL_TOL)


@pytest.fixture(scope="module")
def reference(stories, wiki_slice):
    onnx_path, so = stories
    return ort_ppl(onnx_path, so, wiki_slice)


def test_matches_onnxruntime(stories, wiki_slice, reference, llmc):
    got = llmc_ppl(llmc, stories[1], wiki_slice, "--ctx", CTX)
    # llama.cpp's bookkeeping: floor(tokens / ctx) chunks, ctx - 1 - ctx/2 tokens scored in each.
    assert got["chunks"] == got["tokens"] // CTX and got["chunks"] >= 90
    assert got["tokens_scored"] == got["chunks"] * (CTX - 1 - CTX // 2)
    assert got["bos"] is True  # the stories260K (llama SPM) tokenizer adds BOS
    assert got["all_positions"] is True
    assert 1 < got["ppl"] < 512  # better than uniform over the vocabulary
    assert_matches(got, reference)


def test_batched_prefill(stories, wiki_slice, reference, llmc):
    """Chunks fed in pieces of 50 tokens (3 appends per chunk) score the same."""
    assert_matches(llmc_ppl(llmc, stories[1], wiki_slice, "--ctx", CTX, "--batch", 50), reference)


def test_token_by_token(stories, wiki_slice, llmc):
    """The path for libraries that return last-position logits only: the scored half is
    decoded one token at a time through the KV cache."""
    onnx_path, so = stories
    got = llmc_ppl(llmc, so, wiki_slice, "--ctx", CTX, "--chunks", 8, "--last-logits-only")
    assert got["all_positions"] is False and got["chunks"] == 8
    assert_matches(got, ort_ppl(onnx_path, so, wiki_slice, chunks=8))


def test_chunk_limit_and_text_output(stories, wiki_slice, reference, llmc):
    r = llmc("perplexity", stories[1], "--text", wiki_slice, "--ctx", CTX, "--chunks", 3, check=True)
    lines = r.stdout.strip().splitlines()
    # llama.cpp's running line: [1]x,[2]y,[3]z,
    running = [float(item.split("]")[1]) for item in lines[0].rstrip(",").split(",")]
    assert lines[0].startswith("[1]") and len(running) == 3, r.stdout
    assert running == pytest.approx(reference.running_ppl[:3], rel=REL_TOL)
    final = lines[-1]
    assert final.startswith("Final estimate: PPL = ") and " +/- " in final, r.stdout
    assert float(final.split("=")[1].split("+/-")[0]) == pytest.approx(reference.running_ppl[2], rel=REL_TOL)


def test_in_domain_text_scores_lower(stories, tmp_path, llmc, stories_reference_text, reference):
    """TinyStories-style text (the story in DATA.md) is far more likely than Wikipedia."""
    p = tmp_path / "story.txt"
    p.write_text(stories_reference_text * 3)
    got = llmc_ppl(llmc, stories[1], p, "--ctx", 64)
    print(f"story PPL {got['ppl']:.4f} vs wiki PPL {reference.ppl:.4f}")
    assert got["ppl"] < reference.ppl / 5


# ------------------------------------------------------------------------ errors


def test_missing_text(stories, tmp_path, llmc):
    r = llmc("perplexity", stories[1], "--text", tmp_path / "nope.txt")
    assert_clean_failure(r, "nope.txt", "No such file")


def test_text_shorter_than_one_chunk(stories, tmp_path, llmc):
    p = tmp_path / "short.txt"
    p.write_text("Once upon a time there was a cat.")
    r = llmc("perplexity", stories[1], "--text", p, "--ctx", CTX)
    assert_clean_failure(r, "short.txt", "fewer than one chunk")


@pytest.mark.parametrize("flags, needle", [(["--ctx", "2"], "--ctx"), (["--chunks", "0"], "--chunks"),
                                           (["--batch", "-3"], "--batch")])
def test_bad_options(stories, wiki_slice, llmc, flags, needle):
    assert_clean_failure(llmc("perplexity", stories[1], "--text", wiki_slice, *flags), needle)


def test_not_a_causal_lm(tmp_path, llmc, wiki_slice):
    import onnx
    from onnx import TensorProto, helper

    f32 = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3])  # noqa: E731
    g = helper.make_graph([helper.make_node("Add", ["x", "y"], ["z"])], "g", [f32("x"), f32("y")], [f32("z")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), tmp_path / "add.onnx")
    so = llmc.compile(tmp_path / "add.onnx", tmp_path / "add.so")
    assert_clean_failure(llmc("perplexity", so, "--text", wiki_slice), "not a causal language model")


def test_library_without_tokenizer(tmp_path, llmc, stories_gguf, wiki_slice):
    so = llmc.compile(llmc.export(stories_gguf, tmp_path / "m.onnx"), tmp_path / "m.so")
    assert_clean_failure(llmc("perplexity", so, "--text", wiki_slice), "has no tokenizer")


def test_not_a_library(tmp_path, llmc, wiki_slice):
    p = tmp_path / "junk.so"
    p.write_bytes(b"not an ELF file")
    assert_clean_failure(llmc("perplexity", p, "--text", wiki_slice), "junk.so")
