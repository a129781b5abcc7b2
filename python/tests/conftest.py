"""Shared paths and fixtures. Missing data files fail the tests (never skip)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PYTHON_DIR))

SHARED = Path(os.environ.get("LLMC_SHARED", PYTHON_DIR.parents[1] / "shared"))
STORIES_GGUF = SHARED / "models/stories260K-gguf/stories260K.gguf"
STORIES_BIN = SHARED / "models/llama2c/stories260K.bin"
TOK512_BIN = SHARED / "models/llama2c/tok512.bin"
DATA_MD = SHARED / "DATA.md"
SMOL_CACHE = Path(os.environ.get("LLMC_SMOL_CACHE", "/tmp/smol"))


def require(path: Path) -> Path:
    assert path.is_file(), f"required data file missing: {path}"
    return path


@pytest.fixture(scope="session")
def stories_reference_text() -> str:
    """The greedy 200-token stories260K story quoted in shared/DATA.md (section 2)."""
    from llmc_tools.reference_story import read_reference_story

    return read_reference_story(require(DATA_MD))


@pytest.fixture(scope="session")
def stories_ckpt():
    from llmc_tools.checkpoint import load_checkpoint

    return load_checkpoint(require(STORIES_GGUF))


@pytest.fixture(scope="session")
def stories_vocab():
    from llmc_tools.vocab import load_vocab

    return load_vocab(require(STORIES_GGUF))
