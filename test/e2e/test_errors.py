"""Bad inputs give a clear error and a non-zero exit (1 or 2, never a signal or an
LLVM crash dump); bad run-time arguments give an llmc status and a message."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from conftest import assert_clean_failure

# ----------------------------------------------------------------------------- helpers


def tiny_model(nodes, inputs, outputs, opset=17, initializers=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def f32(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


@pytest.fixture(scope="module")
def stories_so(tmp_path_factory, llmc, stories_gguf):
    d = tmp_path_factory.mktemp("stories_err")
    return llmc.compile(llmc.export(stories_gguf, d / "m.onnx"), d / "m.so")


@pytest.fixture(scope="module")
def add_so(tmp_path_factory, llmc):
    """A non-LLM graph z = x + y with static shapes [2, 3] f32."""
    d = tmp_path_factory.mktemp("add")
    m = tiny_model([helper.make_node("Add", ["x", "y"], ["z"], name="add")],
                   [f32("x", [2, 3]), f32("y", [2, 3])], [f32("z", [2, 3])])
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, d / "add.onnx")
    return llmc.compile(d / "add.onnx", d / "add.so")


# ------------------------------------------------------------------- compile: bad model files


def test_random_bytes(tmp_path, llmc):
    p = tmp_path / "random.onnx"
    p.write_bytes(np.random.default_rng(1234).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    r = llmc("compile", p, "-o", tmp_path / "x.so")
    assert_clean_failure(r, "random.onnx", "not a valid ONNX model")
    assert not (tmp_path / "x.so").exists()


@pytest.mark.parametrize("fraction", [0.002, 0.5, 0.99999])
def test_truncated_model(fraction, tmp_path, llmc, stories_gguf):
    full = llmc.export(stories_gguf, tmp_path / "full.onnx").read_bytes()
    p = tmp_path / "cut.onnx"
    p.write_bytes(full[: int(len(full) * fraction)])
    r = llmc("compile", p, "-o", tmp_path / "x.so")
    assert_clean_failure(r, "cut.onnx", "not a valid ONNX model")


def test_empty_file(tmp_path, llmc):
    p = tmp_path / "empty.onnx"
    p.write_bytes(b"")
    assert_clean_failure(llmc("compile", p, "-o", tmp_path / "x.so"), "empty.onnx")


def test_missing_model_file(tmp_path, llmc):
    r = llmc("compile", tmp_path / "nothere.onnx", "-o", tmp_path / "x.so")
    assert_clean_failure(r, "nothere.onnx")


# --------------------------------------------------------------------- compile: unsupported


def test_unsupported_op_einsum(tmp_path, llmc):
    m = tiny_model([helper.make_node("Einsum", ["x", "x"], ["y"], name="my_einsum", equation="ij,ij->ij")],
                   [f32("x", [2, 3])], [f32("y", [2, 3])])
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, tmp_path / "einsum.onnx")
    r = llmc("compile", tmp_path / "einsum.onnx", "-o", tmp_path / "x.so")
    assert_clean_failure(r, "Einsum", "my_einsum", "opset 17")


def test_unsupported_op_loop(tmp_path, llmc):
    B = TensorProto.BOOL
    body = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["c_out"]), helper.make_node("Identity", ["v"], ["v_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("c", B, []),
         f32("v", [2, 3])],
        [helper.make_tensor_value_info("c_out", B, []), f32("v_out", [2, 3])])
    m = tiny_model([helper.make_node("Loop", ["trip", "cond", "x"], ["y"], name="the_loop", body=body)],
                   [f32("x", [2, 3])], [f32("y", [2, 3])], opset=18,
                   initializers=[helper.make_tensor("trip", TensorProto.INT64, [], [3]),
                                 helper.make_tensor("cond", B, [], [True])])
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, tmp_path / "loop.onnx")
    r = llmc("compile", tmp_path / "loop.onnx", "-o", tmp_path / "x.so")
    assert_clean_failure(r, "Loop", "the_loop", "opset 18")


def test_unsupported_opset(tmp_path, llmc):
    m = tiny_model([helper.make_node("Relu", ["x"], ["y"], name="r")], [f32("x", [2, 3])], [f32("y", [2, 3])],
                   opset=11)
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, tmp_path / "opset11.onnx")
    r = llmc("compile", tmp_path / "opset11.onnx", "-o", tmp_path / "x.so")
    assert_clean_failure(r, "opset 11")


# ------------------------------------------------------------------------ compile: external data


@pytest.fixture
def external_export(tmp_path, llmc, stories_gguf):
    p = llmc.export(stories_gguf, tmp_path / "ext.onnx", "--external-data")
    data = tmp_path / "ext.onnx.data"
    assert data.is_file()
    return p, data


def test_missing_external_data(external_export, tmp_path, llmc):
    p, data = external_export
    data.unlink()
    r = llmc("compile", p, "-o", tmp_path / "x.so")
    assert_clean_failure(r, "ext.onnx.data", "model.embed_tokens.weight")


def test_short_external_data(external_export, tmp_path, llmc):
    p, data = external_export
    data.write_bytes(data.read_bytes()[:1000])
    r = llmc("compile", p, "-o", tmp_path / "x.so")
    assert_clean_failure(r, "ext.onnx.data")


# -------------------------------------------------------------------------- compile: options


def test_unknown_emit(tmp_path, llmc, stories_gguf):
    p = llmc.export(stories_gguf, tmp_path / "m.onnx")
    r = llmc("compile", p, "--emit=bogus", "-o", tmp_path / "x.out")
    assert_clean_failure(r, "bogus")
    assert not (tmp_path / "x.out").exists()


# ------------------------------------------------------------------- run time: graph bindings


def test_graph_run_ok(add_so):
    from llmc_tools.runtime import Library

    lib = Library(str(add_so))
    try:
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        (z,) = lib.run([x, 2 * x])
        assert np.array_equal(z, 3 * x)
    finally:
        lib.close()


@pytest.mark.parametrize("bad,what", [
    (np.zeros((3, 2), np.float32), "shape"),
    (np.zeros((2, 3, 1), np.float32), "rank"),
    (np.zeros((6,), np.float32), "rank"),
    (np.zeros((2, 3), np.float64), "dtype"),
    (np.zeros((2, 3), np.int64), "dtype"),
])
def test_graph_run_wrong_input(add_so, bad, what):
    from llmc_tools.runtime import Library, LlmcError

    lib = Library(str(add_so))
    try:
        with pytest.raises(LlmcError) as e:
            lib.run([np.zeros((2, 3), np.float32), bad])  # the second input, 'y', is wrong
        assert e.value.status == 2  # LLMC_ERROR_SHAPE
        assert "'y'" in str(e.value) and what in str(e.value), str(e.value)
    finally:
        lib.close()


def test_graph_run_wrong_count(add_so):
    from llmc_tools.runtime import Library, LlmcError

    lib = Library(str(add_so))
    try:
        with pytest.raises(LlmcError) as e:
            lib.run([np.zeros((2, 3), np.float32)])
        assert e.value.status == 1  # LLMC_ERROR_INVALID_ARGUMENT
        assert "inputs" in str(e.value)
    finally:
        lib.close()


def test_graph_run_on_causal_lm(stories_so):
    """A KV-cache model is refused by llmc_graph_run with a pointer to the session API."""
    from llmc_tools.runtime import Library, LlmcError

    lib = Library(str(stories_so))
    try:
        with pytest.raises(LlmcError) as e:
            lib.run([np.ones((1, 1), np.int64)] * 3)
        assert e.value.status in (1, 4), str(e.value)
    finally:
        lib.close()


# ------------------------------------------------------------------ run time: sessions / CLI


@pytest.mark.parametrize("tokens", [[512], [-1], [1, 2, 100000]])
def test_token_out_of_range(stories_so, tokens):
    from llmc_tools.runtime import Library, LlmcError

    lib = Library(str(stories_so))
    try:
        s = lib.session(64)
        with pytest.raises(LlmcError) as e:
            s.append(tokens)
        assert e.value.status == 1  # LLMC_ERROR_INVALID_ARGUMENT
        bad = next(t for t in tokens if not 0 <= t < 512)
        assert str(bad) in str(e.value) and "512" in str(e.value), str(e.value)
        # The session is still usable after the rejected append.
        assert np.isfinite(s.append([1])).all()
        s.close()
    finally:
        lib.close()


def test_token_out_of_range_cli(stories_so, llmc):
    r = llmc("run", stories_so, "--ids", "1,600", "-n", "3")
    assert_clean_failure(r, "600")


def test_context_full(stories_so):
    from llmc_tools.runtime import Library, LlmcError

    lib = Library(str(stories_so))
    try:
        s = lib.session(8)
        with pytest.raises(LlmcError) as e:
            s.append(list(range(1, 10)))  # 9 tokens
        assert e.value.status == 3  # LLMC_ERROR_CONTEXT_FULL
        assert "context" in str(e.value) and "8" in str(e.value)
        # Filling exactly to capacity works; one more token does not.
        s.append([1] * 8)
        with pytest.raises(LlmcError) as e:
            s.append([1])
        assert e.value.status == 3
        s.close()
    finally:
        lib.close()


def test_context_full_cli(stories_so, llmc):
    r = llmc("run", stories_so, "--ids", "1,2,3,4,5,6,7,8,9", "--max-context", "8", "-n", "1")
    assert_clean_failure(r, "context")


def test_context_fills_during_generation_cli(stories_so, llmc):
    # 3 prompt tokens + 3 appended fill 6 positions; the 4th generated token
    # needs no room, a 5th would: generation stops there with a note.
    r = llmc("run", stories_so, "--ids", "1,2,3", "--max-context", "6", "-n", "10")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.split()) == 4, r.stdout
    assert "stopped after 4 tokens" in r.stderr and "--max-context=6" in r.stderr, r.stderr


@pytest.mark.parametrize("option, value", [
    ("-n", "-3"), ("--temperature", "-1"), ("--temperature", "nan"), ("--top-p", "2"),
    ("--top-p", "0"), ("--top-k", "-1"), ("--max-context", "0")])
def test_run_rejects_bad_sampling_options(stories_so, llmc, option, value):
    # Values the sampler would otherwise reinterpret silently (a negative
    # temperature as greedy, top-p > 1 as off) or that cannot work.
    n = [] if option == "-n" else ["-n", "2"]
    r = llmc("run", stories_so, "--ids", "1", *n, option, value)
    assert_clean_failure(r, option, value, codes=(2,))


def test_sampler_rejects_nan(stories_so):
    # C API: a NaN temperature or top_p gives no sampler and a message (it
    # used to scale every logit to NaN and pick arbitrary tokens).
    import ctypes
    from llmc_tools.runtime import Library

    class Params(ctypes.Structure):
        _fields_ = [("temperature", ctypes.c_float), ("top_k", ctypes.c_int32),
                    ("top_p", ctypes.c_float), ("seed", ctypes.c_uint64)]

    lib = Library(str(stories_so))
    try:
        L = lib.lib
        L.llmc_sampler_create.restype = ctypes.c_void_p
        L.llmc_sampler_create.argtypes = [ctypes.POINTER(Params)]
        L.llmc_sampler_destroy.argtypes = [ctypes.c_void_p]
        nan = float("nan")
        for params, what in [(Params(nan, 0, 1.0, 0), "temperature"), (Params(0.8, 0, nan, 0), "top_p")]:
            assert L.llmc_sampler_create(ctypes.byref(params)) is None
            assert what in L.llmc_last_error().decode() and "NaN" in L.llmc_last_error().decode()
        ok = L.llmc_sampler_create(ctypes.byref(Params(0.8, 40, 0.9, 1)))
        assert ok
        L.llmc_sampler_destroy(ok)
    finally:
        lib.close()


def _system_libm():
    """Path of the libm this process has loaded: a real, self-contained shared object."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "/libm.so" in line or "/libm-" in line}
    assert paths, "libm not found in /proc/self/maps"
    return sorted(paths)[0]


def test_run_non_llmc_library(llmc):
    r = llmc("run", _system_libm(), "--ids", "1", "-n", "1")
    assert_clean_failure(r, "not an llmc library")


def test_run_not_a_shared_object(tmp_path, llmc):
    p = tmp_path / "fake.so"
    p.write_text("hello\n")
    assert_clean_failure(llmc("run", p, "--ids", "1", "-n", "1"), "fake.so")


def test_run_missing_file(tmp_path, llmc):
    r = llmc("run", tmp_path / "nothere.so", "--ids", "1", "-n", "1")
    assert_clean_failure(r, "nothere.so")


def test_run_prompt_without_tokenizer(stories_so, llmc):
    r = llmc("run", stories_so, "--prompt", "hello", "-n", "1")
    assert_clean_failure(r, "tokenizer")
