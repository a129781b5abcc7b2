"""Quantization and sparsity benchmark: accuracy, size and speed in one table,
with llama.cpp's quantized GGUFs of the same weights measured in the same run.

  python -m llmc_tools.bench_quant --work DIR [--model smollm2] [--chunks 5] [--ctx 512]
         [--threads 2] [--reps 5] [--prompts 128,512] [--decode 128]
         [--rows fp32,int8,...] [--llmc BIN]

In DIR/<model>/ (shared with bench_speed) it makes, once each:
  model.onnx, model-f32.gguf        from the same float32 checkpoint (bench_models.py)
  tokenizer.json                    next to model.onnx, so every library embeds it
  calibration.txt                   the tail of wiki.test.raw (calibration_text.py)
  calibration.stats                 GPTQ / AWQ / Wanda statistics, collected once
  model-q8_0/q4_0/q4_1.gguf         llama_model_quantize on model-f32.gguf
  llmc-quant-<row>.so               `llmc compile` with the row's flags
then for every row: perplexity (`llmc perplexity --ctx C --chunks N` for llmc;
perplexity_ref.py, the same method, for llama.cpp on its own tokenization of
the text), file size, prefill and decode tokens/s at --threads (median of
--reps, every engine in a process of its own: bench_engines.py). llmc rows run
through the batch-step entry (`llmc-step`), which computes the logits of the
last position only, as llama.cpp does. The table also goes to
DIR/<model>/quant-results.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .bench_models import MODELS, Stamps, _file_id, compile_variant, log, prepare_model, source_gguf

REPO = Path(__file__).resolve().parents[2]
CALIB = "--calibration-stats={stats}"

# (row name, label, llmc compile flags; {stats} is the calibration statistics file)
LLMC_ROWS = [
    ("fp32", "llmc fp32", []),
    ("int8", "llmc int8 (RTN, g32)", ["--quantize=int8,group=32"]),
    ("int4-rtn-g32", "llmc int4 RTN g32 (int8 head/emb)",
     ["--quantize=int4,group=32,lm-head=int8,embedding=int8"]),
    ("int4-rtn-g64", "llmc int4 RTN g64 (int8 head/emb)",
     ["--quantize=int4,group=64,lm-head=int8,embedding=int8"]),
    ("int4-gptq-g32", "llmc int4 GPTQ g32 (int8 head/emb)",
     ["--quantize=int4,group=32,method=gptq,lm-head=int8,embedding=int8", CALIB]),
    ("int4-gptq-g64", "llmc int4 GPTQ g64 (int8 head/emb)",
     ["--quantize=int4,group=64,method=gptq,lm-head=int8,embedding=int8", CALIB]),
    ("int4-awq-g32", "llmc int4 AWQ g32 (int8 head/emb)",
     ["--quantize=int4,group=32,method=awq,lm-head=int8,embedding=int8", CALIB]),
    ("int4-awq-g64", "llmc int4 AWQ g64 (int8 head/emb)",
     ["--quantize=int4,group=64,method=awq,lm-head=int8,embedding=int8", CALIB]),
    ("w8a8", "llmc W8A8 (int8 weights g32, int8 tokens)", ["--quantize=int8,group=32,act=int8"]),
    ("w4a8-rtn-g32", "llmc W4A8 RTN g32 (int8 head/emb, int8 blocks of 32)",
     ["--quantize=int4,group=32,act=int8,lm-head=int8,embedding=int8"]),
    ("w4a8-gptq-g64", "llmc W4A8 GPTQ g64 (int8 head/emb, int8 blocks of 32)",
     ["--quantize=int4,group=64,method=gptq,act=int8,lm-head=int8,embedding=int8", CALIB]),
    ("w4a8-awq-g64", "llmc W4A8 AWQ g64 (int8 head/emb, int8 blocks of 32)",
     ["--quantize=int4,group=64,method=awq,act=int8,lm-head=int8,embedding=int8", CALIB]),
    ("w4a8-gptq-g64-kv8", "llmc W4A8 GPTQ g64 (int8 head/emb), int8 KV cache",
     ["--quantize=int4,group=64,method=gptq,act=int8,lm-head=int8,embedding=int8",
      "--kv-cache=int8", CALIB]),
    ("kv-int8", "llmc fp32, int8 KV cache", ["--kv-cache=int8"]),
    ("kv-bf16", "llmc fp32, bf16 KV cache", ["--kv-cache=bf16"]),
    ("sparse-2:4", "llmc 2:4 Wanda (f32)", ["--sparsity=2:4,method=wanda", CALIB]),
    ("sparse-50", "llmc 50% Wanda (f32)", ["--sparsity=unstructured=0.5,method=wanda", CALIB]),
    ("sparse-2:4-int4", "llmc 2:4 Wanda + int4 g32",
     ["--sparsity=2:4,method=wanda", "--quantize=int4,group=32,lm-head=int8,embedding=int8", CALIB]),
    # No sparse kernel takes int4 values with unstructured sparsity: pruned,
    # then quantized and run on the dense int4 kernels (docs/Sparsity.md).
    ("sparse-50-int4", "llmc 50% Wanda + int4 g32 (dense kernels)",
     ["--sparsity=unstructured=0.5,method=wanda,dense-kernels",
      "--quantize=int4,group=32,lm-head=int8,embedding=int8", CALIB]),
]
# (row name, label, GGUF type); llama_model_quantize's ftype numbers.
LLAMA_ROWS = [
    ("llama-f32", "llama.cpp F32", "f32"),
    ("llama-q8_0", "llama.cpp Q8_0", "q8_0"),
    ("llama-q4_0", "llama.cpp Q4_0", "q4_0"),
    ("llama-q4_1", "llama.cpp Q4_1", "q4_1"),
]
FTYPES = {"q8_0": 7, "q4_0": 2, "q4_1": 3}


def default_llmc() -> Path:
    env = os.environ.get("LLMC_BIN")
    return Path(env) if env else REPO / "build/bin/llmc"


def wiki_text() -> Path:
    shared = Path(os.environ.get("LLMC_SHARED", REPO.parent / "shared"))
    return shared / "data/wikitext-2-raw/wiki.test.raw"


def quantize_gguf(src: Path, dst: Path, kind: str) -> Path:
    """llama.cpp's own quantizer (what `llama-quantize` runs) on the F32 GGUF."""
    stamps = Stamps(dst.parent / "stamps.json")  # read now: compiles record there too
    key = f"{_file_id(src)}|{kind}"
    if stamps.fresh(dst, key):
        return dst
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[kind]
    params.nthread = 2
    log(f"llama_model_quantize {src.name} -> {dst.name}")
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if rc != 0 or not dst.is_file():
        raise RuntimeError(f"llama_model_quantize failed ({rc}) for {kind}")
    stamps.record(dst, key)
    return dst


