"""stories260K end to end: export to ONNX, greedy-generate with ONNX Runtime, and
compare with the reference story quoted in shared/DATA.md."""
import itertools
import subprocess
import sys

import numpy as np
import onnx
import pytest

from conftest import PYTHON_DIR, STORIES_BIN, STORIES_GGUF, TOK512_BIN, require
from llmc_tools.checkpoint import load_checkpoint
from llmc_tools.export_onnx import build, save
from llmc_tools.llama_onnx import build_optimum
from llmc_tools.ort_generate import generate, make_session
from llmc_tools.vocab import load_vocab

N_TOKENS = 200  # DATA.md: run.c -n 200 from BOS, temperature 0


def _export(tmp_path, ckpt, name="m.onnx", external=False, **kw):
    path = tmp_path / name
    save(build(ckpt, **kw), path, external_data=external)
    return path


@pytest.mark.parametrize(
    "rope,linear,opset",
    list(itertools.product(["rotate_half", "interleaved"], ["matmul", "gemm"], [13, 17, 18, 21, 23])),
)
def test_reference_story(tmp_path, stories_ckpt, stories_vocab, stories_reference_text, rope, linear, opset):
    path = _export(tmp_path, stories_ckpt, opset=opset, rope=rope, linear=linear)
    g = generate(str(path), [], N_TOKENS)
    assert g.prompt_ids == [1] and len(g.ids) == N_TOKENS
    assert g.step_logits.shape == (N_TOKENS, 512)
    assert stories_vocab.decode(g.ids) == stories_reference_text


def test_llama2c_bin_story(tmp_path, stories_reference_text):
    ck = load_checkpoint(require(STORIES_BIN))
    path = _export(tmp_path, ck)
    g = generate(str(path), [1], N_TOKENS)
    assert load_vocab(require(TOK512_BIN)).decode(g.ids) == stories_reference_text


def test_rope_and_linear_forms_agree(tmp_path, stories_ckpt):
    prompt = [1, 403, 407, 261, 378]
    ref = generate(str(_export(tmp_path, stories_ckpt, "a.onnx")), prompt, 16)
    for i, kw in enumerate([{"rope": "interleaved"}, {"linear": "gemm"}, {"opset": 18}]):
        g = generate(str(_export(tmp_path, stories_ckpt, f"b{i}.onnx", **kw)), prompt, 16)
        assert g.ids == ref.ids
        assert np.abs(g.step_logits - ref.step_logits).max() < 1e-4
        assert np.abs(g.prefill_logits - ref.prefill_logits).max() < 1e-4


def test_rotate_half_needs_unpermuted_weights(tmp_path, stories_ckpt, stories_vocab, stories_reference_text,
                                              monkeypatch):
    """Guard against a no-op un-permute: skipping it must break the story."""
    import llmc_tools.llama_onnx as lo

    monkeypatch.setattr(lo, "interleaved_to_rotate_half", lambda w, n: w)
    text = stories_vocab.decode(generate(str(_export(tmp_path, stories_ckpt)), [], 60).ids)
    assert not stories_reference_text.startswith(text)


def test_external_data(tmp_path, stories_ckpt):
    inline = generate(str(_export(tmp_path, stories_ckpt, "inline.onnx")), [1, 300], 8)
    path = _export(tmp_path, stories_ckpt, "ext.onnx", external=True)
    data = tmp_path / "ext.onnx.data"
    assert data.is_file() and data.stat().st_size > 1_000_000
    assert path.stat().st_size < 200_000  # weights are not inline
    m = onnx.load(str(path), load_external_data=False)
    assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer)
    g = generate(str(path), [1, 300], 8)
    assert g.ids == inline.ids and np.array_equal(g.step_logits, inline.step_logits)


def test_chunked_prefill_and_padding(tmp_path, stories_ckpt):
    """The in-graph mask handles past>0 with several new tokens, and left padding in a batch."""
    sess = make_session(str(_export(tmp_path, stories_ckpt)))
    cfg = stories_ckpt.config
    names = [o.name for o in sess.get_outputs()]
    ids = np.array([1, 403, 407, 261, 378, 432, 383], dtype=np.int64)

    def run(tok, mask, pos, past=None):
        feed = {"input_ids": tok, "attention_mask": mask, "position_ids": pos}
        for i in range(cfg.n_layers):
            for kv in ("key", "value"):
                n = f"past_key_values.{i}.{kv}"
                feed[n] = past[n] if past else np.zeros((tok.shape[0], cfg.n_kv_heads, 0, cfg.head_dim), np.float32)
        out = dict(zip(names, sess.run(names, feed)))
        return out["logits"], {k.replace("present.", "past_key_values."): v for k, v in out.items() if k != "logits"}

    full, _ = run(ids[None], np.ones((1, 7), np.int64), np.arange(7)[None])
    a, past = run(ids[None, :3], np.ones((1, 3), np.int64), np.arange(3)[None])
    b, _ = run(ids[None, 3:], np.ones((1, 7), np.int64), np.arange(3, 7)[None], past)
    assert np.abs(np.concatenate([a, b], axis=1) - full).max() < 1e-4

    # Batch of two: row 1 is the same sequence shifted right by 2 pad tokens.
    tok = np.stack([ids, np.concatenate([[0, 0], ids[:5]])])
    mask = np.array([[1] * 7, [0, 0] + [1] * 5], np.int64)
    pos = np.stack([np.arange(7), np.concatenate([[1, 1], np.arange(5)])])
    batch, _ = run(tok, mask, pos)
    assert np.isfinite(batch).all()
    assert np.abs(batch[0] - full[0]).max() < 1e-4
    assert np.abs(batch[1, 2:] - full[0, :5]).max() < 1e-4


