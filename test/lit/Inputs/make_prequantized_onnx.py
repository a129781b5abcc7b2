"""Writes small pre-quantized ONNX models (MatMulNBits, DequantizeLinear -> MatMul)
for the importer's lit tests and test/e2e/test_prequantized.py, which compares
llmc with ONNX Runtime on them.

usage: make_prequantized_onnx.py NAME OUT.onnx   (NAME: one of CASES)

The packing follows ONNX Runtime's MatMulNBits definition, written here with
numpy (not with ORT's quantizer, so the lit tests do not depend on it): B is
uint8 [N, n_blocks, blob] with codes along K, low nibble first; zero points
are packed the same way per column; no zero points means 2^(bits-1).
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MS = ("com.microsoft", 1)


def model(nodes, inputs, outputs, inits=(), opset=17, domain_opsets=(MS,)):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in domain_opsets]
    m = helper.make_model(g, opset_imports=ops)
    m.ir_version = 10 if opset >= 21 else 9
    return m


def vi(name, dims, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, dims)


def pack_along_k(codes, bits):
    """codes [N, n_blocks, block] (uint8 values < 2^bits) -> [N, n_blocks, block*bits/8]."""
    if bits == 8:
        return codes.astype(np.uint8)
    lo, hi = codes[..., 0::2], codes[..., 1::2]
    return (lo | (hi << 4)).astype(np.uint8)


def pack_zero_points(zp, bits):
    """zp [N, n_blocks] -> uint8 [N * ceil(n_blocks * bits / 8)], low nibble first."""
    if bits == 8:
        return zp.astype(np.uint8).reshape(-1)
    n, nb = zp.shape
    padded = np.zeros((n, nb + nb % 2), dtype=np.uint8)
    padded[:, :nb] = zp
    return (padded[:, 0::2] | (padded[:, 1::2] << 4)).astype(np.uint8).reshape(-1)


def pack_4bit(values):
    """ONNX INT4/UINT4 raw data: two per byte, the first in the low nibble."""
    v = (np.asarray(values).reshape(-1) & 0xF).astype(np.uint8)
    if v.size % 2:
        v = np.append(v, np.uint8(0))
    return (v[0::2] | (v[1::2] << 4)).tobytes()


def matmul_nbits(K=64, N=40, bits=4, block=32, zero_points=False, float_zp=None, g_idx=None, bias=False,
                 b_shape=None, seed=0, name="qproj", k_input=None):
    """y = x @ W with W given as MatMulNBits (random codes, scales, zero points)."""
    rng = np.random.default_rng(seed)
    nb = (K + block - 1) // block
    codes = rng.integers(0, 2 ** bits, size=(N, nb, block), dtype=np.uint8)
    codes[:, -1, K - (nb - 1) * block:] = 0  # K padding (ORT's quantizer pads with code 0 too)
    scales = (rng.uniform(0.5, 1.5, size=(N, nb)) * (0.05 if bits == 4 else 0.004)).astype(np.float32)
    b = pack_along_k(codes, bits)
    if b_shape is not None:
        b = np.zeros(b_shape, dtype=np.uint8)
    inits = [numpy_helper.from_array(b, "W_q"), numpy_helper.from_array(scales.reshape(-1), "W_scales")]
    inputs = ["x", "W_q", "W_scales"]
    if zero_points or float_zp is not None:
        if float_zp is not None:
            zp = np.full((N, nb), float_zp, dtype=np.float32)
            inits.append(numpy_helper.from_array(zp.reshape(-1), "W_zp"))
        else:
            zp = rng.integers(0, 2 ** bits, size=(N, nb), dtype=np.uint8)
            inits.append(numpy_helper.from_array(pack_zero_points(zp, bits), "W_zp"))
        inputs.append("W_zp")
    if (g_idx is not None or bias) and len(inputs) == 3:
        inputs.append("")  # no zero points
    if g_idx is not None or bias:
        if g_idx is not None:
            inits.append(numpy_helper.from_array(np.asarray(g_idx, dtype=np.int32), "W_gidx"))
        inputs.append("W_gidx" if g_idx is not None else "")
    if bias:
        inits.append(numpy_helper.from_array(rng.normal(size=N).astype(np.float32), "W_bias"))
        inputs.append("W_bias")
    node = helper.make_node("MatMulNBits", inputs, ["y"], name=name, domain="com.microsoft",
                            K=K, N=N, bits=bits, block_size=block)
    return model([node], [vi("x", [1, "seq", k_input or K])], [vi("y", [1, "seq", N])], inits)


def qdq_matmul(K=64, N=40, qtype=TensorProto.INT8, axis=1, block=0, per_tensor=False, zero_point=True,
               activation=False, gather=False, seed=1):
    """y = x @ DequantizeLinear(W_q, scale, zero_point) (+ optionally a Gather of the same weight)."""
    rng = np.random.default_rng(seed)
    lo, hi = {TensorProto.INT8: (-128, 127), TensorProto.UINT8: (0, 255),
              TensorProto.INT4: (-8, 7), TensorProto.UINT4: (0, 15)}[qtype]
    q = rng.integers(lo, hi + 1, size=(K, N))
    if per_tensor:
        sshape = []
    elif block:
        sshape = [(K + block - 1) // block, N] if axis == 0 else [K, (N + block - 1) // block]
    else:
        sshape = [N] if axis == 1 else [K]
    scale = (rng.uniform(0.5, 1.5, size=sshape) * 4 / (hi - lo)).astype(np.float32)
    zp = rng.integers(lo // 4, hi // 4 + 1, size=sshape)
    if qtype in (TensorProto.INT4, TensorProto.UINT4):
        inits = [helper.make_tensor("W_q", qtype, [K, N], pack_4bit(q), raw=True)]
        if zero_point:
            inits.append(helper.make_tensor("W_zp", qtype, sshape, pack_4bit(zp), raw=True))
    else:
        npt = np.int8 if qtype == TensorProto.INT8 else np.uint8
        inits = [numpy_helper.from_array(q.astype(npt), "W_q")]
        if zero_point:
            inits.append(numpy_helper.from_array(np.asarray(zp).astype(npt), "W_zp"))
    inits.append(numpy_helper.from_array(np.asarray(scale, dtype=np.float32), "W_scale"))
    attrs = {"axis": axis}
    if block:
        attrs["block_size"] = block
    dq_in = ["x_q" if activation else "W_q", "W_scale"] + (["W_zp"] if zero_point else [])
    nodes = [helper.make_node("DequantizeLinear", dq_in, ["W"], name="dq_weight", **attrs),
             helper.make_node("MatMul", ["x", "W"], ["y"], name="proj")]
    inputs = [vi("x", [1, "seq", K])]
    outputs = [vi("y", [1, "seq", N])]
    if activation:
        inputs.append(vi("x_q", [K, N], qtype))
    if gather:
        nodes.append(helper.make_node("Gather", ["W", "ids"], ["rows"], name="lookup", axis=0))
        inputs.append(vi("ids", [1, "seq"], TensorProto.INT64))
        outputs.append(vi("rows", [1, "seq", N]))
    opset = 21 if block or qtype in (TensorProto.INT4, TensorProto.UINT4) else 17
    return model(nodes, inputs, outputs, inits, opset=opset, domain_opsets=())


CASES = {
    # supported
    "nbits4_sym": lambda: matmul_nbits(),
    "nbits4_zp": lambda: matmul_nbits(zero_points=True),
    "nbits4_zp_odd_k": lambda: matmul_nbits(K=72, N=24, block=16, zero_points=True, bias=True),
    "nbits4_g128": lambda: matmul_nbits(K=200, N=48, block=128, zero_points=True),
    "nbits8_zp": lambda: matmul_nbits(bits=8, block=32, zero_points=True),
    "nbits8_sym": lambda: matmul_nbits(bits=8, block=64, K=96),
    "nbits4_float_zp": lambda: matmul_nbits(float_zp=8.0),
    "nbits4_gidx_identity": lambda: matmul_nbits(g_idx=[k // 32 for k in range(64)]),
    "qdq_int8_channel": lambda: qdq_matmul(),
    "qdq_int8_channel_sym": lambda: qdq_matmul(zero_point=False),
    "qdq_uint8_tensor": lambda: qdq_matmul(qtype=TensorProto.UINT8, per_tensor=True),
    "qdq_int4_block": lambda: qdq_matmul(qtype=TensorProto.INT4, axis=0, block=32, zero_point=False),
    "qdq_uint4_block_zp": lambda: qdq_matmul(qtype=TensorProto.UINT4, axis=0, block=16),
    "qdq_gather": lambda: qdq_matmul(gather=True),
    # errors
    "nbits2": lambda: matmul_nbits(bits=2, block=32),
    "nbits_gidx_reordered": lambda: matmul_nbits(g_idx=[(k + 1) % 64 // 32 for k in range(64)]),
    "nbits_bad_b_shape": lambda: matmul_nbits(b_shape=(40, 3, 16)),
    "nbits_bad_k": lambda: matmul_nbits(k_input=48),
    "nbits_float_zp_fraction": lambda: matmul_nbits(float_zp=7.5),
    "qdq_per_row": lambda: qdq_matmul(axis=0),
    "qdq_block_along_n": lambda: qdq_matmul(qtype=TensorProto.INT8, axis=1, block=8),
    "qdq_activation": lambda: qdq_matmul(activation=True),
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in CASES:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(CASES)}}} OUT.onnx")
    onnx.save(CASES[sys.argv[1]](), sys.argv[2])


if __name__ == "__main__":
    main()
