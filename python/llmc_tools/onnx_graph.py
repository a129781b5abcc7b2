"""A small ONNX graph builder: torch-style node names, deduplicated constants,
and the few ops whose signature changed across opsets 13..23."""
from __future__ import annotations

import contextlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INT64_MAX = np.iinfo(np.int64).max  # what torch writes for an open-ended slice


class GraphBuilder:
    def __init__(self, opset: int, extra_opsets: dict | None = None):
        self.opset = opset
        self.extra_opsets = dict(extra_opsets or {})
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._scope: list[str] = []
        self._used_names: dict[str, int] = {}
        self._consts: dict[tuple, str] = {}

    # ---------------------------------------------------------------- naming

    @contextlib.contextmanager
    def scope(self, name: str):
        self._scope.append(name)
        try:
            yield
        finally:
            self._scope.pop()

    def _node_name(self, op_type: str) -> str:
        base = "/" + "/".join(self._scope + [op_type]) if self._scope else "/" + op_type
        n = self._used_names.get(base, 0)
        self._used_names[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    # ---------------------------------------------------------------- graph I/O

    def input(self, name, elem_type, shape):
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def output(self, name, elem_type, shape):
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    # ---------------------------------------------------------------- nodes

    def op(self, op_type, inputs, attrs=None, outputs=None, n_out=1, domain=""):
        """Add a node; returns its output name (or the list when it has several).

        `outputs` may name some outputs: None entries get the default name, "" skips
        an optional output."""
        name = self._node_name(op_type)
        if outputs is None:
            outputs = [None] * n_out
        outputs = [f"{name}_output_{k}" if o is None else o for k, o in enumerate(outputs)]
        node = helper.make_node(
            op_type, list(inputs), list(outputs), name=name, domain=domain or None, **(attrs or {})
        )
        self.nodes.append(node)
        return outputs[0] if len(outputs) == 1 else list(outputs)

    def const(self, value, dtype=None) -> str:
        """A Constant node, shared by every user of the same value (like torch's CSE)."""
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            name = f"/Constant_{len(self._consts)}_output_0"
            node = helper.make_node(
                "Constant", [], [name], name=f"/Constant_{len(self._consts)}",
                value=numpy_helper.from_array(arr),
            )
            self.nodes.append(node)
            self._consts[key] = name
        return self._consts[key]

    def i64(self, *values) -> str:
        return self.const(np.array(values, dtype=np.int64))

    def f32(self, value) -> str:
        return self.const(np.array(value, dtype=np.float32))

    def weight(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    # ---------------------------------------------------------------- opset-dependent ops

    def unsqueeze(self, x, axes):
        return self.op("Unsqueeze", [x, self.i64(*axes)])  # axes is an input from opset 13

    def reduce_mean(self, x, axes, keepdims=1):
        # ReduceMean takes axes as an attribute before opset 18 and as an input after.
        if self.opset >= 18:
            return self.op("ReduceMean", [x, self.i64(*axes)], {"keepdims": keepdims})
        return self.op("ReduceMean", [x], {"axes": list(axes), "keepdims": keepdims})

    def slice(self, x, starts, ends, axes, steps=None):
        ins = [x, self.i64(*starts), self.i64(*ends), self.i64(*axes)]
        if steps is not None:
            ins.append(self.i64(*steps))
        return self.op("Slice", ins)

    def gather_dim(self, shape, index):
        """Scalar dim of a Shape output, the way torch exports `x.size(i)`."""
        return self.op("Gather", [shape, self.const(np.array(index, dtype=np.int64))], {"axis": 0})

    # ---------------------------------------------------------------- model

    def model(self, graph_name: str, ir_version: int | None = None) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, graph_name, self.inputs, self.outputs, initializer=self.initializers
        )
        opsets = [helper.make_opsetid("", self.opset)]
        opsets += [helper.make_opsetid(d, v) for d, v in self.extra_opsets.items()]
        if ir_version is None:
            ir_version = helper.find_min_ir_version_for([opsets[0]])
        return helper.make_model(
            graph, opset_imports=opsets, ir_version=ir_version, producer_name="llmc_tools"
        )


FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64
INT32 = TensorProto.INT32
BOOL = TensorProto.BOOL
