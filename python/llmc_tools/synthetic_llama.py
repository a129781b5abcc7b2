"""Random-weight Llama checkpoints in real model shapes, for speed benchmarks.

Speed does not depend on weight values, so a seeded random checkpoint of the
TinyLlama-1.1B shape stands in for a model we cannot download. The result is
the same in-memory `Checkpoint` that checkpoint.py returns (float32, linear
weights [out, in], Q/K rows in the interleaved RoPE layout), so the ONNX
exporter and the GGUF writer take it unchanged.

Magnitudes: linear weights and embeddings ~ N(0, 0.02) (the usual Llama init),
norm weights 1. With RMSNorm before every projection the activations stay
O(1) and the logits finite at any depth.

  python -m llmc_tools.synthetic_llama tinyllama-1.1b     # prints the shape and parameter count
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from .checkpoint import Checkpoint, LayerWeights, LlamaConfig, _check_shapes

# name -> (config, tied embeddings)
PRESETS: dict[str, tuple[LlamaConfig, bool]] = {
    # HuggingFaceTB/SmolLM2-135M(-Instruct) config.json.
    "smollm2-135m": (LlamaConfig(dim=576, hidden_dim=1536, n_layers=30, n_heads=9, n_kv_heads=3,
                                 vocab_size=49152, rope_theta=100000.0, rms_eps=1e-5,
                                 context_length=8192), True),
    # TinyLlama/TinyLlama-1.1B config.json.
    "tinyllama-1.1b": (LlamaConfig(dim=2048, hidden_dim=5632, n_layers=22, n_heads=32, n_kv_heads=4,
                                   vocab_size=32000, rope_theta=10000.0, rms_eps=1e-5,
                                   context_length=2048), False),
}

WEIGHT_STD = 0.02


def _normal(rng: np.random.Generator, shape, std=WEIGHT_STD) -> np.ndarray:
    # float32 straight from the generator: no float64 temporary for 1B weights.
    a = rng.standard_normal(shape, dtype=np.float32)
    a *= np.float32(std)
    return a


def synthetic_checkpoint(config: LlamaConfig | str, tied_embeddings: bool | None = None,
                         seed: int = 0) -> Checkpoint:
    """A seeded random checkpoint of `config` (a LlamaConfig or a PRESETS name)."""
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"unknown preset {config!r}; known: {', '.join(PRESETS)}")
        cfg, tied_default = PRESETS[config]
        name = config
    else:
        cfg, tied_default, name = config, True, "custom"
    tied = tied_default if tied_embeddings is None else tied_embeddings
    rng = np.random.default_rng(seed)
    kv = cfg.n_kv_heads * cfg.head_dim
    ones = lambda: np.ones(cfg.dim, dtype=np.float32)  # noqa: E731
    layers = [
        LayerWeights(
            attn_norm=ones(),
            wq=_normal(rng, (cfg.dim, cfg.dim)),
            wk=_normal(rng, (kv, cfg.dim)),
            wv=_normal(rng, (kv, cfg.dim)),
            wo=_normal(rng, (cfg.dim, cfg.dim)),
            ffn_norm=ones(),
            w_gate=_normal(rng, (cfg.hidden_dim, cfg.dim)),
            w_up=_normal(rng, (cfg.hidden_dim, cfg.dim)),
            w_down=_normal(rng, (cfg.dim, cfg.hidden_dim)),
        )
        for _ in range(cfg.n_layers)
    ]
    ckpt = Checkpoint(
        config=cfg,
        tok_embeddings=_normal(rng, (cfg.vocab_size, cfg.dim)),
        layers=layers,
        final_norm=ones(),
        output=None if tied else _normal(rng, (cfg.vocab_size, cfg.dim)),
        bos_token_id=1,
        eos_token_id=2,
        source=f"synthetic:{name}:seed={seed}",
        metadata={"general.name": f"synthetic-{name}"},
    )
    _check_shapes(ckpt)
    return ckpt


def parameter_count(ckpt_or_config, tied_embeddings: bool = True) -> int:
    """All parameters (embedding and, if untied, the output matrix included)."""
    if isinstance(ckpt_or_config, Checkpoint):
        c, tied = ckpt_or_config.config, ckpt_or_config.tied_embeddings
    else:
        c, tied = ckpt_or_config, tied_embeddings
    kv = c.n_kv_heads * c.head_dim
    per_layer = 2 * c.dim + 2 * c.dim * c.dim + 2 * kv * c.dim + 3 * c.dim * c.hidden_dim
    return c.n_layers * per_layer + c.dim + c.vocab_size * c.dim * (1 if tied else 2)


def with_layers(preset: str, n_layers: int) -> LlamaConfig:
    """A preset's shape with fewer layers (quick tests of the full width)."""
    return replace(PRESETS[preset][0], n_layers=n_layers)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("preset", choices=sorted(PRESETS))
    args = ap.parse_args(argv)
    cfg, tied = PRESETS[args.preset]
    print(f"{args.preset}: {cfg} tied_embeddings={tied} params={parameter_count(cfg, tied):,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
