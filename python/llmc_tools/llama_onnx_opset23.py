"""Llama decoder -> ONNX opset 23 with the fused standard ops (style "opset23"):
RMSNormalization, RotaryEmbedding and Attention (with the KV cache as its
past/present inputs/outputs). Same graph interface as the "optimum" style."""
from __future__ import annotations

import math

from .checkpoint import Checkpoint
from .llama_onnx import OptimumLlama, rope_cache, rope_weights


class Opset23Llama(OptimumLlama):
    style = "opset23"

    def check_options(self, opset, linear):
        if opset != 23 or linear != "matmul":
            raise ValueError("style opset23 needs --opset 23 and --linear matmul")

    def rms_norm(self, x, weight_name, weight):
        w = self.b.weight(weight_name, weight)
        return self.b.op("RMSNormalization", [x, w], {"axis": -1, "epsilon": self.cfg.rms_eps, "stash_type": 1})

    def rope_tables(self):
        cos, sin = rope_cache(self.cfg)
        return self.b.weight("model.rotary_emb.cos_cache", cos), self.b.weight("model.rotary_emb.sin_cache", sin)

    def attention(self, i, x, mask, cos, sin):
        b, c, lw = self.b, self.cfg, self.ckpt.layers[i]
        p = f"model.layers.{i}.self_attn."
        wq, wk = rope_weights(self.ckpt, i, self.rope)
        interleaved = int(self.rope == "interleaved")
        # 3-D [B,S,heads*D] throughout; the ops take the head counts as attributes.
        with b.scope("q_proj"):
            q = self.linear_op(x, p + "q_proj.weight", wq)
        with b.scope("k_proj"):
            k = self.linear_op(x, p + "k_proj.weight", wk)
        with b.scope("v_proj"):
            v = self.linear_op(x, p + "v_proj.weight", lw.wv)
        q = b.op("RotaryEmbedding", [q, cos, sin, "position_ids"], {"interleaved": interleaved, "num_heads": c.n_heads})
        k = b.op("RotaryEmbedding", [k, cos, sin, "position_ids"], {"interleaved": interleaved, "num_heads": c.n_kv_heads})
        # An explicit mask instead of is_causal: its alignment with a non-empty past
        # is what the mask subgraph spells out.
        ctx = b.op(
            "Attention",
            [q, k, v, mask, f"past_key_values.{i}.key", f"past_key_values.{i}.value"],
            {"q_num_heads": c.n_heads, "kv_num_heads": c.n_kv_heads, "scale": 1.0 / math.sqrt(c.head_dim)},
            outputs=[None, f"present.{i}.key", f"present.{i}.value"],
        )[0]
        with b.scope("o_proj"):
            return self.linear_op(ctx, p + "o_proj.weight", lw.wo)


def build_opset23(ckpt: Checkpoint, opset: int = 23, rope: str = "rotate_half", linear: str = "matmul"):
    return Opset23Llama(ckpt, opset, rope, linear).build()
