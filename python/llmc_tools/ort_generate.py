"""Reference greedy generation with ONNX Runtime on an exported decoder graph (batch 1).

Prefill the whole prompt in one run, then decode one token per run, feeding each
run's present.* back as the next past_key_values.*.

  python -m llmc_tools.ort_generate model.onnx --ids 1,2,3 -n 32 [--dump-logits out.npz]
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass

import numpy as np


@dataclass
class Generation:
    prompt_ids: list[int]
    ids: list[int]  # generated tokens only
    step_logits: np.ndarray  # [n, vocab]: row k is what produced ids[k]
    prefill_logits: np.ndarray  # [len(prompt), vocab]


def make_session(model_path: str, threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])


def model_bos(session, default: int = 1) -> int:
    meta = session.get_modelmeta().custom_metadata_map
    return int(meta.get("llmc.bos_token_id", default))


def _empty_past(session) -> dict:
    past = {}
    for inp in session.get_inputs():
        if inp.name.startswith("past_key_values."):
            _, heads, _, head_dim = inp.shape
            if not isinstance(heads, int) or not isinstance(head_dim, int):
                raise ValueError(f"{inp.name}: need static heads/head_dim, got {inp.shape}")
            past[inp.name] = np.zeros((1, heads, 0, head_dim), dtype=np.float32)
    return past


def generate(session, prompt_ids, n_new: int, stop_ids=()) -> Generation:
    """Greedy decode; `session` is an InferenceSession or a model path."""
    if isinstance(session, (str, bytes)) or hasattr(session, "__fspath__"):
        session = make_session(session)
    prompt = [int(t) for t in prompt_ids]
    if not prompt:
        prompt = [model_bos(session)]
    out_names = [o.name for o in session.get_outputs()]
    kv_names = [n for n in out_names if n.startswith("present.")]
    wants_pos = any(i.name == "position_ids" for i in session.get_inputs())
    past = _empty_past(session)

    tokens, past_len = prompt, 0
    ids, step_logits, prefill_logits = [], [], None
    for _ in range(n_new):
        s = len(tokens)
        feed = {
            "input_ids": np.array([tokens], dtype=np.int64),
            "attention_mask": np.ones((1, past_len + s), dtype=np.int64),
            **past,
        }
        if wants_pos:
            feed["position_ids"] = np.arange(past_len, past_len + s, dtype=np.int64)[None, :]
        results = dict(zip(out_names, session.run(out_names, feed)))
        logits = results["logits"][0]
        if prefill_logits is None:
            prefill_logits = logits.copy()
        last = logits[-1]
        nxt = int(np.argmax(last))
        ids.append(nxt)
        step_logits.append(last.copy())
        past = {n.replace("present.", "past_key_values."): results[n] for n in kv_names}
        past_len += s
        tokens = [nxt]
        if nxt in stop_ids:
            break
    vocab = session.get_outputs()[out_names.index("logits")].shape[-1]
    return Generation(
        prompt_ids=prompt,
        ids=ids,
        step_logits=np.array(step_logits, dtype=np.float32).reshape(len(ids), -1),
        prefill_logits=prefill_logits if prefill_logits is not None else np.zeros((0, vocab), np.float32),
    )


def _parse_ids(text: str) -> list[int]:
    return [int(t) for t in re.split(r"[,\s]+", text.strip()) if t]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="exported .onnx decoder")
    ap.add_argument("--ids", default="", help="comma-separated prompt token ids (empty: BOS only)")
    ap.add_argument("-n", "--steps", type=int, default=32, help="tokens to generate")
    ap.add_argument("--dump-logits", metavar="NPZ", help="save prompt/ids/step_logits/prefill_logits")
    ap.add_argument("--threads", type=int, default=None, help="ORT intra-op threads")
    ap.add_argument("--vocab", metavar="MODEL", help="GGUF or tokenizer.bin to print the text")
    ap.add_argument("--stop-at-eos", action="store_true", help="stop after the model's EOS id")
    args = ap.parse_args(argv)

    sess = make_session(args.model, args.threads)
    stop = ()
    if args.stop_at_eos:
        stop = (int(sess.get_modelmeta().custom_metadata_map.get("llmc.eos_token_id", 2)),)
    g = generate(sess, _parse_ids(args.ids), args.steps, stop_ids=stop)
    print(",".join(str(t) for t in g.ids))
    if args.vocab:
        from .vocab import load_vocab

        print(load_vocab(args.vocab).decode(g.ids))
    if args.dump_logits:
        np.savez(
            args.dump_logits,
            prompt_ids=np.array(g.prompt_ids, dtype=np.int64),
            ids=np.array(g.ids, dtype=np.int64),
            step_logits=g.step_logits,
            prefill_logits=g.prefill_logits,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