def prepare_calibration(llmc: Path, prep) -> Path:
    """calibration.txt (the tail of wiki.test.raw) and the statistics llmc collects on it."""
    stamps = Stamps(prep.dir / "stamps.json")
    text = prep.dir / "calibration.txt"
    if not text.is_file():
        subprocess.run([sys.executable, "-m", "llmc_tools.calibration_text", str(text)], check=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO / "python")))
    stats = prep.dir / "calibration.stats"
    key = f"{_file_id(prep.onnx)}|{_file_id(llmc)}|{_file_id(text)}"
    if stamps.fresh(stats, key):
        return stats
    scratch = prep.dir / "llmc-calibration-scratch.so"
    cmd = [str(llmc), "compile", str(prep.onnx), "-o", str(scratch), "--quantize=int4,method=gptq",
           f"--calibration={text}", f"--save-calibration-stats={stats}"]
    log("collecting calibration statistics: " + " ".join(cmd[1:]))
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("calibration failed: " + (r.stderr.strip().splitlines() or ["?"])[-1])
    scratch.unlink(missing_ok=True)
    stamps.record(stats, key)
    return stats


class PplCache:
    """Perplexities already measured (quant-ppl.json): a library or GGUF made
    from the same inputs scores the same, so reruns only measure speed."""

    def __init__(self, path: Path):
        self.path = path
        self.data = json.loads(path.read_text()) if path.is_file() else {}

    def get(self, model: Path, args, measure) -> dict:
        key = f"{_file_id(model)}|ctx={args.ctx}|chunks={args.chunks}"
        if key not in self.data:
            result = measure()
            if "error" in result:
                return result
            self.data[key] = result
            self.path.write_text(json.dumps(self.data, indent=1))
        return self.data[key]


