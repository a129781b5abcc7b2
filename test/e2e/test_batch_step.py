"""The batch step (llmc-batch-step): one call runs a ragged batch of sequences over a
paged KV cache. Its logits must equal those of independent sessions (the contiguous-cache
entry, itself checked against the reference story and ONNX Runtime) for every sequence, at
every step, whatever the mix of prefill chunks and decodes, block size or block placement."""
from __future__ import annotations

import random

import numpy as np
import pytest

from llmc_tools.runtime import Library, KvPool, LlmcError

STYLES = {"optimum": [], "genai": ["--style", "genai"], "opset23": ["--style", "opset23"]}
# Compile flags per library: the default pipeline (with llmc-fuse-rope, whose rotation the
# step's paged attention inherits) and, for the optimum export, without that fusion.
VARIANTS = {name: (flags, []) for name, flags in STYLES.items()}
VARIANTS["optimum-no-fuse-rope"] = ([], ["--disable=fuse-rope"])
PROMPTS = [[1, 400, 21, 300, 59], [1, 13, 77, 200, 201, 202, 203, 44, 45], [1, 99], [1, 400, 21, 300, 59, 7]]
DECODE = 12
TOL = dict(rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module", params=list(VARIANTS))
def library(request, tmp_path_factory, stories_gguf, llmc):
    d = tmp_path_factory.mktemp(f"batch_{request.param}")
    export_flags, compile_flags = VARIANTS[request.param]
    onnx = llmc.export(stories_gguf, d / "m.onnx", *export_flags)
    so = llmc.compile(onnx, d / "m.so", *compile_flags)
    lib = Library(str(so))
    assert lib.lib.llmc_model_has_batch_step(lib.model) == 1
    assert "step" in lib.manifest and lib.manifest["step"]["entry"] == "llmc_step"
    yield lib
    lib.close()


def session_reference(lib, prompt, n):
    """Logits after the prompt and after each of n greedy tokens, one session."""
    s = lib.session(256)
    rows = [s.append(prompt)]
    for _ in range(n):
        rows.append(s.append([int(np.argmax(rows[-1]))]))
    s.close()
    return rows


class Allocator:
    """Hands out physical blocks in a shuffled order (block tables are not identity)."""

    def __init__(self, n, seed):
        self.free = list(range(n))
        random.Random(seed).shuffle(self.free)

    def grow(self, table, tokens, block_size):
        while len(table) * block_size < tokens:
            table.append(self.free.pop())


@pytest.mark.parametrize("block_size,chunk", [(16, 64), (4, 3)])
def test_ragged_batches_match_sessions(library, block_size, chunk):
    lib = library
    ref = [session_reference(lib, p, DECODE) for p in PROMPTS]
    pool = KvPool(lib, 64, block_size)
    alloc = Allocator(64, block_size)
    tables = [[] for _ in PROMPTS]
    done = [0] * len(PROMPTS)          # tokens in the cache
    fed = [list(p) for p in PROMPTS]   # prompt, then generated tokens
    got = [[] for _ in PROMPTS]        # logits rows seen per sequence
    # Sequences start at different steps so prefill chunks and decodes mix.
    start_step = [0, 0, 2, 5]
    step = 0
    while any(len(g) < DECODE + 1 for g in got):
        batch, who = [], []
        for i in range(len(PROMPTS)):
            if step < start_step[i] or len(got[i]) >= DECODE + 1:
                continue
            todo = fed[i][done[i]:done[i] + chunk]
            alloc.grow(tables[i], done[i] + len(todo), block_size)
            want = done[i] + len(todo) == len(fed[i])
            batch.append((todo, done[i], list(tables[i]), want))
            who.append((i, len(todo), want))
        rows = pool.step(batch)
        r = 0
        for i, n, want in who:
            done[i] += n
            if want:
                got[i].append(rows[r])
                fed[i].append(int(np.argmax(rows[r])))
                r += 1
        step += 1
    pool.close()
    for i in range(len(PROMPTS)):
        for k in range(DECODE + 1):
            np.testing.assert_allclose(got[i][k], ref[i][k], **TOL,
                                       err_msg=f"sequence {i}, row {k}, block size {block_size}")


def test_copied_prefix_block(library):
    """Copy-on-write: a sequence reusing a copy of another's full prompt blocks computes
    only its own tail and gets the same logits as a session over the whole prompt."""
    lib = library
    prompt = PROMPTS[3]  # shares its first 5 tokens with PROMPTS[0]
    ref = session_reference(lib, prompt, 0)[0]
    pool = KvPool(lib, 16, 4)
    pool.step([(PROMPTS[0], 0, [5, 9], False)])  # tokens 0..3 in block 5, token 4 in 9
    pool.copy_block(5, 2)
    rows = pool.step([(prompt[4:], 4, [2, 11], True)])
    np.testing.assert_allclose(rows[0], ref, **TOL)
    pool.close()


def test_batch_step_errors(library):
    lib = library
    pool = KvPool(lib, 4, 4)
    with pytest.raises(LlmcError, match="outside the pool"):
        pool.step([([1, 2], 0, [7], True)])
    with pytest.raises(LlmcError, match="cannot hold"):
        pool.step([([1, 2, 3, 4, 5], 0, [0], True)])
    with pytest.raises(LlmcError, match="outside the vocabulary"):
        pool.step([([1, 9999], 0, [0], True)])
    with pytest.raises(LlmcError, match="block id out of range"):
        pool.copy_block(0, 4)
    pool.close()


def test_no_batch_step_flag(tmp_path, stories_gguf, llmc):
    onnx = llmc.export(stories_gguf, tmp_path / "m.onnx")
    so = llmc.compile(onnx, tmp_path / "m.so", "--no-batch-step")
    lib = Library(str(so))
    try:
        assert lib.lib.llmc_model_has_batch_step(lib.model) == 0
        assert "step" not in lib.manifest
        with pytest.raises(LlmcError, match="no batch step"):
            KvPool(lib, 4, 4)
    finally:
        lib.close()
