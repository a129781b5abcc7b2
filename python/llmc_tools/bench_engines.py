"""One engine's timings, measured in a process of its own (run by bench_speed).

  python -m llmc_tools.bench_engines --engine llmc|llmc-step|ort|llamacpp --model PATH --threads N
         [--reps 5] [--prompts 128,512] [--decode 128] [--decode-prompt 128] [--vocab V]

Prints one JSON object: tokens/s samples per metric ("prefill_128", ...,
"decode_128") plus what the engine was run with. A process per engine and
thread count, because thread pools are fixed when a library is loaded
(LLMC_NUM_THREADS is read once per loaded llmc library, ORT and llama.cpp
keep their pools), and so that one engine's memory is gone before the next
loads.

Every engine gets the same token ids (random, fixed seed) and does the same
work per step: run the new tokens, take the logits of the last position,
pick the argmax (greedy) as the next token.
  prefill_P: reset the KV cache, time one call on the P-token prompt; P / time.
  decode_D:  reset, run a --decode-prompt-token prompt (not timed), then time
             D single-token steps; D / time.
One untimed warm-up repetition first, then --reps timed ones (metrics
interleaved within each repetition so that noise hits all of them).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

# The harness's own numpy needs no BLAS threads: OpenBLAS's would be a third
# busy thread on the engines' cores (seen spinning in `perf` of a 2-thread run).
# (Only OpenBLAS's: OMP_NUM_THREADS could reach an engine built with OpenMP.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402


class LlmcEngine:
    name = "llmc"

    def __init__(self, path, threads, max_context):
        os.environ["LLMC_NUM_THREADS"] = str(threads)  # read when the library starts its pool
        from .runtime import Library

        self.lib = Library(str(path))
        self.session = self.lib.session(max_context)

    def vocab(self):
        return self.lib.vocab_size()

    def reset(self):
        self.lib.lib.llmc_session_reset.restype = None  # void in llmc.h
        self.lib.lib.llmc_session_reset(self.session.handle)

    def run(self, tokens):
        return self.session.append(tokens)  # logits of the last position (a copy)

    def info(self):
        return {}


class LlmcStepEngine(LlmcEngine):
    """llmc through the batch-step entry (llmc_batch_step) with one sequence:
    the LM head runs on the last position only, as in llama.cpp, from the same
    library that computes every position's logits through the session API."""
    name = "llmc-step"
    block_size = 16

    def __init__(self, path, threads, max_context):
        os.environ["LLMC_NUM_THREADS"] = str(threads)
        from .runtime import KvPool, Library

        self.lib = Library(str(path))
        blocks = (max_context + self.block_size - 1) // self.block_size
        self.pool = KvPool(self.lib, blocks, self.block_size)
        self.table = list(range(blocks))
        self.pos = 0

    def reset(self):
        self.pos = 0  # the pool's rows are overwritten from position 0 on

    def run(self, tokens):
        logits = self.pool.step([(list(tokens), self.pos, self.table, True)])
        self.pos += len(tokens)
        return logits[0]


class OrtEngine:
    name = "ort"

    def __init__(self, path, threads, max_context):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.sess.get_inputs()]
        self.outputs = [o.name for o in self.sess.get_outputs()]
        self.kv = [n for n in self.outputs if n.startswith("present.")]
        self.version = ort.__version__
        self.reset()

    def vocab(self):
        return int(self.sess.get_outputs()[0].shape[-1])

    def reset(self):
        from .ort_generate import _empty_past

        self.past = _empty_past(self.sess)
        self.pos = 0

    def run(self, tokens):
        # The standard way to run these exports: present.* fed back as past_key_values.*.
        n = len(tokens)
        feed = {"input_ids": np.array([tokens], dtype=np.int64)}
        if "attention_mask" in self.inputs:
            feed["attention_mask"] = np.ones((1, self.pos + n), dtype=np.int64)
        if "position_ids" in self.inputs:
            feed["position_ids"] = np.arange(self.pos, self.pos + n, dtype=np.int64)[None, :]
        feed.update(self.past)
        res = dict(zip(self.outputs, self.sess.run(None, feed)))
        self.past = {k.replace("present.", "past_key_values."): res[k] for k in self.kv}
        self.pos += n
        return res["logits"][0, -1]

    def info(self):
        return {"onnxruntime": self.version, "graph_optimization": "ALL", "execution": "sequential"}


