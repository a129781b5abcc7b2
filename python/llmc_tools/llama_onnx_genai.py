"""Llama decoder -> ONNX in the form of ONNX Runtime GenAI's model builder (style "genai"):
SimplifiedLayerNormalization / SkipSimplifiedLayerNormalization (residual adds fused into
the norms), com.microsoft RotaryEmbedding on Q and K, and com.microsoft GroupQueryAttention
owning the KV cache. Same graph interface as the "optimum" style.

ORT registers SimplifiedLayerNormalization in the ONNX domain (as the model builder
emits it), which the ONNX checker does not know; export_onnx.save checks around it.
"""
from __future__ import annotations

import math

import numpy as np

from .checkpoint import Checkpoint
from .llama_onnx import OptimumLlama, declare_io, finish_model, rope_cache, rope_weights
from .onnx_graph import INT32

MS = "com.microsoft"


class GenAILlama(OptimumLlama):
    style = "genai"
    extra_opsets = {MS: 1}

    def check_options(self, opset, linear):
        if linear != "matmul":
            raise ValueError("style genai supports --linear matmul only")

    def simplified_norm(self, x, weight_name, weight):
        w = self.b.weight(weight_name, weight)
        attrs = {"axis": -1, "epsilon": self.cfg.rms_eps, "stash_type": 1}
        return self.b.op("SimplifiedLayerNormalization", [x, w], attrs)

    def skip_norm(self, x, skip, weight_name, weight):
        """Returns (norm(x + skip), x + skip)."""
        b = self.b
        w = b.weight(weight_name, weight)
        outs = b.op(
            "SkipSimplifiedLayerNormalization", [x, skip, w], {"epsilon": self.cfg.rms_eps},
            outputs=[None, "", "", None], domain=MS,
        )
        return outs[0], outs[3]

    def gqa_lengths(self):
        """seqlens_k = sum(attention_mask) - 1 per row (int32), total length (int32 scalar)."""
        b = self.b
        with b.scope("model/attn_mask_reformat/attn_mask_subgraph"):
            rows = b.op("ReduceSum", ["attention_mask", b.i64(1)], {"keepdims": 0})
            seqlens = b.op("Cast", [b.op("Sub", [rows, b.const(np.array(1, np.int64))])], {"to": INT32})
            total = b.gather_dim(b.op("Shape", ["attention_mask"]), 1)
            return seqlens, b.op("Cast", [total], {"to": INT32})

    def attention(self, i, x, lengths, cos, sin):
        b, c, lw = self.b, self.cfg, self.ckpt.layers[i]
        p = f"model.layers.{i}.attn."
        wq, wk = rope_weights(self.ckpt, i, self.rope)
        interleaved = int(self.rope == "interleaved")
        with b.scope("q_proj"):
            q = self.linear_op(x, p + "q_proj.weight", wq)
        with b.scope("k_proj"):
            k = self.linear_op(x, p + "k_proj.weight", wk)
        with b.scope("v_proj"):
            v = self.linear_op(x, p + "v_proj.weight", lw.wv)
        with b.scope("q_rotary"):
            q = b.op("RotaryEmbedding", [q, "position_ids", cos, sin], {"interleaved": interleaved}, domain=MS)
        with b.scope("k_rotary"):
            k = b.op("RotaryEmbedding", [k, "position_ids", cos, sin], {"interleaved": interleaved}, domain=MS)
        seqlens, total = lengths
        ctx = b.op(
            "GroupQueryAttention",
            [q, k, v, f"past_key_values.{i}.key", f"past_key_values.{i}.value", seqlens, total],
            {"num_heads": c.n_heads, "kv_num_heads": c.n_kv_heads, "scale": 1.0 / math.sqrt(c.head_dim)},
            outputs=[None, f"present.{i}.key", f"present.{i}.value"],
            domain=MS,
        )[0]
        with b.scope("o_proj"):
            return self.linear_op(ctx, p + "o_proj.weight", lw.wo)

    def build(self):
        b, ck = self.b, self.ckpt
        declare_io(b, self.cfg)
        with b.scope("model/embed_tokens"):
            h = b.op("Gather", [b.weight("model.embed_tokens.weight", ck.tok_embeddings), "input_ids"], {"axis": 0})
        lengths = self.gqa_lengths()
        cos_np, sin_np = rope_cache(self.cfg)
        cos, sin = b.weight("cos_cache", cos_np), b.weight("sin_cache", sin_np)
        pending = None  # the previous block's output, added to h inside the next skip-norm
        for i, lw in enumerate(ck.layers):
            with b.scope(f"model/layers.{i}"):
                with b.scope("input_layernorm"):
                    name = f"model.layers.{i}.input_layernorm.weight"
                    if pending is None:
                        x = self.simplified_norm(h, name, lw.attn_norm)
                    else:
                        x, h = self.skip_norm(pending, h, name, lw.attn_norm)
                with b.scope("attn"):
                    a = self.attention(i, x, lengths, cos, sin)
                with b.scope("post_attention_layernorm"):
                    x, h = self.skip_norm(a, h, f"model.layers.{i}.post_attention_layernorm.weight", lw.ffn_norm)
                with b.scope("mlp"):
                    pending = self.mlp(i, x)
        with b.scope("model/norm"):
            x, _ = self.skip_norm(pending, h, "model.norm.weight", ck.final_norm)
        with b.scope("lm_head"):
            self.linear_op(x, "lm_head.weight", ck.lm_head, out="logits")
        return finish_model(b, ck, self.style, self.rope)


def build_genai(ckpt: Checkpoint, opset: int = 17, rope: str = "rotate_half", linear: str = "matmul"):
    return GenAILlama(ckpt, opset, rope, linear).build()