def llmc_perplexity(llmc: Path, lib: Path, args) -> dict:
    cmd = [str(llmc), "perplexity", str(lib), f"--text={wiki_text()}", f"--ctx={args.ctx}",
           f"--chunks={args.chunks}", "--json"]
    env = dict(os.environ, LLMC_NUM_THREADS=str(args.threads))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return {"error": "perplexity failed: " + (r.stderr.strip().splitlines() or ["?"])[-1][:160]}
    return json.loads(r.stdout)


def llama_perplexity(gguf: Path, args) -> dict:
    cmd = [sys.executable, "-m", "llmc_tools.perplexity_ref", f"--text={wiki_text()}", f"--ctx={args.ctx}",
           f"--chunks={args.chunks}", f"--gguf={gguf}", f"--threads={args.threads}", "--json"]
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return {"error": "perplexity failed: " + (r.stderr.strip().splitlines() or ["?"])[-1][:160]}
    return json.loads(r.stdout)[0]


def speed(engine: str, model: Path, args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"), LLMC_NUM_THREADS=str(args.threads),
               OMP_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, "-m", "llmc_tools.bench_engines", "--engine", engine, "--model", str(model),
           "--threads", str(args.threads), "--reps", str(args.reps), "--prompts", args.prompts,
           "--decode", str(args.decode), "--decode-prompt", "128"]
    log(f"measuring {engine} {model.name}")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return {"error": "run failed: " + (r.stderr.strip().splitlines() or ["?"])[-1][:160]}
    samples = json.loads(r.stdout.strip().splitlines()[-1])["samples"]
    return {k: statistics.median(v) for k, v in samples.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--model", default="smollm2", choices=sorted(MODELS))
    ap.add_argument("--chunks", type=int, default=5)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--prompts", default="128,512")
    ap.add_argument("--decode", type=int, default=128)
    ap.add_argument("--rows", default="", help="comma-separated row names (default: all)")
    ap.add_argument("--llmc", type=Path, default=None)
    args = ap.parse_args(argv)
    llmc = (args.llmc or default_llmc()).resolve()
    wanted = set(filter(None, args.rows.split(",")))
    pick = lambda name: not wanted or name in wanted  # noqa: E731

    spec = MODELS[args.model]
    prep = prepare_model(spec, args.work, gguf_types=("f32",))
    tok = prep.dir / "tokenizer.json"
    if not tok.is_file():
        subprocess.run([sys.executable, "-m", "llmc_tools.gguf_tokenizer", str(source_gguf(spec, args.work)),
                        "-o", str(tok)], check=True, env=dict(os.environ, PYTHONPATH=str(REPO / "python")))
    stats = None
    if any(CALIB in flags and pick(n) for n, _, flags in LLMC_ROWS):
        stats = prepare_calibration(llmc, prep)

    ppl = PplCache(prep.dir / "quant-ppl.json")
    rows = []
    for name, label, flags in LLMC_ROWS:
        if not pick(name):
            continue
        flags = [f.format(stats=stats) for f in flags]
        c = compile_variant(llmc, prep, "quant-" + name, flags)
        row = {"row": name, "label": label, "engine": "llmc", "flags": " ".join(flags)}
        if c.error:
            row["error"] = c.error
        else:
            row["bytes"] = c.path.stat().st_size
            row["ppl"] = ppl.get(c.path, args, lambda: llmc_perplexity(llmc, c.path, args))
            row["speed"] = speed("llmc-step", c.path, args)
        rows.append(row)
    for name, label, kind in LLAMA_ROWS:
        if not pick(name):
            continue
        row = {"row": name, "label": label, "engine": "llamacpp"}
        try:
            gguf = prep.gguf["f32"] if kind == "f32" else \
                quantize_gguf(prep.gguf["f32"], prep.dir / f"model-{kind}.gguf", kind)
            row["bytes"] = gguf.stat().st_size
            row["ppl"] = ppl.get(gguf, args, lambda: llama_perplexity(gguf, args))
            row["speed"] = speed("llamacpp", gguf, args)
        except Exception as e:  # noqa: BLE001 - a missing llama-cpp-python shows in the table
            row["error"] = f"not measured: {e}"
        rows.append(row)

    md = render(rows, args)
    print(md)
    (prep.dir / "quant-results.json").write_text(json.dumps({"args": vars(args) | {"work": str(args.work),
                                                                                   "llmc": str(llmc)},
                                                             "rows": rows}, indent=1, default=str))
    (prep.dir / "quant-results.md").write_text(md)
    return 0


def _ppl(r):
    p = r.get("ppl") or {}
    return p.get("ppl") if isinstance(p, dict) else None


def render(rows: list[dict], args) -> str:
    metrics = [f"prefill_{p}" for p in args.prompts.split(",") if p] + [f"decode_{args.decode}"]
    by = {r["row"]: r for r in rows}
    q40 = by.get("llama-q4_0", {})
    head = ["configuration", "PPL", "file MB"] + [m.replace("_", " ") + " tok/s" for m in metrics] + \
           [f"{m.split('_')[0]} vs Q4_0" for m in (metrics[0], metrics[-1])]
    out = [f"Perplexity: {args.ctx}-token chunks, first {args.chunks} of wiki.test.raw; speed: "
           f"{args.threads} threads, median of {args.reps}, last-position logits.", "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['label']} | {r['error']} |" + " |" * (len(head) - 2))
            continue
        p = r.get("ppl", {})
        ppl = f"{p['ppl']:.4f}" if "ppl" in p else p.get("error", "?")
        s = r.get("speed", {})
        cells = [r["label"], ppl, f"{r['bytes'] / 1e6:.1f}"]
        cells += [f"{s[m]:.1f}" if m in s else s.get("error", "?") for m in metrics]
        for m in (metrics[0], metrics[-1]):
            peer = q40.get("speed", {}).get(m)
            cells.append(f"{s[m] / peer:.2f}x" if m in s and peer else "")
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "Targets:"] + targets(by, metrics)
    return "\n".join(out)