# ------------------------------------------------------------ structure of the default export


def _ops(model):
    return [n.op_type for n in model.graph.node]


def test_default_graph_interface(stories_ckpt):
    m = build_optimum(stories_ckpt)
    onnx.checker.check_model(m, full_check=True)
    assert m.opset_import[0].version == 17

    def dims(vi):
        return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]

    ins = {i.name: (i.type.tensor_type.elem_type, dims(i)) for i in m.graph.input}
    outs = {o.name: (o.type.tensor_type.elem_type, dims(o)) for o in m.graph.output}
    I64, F32 = onnx.TensorProto.INT64, onnx.TensorProto.FLOAT
    assert ins["input_ids"] == (I64, ["batch_size", "sequence_length"])
    assert ins["attention_mask"] == (I64, ["batch_size", "total_sequence_length"])
    assert ins["position_ids"] == (I64, ["batch_size", "sequence_length"])
    assert ins["past_key_values.4.value"] == (F32, ["batch_size", 4, "past_sequence_length", 8])
    assert outs["logits"] == (F32, ["batch_size", "sequence_length", 512])
    assert outs["present.0.key"] == (F32, ["batch_size", 4, "total_sequence_length", 8])
    assert len(ins) == 3 + 10 and len(outs) == 1 + 10


def test_default_graph_ops(stories_ckpt):
    m = build_optimum(stories_ckpt)
    ops = set(_ops(m))
    assert ops == {
        "Add", "Cast", "Concat", "Constant", "Cos", "Div", "Equal", "Expand", "Gather", "Greater", "MatMul",
        "Mul", "Neg", "Or", "Pow", "Range", "Reciprocal", "ReduceMean", "Reshape", "Shape", "Sigmoid", "Sin",
        "Slice", "Softmax", "Sqrt", "Transpose", "Unsqueeze", "Where",
    }
    # ReduceMean: axes attribute before opset 18, input from 18.
    rm17 = next(n for n in m.graph.node if n.op_type == "ReduceMean")
    assert len(rm17.input) == 1 and [a.name for a in rm17.attribute] == ["axes", "keepdims"]
    rm18 = next(n for n in build_optimum(stories_ckpt, opset=18).graph.node if n.op_type == "ReduceMean")
    assert len(rm18.input) == 2 and [a.name for a in rm18.attribute] == ["keepdims"]
    # The mask fill value is float32 min, never -inf.
    consts = [onnx.numpy_helper.to_array(n.attribute[0].t) for n in m.graph.node if n.op_type == "Constant"]
    assert all(np.isfinite(c).all() for c in consts if c.dtype == np.float32)
    where = next(n for n in m.graph.node if n.op_type == "Where")
    producer = {o: n for n in m.graph.node for o in n.output}
    fill = onnx.numpy_helper.to_array(producer[where.input[1]].attribute[0].t)
    assert fill == np.finfo(np.float32).min
    # Head reshapes take a Concat of Unsqueeze(Gather(Shape)) and constants, like torch.
    reshapes = [n for n in m.graph.node if n.op_type == "Reshape" and "self_attn" in n.name]
    assert reshapes and all(producer[n.input[1]].op_type == "Concat" for n in reshapes)
    cat = producer[reshapes[0].input[1]]
    assert [producer[x].op_type for x in cat.input] == ["Unsqueeze", "Unsqueeze", "Constant", "Constant"]
    assert producer[producer[cat.input[0]].input[0]].op_type == "Gather"
    # Tied-or-not, the LM head has its own [dim, vocab] initializer.
    inits = {t.name: t for t in m.graph.initializer}
    assert list(inits["lm_head.weight"].dims) == [64, 512]
    assert list(inits["model.layers.0.self_attn.k_proj.weight"].dims) == [64, 32]


def test_gemm_graph(stories_ckpt):
    m = build_optimum(stories_ckpt, linear="gemm")
    ops = _ops(m)
    assert "MatMul" in ops  # attention products stay MatMul
    gemms = [n for n in m.graph.node if n.op_type == "Gemm"]
    assert len(gemms) == 5 * 7 + 1
    assert all(a.name == "transB" and a.i == 1 for n in gemms for a in n.attribute)
    inits = {t.name: t for t in m.graph.initializer}
    assert list(inits["model.layers.0.self_attn.k_proj.weight"].dims) == [32, 64]


# ------------------------------------------------------------ command lines


def test_cli_export_and_generate(tmp_path):
    env_py = [sys.executable, "-m"]
    kw = dict(cwd=PYTHON_DIR, capture_output=True, text=True, check=True)
    out = tmp_path / "cli.onnx"
    r = subprocess.run(env_py + ["llmc_tools.export_onnx", str(require(STORIES_GGUF)), "-o", str(out),
                                 "--opset", "13", "--rope", "interleaved", "--linear", "gemm",
                                 "--external-data"], **kw)
    assert "wrote" in r.stdout and (tmp_path / "cli.onnx.data").is_file()
    npz = tmp_path / "l.npz"
    r = subprocess.run(env_py + ["llmc_tools.ort_generate", str(out), "--ids", "", "-n", "12",
                                 "--dump-logits", str(npz), "--threads", "1", "--vocab",
                                 str(require(STORIES_GGUF))], **kw)
    ids_line, text_line = r.stdout.strip().split("\n")[:2]
    assert text_line == "Once upon a time, there was a little girl"
    d = np.load(npz)
    assert d["ids"].tolist() == [int(t) for t in ids_line.split(",")]
    assert d["step_logits"].shape == (12, 512) and d["prompt_ids"].tolist() == [1]
    assert d["step_logits"][0].argmax() == d["ids"][0]