class LlamaCppEngine:
    name = "llamacpp"

    def __init__(self, path, threads, max_context):
        import llama_cpp

        self.version = llama_cpp.__version__
        n_batch = 512  # >= the longest prompt of the benchmark: one decode call per prefill
        # flash_attn=True: what llama-bench's default (auto) picks on CPU.
        self.llm = llama_cpp.Llama(
            model_path=str(path), n_ctx=max(max_context, n_batch), n_batch=n_batch, n_ubatch=n_batch,
            n_threads=threads, n_threads_batch=threads, logits_all=False, flash_attn=True,
            verbose=False, seed=0)
        self.threads = threads
        self.n_vocab = int(self.llm.n_vocab())
        self._logits_ith = llama_cpp.llama_get_logits_ith

    def vocab(self):
        return self.n_vocab

    def reset(self):
        # eval() removes KV entries from n_tokens on, so reset() empties the cache.
        self.llm.reset()

    def run(self, tokens):
        # Logits for the last position only (like llama-bench's pp), one batch
        # of up to n_batch tokens per llama_decode.
        self.llm.eval(tokens)
        ptr = self._logits_ith(self.llm.ctx, -1)  # eval() no longer keeps them (0.3.x)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy()

    def info(self):
        return {"llama_cpp_python": self.version, "n_batch": 512, "n_ubatch": 512, "flash_attn": True,
                "n_threads": self.threads, "n_threads_batch": self.threads}


ENGINES = {"llmc": LlmcEngine, "llmc-step": LlmcStepEngine, "ort": OrtEngine,
           "llamacpp": LlamaCppEngine}


def measure(engine, prompts, n_decode, decode_prompt, reps, seed=0):
    vocab = engine.vocab()
    rng = np.random.default_rng(seed)
    # Ids >= 3 keep clear of <unk>/<s>/</s> in the small vocabularies.
    ids = [int(x) for x in rng.integers(min(3, vocab - 1), vocab, max(max(prompts), decode_prompt))]
    samples = {f"prefill_{p}": [] for p in prompts}
    if n_decode:
        samples[f"decode_{n_decode}"] = []
    for rep in range(reps + 1):  # rep 0: warm-up, not recorded
        for p in prompts:
            engine.reset()
            t0 = time.perf_counter()
            logits = engine.run(ids[:p])
            dt = time.perf_counter() - t0
            if not np.isfinite(logits).all():
                raise RuntimeError(f"non-finite logits after a {p}-token prompt")
            if rep:
                samples[f"prefill_{p}"].append(p / dt)
        if n_decode:
            engine.reset()
            tok = int(np.argmax(engine.run(ids[:decode_prompt])))
            t0 = time.perf_counter()
            for _ in range(n_decode):
                tok = int(np.argmax(engine.run([tok])))
            dt = time.perf_counter() - t0
            if rep:
                samples[f"decode_{n_decode}"].append(n_decode / dt)
    return samples


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", choices=sorted(ENGINES), required=True)
    ap.add_argument("--model", required=True, help=".so (llmc), .onnx (ort) or .gguf (llamacpp)")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--prompts", default="128,512")
    ap.add_argument("--decode", type=int, default=128)
    ap.add_argument("--decode-prompt", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    prompts = [int(p) for p in args.prompts.split(",") if p]
    max_ctx = max(prompts + [0]) + args.decode_prompt + args.decode + 8
    t0 = time.perf_counter()
    engine = ENGINES[args.engine](args.model, args.threads, max_ctx)
    load_s = time.perf_counter() - t0
    samples = measure(engine, prompts, args.decode, args.decode_prompt, args.reps, args.seed)
    print(json.dumps({"engine": args.engine, "threads": args.threads, "load_seconds": load_s,
                      "info": engine.info(), "samples": samples}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
