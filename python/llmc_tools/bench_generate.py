"""Prefill and decode speed of a compiled library vs ONNX Runtime on the same
.onnx, measured in the same run (median of several repetitions).

  python -m llmc_tools.bench_generate model.onnx model.so [--prompt 64] [--decode 64]
         [--reps 5] [--threads 2]

Both engines get the same token ids (random ids from the vocabulary, fixed
seed), greedy decoding, the same thread count (ORT intra-op threads;
LLMC_NUM_THREADS for llmc, set before the library is loaded). ORT runs with
all graph optimizations on, feeding present.* back as past_key_values.*
(the standard way to run these exports). Prefill tok/s = prompt tokens /
time of the prompt step; decode tok/s = decode steps / their total time.
Note both engines compute logits for every prompt position (the exported
graph's output), unlike llama-bench's prefill.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np


def bench_llmc(so_path, prompt, n_decode):
    from llmc_tools.runtime import Library

    lib = Library(str(so_path))
    s = lib.session(len(prompt) + n_decode + 8)
    t0 = time.perf_counter()
    logits = s.append(prompt)
    t1 = time.perf_counter()
    tok = int(np.argmax(logits))
    for _ in range(n_decode):
        logits = s.append([tok])
        tok = int(np.argmax(logits))
    t2 = time.perf_counter()
    s.close()
    lib.close()
    return len(prompt) / (t1 - t0), n_decode / (t2 - t1)


def bench_ort(session, prompt, n_decode):
    from llmc_tools.ort_generate import _empty_past

    names = [i.name for i in session.get_inputs()]
    outs = [o.name for o in session.get_outputs()]
    kv = [n for n in outs if n.startswith("present.")]

    def step(ids, past, start):
        feed = {"input_ids": np.array([ids], dtype=np.int64)}
        total = start + len(ids)
        if "attention_mask" in names:
            feed["attention_mask"] = np.ones((1, total), dtype=np.int64)
        if "position_ids" in names:
            feed["position_ids"] = np.arange(start, total, dtype=np.int64)[None, :]
        feed.update(past)
        res = dict(zip(outs, session.run(None, feed)))
        new_past = {n.replace("present.", "past_key_values."): res[n] for n in kv}
        return res["logits"][0, -1], new_past

    t0 = time.perf_counter()
    logits, past = step(prompt, _empty_past(session), 0)
    t1 = time.perf_counter()
    pos = len(prompt)
    tok = int(np.argmax(logits))
    for _ in range(n_decode):
        logits, past = step([tok], past, pos)
        pos += 1
        tok = int(np.argmax(logits))
    t2 = time.perf_counter()
    return len(prompt) / (t1 - t0), n_decode / (t2 - t1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("onnx")
    ap.add_argument("so")
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--decode", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    os.environ["LLMC_NUM_THREADS"] = str(args.threads)

    import onnxruntime as ort
    from llmc_tools.runtime import Library

    lib = Library(args.so)
    vocab = lib.vocab_size()
    lib.close()
    rng = np.random.default_rng(0)
    prompt = [int(x) for x in rng.integers(0, vocab, args.prompt)]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(args.onnx, opts, providers=["CPUExecutionProvider"])

    rows = {"llmc": [], "onnxruntime": []}
    for _ in range(args.reps):  # interleave the engines so noise hits both
        rows["llmc"].append(bench_llmc(args.so, prompt, args.decode))
        rows["onnxruntime"].append(bench_ort(sess, prompt, args.decode))
    med = {k: (statistics.median(p for p, _ in v), statistics.median(d for _, d in v)) for k, v in rows.items()}
    print(f"threads={args.threads} prompt={args.prompt} decode={args.decode} reps={args.reps} (median)")
    print(f"{'engine':<12} {'prefill tok/s':>14} {'decode tok/s':>13}")
    for k, (p, d) in med.items():
        print(f"{k:<12} {p:>14.1f} {d:>13.1f}")
    lp, ld = med["llmc"]
    op, od = med["onnxruntime"]
    print(f"{'llmc/ORT':<12} {lp / op:>13.2f}x {ld / od:>12.2f}x")


if __name__ == "__main__":
    main()
