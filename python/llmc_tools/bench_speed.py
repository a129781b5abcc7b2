"""Speed benchmark: llmc vs ONNX Runtime vs llama.cpp on the same weights, one table.

  python -m llmc_tools.bench_speed --model smollm2|tinyllama|stories260k --work DIR
         [--threads 1,2] [--reps 5] [--rounds 1] [--engines llmc,ort,llamacpp] [--ablation]
         [--precisions fp32,bf16] [--prompts 128,512] [--decode 128] [--llmc BIN] [--probe BIN]

In DIR/<model>/ it makes (once; remade when their inputs change) the ONNX
graph, F32/F16 GGUFs written from the same float32 checkpoint, and the llmc
libraries (`llmc compile`, one per precision/logits/ablation variant); runs
`llmc-probe` for the machine's limits; then measures every engine at every
thread count in this run (each engine in a process of its own, see
bench_engines.py) and prints one markdown table: tokens/s (median of --reps
after a warm-up), the ratio to each peer at the same precision and logits, and
the fraction of the roofline (see bench_report.py). The same results go to
DIR/<model>/results.json and results.md.

Rows:
  llmc fp32 / bf16 (all logits)  library as compiled by default (logits for every
                                 position, like the ONNX graph ORT runs)
  llmc fp32 / bf16 (last logits) `--logits=last`: prefill rows compared with llama.cpp
                                 (bf16 libraries: `--precision=bf16 --kv-cache=bf16`;
                                 llama.cpp's KV cache is f16 by default)
  ORT fp32                        the same .onnx, graph optimizations ALL
  llama.cpp F32 / F16             llama-cpp-python on the GGUFs (last logits)
A library that does not compile (flags the compiler lacks, a model too large)
shows "compile failed: <first line of the error>" in its cells.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import bench_report as report
from .bench_models import MODELS, compile_variant, log, prepare_model

REPO = Path(__file__).resolve().parents[2]
ABLATIONS = ["pack-weights", "fuse-qkv", "fuse-gate-up", "fuse-epilogue", "fuse-rms-norm",
             "fuse-rope", "plan-memory", "causal-mask"]
LLAMACPP_MISSING = ("llama.cpp: not measured: llama-cpp-python is not installed "
                    "(pip install -r python/requirements-bench.txt)")


def default_llmc() -> Path:
    env = os.environ.get("LLMC_BIN")
    return Path(env) if env else REPO / "build/bin/llmc"


def run_probe(probe: Path, threads: list[int], reps: int, quick: bool) -> tuple[dict | None, str | None]:
    cmd = [str(probe), "--threads", ",".join(map(str, threads)), "--reps", str(max(5, reps))]
    if quick:  # a smaller array and shorter loops: for the CI smoke test
        cmd = [str(probe), "--quick", "--threads", ",".join(map(str, threads)), "--reps", "3",
               "--bytes", str(256 << 20), "--ms", "20"]
    log("probing the machine: " + " ".join(cmd))
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            return None, f"llmc-probe failed ({r.returncode}): {(r.stderr or r.stdout).strip()[:200]}"
        return json.loads(r.stdout), None
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
        return None, f"llmc-probe failed: {e}"


def run_engine(engine: str, model: Path, threads: int, args, prompts: list[int], decode: int,
               reps: int | None = None) -> dict:
    """Runs one engine in its own process; returns {'samples': ...} or {'error': ...}."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "python")] + [p for p in [env.get("PYTHONPATH")] if p])
    env["LLMC_NUM_THREADS"] = str(threads)
    env["OMP_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, "-m", "llmc_tools.bench_engines", "--engine", engine, "--model", str(model),
           "--threads", str(threads), "--reps", str(reps or args.reps), "--prompts", ",".join(map(str, prompts)),
           "--decode", str(decode), "--decode-prompt", str(args.decode_prompt), "--seed", str(args.seed)]
    log(f"measuring {engine} {model.name} threads={threads}")
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.run_timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"run failed: timed out after {args.run_timeout:.0f} s"}
    if r.returncode != 0:
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()] or [f"exit code {r.returncode}"]
        return {"error": f"run failed: {lines[-1].strip()[:200]}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def _configs(args, have_llamacpp: bool):
    """(row engine, precision, logits, label, what runs it) per engine configuration."""
    want = args.engines
    out = []
    for prec in args.precisions:
        if "llmc" in want:
            # bf16 keeps a bf16 KV cache, as llama.cpp keeps an f16 one by default
            # (its F16 peer); fp32 keeps f32, like ORT fp32.
            flags = [] if prec == "fp32" else [f"--precision={prec}", "--kv-cache=bf16"]
            out.append(("llmc", prec, "all", f"llmc {prec} (all logits)", ("llmc", prec, flags)))
            if "llamacpp" in want:  # last-logits libraries exist to compare with llama.cpp
                name = f"{prec}-last"
                out.append(("llmc", prec, "last", f"llmc {prec} (last logits)",
                            ("llmc", name, flags + ["--logits=last"])))
        if "ort" in want and prec == "fp32":
            out.append(("ort", "fp32", "all", "ORT fp32 (all logits)", ("ort",)))
        if "llamacpp" in want:
            g = "f32" if prec == "fp32" else "f16"
            out.append(("llamacpp", g, "last", f"llama.cpp {g.upper()} (last logits)",
                        ("llamacpp", g) if have_llamacpp else ("missing",)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(MODELS), required=True)
    ap.add_argument("--work", required=True, type=Path, help="work directory (models, libraries, results)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--engines", default="llmc,ort,llamacpp")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--prompts", default="128,512", help="prefill prompt lengths")
    ap.add_argument("--decode", type=int, default=128, help="decode steps (batch 1)")
    ap.add_argument("--decode-prompt", type=int, default=128, help="prompt run before the decode steps")
    ap.add_argument("--rounds", type=int, default=1,
                    help="split --reps over this many sweeps over all engines, and over all ablation variants (robust to load changes)")
    ap.add_argument("--ablation", action="store_true", help="also the one-optimization-off table")
    ap.add_argument("--ablation-skip", default="",
                    help="ablation rows to leave out, by name (e.g. no-kernels: codegen-only is slow)")
    ap.add_argument("--llmc", type=Path, default=None, help="llmc binary (default $LLMC_BIN or build/bin/llmc)")
    ap.add_argument("--probe", type=Path, default=None, help="llmc-probe binary (default: next to llmc)")
    ap.add_argument("--quick-probe", action="store_true", help="short probe (smoke tests; not for results)")
    ap.add_argument("--compile-timeout", type=float, default=3600)
    ap.add_argument("--run-timeout", type=float, default=3600)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    args.engines = [e for e in args.engines.split(",") if e]
    args.precisions = [p for p in args.precisions.split(",") if p]
    threads = [int(t) for t in args.threads.split(",") if t]
    if args.rounds < 1 or args.rounds > args.reps:
        ap.error("--rounds must be in 1..--reps")
    prompts = [int(p) for p in args.prompts.split(",") if p]
    for e in args.engines:
        if e not in ("llmc", "ort", "llamacpp"):
            ap.error(f"unknown engine {e!r}")
    for p in args.precisions:
        if p not in ("fp32", "bf16"):
            ap.error(f"unknown precision {p!r}")
    llmc = (args.llmc or default_llmc()).resolve()
    if "llmc" in args.engines and not llmc.is_file():
        ap.error(f"llmc binary not found: {llmc} (build it or pass --llmc / LLMC_BIN)")
    probe = args.probe or llmc.parent / "llmc-probe"
    have_llamacpp = importlib.util.find_spec("llama_cpp") is not None
    notes = []
    if not have_llamacpp:
        notes.append(LLAMACPP_MISSING)
        log(LLAMACPP_MISSING)
    elif "llamacpp" not in args.engines:
        notes.append("llama.cpp: not requested (--engines)")

    spec = MODELS[args.model]
    work = args.work.resolve()
    t_start = time.time()
    gguf_types = [("f32" if p == "fp32" else "f16") for p in args.precisions] \
        if ("llamacpp" in args.engines and have_llamacpp) else []
    prep = prepare_model(spec, work, gguf_types, seed=args.seed)
    counts = report.model_counts(prep.config, prep.tied)

    configs = _configs(args, have_llamacpp)
    libs = {}
    for _, _, _, _, how in configs:
        if how[0] == "llmc" and how[1] not in libs:
            libs[how[1]] = compile_variant(llmc, prep, how[1], how[2], args.compile_timeout)

    limits, probe_err = run_probe(probe, threads, args.reps, args.quick_probe)
    if probe_err:
        notes.append(probe_err)
        log(probe_err)

    decode_metric = f"decode {args.decode}" if args.decode else None
    # Rounds: every engine runs reps/rounds repetitions per round, so that a change of
    # load on a shared machine during the run hits all engines alike.
    per_round = -(-args.reps // args.rounds)
    results = {}  # (threads, config index) -> {"samples": {...}, "error", "info"}
    rows = []
    for _ in range(args.rounds):
        for t in threads:
            for ci, (engine, prec, logits, label, how) in enumerate(configs):
                # llmc last-logits libraries only differ from the default in prefill.
                want_decode = bool(args.decode) and (engine != "llmc" or logits != "last")
                run_decode = args.decode if want_decode else 0
                acc = results.setdefault((t, ci), {"samples": {}, "error": None, "info": {}})
                if acc["error"]:
                    continue
                if how[0] == "llmc":
                    lib = libs[how[1]]
                    res = {"error": lib.error} if lib.error else \
                        run_engine("llmc", lib.path, t, args, prompts, run_decode, per_round)
                elif how[0] == "ort":
                    res = run_engine("ort", prep.onnx, t, args, prompts, run_decode, per_round)
                elif how[0] == "llamacpp":
                    res = run_engine("llamacpp", prep.gguf[how[1]], t, args, prompts, run_decode, per_round)
                else:
                    res = {"error": "not installed"}
                acc["error"], acc["info"] = res.get("error"), res.get("info", acc["info"])
                for key, v in res.get("samples", {}).items():
                    acc["samples"].setdefault(key, []).extend(v)
                rows = _rows(spec, configs, threads, results, prompts, args.decode, decode_metric)
                # Raw measurements so far: nothing measured is lost if the run is stopped.
                (prep.dir / "results.partial.json").write_text(json.dumps({"rows": rows, "limits": limits}))
    report.add_ratios_and_rooflines(rows, counts, limits)

    ablation = []
    if args.ablation:
        ablation = run_ablation(args, llmc, prep, threads, prompts)

    # Probed again: a host whose speed changed during the run is reported as such.
    limits_after, probe_err = run_probe(probe, threads, args.reps, args.quick_probe)
    if probe_err:
        notes.append("second probe: " + probe_err)
    stability, disturbed = report.host_stability(limits, limits_after, threads)
    log(stability)

    tmax = max(threads)
    tg = report.targets(rows, tmax, spec.key)
    md = [f"## llmc speed benchmark: {spec.label}", "",
          report.limits_lines(limits, threads), "", stability, "",
          f"Tokens/s, median of {per_round * args.rounds} runs"
          + (f" ({args.rounds} rounds over all engines, each after a warm-up)" if args.rounds > 1 else " after a warm-up")
          + "; prefill = one call on a fresh KV cache; "
          f"decode = {args.decode} single-token steps after a {args.decode_prompt}-token prompt. "
          "Ratios: this row / the peer at the same threads, precision class and logits. "
          "Roofline: decode = bandwidth / weight bytes per token, prefill = peak FLOP/s / FLOPs per token.", "",
          report.main_table(rows), "", report.targets_lines(tg, tmax)]
    if ablation:
        pm = f"prefill {max(prompts)}"
        md += ["", f"### Ablation (llmc fp32, all logits, {tmax} threads; one optimization off per row)", "",
               report.ablation_table(ablation, pm, decode_metric or "")]
    if notes:
        md += ["", "Notes:"] + [f"- {n}" for n in notes]
    md_text = "\n".join(md) + "\n"
    print(md_text)

    result = {"model": spec.key, "label": spec.label, "threads": threads, "reps": args.reps,
              "rounds": args.rounds,
              "prompts": prompts, "decode": args.decode, "decode_prompt": args.decode_prompt,
              "engines": args.engines, "precisions": args.precisions, "limits": limits,
              "limits_after": limits_after, "host_disturbed": disturbed, "counts": counts,
              "rows": rows, "targets": tg, "ablation": ablation, "notes": notes,
              "libraries": {k: {"flags": v.flags, "error": v.error, "compile_seconds": v.seconds}
                            for k, v in libs.items()},
              "seconds": time.time() - t_start}
    (prep.dir / "results.json").write_text(json.dumps(result, indent=1))
    (prep.dir / "results.partial.json").unlink(missing_ok=True)
    (prep.dir / "results.md").write_text(md_text)
    log(f"wrote {prep.dir / 'results.md'} and results.json ({time.time() - t_start:.0f} s)")
    return 0


def _rows(spec, configs, threads, results, prompts, n_decode, decode_metric) -> list[dict]:
    """One table row per (threads, engine configuration, metric) measured so far."""
    rows = []
    for t in threads:
        for ci, (engine, prec, logits, label, _) in enumerate(configs):
            acc = results.get((t, ci))
            if acc is None:
                continue
            metrics = [(f"prefill {p}", "prefill", p, f"prefill_{p}") for p in prompts]
            if n_decode and (engine != "llmc" or logits != "last"):
                metrics.append((decode_metric, "decode", n_decode, f"decode_{n_decode}"))
            for metric, kind, n, key in metrics:
                s = acc["samples"].get(key)
                rows.append({"model": spec.label, "precision": prec, "engine": engine, "engine_label": label,
                             "logits": logits, "threads": t, "metric": metric, "kind": kind, "tokens": n,
                             "tps": statistics.median(s) if s and not acc["error"] else None,
                             "samples": s or [], "error": acc["error"], "info": acc["info"]})
    return rows


def run_ablation(args, llmc: Path, prep, threads: list[int], prompts: list[int]) -> list[dict]:
    """prefill (longest prompt) and decode tok/s of llmc fp32 with one optimization off.

    Every variant is compiled first; then --rounds rounds each measure every
    variant for reps/rounds repetitions (in a process of its own), so a drift of
    the machine's speed during the run hits all variants alike instead of
    whichever ran last."""
    tmax = max(threads)
    p = [max(prompts)]
    variants = [("full", "all optimizations", [], tmax)]
    variants += [(f"no {n}", f"--disable={n}", [f"--disable={n}"], tmax) for n in ABLATIONS]
    variants += [("no runtime kernels", "--no-kernels (codegen only)", ["--no-kernels"], tmax)]
    if tmax > 1:
        variants += [("1 thread", "LLMC_NUM_THREADS=1", [], 1)]
    skip = {x for x in args.ablation_skip.split(",") if x}
    out = []
    for name, how, flags, t in variants:
        key = flags[0].lstrip("-").replace("disable=", "") if flags else name.replace(" ", "-")
        row = {"variant": name, "how": how, "flags": flags, "threads": t, "tps": {},
               "error": None, "samples": {}}
        if key in skip:
            row["error"] = "skipped (--ablation-skip)"
        else:
            lib_name = "fp32" if not flags else "fp32-" + flags[0].lstrip("-").replace("=", "-")
            lib = compile_variant(llmc, prep, lib_name, flags, args.compile_timeout)
            row["error"], row["lib"] = lib.error, lib.path
        out.append(row)
    per_round = -(-args.reps // args.rounds)
    for _ in range(args.rounds):
        for row in out:
            if row["error"]:
                continue
            res = run_engine("llmc", row["lib"], row["threads"], args, p, args.decode, per_round)
            row["error"] = res.get("error")
            for k, v in res.get("samples", {}).items():
                row["samples"].setdefault(k, []).extend(v)
    for row in out:
        row.pop("lib", None)  # a Path: not JSON
        s = row["samples"]
        if s.get(f"prefill_{p[0]}"):
            row["tps"][f"prefill {p[0]}"] = statistics.median(s[f"prefill_{p[0]}"])
        if args.decode and s.get(f"decode_{args.decode}"):
            row["tps"][f"decode {args.decode}"] = statistics.median(s[f"decode_{args.decode}"])
    return out


if __name__ == "__main__":
    sys.exit(main())
