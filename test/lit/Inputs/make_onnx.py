"""Writes small ONNX models for the importer's lit tests.

usage: make_onnx.py NAME OUT.onnx   (NAME selects one of the builders below)
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def model(nodes, inputs, outputs, inits=(), opset=17, domain_opsets=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in domain_opsets]
    m = helper.make_model(g, opset_imports=ops)
    m.ir_version = 9
    return m


def vi(name, dims, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, dims)


def torch_reshape():
    """x [batch, seq, 64] reshaped to [batch, seq, 8, 8] with a shape computed
    from Shape/Gather/Unsqueeze/Concat, as torch.onnx.export writes it."""
    c = lambda n, v: numpy_helper.from_array(np.array(v, dtype=np.int64), n)
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "i0"], ["b"], axis=0),
        helper.make_node("Gather", ["shape", "i1"], ["s"], axis=0),
        helper.make_node("Unsqueeze", ["b", "ax0"], ["b1"]),
        helper.make_node("Unsqueeze", ["s", "ax0"], ["s1"]),
        helper.make_node("Concat", ["b1", "s1", "eight", "eight"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="reshape_heads"),
        helper.make_node("Reshape", ["x", "flat"], ["z"], name="reshape_flat"),
    ]
    inits = [c("i0", 0), c("i1", 1), c("ax0", [0]), c("eight", [8]), c("flat", [0, -1])]
    return model(nodes, [vi("x", ["batch", "seq", 64])],
                 [vi("y", None), vi("z", None)], inits)


def mask_broadcast():
    """mask [batch, total] broadcast against scores [batch, 4, seq, past + seq]
    where total is a separate dim_param: broadcasting unifies the two."""
    c = lambda n, v: numpy_helper.from_array(np.array(v, dtype=np.int64), n)
    nodes = [
        helper.make_node("Concat", ["past", "new"], ["all"], axis=2),
        helper.make_node("Unsqueeze", ["mask", "axes"], ["m4"]),
        helper.make_node("Cast", ["m4"], ["mf"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["q", "allT"], ["scores"]),
        helper.make_node("Transpose", ["all"], ["allT"], perm=[0, 1, 3, 2]),
        helper.make_node("Add", ["scores", "mf"], ["y"]),
    ]
    # Topological order matters: Transpose must come before the MatMul.
    nodes = [nodes[0], nodes[1], nodes[2], nodes[4], nodes[3], nodes[5]]
    return model(nodes, [vi("q", ["batch", 4, "seq", 16]),
                         vi("past", ["batch", 4, "past_len", 16]),
                         vi("new", ["batch", 4, "seq", 16]),
                         vi("mask", ["batch", "total"], TensorProto.INT64)],
                 [vi("y", None)], [c("axes", [1, 2])])


def weights():
    w_small = numpy_helper.from_array(np.arange(4, dtype=np.float32), "small")
    w_big = numpy_helper.from_array(np.ones((32, 16), dtype=np.float32), "big")
    nodes = [helper.make_node("MatMul", ["x", "big"], ["h"]),
             helper.make_node("Add", ["h", "small16"], ["y"])]
    small16 = numpy_helper.from_array(np.arange(16, dtype=np.float32), "small16")
    return model(nodes, [vi("x", ["n", 32])], [vi("y", None)], [w_big, small16])


def unsupported_op():
    nodes = [helper.make_node("Einsum", ["a", "b"], ["y"], name="my_einsum", equation="ij,jk->ik")]
    return model(nodes, [vi("a", [2, 3]), vi("b", [3, 4])], [vi("y", None)])


def contrib_op():
    nodes = [helper.make_node("FusedGemm", ["a", "b"], ["y"], name="fused", domain="com.microsoft")]
    return model(nodes, [vi("a", [2, 3]), vi("b", [3, 4])], [vi("y", None)],
                 domain_opsets=[("com.microsoft", 1)])


def old_opset():
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    return model(nodes, [vi("x", [2])], [vi("y", None)], opset=11)


def undefined_input():
    nodes = [helper.make_node("Relu", ["nowhere"], ["y"], name="bad_relu")]
    return model(nodes, [vi("x", [2])], [vi("y", None)])


def bad_broadcast():
    nodes = [helper.make_node("Add", ["a", "b"], ["y"], name="bad_add")]
    return model(nodes, [vi("a", [2, 3]), vi("b", [4, 3])], [vi("y", None)])


def contrib_decoder_layer(do_rotary=0):
    """The ONNX Runtime GenAI builder's form: SimplifiedLayerNormalization,
    com.microsoft RotaryEmbedding and GroupQueryAttention with a KV cache."""
    D, H, KVH, HD = 16, 4, 2, 4
    rng = np.random.default_rng(0)
    f = lambda n, *shape: numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), n)
    inits = [f("norm_w", D), f("wq", D, H * HD), f("wk", D, KVH * HD), f("wv", D, KVH * HD),
             f("cos_cache", 32, HD // 2), f("sin_cache", 32, HD // 2),
             numpy_helper.from_array(np.array([0], dtype=np.int32), "seqlens"),
             numpy_helper.from_array(np.array(1, dtype=np.int32), "total")]
    nodes = [
        helper.make_node("SimplifiedLayerNormalization", ["x", "norm_w"], ["n"], name="norm",
                         axis=-1, epsilon=1e-5),
        helper.make_node("MatMul", ["n", "wq"], ["q"]),
        helper.make_node("MatMul", ["n", "wk"], ["k"]),
        helper.make_node("MatMul", ["n", "wv"], ["v"]),
        helper.make_node("RotaryEmbedding", ["q", "pos", "cos_cache", "sin_cache"], ["qr"],
                         name="rope_q", domain="com.microsoft", interleaved=0),
        helper.make_node("RotaryEmbedding", ["k", "pos", "cos_cache", "sin_cache"], ["kr"],
                         name="rope_k", domain="com.microsoft", interleaved=0),
        helper.make_node("GroupQueryAttention", ["qr", "kr", "v", "past_k", "past_v", "seqlens", "total"],
                         ["y", "present_k", "present_v"], name="gqa", domain="com.microsoft",
                         num_heads=H, kv_num_heads=KVH, do_rotary=do_rotary),
    ]
    return model(nodes, [vi("x", [1, "s", D]), vi("pos", [1, "s"], TensorProto.INT64),
                         vi("past_k", [1, KVH, "p", HD]), vi("past_v", [1, KVH, "p", HD])],
                 [vi("y", None), vi("present_k", None), vi("present_v", None)], inits,
                 domain_opsets=[("com.microsoft", 1)])


def gqa_do_rotary():
    return contrib_decoder_layer(do_rotary=1)


def external_data(path):
    w = numpy_helper.from_array(np.ones((64, 64), dtype=np.float32), "w")
    m = model([helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", ["n", 64])],
              [vi("y", None)], [w])
    onnx.save(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location=path.split("/")[-1] + ".data", size_threshold=0)


if __name__ == "__main__":
    name, out = sys.argv[1], sys.argv[2]
    if name == "external_data":
        external_data(out)
    elif name == "malformed":
        with open(out, "wb") as f:
            f.write(b"\x0a\xff\xff\xff\xff\x0fnot a protobuf at all")
    else:
        onnx.save(globals()[name](), out)
