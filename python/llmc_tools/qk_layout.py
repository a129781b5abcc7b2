"""Q/K row order for the two RoPE conventions.

llama.cpp's HF->GGUF converter permutes each head's rows so that the halves
(i, i+D/2) that HF's rotate_half pairs become adjacent rows (2i, 2i+1), the pairs
that interleaved (GPT-J style) RoPE rotates. llama2.c checkpoints use the same
interleaved order. To run rotate_half RoPE on such weights, undo that permutation.
"""
import numpy as np


def interleaved_to_rotate_half(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Inverse of llama.cpp's permute(): rows [h, i, pair] -> [h, pair, i]."""
    rows = w.shape[0]
    hd = rows // n_heads
    return w.reshape(n_heads, hd // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape).copy()


def rotate_half_to_interleaved(w: np.ndarray, n_heads: int) -> np.ndarray:
    """llama.cpp's permute(): rows [h, pair, i] -> [h, i, pair]."""
    rows = w.shape[0]
    hd = rows // n_heads
    return w.reshape(n_heads, 2, hd // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape).copy()