def targets(by: dict, metrics: list[str]) -> list[str]:
    lines = []

    def say(ok, text):
        lines.append(f"- {'MET' if ok else 'MISSED'}: {text}")

    f32, i8 = _ppl(by.get("fp32", {})), _ppl(by.get("int8", {}))
    if f32 and i8:
        say(i8 <= f32 * 1.01, f"int8 perplexity {i8:.4f} within +1% of fp32 {f32:.4f} ({(i8 / f32 - 1) * 100:+.2f}%)")
    q40 = by.get("llama-q4_0", {})
    if _ppl(q40):
        # every row with 4-bit weights: weight-only int4 and W4A8
        four = [r for n, r in by.items() if n.startswith(("int4-", "w4a8-")) and _ppl(r)]
        fit = [r for r in four if r["bytes"] <= q40["bytes"]]
        if fit:
            best = min(fit, key=_ppl)
            say(_ppl(best) < _ppl(q40), f"best 4-bit at no larger size: {best['label']} {_ppl(best):.4f} "
                f"({best['bytes'] / 1e6:.1f} MB) vs Q4_0 {_ppl(q40):.4f} ({q40['bytes'] / 1e6:.1f} MB)")
        for m in (metrics[-1], metrics[0]):
            peer = q40.get("speed", {}).get(m)
            for r in four:
                v = r.get("speed", {}).get(m)
                if v and peer:
                    say(v >= 1.5 * peer, f"{m.replace('_', ' ')}: {r['label']} {v / peer:.2f}x llama.cpp Q4_0 "
                        "(target 1.5x)")
    for sparse, dense in (("sparse-2:4", "fp32"), ("sparse-2:4-int4", "int4-rtn-g32")):
        s, d = by.get(sparse, {}).get("speed", {}), by.get(dense, {}).get("speed", {})
        for m in metrics:
            if m in s and m in d:
                say(s[m] > d[m], f"{sparse} {m.replace('_', ' ')} {s[m] / d[m]:.2f}x dense {dense}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
