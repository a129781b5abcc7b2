"""Llama decoder -> ONNX, in the decomposed form torch.onnx.export / Optimum emit
for Hugging Face LlamaForCausalLM (style "optimum").

Graph interface (shared with the other styles):
  inputs  input_ids [batch_size, sequence_length] int64
          attention_mask [batch_size, total_sequence_length] int64
          position_ids [batch_size, sequence_length] int64
          past_key_values.{i}.key/.value [batch_size, kv_heads, past_sequence_length, head_dim]
  outputs logits [batch_size, sequence_length, vocab]
          present.{i}.key/.value [batch_size, kv_heads, total_sequence_length, head_dim]
"""
from __future__ import annotations

import math

import numpy as np
import onnx

from .checkpoint import Checkpoint, LlamaConfig
from .onnx_graph import FLOAT, INT64, INT64_MAX, GraphBuilder
from .qk_layout import interleaved_to_rotate_half

ROPE_FORMS = ("rotate_half", "interleaved")
LINEAR_FORMS = ("matmul", "gemm")


def declare_io(b: GraphBuilder, cfg: LlamaConfig) -> None:
    b.input("input_ids", INT64, ["batch_size", "sequence_length"])
    b.input("attention_mask", INT64, ["batch_size", "total_sequence_length"])
    b.input("position_ids", INT64, ["batch_size", "sequence_length"])
    for i in range(cfg.n_layers):
        for kv in ("key", "value"):
            b.input(
                f"past_key_values.{i}.{kv}", FLOAT,
                ["batch_size", cfg.n_kv_heads, "past_sequence_length", cfg.head_dim],
            )
    b.output("logits", FLOAT, ["batch_size", "sequence_length", cfg.vocab_size])
    for i in range(cfg.n_layers):
        for kv in ("key", "value"):
            b.output(
                f"present.{i}.{kv}", FLOAT,
                ["batch_size", cfg.n_kv_heads, "total_sequence_length", cfg.head_dim],
            )


def rope_inv_freq(cfg: LlamaConfig) -> np.ndarray:
    d = cfg.head_dim
    return (1.0 / (cfg.rope_theta ** (np.arange(0, d, 2, dtype=np.float64) / d))).astype(np.float32)


def rope_cache(cfg: LlamaConfig) -> tuple[np.ndarray, np.ndarray]:
    """cos/sin tables [context_length, head_dim/2] for the fused RotaryEmbedding ops."""
    ang = np.outer(np.arange(cfg.context_length, dtype=np.float64), rope_inv_freq(cfg).astype(np.float64))
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


def causal_mask(b: GraphBuilder) -> str:
    """[B,1,S,T] float additive mask: 0 where allowed, float32 min where masked.

    As transformers builds it: cache_position = arange(past, past+S); key j is
    masked for query i when j > cache_position[i] or attention_mask[:, j] == 0.
    """
    with b.scope("model"):
        seq = b.gather_dim(b.op("Shape", ["input_ids"]), 1)
        past = b.gather_dim(b.op("Shape", ["past_key_values.0.key"]), 2)
        total = b.gather_dim(b.op("Shape", ["attention_mask"]), 1)
        one = b.const(np.array(1, dtype=np.int64))
        zero = b.const(np.array(0, dtype=np.int64))
        cache_pos = b.op("Range", [past, b.op("Add", [past, seq]), one])  # [S]
        key_pos = b.op("Range", [zero, total, one])  # [T]
        future = b.op("Greater", [key_pos, b.unsqueeze(cache_pos, [1])])  # [S,T]
        padded = b.op("Equal", ["attention_mask", zero])  # [B,T]
        blocked = b.op("Or", [b.unsqueeze(future, [0, 1]), b.unsqueeze(padded, [1, 2])])
        fmin = b.f32(np.finfo(np.float32).min)
        return b.op("Where", [blocked, fmin, b.f32(0.0)])


