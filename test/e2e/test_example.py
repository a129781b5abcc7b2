"""The C example (examples/generate.c) and `llmc run --prompt` produce text
through the embedded tokenizer: prompt "Once upon a time" from BOS continues
greedily along the reference story of DATA.md."""
import os
import subprocess
from pathlib import Path

import pytest

from conftest import export_stories, require

EXAMPLE_BIN = Path(os.environ.get("LLMC_EXAMPLE_BIN", Path(__file__).resolve().parents[2] / "build/bin/llmc-example-generate"))


@pytest.fixture(scope="module")
def stories_so(llmc, stories_gguf, tmp_path_factory):
    d, onnx_path = export_stories(tmp_path_factory, llmc, stories_gguf, "example")
    return llmc.compile(onnx_path, d / "stories.so", "--tokenizer", d / "tokenizer.json")


def test_example_program_generates_the_reference_continuation(stories_so, stories_reference_text):
    exe = require(EXAMPLE_BIN)
    r = subprocess.run([str(exe), str(stories_so), "Once upon a time", "40"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = r.stdout.rstrip("\n")
    assert len(out) > len("Once upon a time") + 40, out
    assert stories_reference_text.startswith(out), f"{out!r} is not a prefix of the reference story"


def test_llmc_run_prompt_text(llmc, stories_so, stories_reference_text):
    r = llmc("run", stories_so, "--prompt", "Once upon a time", "--bos", "-n", "30", check=True)
    text = "Once upon a time" + r.stdout.rstrip("\n")
    assert stories_reference_text.startswith(text), text


def test_missing_library_is_a_clean_error():
    exe = require(EXAMPLE_BIN)
    r = subprocess.run([str(exe), "/nonexistent/model.so", "hi"], capture_output=True, text=True)
    assert r.returncode == 1 and "cannot load" in r.stderr
