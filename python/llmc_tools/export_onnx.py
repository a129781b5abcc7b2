"""Export a Llama checkpoint (GGUF or llama2.c .bin) to an ONNX decoder graph.

  python -m llmc_tools.export_onnx MODEL -o out.onnx [--opset 13..23] [--rope rotate_half|interleaved]
      [--linear matmul|gemm] [--external-data] [--style optimum|genai|opset23]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import onnx

from .checkpoint import Checkpoint, load_checkpoint
from .llama_onnx import LINEAR_FORMS, ROPE_FORMS, build_optimum

STYLES = ("optimum", "genai", "opset23")
_PROTOBUF_LIMIT = 2**31 - 1  # a ModelProto larger than this cannot be serialized inline


def build(ckpt: Checkpoint, style="optimum", opset=17, rope="rotate_half", linear="matmul") -> onnx.ModelProto:
    if style == "optimum":
        return build_optimum(ckpt, opset=opset, rope=rope, linear=linear)
    if style == "genai":
        from .llama_onnx_genai import build_genai

        return build_genai(ckpt, opset=opset, rope=rope, linear=linear)
    if style == "opset23":
        from .llama_onnx_opset23 import build_opset23

        return build_opset23(ckpt, opset=opset, rope=rope, linear=linear)
    raise ValueError(f"style must be one of {STYLES}")


def _weight_bytes(model: onnx.ModelProto) -> int:
    return sum(len(t.raw_data) for t in model.graph.initializer)


def save(model: onnx.ModelProto, path: str | Path, external_data: bool = False) -> bool:
    """Save and check the model; returns whether weights went to an external file.

    With external data, onnx moves the weights out of `model` in place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Big models must use external data: protobuf cannot hold more than 2 GiB.
    if not external_data and _weight_bytes(model) > _PROTOBUF_LIMIT - (64 << 20):
        print(f"note: weights exceed 2 GiB, writing external data for {path}", file=sys.stderr)
        external_data = True
    if external_data:
        data_name = path.name + ".data"
        (path.parent / data_name).unlink(missing_ok=True)  # onnx appends to an existing file
        onnx.save_model(
            model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
            location=data_name, size_threshold=1024,
        )
    else:
        onnx.save_model(model, str(path))
    check_saved(path, model.graph.node)
    return external_data


def _ort_only(node) -> bool:
    return node.domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type)


def check_saved(path: str | Path, nodes=None) -> None:
    """onnx.checker full check of a saved model, from the file so that external data
    and models over 2 GiB are covered. `nodes` (the saved graph's) spares a reload."""
    if nodes is None:
        nodes = onnx.load(str(path), load_external_data=False).graph.node
    if not any(_ort_only(n) for n in nodes):
        onnx.checker.check_model(str(path), full_check=True)
        return
    model = onnx.load(str(path), load_external_data=False)
    ort_only = [n for n in model.graph.node if _ort_only(n)]
    # ORT registers some contrib ops (SimplifiedLayerNormalization) in the ONNX domain,
    # where the checker has no schema: check the rest with those moved to ORT's domain.
    for n in ort_only:
        n.domain = "com.microsoft"
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    # Check a file next to the original so relative external-data paths still resolve.
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=Path(path).parent)
    os.close(fd)
    try:
        onnx.save_model(model, tmp)
        onnx.checker.check_model(tmp, full_check=True)
    finally:
        os.unlink(tmp)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="GGUF (llama arch) or llama2.c legacy .bin checkpoint")
    ap.add_argument("-o", "--output", required=True, help="output .onnx path")
    ap.add_argument("--opset", type=int, default=None, help="ONNX opset, 13..23 (default 17; 23 for opset23 style)")
    ap.add_argument("--rope", choices=ROPE_FORMS, default="rotate_half")
    ap.add_argument("--linear", choices=LINEAR_FORMS, default="matmul")
    ap.add_argument("--external-data", action="store_true", help="weights in OUTPUT.data next to the .onnx")
    ap.add_argument("--style", choices=STYLES, default="optimum")
    args = ap.parse_args(argv)

    opset = args.opset if args.opset is not None else (23 if args.style == "opset23" else 17)
    ckpt = load_checkpoint(args.model)
    model = build(ckpt, style=args.style, opset=opset, rope=args.rope, linear=args.linear)
    del ckpt
    ext = save(model, args.output, args.external_data)
    g = model.graph
    print(
        f"wrote {args.output}{' (+ external data)' if ext else ''}: style={args.style} opset={opset} "
        f"rope={args.rope} linear={args.linear}, {len(g.node)} nodes, {len(g.initializer)} initializers"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