def rope_weights(ckpt: Checkpoint, layer: int, rope: str) -> tuple[np.ndarray, np.ndarray]:
    """Q/K weights in the row order the chosen RoPE form expects."""
    lw, c = ckpt.layers[layer], ckpt.config
    if rope == "rotate_half":
        return interleaved_to_rotate_half(lw.wq, c.n_heads), interleaved_to_rotate_half(lw.wk, c.n_kv_heads)
    return lw.wq, lw.wk


def finish_model(b: GraphBuilder, ckpt: Checkpoint, style: str, rope: str) -> onnx.ModelProto:
    model = b.model("llmc_llama")
    meta = {
        "llmc.style": style,
        "llmc.rope": rope,
        "llmc.bos_token_id": str(ckpt.bos_token_id),
        "llmc.eos_token_id": str(ckpt.eos_token_id),
        "llmc.source": ckpt.source,
    }
    onnx.helper.set_model_props(model, meta)
    return model


class OptimumLlama:
    style = "optimum"
    extra_opsets: dict = {}  # opset imports besides the ONNX domain

    def __init__(self, ckpt: Checkpoint, opset: int, rope: str, linear: str):
        if rope not in ROPE_FORMS:
            raise ValueError(f"rope must be one of {ROPE_FORMS}")
        if linear not in LINEAR_FORMS:
            raise ValueError(f"linear must be one of {LINEAR_FORMS}")
        if not 13 <= opset <= 23:
            raise ValueError("opset must be in 13..23")
        self.check_options(opset, linear)
        self.ckpt, self.cfg, self.rope, self.linear = ckpt, ckpt.config, rope, linear
        self.b = GraphBuilder(opset, self.extra_opsets)

    def check_options(self, opset, linear):
        """Subclasses reject options their form cannot express."""

    # ------------------------------------------------------------ building blocks

    def rms_norm(self, x, weight_name, weight):
        """LlamaRMSNorm as torch exports it: w * (x * rsqrt(mean(x^2) + eps))."""
        b = self.b
        w = b.weight(weight_name, weight)
        var = b.reduce_mean(b.op("Pow", [x, b.f32(2.0)]), [-1], keepdims=1)
        inv = b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [var, b.f32(self.cfg.rms_eps)])])])
        return b.op("Mul", [w, b.op("Mul", [x, inv])])

    def linear_op(self, x, weight_name, w, out=None):
        """y = x @ w.T for w [out, in]; `out` names the result tensor."""
        b = self.b
        outs = [out] if out else None
        if self.linear == "matmul":
            return b.op("MatMul", [x, b.weight(weight_name, w.T)], outputs=outs)
        # Gemm is 2-D only: flatten the leading dims, then restore them from x's shape.
        x2 = b.op("Reshape", [x, b.i64(-1, w.shape[1])])
        y2 = b.op("Gemm", [x2, b.weight(weight_name, w)], {"transB": 1})
        lead = b.slice(b.op("Shape", [x]), [0], [-1], [0])
        return b.op("Reshape", [y2, b.op("Concat", [lead, b.i64(w.shape[0])], {"axis": 0})], outputs=outs)

    def rope_tables(self):
        """cos/sin from position_ids like LlamaRotaryEmbedding.forward:
        freqs = (inv_freq[None,:,None].expand(B,-1,1) @ pos[:,None,:].float()).transpose(1,2)."""
        b = self.b
        with b.scope("model/rotary_emb"):
            inv = b.const(rope_inv_freq(self.cfg).reshape(1, -1, 1))
            batch = b.unsqueeze(b.gather_dim(b.op("Shape", ["position_ids"]), 0), [0])
            inv = b.op("Expand", [inv, b.op("Concat", [batch, b.i64(1), b.i64(1)], {"axis": 0})])
            pos = b.op("Cast", [b.unsqueeze("position_ids", [1])], {"to": FLOAT})
            freqs = b.op("Transpose", [b.op("MatMul", [inv, pos])], {"perm": [0, 2, 1]})  # [B,S,D/2]
            if self.rope == "rotate_half":
                emb = b.op("Concat", [freqs, freqs], {"axis": -1})  # [B,S,D]
                cos, sin = b.op("Cos", [emb]), b.op("Sin", [emb])
                # unsqueeze_dim=1 in apply_rotary_pos_emb: broadcast over heads.
                return b.unsqueeze(cos, [1]), b.unsqueeze(sin, [1])  # [B,1,S,D]
            cos, sin = b.op("Cos", [freqs]), b.op("Sin", [freqs])
            return b.unsqueeze(cos, [1, 4]), b.unsqueeze(sin, [1, 4])  # [B,1,S,D/2,1]

    def apply_rope(self, x, cos, sin):
        b, d = self.b, self.cfg.head_dim
        if self.rope == "rotate_half":
            x1 = b.slice(x, [0], [d // 2], [3])
            x2 = b.slice(x, [d // 2], [INT64_MAX], [3])
            rot = b.op("Concat", [b.op("Neg", [x2]), x1], {"axis": -1})
            return b.op("Add", [b.op("Mul", [x, cos]), b.op("Mul", [rot, sin])])
        # Interleaved: view the last dim as [D/2, 2] and rotate each (even, odd) pair.
        shape = b.op("Shape", [x])
        pairs = b.op("Concat", [b.slice(shape, [0], [3], [0]), b.i64(d // 2, 2)], {"axis": 0})
        xp = b.op("Reshape", [x, pairs])  # [B,H,S,D/2,2]
        x0 = b.slice(xp, [0], [1], [4])
        x1 = b.slice(xp, [1], [2], [4])
        o0 = b.op("Sub", [b.op("Mul", [x0, cos]), b.op("Mul", [x1, sin])])
        o1 = b.op("Add", [b.op("Mul", [x1, cos]), b.op("Mul", [x0, sin])])
        return b.op("Reshape", [b.op("Concat", [o0, o1], {"axis": -1}), shape])

    def repeat_kv(self, x):
        """transformers.repeat_kv: [B,kvH,T,D] -> [B,H,T,D] via Unsqueeze/Expand/Reshape."""
        b, c = self.b, self.cfg
        n_rep = c.n_heads // c.n_kv_heads
        if n_rep == 1:
            return x
        shape = b.op("Shape", [x])
        bs = b.unsqueeze(b.gather_dim(shape, 0), [0])
        t = b.unsqueeze(b.gather_dim(shape, 2), [0])
        hd = b.i64(c.head_dim)
        big = b.op("Concat", [bs, b.i64(c.n_kv_heads), b.i64(n_rep), t, hd], {"axis": 0})
        x = b.op("Expand", [b.unsqueeze(x, [2]), big])
        return b.op("Reshape", [x, b.op("Concat", [bs, b.i64(c.n_heads), t, hd], {"axis": 0})])

    # ------------------------------------------------------------ layers

    def attention(self, i, x, mask, cos, sin):
        b, c, lw = self.b, self.cfg, self.ckpt.layers[i]
        p = f"model.layers.{i}.self_attn."
        wq, wk = rope_weights(self.ckpt, i, self.rope)
        shape = b.op("Shape", [x])  # bsz, q_len, _ = hidden_states.size()
        bs = b.unsqueeze(b.gather_dim(shape, 0), [0])
        sl = b.unsqueeze(b.gather_dim(shape, 1), [0])
        hd = b.i64(c.head_dim)

        def heads(y, n):
            y = b.op("Reshape", [y, b.op("Concat", [bs, sl, b.i64(n), hd], {"axis": 0})])
            return b.op("Transpose", [y], {"perm": [0, 2, 1, 3]})  # [B,n,S,D]

        with b.scope("q_proj"):
            q = self.linear_op(x, p + "q_proj.weight", wq)
        with b.scope("k_proj"):
            k = self.linear_op(x, p + "k_proj.weight", wk)
        with b.scope("v_proj"):
            v = self.linear_op(x, p + "v_proj.weight", lw.wv)
        q = self.apply_rope(heads(q, c.n_heads), cos, sin)
        k = self.apply_rope(heads(k, c.n_kv_heads), cos, sin)
        v = heads(v, c.n_kv_heads)
        k = b.op("Concat", [f"past_key_values.{i}.key", k], {"axis": 2}, outputs=[f"present.{i}.key"])
        v = b.op("Concat", [f"past_key_values.{i}.value", v], {"axis": 2}, outputs=[f"present.{i}.value"])
        k, v = self.repeat_kv(k), self.repeat_kv(v)
        scores = b.op("MatMul", [q, b.op("Transpose", [k], {"perm": [0, 1, 3, 2]})])
        scores = b.op("Div", [scores, b.f32(math.sqrt(c.head_dim))])
        probs = b.op("Softmax", [b.op("Add", [scores, mask])], {"axis": -1})
        ctx = b.op("Transpose", [b.op("MatMul", [probs, v])], {"perm": [0, 2, 1, 3]})
        ctx = b.op("Reshape", [ctx, b.op("Concat", [bs, sl, b.i64(c.dim)], {"axis": 0})])
        with b.scope("o_proj"):
            return self.linear_op(ctx, p + "o_proj.weight", lw.wo)

    def mlp(self, i, x):
        b, lw = self.b, self.ckpt.layers[i]
        p = f"model.layers.{i}.mlp."
        with b.scope("gate_proj"):
            g = self.linear_op(x, p + "gate_proj.weight", lw.w_gate)
        with b.scope("act_fn"):
            g = b.op("Mul", [g, b.op("Sigmoid", [g])])  # SiLU
        with b.scope("up_proj"):
            u = self.linear_op(x, p + "up_proj.weight", lw.w_up)
        m = b.op("Mul", [g, u])
        with b.scope("down_proj"):
            return self.linear_op(m, p + "down_proj.weight", lw.w_down)

    def build(self) -> onnx.ModelProto:
        b, c, ck = self.b, self.cfg, self.ckpt
        declare_io(b, c)
        with b.scope("model/embed_tokens"):
            emb = b.weight("model.embed_tokens.weight", ck.tok_embeddings)
            h = b.op("Gather", [emb, "input_ids"], {"axis": 0})
        mask = causal_mask(b)
        cos, sin = self.rope_tables()
        for i, lw in enumerate(ck.layers):
            with b.scope(f"model/layers.{i}"):
                with b.scope("input_layernorm"):
                    x = self.rms_norm(h, f"model.layers.{i}.input_layernorm.weight", lw.attn_norm)
                with b.scope("self_attn"):
                    a = self.attention(i, x, mask, cos, sin)
                h = b.op("Add", [h, a])
                with b.scope("post_attention_layernorm"):
                    x = self.rms_norm(h, f"model.layers.{i}.post_attention_layernorm.weight", lw.ffn_norm)
                with b.scope("mlp"):
                    m = self.mlp(i, x)
                h = b.op("Add", [h, m])
        with b.scope("model/norm"):
            h = self.rms_norm(h, "model.norm.weight", ck.final_norm)
        with b.scope("lm_head"):
            # Tied embeddings still get their own initializer (transposed for MatMul),
            # so every weight has a single consumer in the layout its op wants.
            self.linear_op(h, "lm_head.weight", ck.lm_head, out="logits")
        return finish_model(b, ck, self.style, self.rope)


def build_optimum(ckpt: Checkpoint, opset: int = 17, rope: str = "rotate_half", linear: str = "matmul"):
    return OptimumLlama(ckpt, opset, rope, linear).build()
